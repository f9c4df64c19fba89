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

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWrite};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::api::observer::now_utc_ms;
use crate::api::{ApiError, ApiErrorKind, Client, ExportDownload, ExportFilters, NewExport};
use crate::error::{codes, ErrorReport};
use crate::store::Store;

/// The module name in `module_schema`.
pub const MODULE: &str = "exports";

/// This module's migrations (index `i` upgrades from version `i`).
pub const MIGRATIONS: &[&str] = &["CREATE TABLE export_jobs (
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
    CREATE UNIQUE INDEX export_jobs_export ON export_jobs(profile, export_id);"];

/// Error codes this module produces (besides the API's own).
pub mod error_codes {
    /// The server reported the export job as failed.
    pub const EXPORT_FAILED: &str = "export_failed";
    /// The export file's lifetime ended before it was downloaded.
    pub const EXPORT_EXPIRED: &str = "export_expired";
    /// The export is not ready for download yet.
    pub const EXPORT_NOT_READY: &str = "export_not_ready";
    /// The downloaded file does not match the announced `byte_size` or `row_count`.
    pub const DOWNLOAD_MISMATCH: &str = "download_mismatch";
    /// The call was cancelled; the job stays resumable.
    pub const CANCELLED: &str = "cancelled";
    /// No job with this id (local job id or export id) in this profile.
    pub const JOB_NOT_FOUND: &str = "export_job_not_found";
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
    /// The POST /exports body (always CSV).
    pub fn to_api(&self) -> NewExport {
        NewExport {
            format: Some("csv".into()),
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

/// When the poller probes: `initial * factor^(n-1)`, capped at `max`, minus up to `jitter` of it
/// (so a delay is never above the cap); a `Retry-After` (up to `max_retry_after`) is a floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollSchedule {
    pub initial: Duration,
    pub factor: f64,
    pub max: Duration,
    /// Fraction in `[0, 1]` of the delay that jitter may take off.
    pub jitter: f64,
    /// The longest `Retry-After` honoured as given; longer ones are cut to it.
    pub max_retry_after: Duration,
}

impl Default for PollSchedule {
    /// 1 s, ×1.5 per probe, capped at 30 s, 20 % jitter, Retry-After up to 10 min.
    fn default() -> Self {
        PollSchedule {
            initial: Duration::from_secs(1),
            factor: 1.5,
            max: Duration::from_secs(30),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl PollSchedule {
    /// The backoff before probe `probe + 1`, after probe number `probe` (1-based); `unit` in
    /// `[0, 1)` is the jitter draw (injected so the schedule is testable).
    pub fn backoff(&self, probe: u32, unit: f64) -> Duration {
        let exp = probe.saturating_sub(1).min(64) as i32;
        let factor = if self.factor.is_finite() && self.factor >= 1.0 {
            self.factor
        } else {
            1.0
        };
        let nominal_secs =
            (self.initial.as_secs_f64() * factor.powi(exp)).min(self.max.as_secs_f64());
        let nominal = Duration::from_secs_f64(nominal_secs.max(0.0));
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        nominal.mul_f64(1.0 - jitter * unit).min(self.max)
    }

    /// The wait after probe `probe`: the backoff, or the server's `Retry-After` when longer.
    pub fn delay(&self, probe: u32, unit: f64, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(probe, unit);
        match retry_after {
            Some(ra) => backoff.max(ra.min(self.max_retry_after)),
            None => backoff,
        }
    }
}

/// How patient the poller and the downloader are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PollOptions {
    pub schedule: PollSchedule,
    /// Transient probe failures in a row (network, 5xx, 429) before polling stops with the error.
    pub max_transient_errors: u32,
    /// Download attempts, each with a fresh probe (an expired link counts as one).
    pub download_attempts: u32,
}

impl Default for PollOptions {
    fn default() -> Self {
        PollOptions {
            schedule: PollSchedule::default(),
            max_transient_errors: 20,
            download_attempts: 4,
        }
    }
}

/// Makes a server-provided file name safe to create inside the destination folder: no path
/// separators or parent references, no control or reserved characters, no leading dots or
/// trailing dots/spaces, not a Windows device name, at most 180 bytes; `fallback` when nothing
/// is left.
pub fn sanitize_file_name(name: &str, fallback: &str) -> String {
    // Only the last path component counts.
    let base = name.rsplit(['/', '\\']).next().unwrap_or("");
    let mut out: String = base
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    out = out
        .trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
        .to_owned();
    if out.len() > 180 {
        let mut end = 180;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        // Keep the extension when there is a short one.
        let ext = Path::new(&out)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.len() <= 10)
            .map(|e| format!(".{e}"))
            .unwrap_or_default();
        let mut cut = end.saturating_sub(ext.len());
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out = format!("{}{ext}", &out[..cut]);
    }
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        out = format!("_{out}");
    }
    if out.is_empty() {
        let fb = sanitize_file_name_simple(fallback);
        return if fb.is_empty() {
            "export.csv".into()
        } else {
            fb
        };
    }
    out
}

fn sanitize_file_name_simple(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>()
        .trim_start_matches('.')
        .to_owned()
}

/// `name.csv` → `name (n).csv`.
fn with_suffix(name: &str, n: u32) -> String {
    match name.rfind('.') {
        Some(i) if i > 0 => format!("{} ({n}){}", &name[..i], &name[i..]),
        _ => format!("{name} ({n})"),
    }
}

/// Counts CSV records (RFC 4180: quoted fields may hold line breaks) in a byte stream.
#[derive(Debug, Default, Clone)]
pub struct CsvRecordCounter {
    in_quotes: bool,
    newlines: u64,
    /// Bytes seen since the last record terminator (outside quotes).
    pending: bool,
}

impl CsvRecordCounter {
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' => {
                    self.in_quotes = !self.in_quotes;
                    self.pending = true;
                }
                b'\n' if !self.in_quotes => {
                    self.newlines += 1;
                    self.pending = false;
                }
                b'\r' if !self.in_quotes => {}
                _ => self.pending = true,
            }
        }
    }

    /// Records seen, the header line included (a last line without a line break counts).
    pub fn records(&self) -> u64 {
        self.newlines + u64::from(self.pending)
    }
}

/// An `AsyncWrite` that counts CSV records of what passes through.
struct Counting<W> {
    inner: W,
    counter: CsvRecordCounter,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.counter.feed(&buf[..n]);
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

fn cancelled() -> ErrorReport {
    ErrorReport::local(
        error_codes::CANCELLED,
        "Stopped. The export job is kept and can be resumed.",
        true,
    )
}

fn io_error(what: &str, path: &Path, err: &std::io::Error) -> ErrorReport {
    ErrorReport::local(
        "io_error",
        format!("Could not {what} {}: {err}", path.display()),
        false,
    )
}

fn store_err(err: crate::store::StoreError) -> ErrorReport {
    err.into()
}

const COLUMNS: &str = "job_id, profile, idempotency_key, request, export_id, status, row_count,
    byte_size, file_name, server_error, expires_at, dest_dir, local_path, auto_download, polling,
    probe_count, last_probe_at, request_ids, error_code, error_message, error_request_id,
    error_retryable, created_at, updated_at";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<ExportJob> {
    let request: String = r.get(3)?;
    let req: NewExport = serde_json::from_str(&request).unwrap_or_default();
    let status: String = r.get(5)?;
    let ids: String = r.get(17)?;
    let error_code: Option<String> = r.get(18)?;
    Ok(ExportJob {
        job_id: r.get(0)?,
        profile: r.get(1)?,
        idempotency_key: r.get(2)?,
        updated_after: req.filters.and_then(|f| f.updated_after),
        fields: req.fields,
        export_id: r.get(4)?,
        status: ExportStatus::parse(&status).unwrap_or(ExportStatus::Processing),
        row_count: r.get(6)?,
        byte_size: r.get(7)?,
        file_name: r.get(8)?,
        server_error: r.get(9)?,
        expires_at: r.get(10)?,
        dest_dir: r.get(11)?,
        local_path: r.get(12)?,
        auto_download: r.get::<_, i64>(13)? != 0,
        polling: PollingState::parse(&r.get::<_, String>(14)?),
        probe_count: u32::try_from(r.get::<_, i64>(15)?).unwrap_or(u32::MAX),
        last_probe_at: r.get(16)?,
        request_ids: serde_json::from_str(&ids).unwrap_or_default(),
        error: match error_code {
            Some(code) => Some(ErrorReport {
                code,
                message: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
                request_id: r.get(20)?,
                retryable: r.get::<_, Option<i64>>(21)?.unwrap_or(0) != 0,
            }),
            None => None,
        },
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
    })
}

/// The export jobs of one profile, in the local database. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Exports {
    store: Store,
    profile: String,
}

impl Exports {
    /// Opens (migrating if needed) the jobs of `profile`.
    pub fn open(store: Store, profile: &str) -> Result<Self, ErrorReport> {
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(store_err)?;
        Ok(Exports {
            store,
            profile: profile.to_owned(),
        })
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Every job of the profile, newest first.
    pub fn list(&self) -> Result<Vec<ExportJob>, ErrorReport> {
        self.store
            .with_conn(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM export_jobs WHERE profile = ?1
                     ORDER BY created_at DESC, rowid DESC"
                ))?;
                let rows = st.query_map([&self.profile], job_from_row)?;
                rows.collect()
            })
            .map_err(store_err)
    }

    /// A job by its local id (`job_...`) or its export id (`exp_...`).
    pub fn find(&self, id: &str) -> Result<Option<ExportJob>, ErrorReport> {
        self.store
            .with_conn(|c| {
                c.query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM export_jobs
                         WHERE profile = ?1 AND (job_id = ?2 OR export_id = ?2)"
                    ),
                    params![self.profile, id.trim()],
                    job_from_row,
                )
                .optional()
            })
            .map_err(store_err)
    }

    /// A job by its local id or export id, or `export_job_not_found`.
    pub fn get(&self, id: &str) -> Result<ExportJob, ErrorReport> {
        self.find(id)?.ok_or_else(|| {
            ErrorReport::local(
                error_codes::JOB_NOT_FOUND,
                format!("There is no export job “{}” in this profile.", id.trim()),
                false,
            )
        })
    }

    /// Removes a job from the list (the downloaded file stays on disk; a running poller for it
    /// should be cancelled first). Removing an unknown job is not an error.
    pub fn remove(&self, id: &str) -> Result<(), ErrorReport> {
        self.store
            .with_conn(|c| {
                c.execute(
                    "DELETE FROM export_jobs WHERE profile = ?1 AND (job_id = ?2 OR export_id = ?2)",
                    params![self.profile, id.trim()],
                )
            })
            .map_err(store_err)?;
        Ok(())
    }

    /// The user's "cancel polling": [`Exports::resume_all`] skips the job until [`Exports::wait`]
    /// or [`Exports::run`] is called for it again. Cancel the running call's token as well.
    pub fn stop_polling(&self, id: &str) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        if job.polling == PollingState::Active {
            self.set_polling(&job.job_id, PollingState::Stopped)?;
        }
        self.get(&job.job_id)
    }

    /// Step 1: saves a new job and its Idempotency-Key, before anything is sent.
    pub fn prepare(&self, req: &ExportRequest) -> Result<ExportJob, ErrorReport> {
        req.validate()?;
        let job_id = format!("job_{}", random_hex(20));
        let key = format!("export-{}", random_hex(32));
        let body = serde_json::to_string(&req.to_api()).map_err(|e| {
            ErrorReport::local(codes::INTERNAL, format!("encoding the request: {e}"), false)
        })?;
        let now = now_utc_ms();
        self.store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO export_jobs (job_id, profile, idempotency_key, request, status,
                        dest_dir, auto_download, polling, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, 'creating', ?5, ?6, 'active', ?7, ?7)",
                    params![
                        job_id,
                        self.profile,
                        key,
                        body,
                        req.dest_dir.trim(),
                        req.auto_download,
                        now
                    ],
                )
            })
            .map_err(store_err)?;
        self.get(&job_id)
    }

    /// Adopts an export created elsewhere (the web app, another machine) so it can be polled
    /// and downloaded; returns the existing job when it is already known.
    pub fn track(&self, export_id: &str, dest_dir: &str) -> Result<ExportJob, ErrorReport> {
        let export_id = export_id.trim();
        if export_id.is_empty() || dest_dir.trim().is_empty() {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "An export id and a destination folder are needed.",
                false,
            ));
        }
        if let Some(job) = self.find(export_id)? {
            return Ok(job);
        }
        let job_id = format!("job_{}", random_hex(20));
        let now = now_utc_ms();
        self.store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO export_jobs (job_id, profile, idempotency_key, request, export_id,
                        status, dest_dir, auto_download, polling, created_at, updated_at)
                     VALUES (?1, ?2, '', '{}', ?3, 'queued', ?4, 1, 'active', ?5, ?5)",
                    params![job_id, self.profile, export_id, dest_dir.trim(), now],
                )
            })
            .map_err(store_err)?;
        self.get(&job_id)
    }

    /// Changes the folder a job's file goes to (before it is downloaded, or to download again
    /// elsewhere).
    pub fn set_dest_dir(&self, id: &str, dest_dir: &str) -> Result<ExportJob, ErrorReport> {
        if dest_dir.trim().is_empty() {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "Choose a folder for the export file.",
                false,
            ));
        }
        let job = self.get(id)?;
        self.update(&job.job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET dest_dir = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job.job_id, dest_dir.trim(), now],
            )
        })?;
        self.get(&job.job_id)
    }

    fn set_polling(&self, job_id: &str, state: PollingState) -> Result<(), ErrorReport> {
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET polling = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job_id, state.as_str(), now],
            )
        })
    }

    fn update(
        &self,
        job_id: &str,
        f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<usize>,
    ) -> Result<(), ErrorReport> {
        let now = now_utc_ms();
        let n = self.store.with_conn(|c| f(c, &now)).map_err(store_err)?;
        if n == 0 {
            return Err(ErrorReport::local(
                error_codes::JOB_NOT_FOUND,
                format!("The export job {job_id} was removed."),
                false,
            ));
        }
        Ok(())
    }

    fn add_request_id(&self, job_id: &str, request_id: Option<&str>) -> Result<(), ErrorReport> {
        let Some(rid) = request_id.filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let job = self.get(job_id)?;
        let mut ids = job.request_ids;
        if ids.last().map(String::as_str) == Some(rid) {
            return Ok(());
        }
        ids.push(rid.to_owned());
        if ids.len() > MAX_REQUEST_IDS {
            let extra = ids.len() - MAX_REQUEST_IDS;
            ids.drain(1..=extra);
        }
        let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET request_ids = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job_id, json, now],
            )
        })
    }

    fn set_error(&self, job_id: &str, err: Option<&ErrorReport>) -> Result<(), ErrorReport> {
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET error_code = ?2, error_message = ?3, error_request_id = ?4,
                    error_retryable = ?5, updated_at = ?6 WHERE job_id = ?1",
                params![
                    job_id,
                    err.map(|e| e.code.as_str()),
                    err.map(|e| e.message.as_str()),
                    err.and_then(|e| e.request_id.as_deref()),
                    err.map(|e| e.retryable),
                    now
                ],
            )
        })
    }

    /// Records a probe answer on the job.
    fn apply_probe(
        &self,
        job_id: &str,
        p: &ExportDownload,
        counted: bool,
    ) -> Result<(), ErrorReport> {
        let status = ExportStatus::parse(&p.status).unwrap_or(ExportStatus::Processing);
        let now = now_utc_ms();
        self.update(job_id, |c, _| {
            c.execute(
                "UPDATE export_jobs SET status = ?2,
                    row_count = COALESCE(?3, row_count), byte_size = COALESCE(?4, byte_size),
                    file_name = COALESCE(?5, file_name), expires_at = ?6,
                    probe_count = probe_count + ?7, last_probe_at = ?8, updated_at = ?8,
                    error_code = NULL, error_message = NULL, error_request_id = NULL,
                    error_retryable = NULL
                 WHERE job_id = ?1",
                params![
                    job_id,
                    status.as_str(),
                    p.row_count,
                    p.byte_size,
                    p.file_name,
                    p.expires_at,
                    i64::from(counted),
                    now
                ],
            )
        })
    }

    /// Step 2: POST /exports with the job's saved Idempotency-Key. Safe to call again after a
    /// crash or a lost answer: the server replays the first answer (same export id). A job that
    /// already has its export id is returned as is.
    pub async fn submit(
        &self,
        client: &Client,
        id: &str,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        if job.export_id.is_some() {
            return Ok(job);
        }
        let body = NewExport {
            format: Some("csv".into()),
            filters: job.updated_after.as_ref().map(|u| ExportFilters {
                updated_after: Some(u.clone()),
            }),
            fields: job.fields.clone(),
        };
        match client.create_export(&body, &job.idempotency_key).await {
            Ok(resp) => {
                let status = ExportStatus::parse(&resp.data.status).unwrap_or(ExportStatus::Queued);
                self.update(&job.job_id, |c, now| {
                    c.execute(
                        "UPDATE export_jobs SET export_id = ?2, status = ?3,
                            row_count = COALESCE(?4, row_count),
                            file_name = COALESCE(?5, file_name), server_error = ?6,
                            error_code = NULL, error_message = NULL, error_request_id = NULL,
                            error_retryable = NULL, updated_at = ?7
                         WHERE job_id = ?1",
                        params![
                            job.job_id,
                            resp.data.id,
                            status.as_str(),
                            resp.data.row_count,
                            resp.data.file_name,
                            resp.data.error_message,
                            now
                        ],
                    )
                })?;
                self.add_request_id(&job.job_id, Some(&resp.request_id))?;
                let job = self.get(&job.job_id)?;
                on_event(ExportEvent::Job {
                    job: Box::new(job.clone()),
                });
                Ok(job)
            }
            Err(err) => {
                let report = ErrorReport::from(&err);
                self.add_request_id(&job.job_id, err.request_id.as_deref())?;
                self.set_error(&job.job_id, Some(&report))?;
                if !err.retryable {
                    // Refused (validation, scope, key): nothing was created; sending the same key
                    // again would only replay the refusal.
                    self.update(&job.job_id, |c, now| {
                        c.execute(
                            "UPDATE export_jobs SET status = 'failed', polling = 'done',
                                updated_at = ?2 WHERE job_id = ?1",
                            params![job.job_id, now],
                        )
                    })?;
                }
                on_event(ExportEvent::Job {
                    job: Box::new(self.get(&job.job_id)?),
                });
                Err(report)
            }
        }
    }

    /// Step 1 and 2: [`Exports::prepare`] then [`Exports::submit`]. On a transient failure the
    /// job stays `creating` with its key and [`Exports::resume_all`] sends it again.
    pub async fn start(
        &self,
        client: &Client,
        req: &ExportRequest,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.prepare(req)?;
        on_event(ExportEvent::Job {
            job: Box::new(job.clone()),
        });
        self.submit(client, &job.job_id, on_event).await
    }

    /// One probe (the "status" command, a manual refresh): records and returns the job.
    pub async fn refresh(&self, client: &Client, id: &str) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        let Some(export_id) = job.export_id.clone() else {
            return Ok(job);
        };
        match client.export_download_probe(&export_id).await {
            Ok(resp) => {
                self.apply_probe(&job.job_id, &resp.data, true)?;
                self.add_request_id(&job.job_id, Some(&resp.request_id))?;
                let job = self.get(&job.job_id)?;
                if job.status == ExportStatus::Failed && job.server_error.is_none() {
                    self.fetch_server_error(client, &job.job_id, &export_id)
                        .await;
                }
                self.get(&job.job_id)
            }
            Err(err) => {
                self.add_request_id(&job.job_id, err.request_id.as_deref())?;
                Err(err.into())
            }
        }
    }

    async fn fetch_server_error(&self, client: &Client, job_id: &str, export_id: &str) {
        if let Ok(resp) = client.get_export(export_id).await {
            let _ = self.add_request_id(job_id, Some(&resp.request_id));
            if let Some(msg) = resp.data.error_message {
                let _ = self.update(job_id, |c, now| {
                    c.execute(
                        "UPDATE export_jobs SET server_error = ?2, updated_at = ?3 WHERE job_id = ?1",
                        params![job_id, msg, now],
                    )
                });
            }
        }
    }

    /// The error a terminal, not-completed job ends with.
    fn terminal_error(job: &ExportJob, request_id: Option<String>) -> Option<ErrorReport> {
        match job.status {
            ExportStatus::Failed => Some(ErrorReport {
                code: error_codes::EXPORT_FAILED.into(),
                message: format!(
                    "The export failed on the server: {}. Start a new export; if it fails again, contact ProspectB2B support with the request ID.",
                    job.server_error.as_deref().unwrap_or("no reason given")
                ),
                request_id,
                retryable: false,
            }),
            ExportStatus::Expired => Some(ErrorReport {
                code: error_codes::EXPORT_EXPIRED.into(),
                message: "The export file expired before it was downloaded. Start a new export."
                    .into(),
                request_id,
                retryable: false,
            }),
            _ => None,
        }
    }

    /// Step 3: polls until the export is completed (returns the job, and the last probe with its
    /// fresh download URL), failed or expired (`export_failed` / `export_expired` with the
    /// request_id of the probe that saw it). Submits first when the job is still `creating`.
    pub async fn wait_ready(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<(ExportJob, Option<ExportDownload>), ErrorReport> {
        let mut job = self.get(id)?;
        let job_id = job.job_id.clone();
        if job.export_id.is_none() {
            if job.status != ExportStatus::Creating {
                return Err(job.error.clone().unwrap_or_else(|| {
                    ErrorReport::local(codes::INTERNAL, "The export was never created.", false)
                }));
            }
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            job = tokio::select! {
                r = self.submit(client, &job_id, on_event) => r?,
                _ = cancel.cancelled() => return Err(cancelled()),
            };
        }
        let export_id = job.export_id.clone().unwrap_or_default();
        if job.polling == PollingState::Stopped {
            self.set_polling(&job_id, PollingState::Active)?;
        }
        let mut transient = 0u32;
        let mut last_request_id = job.request_ids.last().cloned();
        let mut probe_answer: Option<ExportDownload> = None;
        // A stored terminal status needs no probe, except `completed` (the URL is needed).
        if !(job.status.is_terminal() && job.status != ExportStatus::Completed) {
            loop {
                if cancel.is_cancelled() {
                    return Err(cancelled());
                }
                let probe_no = self.get(&job_id)?.probe_count + 1;
                let result = tokio::select! {
                    r = client.export_download_probe(&export_id) => r,
                    _ = cancel.cancelled() => return Err(cancelled()),
                };
                let retry_after = match result {
                    Ok(resp) => {
                        transient = 0;
                        self.apply_probe(&job_id, &resp.data, true)?;
                        self.add_request_id(&job_id, Some(&resp.request_id))?;
                        last_request_id = Some(resp.request_id.clone());
                        let status = ExportStatus::parse(&resp.data.status)
                            .unwrap_or(ExportStatus::Processing);
                        on_event(ExportEvent::Probed {
                            job_id: job_id.clone(),
                            probe: probe_no,
                            status,
                            request_id: Some(resp.request_id.clone()),
                            error: None,
                        });
                        let before = job.status;
                        job = self.get(&job_id)?;
                        if before != job.status {
                            on_event(ExportEvent::Job {
                                job: Box::new(job.clone()),
                            });
                        }
                        if status.is_terminal() {
                            probe_answer = Some(resp.data);
                            break;
                        }
                        None
                    }
                    Err(err) => {
                        let report = ErrorReport::from(&err);
                        self.add_request_id(&job_id, err.request_id.as_deref())?;
                        self.update(&job_id, |c, now| {
                            c.execute(
                                "UPDATE export_jobs SET probe_count = probe_count + 1,
                                    last_probe_at = ?2 WHERE job_id = ?1",
                                params![job_id, now],
                            )
                        })?;
                        self.set_error(&job_id, Some(&report))?;
                        on_event(ExportEvent::Probed {
                            job_id: job_id.clone(),
                            probe: probe_no,
                            status: job.status,
                            request_id: err.request_id.clone(),
                            error: Some(report.clone()),
                        });
                        transient += 1;
                        if !err.retryable || transient > opts.max_transient_errors {
                            self.set_polling(&job_id, PollingState::Stopped)?;
                            on_event(ExportEvent::Job {
                                job: Box::new(self.get(&job_id)?),
                            });
                            return Err(report);
                        }
                        err.retry_after.map(|s| Duration::from_secs(u64::from(s)))
                    }
                };
                let delay = opts.schedule.delay(probe_no, fastrand::f64(), retry_after);
                on_event(ExportEvent::Waiting {
                    job_id: job_id.clone(),
                    delay_ms: delay.as_millis() as u64,
                    retry_after: retry_after
                        .is_some_and(|ra| ra.min(opts.schedule.max_retry_after) >= delay),
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(cancelled()),
                }
            }
        }
        job = self.get(&job_id)?;
        if job.status == ExportStatus::Failed && job.server_error.is_none() {
            self.fetch_server_error(client, &job_id, &export_id).await;
            job = self.get(&job_id)?;
        }
        if let Some(err) = Self::terminal_error(&job, last_request_id) {
            self.set_error(&job_id, Some(&err))?;
            self.set_polling(&job_id, PollingState::Done)?;
            on_event(ExportEvent::Job {
                job: Box::new(self.get(&job_id)?),
            });
            return Err(err);
        }
        Ok((job, probe_answer))
    }

    /// Step 3 without the probe answer: polls until completed (`Ok`), failed or expired (`Err`).
    /// A job the user stopped polling is polled again.
    pub async fn wait(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let (job, _) = self.wait_ready(client, id, opts, cancel, on_event).await?;
        if job.local_path.is_none() && !job.auto_download {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        Ok(job)
    }

    /// Step 4: downloads a completed export into the job's folder (probing for a fresh URL).
    pub async fn download(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        self.download_with(client, id, None, opts, cancel, on_event)
            .await
    }

    /// Step 4 with a probe answer already in hand (its URL is tried first; an expired one is
    /// re-probed). `dest_dir` of the job must exist or be creatable.
    pub async fn download_with(
        &self,
        client: &Client,
        id: &str,
        probe: Option<ExportDownload>,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        let job_id = job.job_id.clone();
        let Some(export_id) = job.export_id.clone() else {
            return Err(ErrorReport::local(
                error_codes::EXPORT_NOT_READY,
                "The export has not been created on the server yet.",
                true,
            ));
        };
        let dir = PathBuf::from(&job.dest_dir);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error("create the folder", &dir, &e))?;
        let mut probe = probe.filter(|p| p.download_ready && p.download_url.is_some());
        let attempts = opts.download_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            let p = match probe.take() {
                Some(p) => p,
                None => {
                    let resp = tokio::select! {
                        r = client.export_download_probe(&export_id) => r,
                        _ = cancel.cancelled() => return Err(cancelled()),
                    };
                    let resp = match resp {
                        Ok(r) => r,
                        Err(err) => {
                            self.add_request_id(&job_id, err.request_id.as_deref())?;
                            let report = ErrorReport::from(&err);
                            self.set_error(&job_id, Some(&report))?;
                            return Err(report);
                        }
                    };
                    self.apply_probe(&job_id, &resp.data, false)?;
                    self.add_request_id(&job_id, Some(&resp.request_id))?;
                    let job = self.get(&job_id)?;
                    if let Some(err) = Self::terminal_error(&job, Some(resp.request_id.clone())) {
                        self.set_error(&job_id, Some(&err))?;
                        self.set_polling(&job_id, PollingState::Done)?;
                        return Err(err);
                    }
                    if !resp.data.download_ready {
                        return Err(ErrorReport {
                            code: error_codes::EXPORT_NOT_READY.into(),
                            message: format!(
                                "The export is not ready yet (status {}). Wait for it first.",
                                resp.data.status
                            ),
                            request_id: Some(resp.request_id),
                            retryable: true,
                        });
                    }
                    resp.data
                }
            };
            match self
                .fetch_file(client, &job_id, &dir, &p, cancel, on_event)
                .await
            {
                Ok(path) => {
                    let shown = path.to_string_lossy().into_owned();
                    self.update(&job_id, |c, now| {
                        c.execute(
                            "UPDATE export_jobs SET local_path = ?2, polling = 'done',
                                error_code = NULL, error_message = NULL, error_request_id = NULL,
                                error_retryable = NULL, updated_at = ?3 WHERE job_id = ?1",
                            params![job_id, shown, now],
                        )
                    })?;
                    let job = self.get(&job_id)?;
                    on_event(ExportEvent::Job {
                        job: Box::new(job.clone()),
                    });
                    return Ok(job);
                }
                Err(Fetch::Cancelled) => return Err(cancelled()),
                Err(Fetch::Fatal(report)) => {
                    self.set_error(&job_id, Some(&report))?;
                    return Err(report);
                }
                Err(Fetch::Retry(report)) => {
                    self.set_error(&job_id, Some(&report))?;
                    if attempt >= attempts {
                        return Err(report);
                    }
                    on_event(ExportEvent::LinkRefreshed {
                        job_id: job_id.clone(),
                        attempt,
                        reason: report,
                    });
                    // A broken transfer waits a little; an expired link is re-probed at once.
                    let wait = opts.schedule.backoff(attempt, fastrand::f64());
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(cancelled()),
                    }
                }
            }
        }
    }

    /// Streams one download URL into `.<name>.<job>.part` and renames it into place.
    async fn fetch_file(
        &self,
        client: &Client,
        job_id: &str,
        dir: &Path,
        p: &ExportDownload,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<PathBuf, Fetch> {
        let Some(url) = p.download_url.as_deref() else {
            return Err(Fetch::Retry(ErrorReport::local(
                error_codes::EXPORT_NOT_READY,
                "The server gave no download link.",
                true,
            )));
        };
        let fallback = format!("{}.csv", p.id);
        let name = sanitize_file_name(p.file_name.as_deref().unwrap_or(&fallback), &fallback);
        let part = dir.join(format!(".{name}.{job_id}.part"));
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(|e| Fetch::Fatal(io_error("create", &part, &e)))?;
        let mut out = Counting {
            inner: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            counter: CsvRecordCounter::default(),
        };
        let mut last_sent = 0u64;
        let progress = |bytes: u64, total: Option<u64>| {
            let done = total.is_some_and(|t| bytes >= t);
            if bytes == 0 || done || bytes - last_sent >= 256 * 1024 {
                last_sent = bytes;
                on_event(ExportEvent::Downloading {
                    job_id: job_id.to_owned(),
                    bytes,
                    total,
                });
            }
        };
        let result = tokio::select! {
            r = client.download_file(url, &mut out, progress) => Some(r),
            _ = cancel.cancelled() => None,
        };
        let cleanup = || async {
            let _ = tokio::fs::remove_file(&part).await;
        };
        let written = match result {
            None => {
                drop(out);
                cleanup().await;
                return Err(Fetch::Cancelled);
            }
            Some(Err(err)) => {
                drop(out);
                cleanup().await;
                let _ = self.add_request_id(job_id, err.request_id.as_deref());
                let retry = matches!(
                    err.kind,
                    ApiErrorKind::DownloadLinkExpired
                        | ApiErrorKind::ConnectionLost
                        | ApiErrorKind::Timeout
                        | ApiErrorKind::Unreachable
                        | ApiErrorKind::Server
                        | ApiErrorKind::RateLimited
                ) || err.status == Some(409);
                return Err(if retry {
                    Fetch::Retry(link_error(&err))
                } else {
                    Fetch::Fatal(err.into())
                });
            }
            Some(Ok(n)) => n,
        };
        let records = out.counter.records();
        let file = out.inner.into_inner();
        if let Err(e) = file.sync_all().await {
            cleanup().await;
            return Err(Fetch::Fatal(io_error("write", &part, &e)));
        }
        drop(file);
        let rows = records.saturating_sub(1);
        let mismatch = if p.byte_size.is_some_and(|b| b >= 0 && b as u64 != written) {
            Some(format!(
                "{written} bytes arrived but the server announced {}",
                p.byte_size.unwrap_or_default()
            ))
        } else if p.row_count.is_some_and(|r| r >= 0 && r as u64 != rows) {
            Some(format!(
                "the file holds {rows} rows but the server announced {}",
                p.row_count.unwrap_or_default()
            ))
        } else {
            None
        };
        if let Some(what) = mismatch {
            cleanup().await;
            return Err(Fetch::Retry(ErrorReport::local(
                error_codes::DOWNLOAD_MISMATCH,
                format!("The downloaded file is incomplete: {what}. It was discarded; downloading again."),
                true,
            )));
        }
        place_file(&part, dir, &name).await.map_err(Fetch::Fatal)
    }

    /// Steps 2–4: submits if needed, polls until ready and downloads when the job says so.
    pub async fn run(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let (job, probe) = self.wait_ready(client, id, opts, cancel, on_event).await?;
        if job
            .local_path
            .as_deref()
            .is_some_and(|p| Path::new(p).exists())
        {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        if !job.auto_download {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        self.download_with(client, &job.job_id, probe, opts, cancel, on_event)
            .await
    }

    /// The jobs [`Exports::resume_all`] would pick up: polling active and not done.
    pub fn pending(&self) -> Result<Vec<ExportJob>, ErrorReport> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|j| j.polling == PollingState::Active)
            .collect())
    }

    /// After a restart: runs every pending job ([`Exports::run`]) concurrently, from where it
    /// stopped. Returns one result per job (job id, outcome).
    pub async fn resume_all(
        &self,
        client: &Client,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<Vec<(String, Result<ExportJob, ErrorReport>)>, ErrorReport> {
        let jobs = self.pending()?;
        let runs = jobs.iter().map(|j| async {
            let r = self.run(client, &j.job_id, opts, cancel, on_event).await;
            (j.job_id.clone(), r)
        });
        Ok(futures_util::future::join_all(runs).await)
    }
}

enum Fetch {
    Cancelled,
    /// Worth a fresh probe and another try.
    Retry(ErrorReport),
    Fatal(ErrorReport),
}

fn link_error(err: &ApiError) -> ErrorReport {
    ErrorReport::from(err)
}

async fn same_content(a: &Path, b: &Path) -> bool {
    let (Ok(ma), Ok(mb)) = (tokio::fs::metadata(a).await, tokio::fs::metadata(b).await) else {
        return false;
    };
    if ma.len() != mb.len() || !mb.is_file() {
        return false;
    }
    let (Ok(mut fa), Ok(mut fb)) = (
        tokio::fs::File::open(a).await,
        tokio::fs::File::open(b).await,
    ) else {
        return false;
    };
    let mut ba = vec![0u8; 64 * 1024];
    let mut bb = vec![0u8; 64 * 1024];
    loop {
        let n = match fa.read(&mut ba).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 {
            return true;
        }
        if fb.read_exact(&mut bb[..n]).await.is_err() || ba[..n] != bb[..n] {
            return false;
        }
    }
}

/// Moves the finished temp file to `dir/name`, never over a different file: an identical file
/// already there (a crash after the rename) is kept; otherwise `name (1).csv`, `name (2).csv`...
async fn place_file(part: &Path, dir: &Path, name: &str) -> Result<PathBuf, ErrorReport> {
    for n in 0..1000u32 {
        let candidate = dir.join(if n == 0 {
            name.to_owned()
        } else {
            with_suffix(name, n)
        });
        if tokio::fs::symlink_metadata(&candidate).await.is_ok() {
            if same_content(part, &candidate).await {
                let _ = tokio::fs::remove_file(part).await;
                return Ok(candidate);
            }
            continue;
        }
        // A hard link fails if the name appeared meanwhile (no clobbering); file systems
        // without hard links fall back to a rename after the existence check above.
        match tokio::fs::hard_link(part, &candidate).await {
            Ok(()) => {
                let _ = tokio::fs::remove_file(part).await;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => {
                return match tokio::fs::rename(part, &candidate).await {
                    Ok(()) => Ok(candidate),
                    Err(e) => Err(io_error("move the file to", &candidate, &e)),
                };
            }
        }
    }
    Err(ErrorReport::local(
        "io_error",
        format!("Too many files named like {name} in {}.", dir.display()),
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn schedule_grows_is_capped_and_jitter_only_shortens() {
        let s = PollSchedule {
            initial: Duration::from_millis(500),
            factor: 2.0,
            max: Duration::from_secs(5),
            jitter: 0.2,
            max_retry_after: Duration::from_secs(60),
        };
        assert_eq!(s.backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(s.backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(s.backoff(4, 0.0), Duration::from_secs(4));
        assert_eq!(s.backoff(5, 0.0), Duration::from_secs(5));
        assert_eq!(s.backoff(u32::MAX, 0.0), Duration::from_secs(5));
        assert_eq!(s.backoff(1, 1.0), Duration::from_millis(400));
        // Retry-After is a floor, even above the cap, and itself capped.
        assert_eq!(
            s.delay(1, 0.5, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(
            s.delay(9, 0.0, Some(Duration::from_secs(1))),
            Duration::from_secs(5)
        );
        assert_eq!(
            s.delay(1, 0.0, Some(Duration::from_secs(3600))),
            Duration::from_secs(60)
        );
    }

    proptest! {
        #[test]
        fn schedule_never_exceeds_its_cap(probe in 0u32..10_000, unit in proptest::num::f64::ANY,
                                          factor in proptest::num::f64::ANY, jitter in proptest::num::f64::ANY) {
            let s = PollSchedule { factor, jitter, ..PollSchedule::default() };
            let d = s.backoff(probe, unit);
            prop_assert!(d <= s.max);
            let ra = s.delay(probe, unit, Some(Duration::from_secs(2)));
            prop_assert!(ra >= Duration::from_secs(2) && ra <= s.max.max(Duration::from_secs(2)));
        }

        #[test]
        fn sanitized_names_stay_in_the_folder(name in ".{0,300}") {
            let out = sanitize_file_name(&name, "exp_1.csv");
            prop_assert!(!out.is_empty());
            prop_assert!(!out.contains('/') && !out.contains('\\') && !out.contains('\0'));
            prop_assert!(out != "." && out != ".." && !out.starts_with('.'));
            prop_assert!(out.len() <= 190);
            let p = Path::new("/dest").join(&out);
            prop_assert_eq!(p.parent(), Some(Path::new("/dest")));
        }

        #[test]
        fn record_counter_ignores_chunking(cells in proptest::collection::vec("[a-z\",\r\n]{0,8}", 0..20), cut in 0usize..200) {
            let mut csv = String::from("a,b\r\n");
            for c in &cells {
                csv.push('"');
                csv.push_str(&c.replace('"', "\"\""));
                csv.push_str("\",x\r\n");
            }
            let bytes = csv.as_bytes();
            let mut whole = CsvRecordCounter::default();
            whole.feed(bytes);
            let mut parts = CsvRecordCounter::default();
            let cut = cut.min(bytes.len());
            parts.feed(&bytes[..cut]);
            parts.feed(&bytes[cut..]);
            prop_assert_eq!(whole.records(), cells.len() as u64 + 1);
            prop_assert_eq!(parts.records(), whole.records());
        }
    }

    #[test]
    fn traversal_and_reserved_names_are_defused() {
        assert_eq!(sanitize_file_name("../../etc/passwd", "f.csv"), "passwd");
        assert_eq!(sanitize_file_name("..\\..\\boot.ini", "f.csv"), "boot.ini");
        assert_eq!(sanitize_file_name("..", "exp_1.csv"), "exp_1.csv");
        assert_eq!(sanitize_file_name("", "../x"), "x");
        assert_eq!(sanitize_file_name("CON.csv", "f.csv"), "_CON.csv");
        assert_eq!(sanitize_file_name("a:b?.csv", "f.csv"), "a_b_.csv");
        assert_eq!(sanitize_file_name("leads.csv", "f.csv"), "leads.csv");
        let long = format!("{}.csv", "é".repeat(200));
        let out = sanitize_file_name(&long, "f.csv");
        assert!(out.len() <= 180 && out.ends_with(".csv"), "{out}");
        assert_eq!(with_suffix("leads.csv", 2), "leads (2).csv");
        assert_eq!(with_suffix("leads", 1), "leads (1)");
    }

    #[test]
    fn record_counter_counts_quoted_line_breaks_once() {
        let mut c = CsvRecordCounter::default();
        c.feed(b"id,note\r\n1,\"two\r\nlines\"\r\n2,plain");
        assert_eq!(c.records(), 3);
        let mut empty = CsvRecordCounter::default();
        empty.feed(b"");
        assert_eq!(empty.records(), 0);
    }

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

    #[test]
    fn jobs_are_saved_before_sending_and_scoped_per_profile() {
        let store = Store::open_in_memory().unwrap();
        let a = Exports::open(store.clone(), "a").unwrap();
        let b = Exports::open(store, "b").unwrap();
        let req = ExportRequest {
            updated_after: Some("2026-01-01T00:00:00.000Z".into()),
            fields: Some(vec!["id".into(), "email".into()]),
            dest_dir: "/tmp/x".into(),
            auto_download: true,
        };
        let job = a.prepare(&req).unwrap();
        assert_eq!(job.status, ExportStatus::Creating);
        assert!(job.idempotency_key.starts_with("export-"));
        assert_eq!(
            job.fields.as_deref(),
            Some(&["id".to_owned(), "email".to_owned()][..])
        );
        assert_eq!(job.updated_after, req.updated_after);
        assert_eq!(a.list().unwrap().len(), 1);
        assert!(b.list().unwrap().is_empty());
        assert!(b.find(&job.job_id).unwrap().is_none());
        assert_eq!(a.pending().unwrap().len(), 1);
        assert_eq!(
            a.stop_polling(&job.job_id).unwrap().polling,
            PollingState::Stopped
        );
        assert!(a.pending().unwrap().is_empty());
        a.remove(&job.job_id).unwrap();
        assert_eq!(
            a.get(&job.job_id).unwrap_err().code,
            error_codes::JOB_NOT_FOUND
        );
        for bad in [
            ExportRequest {
                dest_dir: " ".into(),
                ..req.clone()
            },
            ExportRequest {
                fields: Some(vec![]),
                ..req.clone()
            },
            ExportRequest {
                updated_after: Some("".into()),
                ..req.clone()
            },
        ] {
            assert_eq!(a.prepare(&bad).unwrap_err().code, codes::INVALID_INPUT);
        }
    }
}
