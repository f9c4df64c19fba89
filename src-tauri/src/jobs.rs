//! Long work (sync, import, export polling) is a `pb2b_core::jobs::Job` of the open workspace,
//! and every one runs through [`run`] (or [`spawn`]): a cancellation token registered under the
//! job's key (`sync`, `import:<id>`, `export:<id>`) that `cancel_job` reaches, its typed progress
//! forwarded as the app's events, its end announced. Cancelling is cooperative: the core checks
//! the token between units of work and leaves its SQLite state consistent, so a cancelled or
//! killed job can be resumed.

use std::collections::HashMap;
use std::sync::Mutex;

use pb2b_core::error::{Code, ErrorReport};
use pb2b_core::exports::ExportEvent;
use pb2b_core::jobs::{Job, JobEvent, JobOutcome};
use pb2b_core::sync::SyncProgress;
use pb2b_core::workspace::Workspace;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime};
use tauri_plugin_notification::NotificationExt;
use tokio_util::sync::CancellationToken;

use crate::background::{self, Ending, Origin};
use crate::ipc::{AppEvent, ImportFinished, SyncFinished};
use crate::state::AppState;

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

/// Runs `job` of the workspace `ws`: registered under [`Job::key`] (one at a time;
/// `cancel_job(key)` reaches it), its progress forwarded as the app's typed events (a sync
/// started by hand also to its `sync_progress` channel), its end announced (event, log line,
/// notification when the window is not in front). Every long job of the app runs here.
pub async fn run<R: Runtime>(
    app: &AppHandle<R>,
    ws: &Workspace,
    job: &Job,
    sync_progress: Option<Channel<SyncProgress>>,
    origin: Origin,
) -> Result<JobOutcome, ErrorReport> {
    let state = app.state::<AppState>();
    let guard = state
        .jobs
        .start(&job.key())
        .ok_or_else(|| already_running(job))?;
    let is_sync = matches!(job, Job::Sync(_) | Job::SyncTo { .. });
    if is_sync {
        crate::tray::refresh(app).await;
    }
    let emitter = app.clone();
    let on_event = move |event: JobEvent| match &event {
        JobEvent::Sync(p) => {
            if let Some(channel) = &sync_progress {
                let _ = channel.send(p.clone());
            }
            // Also to every window: a screen that did not start this sync (the Sync screen while
            // the Overview's first sync runs) follows it instead of failing with `sync_running`.
            let _ = AppEvent::SyncProgress(p).emit(&emitter);
        }
        JobEvent::Import(p) => {
            let _ = AppEvent::ImportProgress(p).emit(&emitter);
        }
        JobEvent::Export(e) => {
            let _ = AppEvent::Export(e).emit(&emitter);
        }
    };
    let result = ws.run_job(job, &guard.token, &on_event).await;
    drop(guard);
    finished(app, ws, job, origin, &result);
    if is_sync {
        crate::tray::refresh(app).await;
    }
    result
}

/// [`run`] in the background; refused at once when the same job already runs.
pub fn spawn<R: Runtime>(app: &AppHandle<R>, ws: Workspace, job: Job) -> Result<(), ErrorReport> {
    if app.state::<AppState>().jobs.is_running(&job.key()) {
        return Err(already_running(&job));
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let _ = run(&app, &ws, &job, None, Origin::ByHand).await;
    });
    Ok(())
}

fn already_running(job: &Job) -> ErrorReport {
    match job {
        Job::Sync(_) | Job::SyncTo { .. } => {
            ErrorReport::local(Code::SyncRunning, "A sync is already running.", true)
        }
        Job::Import { .. } => {
            ErrorReport::local(Code::ImportRunning, "This import is already running.", true)
        }
        Job::Export { .. } => ErrorReport::local(
            Code::Cancelled,
            "This export is already being watched.",
            true,
        ),
    }
}

/// Where a sync wrote, for the log (a PostgreSQL target's `Display` holds no password).
fn destination(job: &Job) -> String {
    match job {
        Job::SyncTo { target, .. } => target.to_string(),
        _ => "this computer".to_owned(),
    }
}

/// Announces the end of a job: the event its screen listens to, a log line, and the
/// notification [`background::notification`] decides on.
fn finished<R: Runtime>(
    app: &AppHandle<R>,
    ws: &Workspace,
    job: &Job,
    origin: Origin,
    result: &Result<JobOutcome, ErrorReport>,
) {
    let in_front = app
        .get_webview_window("main")
        .map(|w| w.is_visible().unwrap_or(true) && w.is_focused().unwrap_or(true))
        .unwrap_or(false);
    let notify = |ending: Ending<'_>| {
        if let Some(notice) = background::notification(&ending, in_front) {
            let sent = app
                .notification()
                .builder()
                .title(&notice.title)
                .body(&notice.body)
                .show();
            if let Err(err) = sent {
                tracing::warn!(title = %notice.title, error = %err, "notification not shown");
            }
        }
    };
    match (job, result) {
        (Job::Sync(_) | Job::SyncTo { .. }, Ok(JobOutcome::Sync(report))) => {
            tracing::info!(destination = %destination(job), outcome = ?report.outcome, leads = report.progress.leads, new = report.progress.new, updated = report.progress.updated, "sync ended");
            let _ = AppEvent::SyncFinished(&SyncFinished::Report(report.clone())).emit(app);
        }
        (Job::Sync(_) | Job::SyncTo { .. }, Err(err)) => {
            tracing::warn!(destination = %destination(job), code = %err.code, request_id = ?err.request_id, "sync failed");
            if err.code != Code::Cancelled {
                notify(Ending::SyncFailed {
                    origin,
                    message: &err.message,
                });
            }
            let _ = AppEvent::SyncFinished(&SyncFinished::Error(err.clone())).emit(app);
        }
        (Job::Import { id, .. }, Ok(JobOutcome::Import(summary))) => {
            tracing::info!(import = %id, status = %summary.status, created = summary.counts.created, failed = summary.counts.failed, "import run ended");
            if summary.status == "completed" {
                notify(Ending::ImportCompleted {
                    created: summary.counts.created,
                    updated: summary.counts.updated,
                    failed: summary.counts.failed,
                });
            }
            let _ = AppEvent::ImportFinished(&ImportFinished::Summary {
                summary: summary.clone(),
            })
            .emit(app);
        }
        (Job::Import { id, .. }, Err(err)) => {
            tracing::warn!(import = %id, code = %err.code, request_id = ?err.request_id, "import run failed");
            let _ = AppEvent::ImportFinished(&ImportFinished::Failed {
                import_id: id.clone(),
                error: err.clone(),
            })
            .emit(app);
        }
        (Job::Export { id }, outcome) => {
            match outcome {
                Ok(JobOutcome::Export(done)) => {
                    tracing::info!(job = %done.job_id, export = ?done.export_id, status = done.status.as_str(), "export finished");
                    if let Some(path) = &done.local_path {
                        notify(Ending::ExportReady {
                            file_name: done.file_name.as_deref().unwrap_or_default(),
                            rows: u64::try_from(done.row_count.unwrap_or_default())
                                .unwrap_or_default(),
                            path,
                        });
                    }
                }
                Err(err) if err.code == Code::Cancelled => {}
                Err(err) => {
                    tracing::warn!(job = %id, code = %err.code, request_id = ?err.request_id, "export failed");
                    notify(Ending::ExportFailed {
                        message: &err.message,
                    });
                }
                Ok(_) => {}
            }
            if let Ok(job) = ws.exports().and_then(|e| e.get(id)) {
                let _ = AppEvent::Export(&ExportEvent::Job { job: Box::new(job) }).emit(app);
            }
        }
        (_, Ok(_)) => {}
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
