//! Exports: start an export job, poll its readiness probe until `download_ready`, stream the file
//! to disk, and survive restarts.
//!
//! Every job lives in the local SQLite table `export_jobs` (this module's own migrations, applied
//! through [`Store::migrate_module`]), scoped per profile. The lifecycle of a job:
//!
//! 1. [`Exports::prepare`] saves the job with a fresh `Idempotency-Key` **before** anything is
//!    sent (status `creating`). A process killed between the request and the answer therefore
//!    sends the same key again on the next start, and the server replays the first answer instead
//!    of creating a second export.
//! 2. [`Exports::submit`] sends POST `/exports` with the saved key (status `queued`).
//! 3. [`Exports::wait`] probes GET `/exports/{id}/download` on a [`PollSchedule`] (short at first,
//!    growing, capped, with jitter; a `Retry-After` is always honoured) until the export is
//!    `completed`, `failed` or `expired`. Each probe is saved (status, probe count, request_ids),
//!    so polling resumes where it stopped after a restart ([`Exports::resume_all`]).
//! 4. [`Exports::download`] streams the file into a temporary file in the destination folder,
//!    checks `byte_size` and `row_count`, and renames it to the server's file name (sanitised,
//!    never overwriting another file: `name (1).csv`, ...). An expired download URL (403
//!    `download_url_expired`) is re-probed for a fresh one and tried again. Memory stays flat: the
//!    body is written chunk by chunk.
//!
//! [`Exports::run`] does 2–4 in one call (what "Start export" and `pb2b exports create --wait` do).
//!
//! Long calls take a [`CancellationToken`] and an event callback ([`ExportEvent`]). Cancelling
//! returns the error code `cancelled` and leaves the job resumable; the user's "cancel polling"
//! is [`Exports::stop_polling`] (persisted, so [`Exports::resume_all`] skips the job) plus
//! cancelling the token of the running call.
//!
//! Errors are [`ErrorReport`]s: a failed export is `export_failed` (with the server's message and
//! the request_id of the probe that saw it), an expired one `export_expired`, a file that does not
//! match the announced size or row count `download_mismatch`.
//!
//! # Layout
//!
//! - `jobs`: [`Exports`], the store of jobs, and the calls that create, submit and poll them.
//! - `schedule`: [`PollSchedule`] and [`PollOptions`], when the poller probes (backoff, jitter).
//! - `download`: [`Exports::download`], streaming and checking the file, [`CsvRecordCounter`],
//!   safe file names ([`sanitize_file_name`]).

use crate::error::Code;
use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::api::{ExportFilters, NewExport};
use crate::error::{codes, ErrorReport};

mod download;
mod jobs;
mod schedule;

pub use download::{
    export_file_name, is_format_char, is_our_part_file, mark_from_internet, openable_export,
    remove_leftover_parts, sanitize_file_name, CsvRecordCounter, LEFTOVER_AFTER,
};
pub use jobs::Exports;
pub use schedule::{PollOptions, PollSchedule};

/// The user's Downloads folder, or `fallback()` when the platform has none: where the app's and
/// the CLI's exports go unless told otherwise.
pub fn downloads_dir_or(fallback: impl FnOnce() -> std::path::PathBuf) -> std::path::PathBuf {
    crate::saved_files::default_dir(fallback)
}

/// The format every export is asked in (the contract's only one); the downloaded file's
/// extension follows it whatever name the server suggests.
pub const EXPORT_FORMAT: &str = "csv";

/// The module name in `module_schema`.
pub const MODULE: &str = "exports";

/// This module's migrations (index `i` upgrades from version `i`).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE export_jobs (
        job_id TEXT PRIMARY KEY,
        profile TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        request TEXT NOT NULL,
        export_id TEXT,
        status TEXT NOT NULL,
        row_count INTEGER,
        byte_size INTEGER,
        file_name TEXT,
        server_error TEXT,
        expires_at TEXT,
        dest_dir TEXT NOT NULL,
        local_path TEXT,
        auto_download INTEGER NOT NULL DEFAULT 1,
        polling TEXT NOT NULL DEFAULT 'active',
        probe_count INTEGER NOT NULL DEFAULT 0,
        last_probe_at TEXT,
        request_ids TEXT NOT NULL DEFAULT '[]',
        error_code TEXT,
        error_message TEXT,
        error_request_id TEXT,
        error_retryable INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX export_jobs_profile ON export_jobs(profile, created_at);
    CREATE UNIQUE INDEX export_jobs_export ON export_jobs(profile, export_id);",
    // Every job records who it belongs to (`crate::workspace::Owner`); NULL for jobs saved by
    // older versions until `Exports::assign_known` finds their workspace.
    "ALTER TABLE export_jobs ADD COLUMN workspace_id TEXT;
    ALTER TABLE export_jobs ADD COLUMN workspace_name TEXT;
    ALTER TABLE export_jobs ADD COLUMN key_prefix TEXT;
    CREATE INDEX export_jobs_workspace ON export_jobs(workspace_id, created_at);",
];

/// Error codes this module produces (besides the API's own).
pub mod error_codes {
    /// The server reported the export job as failed.
    pub const EXPORT_FAILED: crate::error::Code = crate::error::Code::ExportFailed;
    /// The export file's lifetime ended before it was downloaded.
    pub const EXPORT_EXPIRED: crate::error::Code = crate::error::Code::ExportExpired;
    /// The export is not ready for download yet.
    pub const EXPORT_NOT_READY: crate::error::Code = crate::error::Code::ExportNotReady;
    /// The downloaded file does not match the announced `byte_size` or `row_count`.
    pub const DOWNLOAD_MISMATCH: crate::error::Code = crate::error::Code::DownloadMismatch;
    /// The call was cancelled; the job stays resumable.
    pub const CANCELLED: crate::error::Code = crate::error::Code::Cancelled;
    /// No job with this id (local job id or export id) in this profile.
    pub const JOB_NOT_FOUND: crate::error::Code = crate::error::Code::ExportJobNotFound;
}

/// Most request_ids kept per job (the first, the create call, and the latest ones).
pub const MAX_REQUEST_IDS: usize = 50;

/// Where a job stands: the server's status, or `creating` before the server answered the create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "ExportStatus.ts")]
pub enum ExportStatus {
    /// Saved locally with its Idempotency-Key; POST /exports not answered yet.
    Creating,
    Queued,
    Processing,
    Completed,
    Failed,
    Expired,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Creating => "creating",
            ExportStatus::Queued => "queued",
            ExportStatus::Processing => "processing",
            ExportStatus::Completed => "completed",
            ExportStatus::Failed => "failed",
            ExportStatus::Expired => "expired",
        }
    }

    /// Parses a server (or stored) status; unknown values are `None`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "creating" => ExportStatus::Creating,
            "queued" => ExportStatus::Queued,
            "processing" => ExportStatus::Processing,
            "completed" => ExportStatus::Completed,
            "failed" => ExportStatus::Failed,
            "expired" => ExportStatus::Expired,
            _ => return None,
        })
    }

    /// Completed, failed or expired: the server will not change it any more.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            ExportStatus::Completed | ExportStatus::Failed | ExportStatus::Expired
        )
    }
}

/// Whether the poller works on a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "PollingState.ts")]
pub enum PollingState {
    /// Polling (or downloading) is due; `resume_all` picks the job up.
    Active,
    /// The user cancelled polling, or a non-retryable error stopped it; `wait` restarts it.
    Stopped,
    /// Nothing left to do (downloaded, failed, expired, or completed without auto-download).
    Done,
}

impl PollingState {
    fn as_str(self) -> &'static str {
        match self {
            PollingState::Active => "active",
            PollingState::Stopped => "stopped",
            PollingState::Done => "done",
        }
    }
    fn parse(s: &str) -> Self {
        match s {
            "stopped" => PollingState::Stopped,
            "done" => PollingState::Done,
            _ => PollingState::Active,
        }
    }
}

/// What the user asks for on "Start export" (input from the UI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ExportRequest.ts")]
pub struct ExportRequest {
    /// Only leads updated after this RFC 3339 time (exclusive).
    #[serde(default)]
    pub updated_after: Option<String>,
    /// The columns, in order (`None`: the server's default set).
    #[serde(default)]
    pub fields: Option<Vec<String>>,
    /// The folder the file goes to (the UI passes Downloads by default).
    pub dest_dir: String,
    /// Download the file as soon as it is ready (default true).
    #[serde(default = "yes")]
    pub auto_download: bool,
}

fn yes() -> bool {
    true
}

impl ExportRequest {
    /// The POST /exports body (always [`EXPORT_FORMAT`]).
    pub fn to_api(&self) -> NewExport {
        NewExport {
            format: Some(EXPORT_FORMAT.into()),
            filters: self.updated_after.as_ref().map(|u| ExportFilters {
                updated_after: Some(u.trim().to_owned()),
            }),
            fields: self.fields.clone(),
        }
    }

    fn validate(&self) -> Result<(), ErrorReport> {
        let bad = |m: &str| Err(ErrorReport::local(codes::INVALID_INPUT, m, false));
        if self.dest_dir.trim().is_empty() {
            return bad("Choose a folder for the export file.");
        }
        if self
            .updated_after
            .as_deref()
            .is_some_and(|u| u.trim().is_empty())
        {
            return bad("“Updated after” is empty; leave it out or give a date and time.");
        }
        if let Some(fields) = &self.fields {
            if fields.is_empty() || fields.iter().any(|f| f.trim().is_empty()) {
                return bad("Choose at least one field, and no empty field names.");
            }
        }
        Ok(())
    }
}

/// One export job as the Exports screen lists it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ExportJob.ts")]
pub struct ExportJob {
    /// The local id (`job_...`), known before the server answers.
    pub job_id: String,
    pub profile: String,
    /// The server's id (`exp_...`), once POST /exports answered.
    pub export_id: Option<String>,
    pub status: ExportStatus,
    /// The Idempotency-Key of the create request (saved before it was sent).
    pub idempotency_key: String,
    pub updated_after: Option<String>,
    pub fields: Option<Vec<String>>,
    #[ts(type = "number | null")]
    pub row_count: Option<i64>,
    #[ts(type = "number | null")]
    pub byte_size: Option<i64>,
    /// The server's file name.
    pub file_name: Option<String>,
    /// The server's message when the export failed.
    pub server_error: Option<String>,
    /// When the current download URL expires (informational).
    pub expires_at: Option<String>,
    /// The destination folder.
    pub dest_dir: String,
    /// The downloaded file, once it is on disk.
    pub local_path: Option<String>,
    pub auto_download: bool,
    pub polling: PollingState,
    /// Probes sent so far (the schedule continues from here after a restart).
    #[ts(type = "number")]
    pub probe_count: u32,
    pub last_probe_at: Option<String>,
    /// Every request_id seen for this job (the create first), for "copy request_ids".
    pub request_ids: Vec<String>,
    /// The last error (kept until the next success).
    pub error: Option<ErrorReport>,
    pub created_at: String,
    pub updated_at: String,
}

/// Progress of a job, for the UI's list and progress bar and the CLI's lines.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "ExportEvent.ts")]
pub enum ExportEvent {
    /// The job changed (created, status, downloaded, failed...): replace the row.
    Job { job: Box<ExportJob> },
    /// A probe was answered (or failed transiently: `error`).
    Probed {
        job_id: String,
        #[ts(type = "number")]
        probe: u32,
        status: ExportStatus,
        request_id: Option<String>,
        error: Option<ErrorReport>,
    },
    /// The poller sleeps this long before the next probe (`retry_after`: the server asked).
    Waiting {
        job_id: String,
        #[ts(type = "number")]
        delay_ms: u64,
        retry_after: bool,
    },
    /// Download progress (at most every 256 KiB, and at the end).
    Downloading {
        job_id: String,
        #[ts(type = "number")]
        bytes: u64,
        #[ts(type = "number | null")]
        total: Option<u64>,
    },
    /// The download link had expired (or broke); a fresh one is being fetched.
    LinkRefreshed {
        job_id: String,
        #[ts(type = "number")]
        attempt: u32,
        reason: ErrorReport,
    },
}

/// The event callback: cheap, called on the polling task.
pub type OnEvent<'a> = &'a (dyn Fn(ExportEvent) + Send + Sync);

/// A callback that ignores events.
pub fn ignore_events(_: ExportEvent) {}

fn cancelled() -> ErrorReport {
    ErrorReport::local(
        error_codes::CANCELLED,
        "Stopped. The export job is kept and can be resumed.",
        true,
    )
}

fn io_error(what: &str, path: &Path, err: &std::io::Error) -> ErrorReport {
    ErrorReport::local(
        Code::IoError,
        format!("Could not {what} {}: {err}", path.display()),
        false,
    )
}

fn store_err(err: crate::store::StoreError) -> ErrorReport {
    err.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_types_render_without_bigint() {
        use ts_rs::{Config, TS};
        let cfg = Config::new();
        for ts in [
            ExportJob::export_to_string(&cfg).unwrap(),
            ExportEvent::export_to_string(&cfg).unwrap(),
            ExportRequest::export_to_string(&cfg).unwrap(),
            ExportStatus::export_to_string(&cfg).unwrap(),
            PollingState::export_to_string(&cfg).unwrap(),
        ] {
            assert!(!ts.contains("bigint"), "{ts}");
        }
    }
}
