//! One shape for long work: a sync of the mirror, an import run, an export's polling and
//! download are each a [`Job`] that a [`crate::workspace::Workspace`] runs with
//! [`Workspace::run_job`](crate::workspace::Workspace::run_job), reporting one typed
//! [`JobEvent`] stream and ending with one [`JobOutcome`].
//!
//! | property | how every job has it |
//! | --- | --- |
//! | scoped | it runs under the workspace that runs it; a job of another workspace is refused before anything is sent |
//! | progress | `on_event` gets a [`JobEvent`] after every unit of work (a page, a batch of rows, a probe) |
//! | cancel | the token is checked between units of work; cancelled work resumes where it stopped |
//! | killed | its state is committed in SQLite with each unit, so a killed process loses nothing |
//! | one at a time | [`Job::key`] names it (`sync`, `import:<id>`, `export:<id>`): a front end runs one job per key |
//!
//! The app spawns every job through one function (`src-tauri/src/jobs.rs`), the CLI awaits it.

use serde::Serialize;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::error::ErrorReport;
use crate::exports::{ExportEvent, ExportJob, PollOptions};
use crate::import::{ImportProgress, ImportSummary, RunOptions};
use crate::sync::{SyncOptions, SyncProgress, SyncReport};
use crate::workspace::Workspace;

/// A unit of long work of one workspace.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// A sync of the workspace's mirror on this computer.
    Sync(SyncOptions),
    /// A sync into a schema of a PostgreSQL database (the same engine). Its key is [`SYNC_KEY`]
    /// too: a front end never runs two syncs of a workspace, whatever their destinations.
    SyncTo {
        options: SyncOptions,
        target: Box<crate::sync::postgres::PgTarget>,
    },
    /// Sending the pending rows of an import (a new one, a resumed one, failed rows retried).
    Import { id: String, options: RunOptions },
    /// Submitting, polling and downloading an export job.
    Export { id: String },
}

/// The key of the workspace's sync (see [`Job::key`]).
pub const SYNC_KEY: &str = "sync";

impl Job {
    /// The name a front end runs at most one of at a time (and cancels by).
    pub fn key(&self) -> String {
        match self {
            Job::Sync(_) | Job::SyncTo { .. } => SYNC_KEY.to_owned(),
            Job::Import { id, .. } => Self::import_key(id),
            Job::Export { id } => Self::export_key(id),
        }
    }

    /// The key of import `id`'s run (to pause or cancel it).
    pub fn import_key(id: &str) -> String {
        format!("import:{id}")
    }

    /// The key of export job `id`'s polling (to stop it).
    pub fn export_key(id: &str) -> String {
        format!("export:{id}")
    }
}

/// Progress of a running job.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "job", content = "progress", rename_all = "snake_case")]
#[ts(export_to = "JobEvent.ts")]
pub enum JobEvent {
    Sync(SyncProgress),
    Import(ImportProgress),
    Export(ExportEvent),
}

/// How a job ended when it did not fail (a cancelled job ends here too: its outcome says so).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "job", content = "outcome", rename_all = "snake_case")]
#[ts(export_to = "JobOutcome.ts")]
pub enum JobOutcome {
    Sync(SyncReport),
    Import(ImportSummary),
    Export(Box<ExportJob>),
}

impl Workspace {
    /// Runs `job` under this workspace (see the module docs).
    pub async fn run_job(
        &self,
        job: &Job,
        cancel: &CancellationToken,
        on_event: &(dyn Fn(JobEvent) + Send + Sync),
    ) -> Result<JobOutcome, ErrorReport> {
        match job {
            Job::Sync(options) => {
                let mirror = self.mirror()?;
                crate::sync::sync(self.client(), &mirror, options, cancel, |p| {
                    on_event(JobEvent::Sync(p.clone()))
                })
                .await
                .map(JobOutcome::Sync)
            }
            Job::SyncTo { options, target } => {
                let pg = crate::sync::postgres::Postgres::open(target, self.id()).await?;
                crate::sync::sync_to(self.client(), &pg, options, cancel, |p| {
                    on_event(JobEvent::Sync(p.clone()))
                })
                .await
                .map(JobOutcome::Sync)
            }
            Job::Import { id, options } => {
                let progress = |p: &ImportProgress| on_event(JobEvent::Import(p.clone()));
                // Bulk import jobs when the key may send them (see `crate::import::bulk`).
                let options = RunOptions {
                    bulk: self.check().me.scopes.iter().any(|s| s == "leads.import"),
                    ..*options
                };
                self.imports()
                    .run(id, &options, &progress, cancel)
                    .await
                    .map(JobOutcome::Import)
            }
            Job::Export { id } => {
                let exports = self.exports()?;
                let events = |e: ExportEvent| on_event(JobEvent::Export(e));
                exports
                    .run(self.client(), id, &PollOptions::default(), cancel, &events)
                    .await
                    .map(|j| JobOutcome::Export(Box::new(j)))
            }
        }
    }
}

/// How the mirror was made fresh for an import's review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshened {
    /// It was fresh enough; nothing was synced.
    AsItWas,
    /// It was synced now (it was empty or stale: the reason).
    Synced(&'static str),
    /// It was stale, but another process (the app, another `pb2b`) is syncing it: the review
    /// uses it as it is and says how fresh it is.
    SyncedElsewhere(&'static str),
}

impl Workspace {
    /// Syncs the mirror before an import's review when [`Workspace::mirror_stale_for_review`]
    /// says so, through [`Workspace::run_job`] (the CLI; the app runs the same sync through
    /// its own job runner, then the same rule for a sync running elsewhere).
    pub async fn freshen_mirror_for_review(
        &self,
        cancel: &CancellationToken,
        on_event: &(dyn Fn(JobEvent) + Send + Sync),
    ) -> Result<Freshened, ErrorReport> {
        let Some(reason) = self.mirror_stale_for_review()? else {
            return Ok(Freshened::AsItWas);
        };
        match self
            .run_job(&Job::Sync(SyncOptions::default()), cancel, on_event)
            .await
        {
            Ok(_) => Ok(Freshened::Synced(reason)),
            Err(e) if e.code == crate::error::Code::SyncRunning => {
                Ok(Freshened::SyncedElsewhere(reason))
            }
            Err(e) => Err(e),
        }
    }
}
