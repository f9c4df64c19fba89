//! Incremental sync: a local SQLite mirror of a workspace's leads, kept exactly equal to the
//! server with `GET /leads?limit=100&updated_after=W&cursor=C`.
//!
//! # The engine ([`sync`])
//!
//! - A run reads `GET /leads?limit=<page_size>&updated_after=<U>&cursor=<C>` until `has_more` is
//!   false. The list is ordered by `(updated_at, id)`; the cursor carries the position, so many
//!   leads sharing one `updated_at` are read exactly once per run, and a lead edited while pages
//!   are read moves behind the cursor and is read again later in the same run.
//! - The **watermark** is the largest `(updated_at, id)` seen. An incremental run starts at
//!   `U = watermark.updated_at − overlap` (default [`DEFAULT_OVERLAP_MS`], at least 1 ms since
//!   `updated_after` is exclusive), so a lead the server committed late with an earlier
//!   `updated_at` is not missed. Leads are upserted by id, so reading some twice is harmless
//!   (a lead whose stored `updated_at` equals the incoming one counts as unchanged and is not
//!   rewritten; the server bumps `updated_at` on every change).
//! - **A page and its checkpoint in one transaction**: the page's upserts, the new watermark,
//!   the run's counters and the next cursor (the checkpoint) commit together. When the writer
//!   falls behind the network, the pages already fetched (at most 32) share one transaction
//!   with the checkpoint after the last of them (group commit). A crash at any point leaves
//!   either whole pages and the checkpoint after them or neither; the next [`sync`] resumes the interrupted run from
//!   its cursor (`SyncReport::resumed`). The last page's transaction also closes the run. A cursor
//!   the server refuses on resume (`invalid_cursor`) restarts the run's query from its beginning.
//! - Modes ([`SyncMode`]): `incremental` (resumes an interrupted run, else from the watermark),
//!   `full` (everything from the start; the watermark is reset, so a server that went back in
//!   time is followed), `since` (re-sync from a date: every lead updated at or after it).
//! - Retries and rate limits are the client's (`Client`'s one retry layer, `Retry-After`
//!   honoured). A failure after the client's retries ends the run with the checkpoint kept, so
//!   the next run resumes.
//! - **Cancel**: a [`CancellationToken`]; the in-flight request is dropped, the page being written
//!   finishes its transaction, the run stays resumable. Returns `Ok` with outcome `cancelled`.
//! - **Progress**: the callback gets a [`SyncProgress`] after every committed page. The API gives
//!   no total; a UI can show the watermark's time against the run's start for a rough bar.
//! - A fetcher task reads pages ahead (up to 32 waiting) while the writer commits, so the
//!   network and SQLite overlap. A group of pages is upserted with one statement per 1,000 rows
//!   (not one per lead or per page): FTS5 flushes its pending terms at every statement that
//!   fires its triggers.
//! - The request log shares the database; a request finished while a page is being written is
//!   logged right after that transaction (see `RequestLog`), so logging never waits on it.
//! - Test hook: `PB2B_SYNC_CRASH_AFTER_PAGES=N` aborts the process inside the transaction that
//!   holds the N-th page of a run (after its upserts, before its checkpoint and commit): read only in
//!   `engine::write_pages`, for the kill tests.
//!
//! # Which mirror
//!
//! A mirror is keyed by the **workspace id** from `GET /me` (`me.workspace.id`): keys are
//! workspace-scoped, so two profiles of one workspace share one mirror, and a profile whose key
//! moves to another workspace gets a different one. The profile name is kept as a label
//! ([`Mirror::for_profile`] finds the mirror to list offline). All mirrors live in the app's one
//! database ([`crate::DATABASE_FILE`]), tables `sync_leads` (+ FTS5 index `sync_leads_fts`) and
//! `sync_state`, created through [`Store::migrate_module`] (module [`MODULE`]).
//!
//! # The mirror ([`Mirror`])
//!
//! [`Mirror::search`] (word-prefix full-text search through FTS5, filters, sort, offset/limit,
//! total), [`Mirror::get`], [`Mirror::counts`], [`Mirror::status`], [`Mirror::export`] (CSV with a
//! UTF-8 BOM and formula-safe cells, or JSON Lines, streamed in chunks), [`Mirror::all_leads`].
//! One run at a time per `Mirror` value and its clones (a second gets `sync_running`); keep one
//! `Mirror` per workspace and clone it. Runs from two processes stay consistent (every write is a
//! transaction, upserts are idempotent) but waste work.
//!
//! # Layout
//!
//! - `engine`: the run ([`sync`]): the fetcher, page upserts, group commit and checkpoints.
//! - `mirror`: [`Mirror`], its queries, search and export, and the lead columns.
//! - `state`: the `sync_state` row: run plan (resume or new), watermark, run end, status.
//! - `bulk`: a first sync into an empty mirror loads without its indexes and search triggers
//!   and builds them once at the end (recorded durably; a killed run's build is finished when the
//!   mirror is next opened or searched).
//! - [`destination`]: the interface both destinations implement (this mirror, [`postgres`]).
//! - [`chosen`]: which destination a profile chose on the Sync screen, and its password's
//!   keychain entry.

use serde::{Deserialize, Serialize};
/// Re-exported so fronts (CLI, app) need no direct tokio-util dependency.
pub use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::api::Lead;
use crate::error::{codes, ErrorReport};
use crate::store::StoreError;

mod bulk;
pub mod chosen;
pub mod destination;
mod engine;
mod mirror;
pub mod postgres;
pub mod schedule;
mod state;
mod verify;

pub use destination::Destination;
pub use engine::{sync, sync_to};
pub(crate) use mirror::{custom_fields_of, lead_from_offset};
pub use mirror::{formula_safe, Mirror, LEAD_FIELDS};
pub use verify::{verify, VerifyPhase, VerifyProgress, VerifyRange, VerifyReport, RANGE_LEADS};

/// The automatic sync intervals the app offers, in minutes (0 = off).
pub const SYNC_INTERVALS_MINUTES: [u32; 4] = [0, 5, 15, 60];

/// The module name in `module_schema`.
pub const MODULE: &str = "sync";
/// Leads per page (the API's maximum).
pub const PAGE_SIZE: u32 = 100;
/// Default overlap: how far before the watermark an incremental run starts.
pub const DEFAULT_OVERLAP_MS: u64 = 5_000;
/// The environment variable of the crash test hook (see the module docs).
pub const CRASH_HOOK_ENV: &str = "PB2B_SYNC_CRASH_AFTER_PAGES";
/// Largest page a search returns.
pub const MAX_SEARCH_LIMIT: u32 = 1_000;

/// The module's migrations (see [`Store::migrate_module`]).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE sync_leads (
        rid INTEGER PRIMARY KEY,
        mirror TEXT NOT NULL,
        id TEXT NOT NULL,
        email TEXT NOT NULL,
        full_name TEXT,
        first_name TEXT,
        last_name TEXT,
        phone TEXT,
        job_title TEXT,
        company_name TEXT,
        company_domain TEXT,
        linkedin_url TEXT,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        custom_fields TEXT NOT NULL DEFAULT '{}',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (mirror, id)
    );
    CREATE INDEX sync_leads_updated ON sync_leads(mirror, updated_at, id);
    CREATE INDEX sync_leads_created ON sync_leads(mirror, created_at, id);
    CREATE INDEX sync_leads_email ON sync_leads(mirror, email COLLATE NOCASE);
    CREATE INDEX sync_leads_name ON sync_leads(mirror, full_name COLLATE NOCASE);
    CREATE INDEX sync_leads_company ON sync_leads(mirror, company_name COLLATE NOCASE);
    CREATE INDEX sync_leads_status ON sync_leads(mirror, status);
    CREATE VIRTUAL TABLE sync_leads_fts USING fts5(
        email, full_name, first_name, last_name, phone, job_title, company_name,
        company_domain, custom_fields,
        content='sync_leads', content_rowid='rid',
        tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER sync_leads_ai AFTER INSERT ON sync_leads BEGIN
        INSERT INTO sync_leads_fts(rowid, email, full_name, first_name, last_name, phone,
            job_title, company_name, company_domain, custom_fields)
        VALUES (new.rid, new.email, new.full_name, new.first_name, new.last_name, new.phone,
            new.job_title, new.company_name, new.company_domain, new.custom_fields);
    END;
    CREATE TRIGGER sync_leads_ad AFTER DELETE ON sync_leads BEGIN
        INSERT INTO sync_leads_fts(sync_leads_fts, rowid, email, full_name, first_name,
            last_name, phone, job_title, company_name, company_domain, custom_fields)
        VALUES ('delete', old.rid, old.email, old.full_name, old.first_name, old.last_name,
            old.phone, old.job_title, old.company_name, old.company_domain, old.custom_fields);
    END;
    CREATE TRIGGER sync_leads_au AFTER UPDATE ON sync_leads BEGIN
        INSERT INTO sync_leads_fts(sync_leads_fts, rowid, email, full_name, first_name,
            last_name, phone, job_title, company_name, company_domain, custom_fields)
        VALUES ('delete', old.rid, old.email, old.full_name, old.first_name, old.last_name,
            old.phone, old.job_title, old.company_name, old.company_domain, old.custom_fields);
        INSERT INTO sync_leads_fts(rowid, email, full_name, first_name, last_name, phone,
            job_title, company_name, company_domain, custom_fields)
        VALUES (new.rid, new.email, new.full_name, new.first_name, new.last_name, new.phone,
            new.job_title, new.company_name, new.company_domain, new.custom_fields);
    END;
    CREATE TABLE sync_state (
        mirror TEXT PRIMARY KEY,
        profile TEXT,
        watermark_ms INTEGER,
        watermark_updated_at TEXT,
        watermark_id TEXT,
        run_active INTEGER NOT NULL DEFAULT 0,
        run_mode TEXT,
        run_updated_after TEXT,
        run_cursor TEXT,
        run_started_at TEXT,
        run_pages INTEGER NOT NULL DEFAULT 0,
        run_leads INTEGER NOT NULL DEFAULT 0,
        run_new INTEGER NOT NULL DEFAULT 0,
        run_updated INTEGER NOT NULL DEFAULT 0,
        last_started_at TEXT,
        last_finished_at TEXT,
        last_outcome TEXT,
        last_mode TEXT,
        last_error TEXT,
        last_pages INTEGER,
        last_leads INTEGER,
        last_new INTEGER,
        last_updated INTEGER
    );",
    // Every index ends with the rowid, so (mirror, updated_at) already orders ties by rid, as
    // `order_by` does; the old trailing `id` (random) made each new row land at a random place in
    // two indexes, which dominated the cost of a first sync where many leads share a timestamp.
    "DROP INDEX sync_leads_updated;
    DROP INDEX sync_leads_created;
    CREATE INDEX sync_leads_updated ON sync_leads(mirror, updated_at);
    CREATE INDEX sync_leads_created ON sync_leads(mirror, created_at);",
    // Which mirror each profile opened last (for offline reading), kept apart from the mirror's
    // own row, which every process opening the mirror relabels; and the key prefix a mirror was
    // last opened with.
    "CREATE TABLE sync_profiles (
        profile TEXT PRIMARY KEY,
        mirror TEXT NOT NULL,
        key_prefix TEXT,
        opened_at TEXT NOT NULL
    );
    ALTER TABLE sync_state ADD COLUMN key_prefix TEXT;
    INSERT OR IGNORE INTO sync_profiles (profile, mirror, opened_at)
        SELECT profile, mirror, coalesce(last_started_at, '') FROM sync_state
        WHERE profile IS NOT NULL ORDER BY last_started_at;",
    // A first sync's bulk load: the indexes and triggers of `sync_leads` it set aside, to build
    // again when it ends (see `bulk`).
    "CREATE TABLE sync_bulk (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        mirror TEXT NOT NULL,
        sql TEXT NOT NULL
    );",
    // The search index with a prefix index of one character. Every search term is a prefix
    // query ("a*"), and without it a one-letter prefix merges the doclists of every token it
    // starts (thousands): at 100,000 leads, counting "a" took 6-12 ms and its first page 14 ms;
    // with it 1.5 and 6-7 ms. Two letters already narrow enough (0.4-1.7 ms without an index of
    // their own, which would double the cost below). It costs ~10% more file and 0.3 s more CPU
    // per 100,000 leads when the index is built in one go (a first sync's end: 0.63 s instead
    // of 0.37). Same columns, content and tokenizer; the triggers name the table, so they carry on.
    "DROP TABLE sync_leads_fts;
    CREATE VIRTUAL TABLE sync_leads_fts USING fts5(
        email, full_name, first_name, last_name, phone, job_title, company_name,
        company_domain, custom_fields,
        content='sync_leads', content_rowid='rid',
        tokenize='unicode61 remove_diacritics 2',
        prefix='1'
    );
    INSERT INTO sync_leads_fts(sync_leads_fts) VALUES ('rebuild');",
];

// Timestamps: the mirror's `updated_at` bounds and watermark are `crate::time`'s.
pub use crate::time::{format_timestamp, parse_timestamp};

// ---------------------------------------------------------------------------------------------
// Public types

/// What a run reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "mode", rename_all = "snake_case")]
#[ts(export_to = "SyncMode.ts")]
pub enum SyncMode {
    /// Resume an interrupted run, else read what changed since the watermark (minus the overlap).
    #[default]
    Incremental,
    /// Everything from the start (the watermark is reset).
    Full,
    /// Every lead updated at or after `since` (RFC 3339 or `YYYY-MM-DD`).
    Since { since: String },
}

/// Options of one run; every member optional from the UI (`{}` = incremental, defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export_to = "SyncOptions.ts")]
pub struct SyncOptions {
    #[ts(as = "Option<SyncMode>", optional)]
    pub mode: SyncMode,
    /// How far before the watermark an incremental run starts (default 5000).
    #[ts(as = "Option<u32>", optional)]
    pub overlap_ms: u64,
    /// Leads per page, 1..=100 (default 100).
    #[ts(as = "Option<u32>", optional)]
    pub page_size: u32,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            mode: SyncMode::Incremental,
            overlap_ms: DEFAULT_OVERLAP_MS,
            page_size: PAGE_SIZE,
        }
    }
}

/// The largest `(updated_at, id)` the mirror has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "SyncWatermark.ts")]
pub struct Watermark {
    pub updated_at: String,
    pub id: String,
}

/// Counts so far in a run (the whole run, including pages before an interruption).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "SyncProgress.ts")]
pub struct SyncProgress {
    /// Pages committed.
    #[ts(type = "number")]
    pub pages: u64,
    /// Leads read (new + updated + unchanged).
    #[ts(type = "number")]
    pub leads: u64,
    /// Leads the mirror did not have.
    #[ts(type = "number")]
    pub new: u64,
    /// Leads that changed.
    #[ts(type = "number")]
    pub updated: u64,
    /// The watermark after the last committed page.
    pub watermark: Option<Watermark>,
    /// Whether this run continues one that was interrupted.
    pub resumed: bool,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "SyncOutcome.ts")]
pub enum SyncOutcome {
    /// Read to the end (`has_more` false).
    Completed,
    /// Stopped by the cancellation token; the next run resumes.
    Cancelled,
    /// Stopped by an error; the next run resumes.
    Failed,
}

/// What [`sync`] returns when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "SyncReport.ts")]
pub struct SyncReport {
    pub outcome: SyncOutcome,
    /// `incremental`, `full` or `since`.
    pub mode: String,
    /// The counts of the whole run.
    pub progress: SyncProgress,
    /// Requests this call sent (pages, not retries).
    #[ts(type = "number")]
    pub requests: u64,
    pub started_at: String,
    pub finished_at: String,
}

/// The Sync screen's status of one mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "SyncStatus.ts")]
pub struct SyncStatus {
    /// The workspace id the mirror is keyed by.
    pub mirror: String,
    /// The profile that last opened it.
    pub profile: Option<String>,
    /// Leads in the mirror.
    #[ts(type = "number")]
    pub total_leads: u64,
    pub watermark: Option<Watermark>,
    /// A run was interrupted (crash, cancel, error) and the next sync resumes it.
    pub interrupted: bool,
    /// Whether a run is going on right now in this process.
    pub running: bool,
    pub last_started_at: Option<String>,
    pub last_finished_at: Option<String>,
    pub last_outcome: Option<SyncOutcome>,
    pub last_mode: Option<String>,
    pub last_error: Option<ErrorReport>,
    /// Counts of the last finished (or interrupted) run.
    pub last: Option<SyncProgress>,
}

/// Sortable columns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "LeadSortField.ts")]
pub enum LeadSortField {
    #[default]
    UpdatedAt,
    CreatedAt,
    Email,
    FullName,
    CompanyName,
    Status,
}

/// A sort order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export_to = "LeadSort.ts")]
pub struct LeadSort {
    #[ts(as = "Option<LeadSortField>", optional)]
    pub field: LeadSortField,
    #[ts(as = "Option<bool>", optional)]
    pub descending: bool,
}

/// Filters; every member optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export_to = "LeadFilter.ts")]
pub struct LeadFilter {
    /// Exact status (`new`, `contacted`, ...).
    #[ts(optional)]
    pub status: Option<String>,
    /// Exact source.
    #[ts(optional)]
    pub source: Option<String>,
    /// Inclusive lower bound on `updated_at` (RFC 3339 or `YYYY-MM-DD`).
    #[ts(optional)]
    pub updated_from: Option<String>,
    /// Exclusive upper bound on `updated_at`.
    #[ts(optional)]
    pub updated_before: Option<String>,
}

/// A search of the mirror: `{}` lists the first 100 leads, newest change last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export_to = "LeadQuery.ts")]
pub struct LeadQuery {
    /// Words; each matches the start of a word in email, names, phone, job title, company,
    /// domain or custom fields (all must match). Empty: no text filter.
    #[ts(as = "Option<String>", optional)]
    pub query: String,
    #[ts(as = "Option<LeadSort>", optional)]
    pub sort: LeadSort,
    #[ts(as = "Option<LeadFilter>", optional)]
    pub filter: LeadFilter,
    #[ts(as = "Option<u32>", optional)]
    pub offset: u64,
    /// 1..=1000 (default 100).
    #[ts(as = "Option<u32>", optional)]
    pub limit: u32,
}

impl Default for LeadQuery {
    fn default() -> Self {
        LeadQuery {
            query: String::new(),
            sort: LeadSort::default(),
            filter: LeadFilter::default(),
            offset: 0,
            limit: 100,
        }
    }
}

/// One page of a search.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "LeadPage.ts")]
pub struct LeadPage {
    pub rows: Vec<Lead>,
    /// All leads matching (for the virtualised table's height).
    #[ts(type = "number")]
    pub total: u64,
    #[ts(type = "number")]
    pub offset: u64,
}

/// Counts for the Leads and Sync screens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "MirrorCounts.ts")]
pub struct MirrorCounts {
    #[ts(type = "number")]
    pub total: u64,
    /// `(status, count)`, most first.
    #[ts(type = "Array<[string, number]>")]
    pub by_status: Vec<(String, u64)>,
}

/// What a CSV's cells are written for. A spreadsheet runs a cell starting with `=`, `+`, `-`, `@`
/// as a formula, so CSV meant for one is [`formula_safe`] (`+44 20…` becomes `'+44 20…`); a
/// program reading the file needs the values as they are (`pb2b leads export --local --raw`).
/// JSON Lines is always as is: no spreadsheet reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvCells {
    /// Formula-safe (the app's exports and the CLI's default).
    #[default]
    Spreadsheet,
    /// The values exactly as stored.
    Raw,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "MirrorExportFormat.ts")]
pub enum ExportFormat {
    /// UTF-8 with BOM, CRLF, RFC 4180 quoting, formula-safe cells.
    Csv,
    /// One lead per line as the API's JSON.
    Jsonl,
}

fn local_err(err: StoreError) -> ErrorReport {
    ErrorReport::from(err)
}

fn invalid(msg: impl Into<String>) -> ErrorReport {
    ErrorReport::local(codes::INVALID_INPUT, msg, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_types_render_without_bigint() {
        use ts_rs::{Config, TS};
        fn ts<T: TS + 'static>() -> String {
            assert!(T::output_path().is_some());
            T::export_to_string(&Config::new()).expect("renders")
        }
        for s in [
            ts::<SyncMode>(),
            ts::<SyncOptions>(),
            ts::<Watermark>(),
            ts::<SyncProgress>(),
            ts::<SyncOutcome>(),
            ts::<SyncReport>(),
            ts::<SyncStatus>(),
            ts::<LeadSortField>(),
            ts::<LeadSort>(),
            ts::<LeadFilter>(),
            ts::<LeadQuery>(),
            ts::<LeadPage>(),
            ts::<MirrorCounts>(),
            ts::<ExportFormat>(),
        ] {
            assert!(!s.contains("bigint"), "{s}");
        }
    }
}
