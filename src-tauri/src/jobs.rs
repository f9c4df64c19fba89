//! Long work (sync, import, export polling) runs as a job: a cancellation token registered under
//! an id the UI holds, and progress sent over a Tauri channel the UI passed in. Cancelling is
//! cooperative: the core checks the token between units of work and leaves its SQLite state
//! consistent, so a cancelled or killed job can be resumed.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

/// The running jobs, by id.
#[derive(Debug, Default)]
pub struct Jobs {
    running: Mutex<HashMap<String, CancellationToken>>,
}

/// Removes the job from the registry when dropped (the job ended, however it ended).
pub struct JobGuard<'a> {
    jobs: &'a Jobs,
    id: String,
    /// The token the job's core work checks.
    pub token: CancellationToken,
}

impl Drop for JobGuard<'_> {
    fn drop(&mut self) {
        self.jobs.lock().remove(&self.id);
    }
}

impl Jobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a job under `id`; None when a job with that id is already running (one sync per
    /// profile, one import per file...).
    pub fn start(&self, id: &str) -> Option<JobGuard<'_>> {
        let mut running = self.lock();
        if running.contains_key(id) {
            return None;
        }
        let token = CancellationToken::new();
        running.insert(id.to_owned(), token.clone());
        Some(JobGuard {
            jobs: self,
            id: id.to_owned(),
            token,
        })
    }

    /// Asks the job `id` to stop; false when no such job runs.
    pub fn cancel(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether job `id` runs.
    pub fn is_running(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_job_per_id_cancel_reaches_it_and_it_unregisters_when_done() {
        let jobs = Jobs::default();
        let guard = jobs.start("sync:Acme").expect("first start");
        assert!(
            jobs.start("sync:Acme").is_none(),
            "a second run of the same job is refused"
        );
        assert!(jobs.is_running("sync:Acme"));
        assert!(jobs.cancel("sync:Acme"));
        assert!(guard.token.is_cancelled());
        drop(guard);
        assert!(!jobs.is_running("sync:Acme"));
        assert!(!jobs.cancel("sync:Acme"));
        assert!(jobs.start("sync:Acme").is_some());
    }
}
