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
//!   network and SQLite overlap. Each page is upserted with one statement (not one per lead):
//!   FTS5 flushes its pending terms at every statement that fires its triggers.
//! - The request log shares the database; a request finished while a page is being written is
//!   logged right after that transaction (see `RequestLog`), so logging never waits on it.
//! - Test hook: `PB2B_SYNC_CRASH_AFTER_PAGES=N` aborts the process inside the transaction that
//!   holds the N-th page of a run (after its upserts, before its checkpoint and commit): read only in
//!   [`write_pages`], for the kill tests.
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

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
/// Re-exported so fronts (CLI, app) need no direct tokio-util dependency.
pub use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::api::{Client, Lead, ListLeadsQuery};
use crate::error::{codes, ErrorReport};
use crate::store::{Store, StoreError};

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

impl SyncOutcome {
    fn as_str(self) -> &'static str {
        match self {
            SyncOutcome::Completed => "completed",
            SyncOutcome::Cancelled => "cancelled",
            SyncOutcome::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        match s {
            "completed" => Some(SyncOutcome::Completed),
            "cancelled" => Some(SyncOutcome::Cancelled),
            "failed" => Some(SyncOutcome::Failed),
            _ => None,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
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

// ---------------------------------------------------------------------------------------------
// The mirror

/// A workspace's local mirror. Cheap to clone; clones share the "one run at a time" guard.
#[derive(Debug, Clone)]
pub struct Mirror {
    store: Store,
    key: String,
    running: Arc<AtomicBool>,
}

fn local_err(err: StoreError) -> ErrorReport {
    ErrorReport::from(err)
}

fn invalid(msg: impl Into<String>) -> ErrorReport {
    ErrorReport::local(codes::INVALID_INPUT, msg, false)
}

/// [`LEAD_FIELDS`] as a select list; `prefixed` is the same with the table alias `l.`.
fn lead_cols(prefixed: bool) -> String {
    let p = if prefixed { "l." } else { "" };
    LEAD_FIELDS
        .iter()
        .map(|c| format!("{p}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn row_to_lead(r: &rusqlite::Row<'_>) -> rusqlite::Result<Lead> {
    lead_from_offset(r, 0)
}

/// Turns what a person typed into an FTS5 query: every word a quoted prefix term, all required.
/// `None` when nothing searchable is left.
fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .take(16)
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

struct Where {
    sql: String,
    args: Vec<SqlValue>,
}

fn build_where(key: &str, q: &LeadQuery) -> Result<Where, ErrorReport> {
    let mut sql = String::from("l.mirror = ?");
    let mut args = vec![SqlValue::Text(key.to_owned())];
    if let Some(m) = fts_query(&q.query) {
        sql.push_str(
            " AND l.rid IN (SELECT rowid FROM sync_leads_fts WHERE sync_leads_fts MATCH ?)",
        );
        args.push(SqlValue::Text(m));
    }
    let f = &q.filter;
    if let Some(s) = f.status.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND l.status = ?");
        args.push(SqlValue::Text(s.to_owned()));
    }
    if let Some(s) = f.source.as_deref().filter(|s| !s.is_empty()) {
        sql.push_str(" AND l.source = ?");
        args.push(SqlValue::Text(s.to_owned()));
    }
    for (value, op, name) in [
        (&f.updated_from, ">=", "updated_from"),
        (&f.updated_before, "<", "updated_before"),
    ] {
        if let Some(v) = value.as_deref().filter(|s| !s.trim().is_empty()) {
            let ms = parse_timestamp(v).ok_or_else(|| {
                invalid(format!(
                    "{name} must be a date (2026-03-10) or a timestamp (2026-03-10T12:00:00.000Z), not “{v}”"
                ))
            })?;
            sql.push_str(&format!(" AND l.updated_at {op} ?"));
            args.push(SqlValue::Text(format_timestamp(ms)));
        }
    }
    Ok(Where { sql, args })
}

fn order_by(sort: &LeadSort) -> String {
    let dir = if sort.descending { "DESC" } else { "ASC" };
    let col = match sort.field {
        LeadSortField::UpdatedAt => "l.updated_at",
        LeadSortField::CreatedAt => "l.created_at",
        LeadSortField::Email => "l.email COLLATE NOCASE",
        LeadSortField::FullName => "l.full_name COLLATE NOCASE",
        LeadSortField::CompanyName => "l.company_name COLLATE NOCASE",
        LeadSortField::Status => "l.status",
    };
    // Ties by rowid: every index holds it, so sorted deep pages stay index-only.
    format!("{col} {dir}, l.rid {dir}")
}

impl Mirror {
    /// Opens (creating the tables if needed) the mirror of workspace `workspace_id`, labelled with
    /// `profile` (the profile name, for [`Mirror::for_profile`]).
    pub fn open(store: Store, workspace_id: &str, profile: &str) -> Result<Self, ErrorReport> {
        let key = workspace_id.trim();
        if key.is_empty() {
            return Err(invalid("the mirror needs a workspace id"));
        }
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(local_err)?;
        store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO sync_state (mirror, profile) VALUES (?1, ?2)
                     ON CONFLICT(mirror) DO UPDATE SET profile = excluded.profile",
                    params![key, profile],
                )
            })
            .map_err(local_err)?;
        Ok(Mirror {
            store,
            key: key.to_owned(),
            running: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The mirror last synced (or opened) under `profile`, if any (for offline listing).
    pub fn for_profile(store: Store, profile: &str) -> Result<Option<Self>, ErrorReport> {
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(local_err)?;
        let key: Option<String> = store
            .with_conn(|c| {
                c.query_row(
                    "SELECT mirror FROM sync_state WHERE profile = ?1
                     ORDER BY last_started_at IS NULL, last_started_at DESC LIMIT 1",
                    [profile],
                    |r| r.get(0),
                )
                .optional()
            })
            .map_err(local_err)?;
        Ok(key.map(|key| Mirror {
            store,
            key,
            running: Arc::new(AtomicBool::new(false)),
        }))
    }

    /// Workspace ids of every mirror in the database.
    pub fn list(store: &Store) -> Result<Vec<String>, ErrorReport> {
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(local_err)?;
        store
            .with_conn(|c| {
                let mut st = c.prepare("SELECT mirror FROM sync_state ORDER BY mirror")?;
                let rows = st.query_map([], |r| r.get(0))?;
                rows.collect()
            })
            .map_err(local_err)
    }

    /// The workspace id this mirror is keyed by.
    pub fn workspace_id(&self) -> &str {
        &self.key
    }

    /// The database behind the mirror.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Leads in the mirror.
    pub fn count(&self) -> Result<u64, ErrorReport> {
        self.store
            .with_conn(|c| {
                c.query_row(
                    "SELECT count(*) FROM sync_leads WHERE mirror = ?1",
                    [&self.key],
                    |r| r.get::<_, i64>(0),
                )
            })
            .map(|n| n.max(0) as u64)
            .map_err(local_err)
    }

    /// Total and per-status counts.
    pub fn counts(&self) -> Result<MirrorCounts, ErrorReport> {
        self.store
            .with_conn(|c| {
                let mut st = c.prepare_cached(
                    "SELECT status, count(*) FROM sync_leads WHERE mirror = ?1
                     GROUP BY status ORDER BY count(*) DESC, status",
                )?;
                let rows = st.query_map([&self.key], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
                })?;
                let by_status: Vec<(String, u64)> = rows.collect::<Result<_, _>>()?;
                Ok(MirrorCounts {
                    total: by_status.iter().map(|(_, n)| n).sum(),
                    by_status,
                })
            })
            .map_err(local_err)
    }

    /// One lead by id.
    pub fn get(&self, id: &str) -> Result<Option<Lead>, ErrorReport> {
        self.store
            .with_conn(|c| {
                c.prepare_cached(&format!(
                    "SELECT {} FROM sync_leads WHERE mirror = ?1 AND id = ?2",
                    lead_cols(false)
                ))?
                .query_row(params![self.key, id], row_to_lead)
                .optional()
            })
            .map_err(local_err)
    }

    /// Searches, filters, sorts and pages the mirror.
    pub fn search(&self, q: &LeadQuery) -> Result<LeadPage, ErrorReport> {
        let w = build_where(&self.key, q)?;
        let limit = q.limit.clamp(1, MAX_SEARCH_LIMIT);
        let offset = q.offset.min(i64::MAX as u64);
        let count_sql = format!("SELECT count(*) FROM sync_leads l WHERE {}", w.sql);
        let rows_sql = format!(
            "SELECT {} FROM sync_leads l WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
            lead_cols(true),
            w.sql,
            order_by(&q.sort)
        );
        self.store
            .with_conn(|c| {
                let total: i64 = c
                    .prepare_cached(&count_sql)?
                    .query_row(params_from_iter(w.args.iter()), |r| r.get(0))?;
                let mut args = w.args.clone();
                args.push(SqlValue::Integer(i64::from(limit)));
                args.push(SqlValue::Integer(offset as i64));
                let mut st = c.prepare_cached(&rows_sql)?;
                let rows = st
                    .query_map(params_from_iter(args.iter()), row_to_lead)?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(LeadPage {
                    rows,
                    total: total.max(0) as u64,
                    offset,
                })
            })
            .map_err(local_err)
    }

    /// Every lead of the mirror, ordered by id (tests, small mirrors).
    pub fn all_leads(&self) -> Result<Vec<Lead>, ErrorReport> {
        self.store
            .with_conn(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {} FROM sync_leads WHERE mirror = ?1 ORDER BY id",
                    lead_cols(false)
                ))?;
                let rows = st.query_map([&self.key], row_to_lead)?;
                rows.collect()
            })
            .map_err(local_err)
    }

    /// Deletes the mirror's leads and its sync state (the next sync reads everything).
    pub fn clear(&self) -> Result<(), ErrorReport> {
        self.store
            .with_conn(|c| {
                let tx = c.transaction()?;
                tx.execute("DELETE FROM sync_leads WHERE mirror = ?1", [&self.key])?;
                tx.execute(
                    "UPDATE sync_state SET watermark_ms = NULL, watermark_updated_at = NULL,
                        watermark_id = NULL, run_active = 0, run_cursor = NULL
                     WHERE mirror = ?1",
                    [&self.key],
                )?;
                tx.commit()
            })
            .map_err(local_err)
    }

    /// The Sync screen's status.
    pub fn status(&self) -> Result<SyncStatus, ErrorReport> {
        let total = self.count()?;
        let running = self.running.load(Ordering::SeqCst);
        self.store
            .with_conn(|c| {
                c.query_row(
                    "SELECT profile, watermark_updated_at, watermark_id, run_active,
                        last_started_at, last_finished_at, last_outcome, last_mode, last_error,
                        last_pages, last_leads, last_new, last_updated,
                        run_pages, run_leads, run_new, run_updated
                     FROM sync_state WHERE mirror = ?1",
                    [&self.key],
                    |r| {
                        let wm_at: Option<String> = r.get(1)?;
                        let wm_id: Option<String> = r.get(2)?;
                        let interrupted = r.get::<_, i64>(3)? != 0;
                        let outcome: Option<String> = r.get(6)?;
                        let error: Option<String> = r.get(8)?;
                        let n = |i: usize| -> rusqlite::Result<u64> {
                            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                        };
                        let last = if interrupted {
                            Some(SyncProgress {
                                pages: n(13)?,
                                leads: n(14)?,
                                new: n(15)?,
                                updated: n(16)?,
                                watermark: None,
                                resumed: false,
                            })
                        } else if r.get::<_, Option<i64>>(9)?.is_some() {
                            Some(SyncProgress {
                                pages: n(9)?,
                                leads: n(10)?,
                                new: n(11)?,
                                updated: n(12)?,
                                watermark: None,
                                resumed: false,
                            })
                        } else {
                            None
                        };
                        Ok(SyncStatus {
                            mirror: self.key.clone(),
                            profile: r.get(0)?,
                            total_leads: total,
                            watermark: wm_at
                                .zip(wm_id)
                                .map(|(updated_at, id)| Watermark { updated_at, id }),
                            interrupted,
                            running,
                            last_started_at: r.get(4)?,
                            last_finished_at: r.get(5)?,
                            last_outcome: outcome.as_deref().and_then(SyncOutcome::parse),
                            last_mode: r.get(7)?,
                            last_error: error.as_deref().and_then(parse_error),
                            last,
                        })
                    },
                )
            })
            .map_err(local_err)
    }

    /// Streams the leads matching `query`'s text and filters (not its sort, offset or limit) to
    /// `out`, in the mirror's insertion order, 1,000 rows per read (the database is not held
    /// between reads). Returns the number of leads written. Blocking: call it from
    /// `spawn_blocking` in async code.
    pub fn export(
        &self,
        format: ExportFormat,
        query: &LeadQuery,
        out: &mut impl Write,
        cancel: Option<&CancellationToken>,
    ) -> Result<u64, ErrorReport> {
        let io = |e: std::io::Error| ErrorReport::local("io_error", e.to_string(), false);
        let w = build_where(&self.key, query)?;
        let sql = format!(
            "SELECT l.rid, {} FROM sync_leads l WHERE {} AND l.rid > ? ORDER BY l.rid LIMIT 1000",
            lead_cols(true),
            w.sql
        );
        let mut csv = CsvWriter::default();
        if format == ExportFormat::Csv {
            out.write_all(b"\xEF\xBB\xBF").map_err(io)?;
            csv.record(out, LEAD_FIELDS.iter().copied()).map_err(io)?;
        }
        let mut after: i64 = 0;
        let mut written = 0u64;
        loop {
            if cancel.is_some_and(CancellationToken::is_cancelled) {
                return Err(ErrorReport::local(
                    "cancelled",
                    "The export was cancelled.",
                    true,
                ));
            }
            let mut args = w.args.clone();
            args.push(SqlValue::Integer(after));
            let chunk: Vec<(i64, Lead)> = self
                .store
                .with_conn(|c| {
                    let mut st = c.prepare_cached(&sql)?;
                    let rows = st.query_map(params_from_iter(args.iter()), |r| {
                        let rid: i64 = r.get(0)?;
                        Ok((rid, lead_from_offset(r, 1)?))
                    })?;
                    rows.collect()
                })
                .map_err(local_err)?;
            let Some((last, _)) = chunk.last() else {
                break;
            };
            after = *last;
            for (_, lead) in &chunk {
                match format {
                    ExportFormat::Csv => {
                        let cells = lead_values(lead);
                        csv.record(out, cells.iter().map(|c| c.as_deref().unwrap_or("")))
                            .map_err(io)?;
                    }
                    ExportFormat::Jsonl => {
                        serde_json::to_writer(&mut *out, lead)
                            .map_err(|e| io(std::io::Error::other(e)))?;
                        out.write_all(b"\n").map_err(io)?;
                    }
                }
                written += 1;
            }
        }
        out.flush().map_err(io)?;
        Ok(written)
    }

    /// [`Mirror::export`] into `path`, through a temporary file renamed at the end (a failed or
    /// cancelled export leaves no partial file).
    pub fn export_to_file(
        &self,
        format: ExportFormat,
        query: &LeadQuery,
        path: &std::path::Path,
        cancel: Option<&CancellationToken>,
    ) -> Result<u64, ErrorReport> {
        let io = |e: std::io::Error| {
            ErrorReport::local("io_error", format!("{}: {e}", path.display()), false)
        };
        let tmp = path.with_extension(format!(
            "{}.partial",
            path.extension().and_then(|e| e.to_str()).unwrap_or("out")
        ));
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut buf = std::io::BufWriter::with_capacity(256 * 1024, file);
        let result = self.export(format, query, &mut buf, cancel).and_then(|n| {
            let file = buf.into_inner().map_err(|e| io(e.into_error()))?;
            file.sync_all().map_err(io)?;
            std::fs::rename(&tmp, path).map_err(io)?;
            Ok(n)
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }
}

/// A lead's values in [`LEAD_FIELDS`] order: `None` for an unset optional field, custom fields
/// as JSON text.
fn lead_values(l: &Lead) -> [Option<std::borrow::Cow<'_, str>>; 15] {
    use std::borrow::Cow::{self, Borrowed, Owned};
    fn opt(v: &Option<String>) -> Option<Cow<'_, str>> {
        v.as_deref().map(Borrowed)
    }
    let custom = serde_json::to_string(&l.custom_fields).unwrap_or_else(|_| "{}".into());
    [
        Some(Borrowed(l.id.as_str())),
        Some(Borrowed(l.email.as_str())),
        opt(&l.full_name),
        opt(&l.first_name),
        opt(&l.last_name),
        opt(&l.phone),
        opt(&l.job_title),
        opt(&l.company_name),
        opt(&l.company_domain),
        opt(&l.linkedin_url),
        Some(Borrowed(l.status.as_str())),
        Some(Borrowed(l.source.as_str())),
        Some(Owned(custom)),
        Some(Borrowed(l.created_at.as_str())),
        Some(Borrowed(l.updated_at.as_str())),
    ]
}

fn lead_from_offset(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<Lead> {
    let custom: String = r.get(o + 12)?;
    Ok(Lead {
        id: r.get(o)?,
        email: r.get(o + 1)?,
        full_name: r.get(o + 2)?,
        first_name: r.get(o + 3)?,
        last_name: r.get(o + 4)?,
        phone: r.get(o + 5)?,
        job_title: r.get(o + 6)?,
        company_name: r.get(o + 7)?,
        company_domain: r.get(o + 8)?,
        linkedin_url: r.get(o + 9)?,
        status: r.get(o + 10)?,
        source: r.get(o + 11)?,
        custom_fields: serde_json::from_str::<Map<String, Value>>(&custom).unwrap_or_default(),
        created_at: r.get(o + 13)?,
        updated_at: r.get(o + 14)?,
    })
}

fn parse_error(s: &str) -> Option<ErrorReport> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(ErrorReport {
        code: v.get("code")?.as_str()?.to_owned(),
        message: v.get("message")?.as_str()?.to_owned(),
        request_id: v
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        retryable: v.get("retryable").and_then(Value::as_bool).unwrap_or(false),
    })
}

// ---------------------------------------------------------------------------------------------
// CSV

/// The mirror's lead columns, in order: the table's select list, the CSV header, and the
/// values of [`lead_values`] (which the CSV rows and the page upsert both use).
pub const LEAD_FIELDS: [&str; 15] = [
    "id",
    "email",
    "full_name",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_name",
    "company_domain",
    "linkedin_url",
    "status",
    "source",
    "custom_fields",
    "created_at",
    "updated_at",
];

/// A cell as written to CSV: a value starting with `=`, `+`, `-`, `@`, tab or carriage return
/// (what spreadsheets run as a formula) gets a leading `'`, so Excel shows it as text.
pub fn formula_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

#[derive(Default)]
struct CsvWriter {
    line: String,
}

impl CsvWriter {
    fn record<'a>(
        &mut self,
        out: &mut impl Write,
        cells: impl Iterator<Item = &'a str>,
    ) -> std::io::Result<()> {
        self.line.clear();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            let cell = formula_safe(cell);
            if cell.contains([',', '"', '\n', '\r']) {
                self.line.push('"');
                self.line.push_str(&cell.replace('"', "\"\""));
                self.line.push('"');
            } else {
                self.line.push_str(&cell);
            }
        }
        self.line.push_str("\r\n");
        out.write_all(self.line.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// The engine

#[derive(Debug, Default, Clone, Copy)]
struct PageCounts {
    new: u64,
    updated: u64,
}

struct RunPlan {
    mode: String,
    updated_after: Option<String>,
    cursor: Option<String>,
    progress: SyncProgress,
}

fn mode_name(mode: &SyncMode) -> &'static str {
    match mode {
        SyncMode::Incremental => "incremental",
        SyncMode::Full => "full",
        SyncMode::Since { .. } => "since",
    }
}

fn watermark_of(c: &Connection, key: &str) -> rusqlite::Result<Option<(i64, Watermark)>> {
    c.query_row(
        "SELECT watermark_ms, watermark_updated_at, watermark_id FROM sync_state
         WHERE mirror = ?1 AND watermark_ms IS NOT NULL",
        [key],
        |r| {
            Ok((
                r.get(0)?,
                Watermark {
                    updated_at: r.get(1)?,
                    id: r.get(2)?,
                },
            ))
        },
    )
    .optional()
}

/// An interrupted run: mode, updated_after, cursor, and pages/leads/new/updated so far.
type ActiveRun = (String, Option<String>, Option<String>, [i64; 4]);

/// Decides the run (resume or new) and persists its start, in one transaction.
fn plan_run(
    store: &Store,
    key: &str,
    options: &SyncOptions,
    started_at: &str,
) -> Result<RunPlan, ErrorReport> {
    let since_ms = match &options.mode {
        SyncMode::Since { since } => Some(parse_timestamp(since).ok_or_else(|| {
            invalid(format!(
                "“{since}” is not a date (2026-03-10) or a timestamp (2026-03-10T12:00:00.000Z)"
            ))
        })?),
        _ => None,
    };
    store
        .with_conn(|c| {
            let tx = c.transaction()?;
            let active: Option<ActiveRun> = tx
                .query_row(
                    "SELECT run_mode, run_updated_after, run_cursor,
                        run_pages, run_leads, run_new, run_updated
                     FROM sync_state WHERE mirror = ?1 AND run_active = 1",
                    [key],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get(1)?,
                            r.get(2)?,
                            [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                        ))
                    },
                )
                .optional()?;
            let wm = watermark_of(&tx, key)?;
            let plan = match (&options.mode, active) {
                (SyncMode::Incremental, Some((mode, updated_after, cursor, n))) => RunPlan {
                    mode,
                    updated_after,
                    cursor,
                    progress: SyncProgress {
                        pages: n[0].max(0) as u64,
                        leads: n[1].max(0) as u64,
                        new: n[2].max(0) as u64,
                        updated: n[3].max(0) as u64,
                        watermark: wm.as_ref().map(|(_, w)| w.clone()),
                        resumed: true,
                    },
                },
                (mode, _) => {
                    let updated_after = match mode {
                        SyncMode::Full => None,
                        SyncMode::Since { .. } => {
                            since_ms.map(|ms| format_timestamp(ms.saturating_sub(1)))
                        }
                        SyncMode::Incremental => wm.as_ref().map(|(ms, _)| {
                            let overlap = options.overlap_ms.clamp(1, i64::MAX as u64) as i64;
                            format_timestamp(ms.saturating_sub(overlap))
                        }),
                    };
                    if matches!(mode, SyncMode::Full) {
                        tx.execute(
                            "UPDATE sync_state SET watermark_ms = NULL,
                                watermark_updated_at = NULL, watermark_id = NULL
                             WHERE mirror = ?1",
                            [key],
                        )?;
                    }
                    tx.execute(
                        "UPDATE sync_state SET run_active = 1, run_mode = ?2,
                            run_updated_after = ?3, run_cursor = NULL, run_started_at = ?4,
                            run_pages = 0, run_leads = 0, run_new = 0, run_updated = 0
                         WHERE mirror = ?1",
                        params![key, mode_name(mode), updated_after, started_at],
                    )?;
                    RunPlan {
                        mode: mode_name(mode).to_owned(),
                        updated_after,
                        cursor: None,
                        progress: SyncProgress {
                            watermark: if matches!(mode, SyncMode::Full) {
                                None
                            } else {
                                wm.map(|(_, w)| w)
                            },
                            ..SyncProgress::default()
                        },
                    }
                }
            };
            tx.execute(
                "UPDATE sync_state SET last_started_at = ?2 WHERE mirror = ?1",
                params![key, started_at],
            )?;
            tx.commit()?;
            Ok(plan)
        })
        .map_err(local_err)
}

fn crash_hook_page() -> Option<u64> {
    std::env::var(CRASH_HOOK_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// One statement upserts the whole page from a JSON array of rows: an unchanged lead (same
/// `updated_at`) is not rewritten. One statement rather than one per lead because every
/// statement that fires the FTS5 triggers opens a savepoint, and FTS5 flushes its pending terms
/// as a new segment at each one: per lead, that flushing and the merges it causes were most of
/// the cost of a first sync.
static UPSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let cols = LEAD_FIELDS.join(", ");
    let values = (0..LEAD_FIELDS.len())
        .map(|i| format!("value ->> {i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let set = LEAD_FIELDS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // `WHERE true` tells the parser the ON belongs to the upsert, not to a join.
    format!(
        "INSERT INTO sync_leads (mirror, {cols}) SELECT ?1, {values} FROM json_each(?2) WHERE true
         ON CONFLICT (mirror, id) DO UPDATE SET {set}
         WHERE sync_leads.updated_at IS NOT excluded.updated_at"
    )
});

fn page_rows(leads: &[&Lead]) -> rusqlite::Result<String> {
    let rows: Vec<_> = leads.iter().map(|l| lead_values(l)).collect();
    serde_json::to_string(&rows).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

/// Upserts a page by id; returns its counts (a lead whose stored `updated_at` equals the
/// incoming one is unchanged and not rewritten).
fn upsert_page(tx: &Transaction<'_>, key: &str, leads: &[Lead]) -> rusqlite::Result<PageCounts> {
    let ids = serde_json::Value::from(leads.iter().map(|l| l.id.as_str()).collect::<Vec<_>>());
    let mut stored: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    {
        let mut st = tx.prepare_cached(
            "SELECT id, updated_at FROM sync_leads
             WHERE mirror = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )?;
        let rows = st.query_map(params![key, ids.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, updated_at) = row?;
            stored.insert(id, updated_at);
        }
    }
    let mut counts = PageCounts::default();
    let mut seen = std::collections::HashSet::new();
    let mut write: Vec<&Lead> = Vec::with_capacity(leads.len());
    for lead in leads {
        // A page never repeats an id; if one did, only its first copy is written.
        if !seen.insert(lead.id.as_str()) {
            continue;
        }
        match stored.get(&lead.id) {
            Some(at) if *at == lead.updated_at => continue,
            Some(_) => counts.updated += 1,
            None => counts.new += 1,
        }
        write.push(lead);
    }
    if !write.is_empty() {
        tx.prepare_cached(&UPSERT_SQL)?
            .execute(params![key, page_rows(&write)?])?;
    }
    Ok(counts)
}

/// Pages fetched but not yet written, at most; also the most pages one transaction holds.
const MAX_GROUP: usize = 32;

/// Writes one or more consecutive pages and the checkpoint after the last in one transaction;
/// the run's last page also closes the run. Returns the group's counts and the watermark after it.
fn write_pages(
    store: &Store,
    key: &str,
    pages: &[Vec<Lead>],
    next_cursor: Option<&str>,
    last_page: bool,
    crash_at: Option<u64>,
    finished_at: &str,
) -> Result<(PageCounts, Option<Watermark>), StoreError> {
    store.with_conn(|c| {
        let tx = c.transaction()?;
        let mut counts = PageCounts::default();
        let mut best: Option<(i64, &Lead)> = None;
        // Page by page, in order: a lead edited while the run pages moves behind the cursor and
        // comes again in a later page with a newer `updated_at`, and must count as updated.
        for leads in pages {
            let page = upsert_page(&tx, key, leads)?;
            counts.new += page.new;
            counts.updated += page.updated;
            for lead in leads {
                if let Some(ms) = parse_timestamp(&lead.updated_at) {
                    if best.is_none_or(|(b, l)| (ms, lead.id.as_str()) > (b, l.id.as_str())) {
                        best = Some((ms, lead));
                    }
                }
            }
        }
        let n_pages = pages.len() as i64;
        let n_leads: i64 = pages.iter().map(|p| p.len() as i64).sum();
        // The crash test hook: die after the N-th page's upserts, before its checkpoint and commit.
        if let Some(n) = crash_at {
            let done: i64 = tx.query_row(
                "SELECT run_pages FROM sync_state WHERE mirror = ?1",
                [key],
                |r| r.get(0),
            )?;
            if (done + n_pages).max(0) as u64 >= n {
                std::process::abort();
            }
        }
        if let Some((ms, lead)) = best {
            let current = watermark_of(&tx, key)?;
            if current.is_none_or(|(cm, w)| (ms, lead.id.as_str()) > (cm, w.id.as_str())) {
                tx.execute(
                    "UPDATE sync_state SET watermark_ms = ?2, watermark_updated_at = ?3,
                        watermark_id = ?4 WHERE mirror = ?1",
                    params![key, ms, lead.updated_at, lead.id],
                )?;
            }
        }
        tx.execute(
            "UPDATE sync_state SET run_cursor = ?2, run_pages = run_pages + ?3,
                run_leads = run_leads + ?4, run_new = run_new + ?5,
                run_updated = run_updated + ?6
             WHERE mirror = ?1",
            params![
                key,
                next_cursor,
                n_pages,
                n_leads,
                counts.new as i64,
                counts.updated as i64
            ],
        )?;
        if last_page {
            tx.execute(
                "UPDATE sync_state SET run_active = 0, run_cursor = NULL,
                    last_finished_at = ?2, last_outcome = 'completed', last_mode = run_mode,
                    last_error = NULL, last_pages = run_pages, last_leads = run_leads,
                    last_new = run_new, last_updated = run_updated
                 WHERE mirror = ?1",
                params![key, finished_at],
            )?;
        }
        let wm = watermark_of(&tx, key)?.map(|(_, w)| w);
        tx.commit()?;
        Ok((counts, wm))
    })
}

fn record_end(
    store: &Store,
    key: &str,
    outcome: SyncOutcome,
    error: Option<&ErrorReport>,
    finished_at: &str,
) {
    let error = error.and_then(|e| serde_json::to_string(e).ok());
    let _ = store.with_conn(|c| {
        c.execute(
            "UPDATE sync_state SET last_finished_at = ?2, last_outcome = ?3, last_mode = run_mode,
                last_error = ?4, last_pages = run_pages, last_leads = run_leads,
                last_new = run_new, last_updated = run_updated
             WHERE mirror = ?1",
            params![key, finished_at, outcome.as_str(), error],
        )
    });
}

struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// What the fetcher hands the writer.
enum Fetched {
    /// A page and the cursor after it (`None` on the run's last page).
    Page(Vec<Lead>, Option<String>),
    Failed(ErrorReport),
}

/// Aborts the fetcher when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the run's pages in order into `pages` until the last page, an error, or the writer
/// hanging up. A resumed cursor the server no longer accepts restarts the run's query once.
async fn fetch_pages(
    client: Client,
    query: impl Fn(Option<String>) -> ListLeadsQuery,
    mut cursor: Option<String>,
    requests: Arc<std::sync::atomic::AtomicU64>,
    pages: tokio::sync::mpsc::Sender<Fetched>,
) {
    let mut cursor_retried = false;
    loop {
        requests.fetch_add(1, Ordering::SeqCst);
        let page = match client.list_leads(&query(cursor.clone())).await {
            Ok(p) => p,
            Err(e) if e.code == "invalid_cursor" && cursor.is_some() && !cursor_retried => {
                cursor_retried = true;
                cursor = None;
                continue;
            }
            Err(e) => {
                let _ = pages.send(Fetched::Failed(e.into())).await;
                return;
            }
        };
        let next = if page.has_more {
            match page.next_cursor {
                Some(c) if Some(&c) != cursor.as_ref() => Some(c),
                _ => {
                    let e = ErrorReport::local(
                        "invalid_response",
                        "The server said more leads follow but gave no new cursor.",
                        true,
                    );
                    let _ = pages.send(Fetched::Failed(e)).await;
                    return;
                }
            }
        } else {
            None
        };
        let last = next.is_none();
        if pages
            .send(Fetched::Page(page.data, next.clone()))
            .await
            .is_err()
            || last
        {
            return;
        }
        cursor = next;
    }
}

fn join_error(e: tokio::task::JoinError) -> ErrorReport {
    ErrorReport::local(codes::INTERNAL, format!("a sync task failed: {e}"), true)
}

/// Runs one sync of `mirror` (see the module docs). `progress` is called after every committed
/// page. Returns the run's report (`outcome` `completed` or `cancelled`), or the error that
/// stopped it (the status then says `failed` and the next run resumes). Errors: any API error
/// as an [`ErrorReport`], `invalid_input` for a bad `since`, `sync_running` when this mirror is
/// already syncing.
pub async fn sync(
    client: &Client,
    mirror: &Mirror,
    options: &SyncOptions,
    cancel: &CancellationToken,
    mut progress: impl FnMut(&SyncProgress) + Send,
) -> Result<SyncReport, ErrorReport> {
    if mirror
        .running
        .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        return Err(ErrorReport::local(
            "sync_running",
            "A sync of this workspace is already running.",
            true,
        ));
    }
    let _guard = RunningGuard(mirror.running.clone());
    let page_size = options.page_size.clamp(1, PAGE_SIZE);
    let started_at = crate::api::observer::now_utc_ms();
    let store = mirror.store.clone();
    let key = mirror.key.clone();
    let plan = {
        let (store, key, options, started_at) = (
            store.clone(),
            key.clone(),
            options.clone(),
            started_at.clone(),
        );
        tokio::task::spawn_blocking(move || plan_run(&store, &key, &options, &started_at))
            .await
            .map_err(join_error)??
    };
    let crash_at = crash_hook_page();
    let mut state = plan.progress;
    let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent = |r: &Arc<std::sync::atomic::AtomicU64>| r.load(Ordering::SeqCst);
    let finish = |outcome: SyncOutcome, state: SyncProgress, requests: u64| SyncReport {
        outcome,
        mode: plan.mode.clone(),
        progress: state,
        requests,
        started_at: started_at.clone(),
        finished_at: crate::api::observer::now_utc_ms(),
    };
    let fail = |err: ErrorReport| {
        let at = crate::api::observer::now_utc_ms();
        record_end(&store, &key, SyncOutcome::Failed, Some(&err), &at);
        err
    };
    let cancelled = |state: SyncProgress, requests: u64| {
        let report = finish(SyncOutcome::Cancelled, state, requests);
        record_end(
            &store,
            &key,
            SyncOutcome::Cancelled,
            None,
            &report.finished_at,
        );
        Ok(report)
    };

    // The fetcher reads pages ahead while the writer commits them, so the network and SQLite
    // overlap. When the writer falls behind, the pages waiting (at most MAX_GROUP) are committed
    // together in one transaction with the checkpoint after the last of them: each page still
    // commits atomically with a checkpoint that covers it, and a busy mirror pays one commit
    // (and its random index pages written once) per group instead of per page.
    let (page_tx, mut page_rx) = tokio::sync::mpsc::channel(MAX_GROUP);
    let updated_after = plan.updated_after.clone();
    let _fetcher = AbortOnDrop(tokio::spawn(fetch_pages(
        client.clone(),
        move |cursor| ListLeadsQuery {
            limit: Some(page_size),
            updated_after: updated_after.clone(),
            cursor,
        },
        plan.cursor,
        requests.clone(),
        page_tx,
    )));
    loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => return cancelled(state, sent(&requests)),
            m = page_rx.recv() => m,
        };
        let mut group = Vec::new();
        let mut next_cursor = None;
        let mut last_page = false;
        let mut failure = None;
        let mut message = first;
        loop {
            match message {
                Some(Fetched::Page(leads, next)) => {
                    last_page = next.is_none();
                    next_cursor = next;
                    group.push(leads);
                }
                Some(Fetched::Failed(e)) => failure = Some(e),
                None if group.is_empty() => {
                    failure = Some(ErrorReport::local(
                        codes::INTERNAL,
                        "The sync stopped reading pages before the last one.",
                        true,
                    ))
                }
                None => {}
            }
            if last_page || failure.is_some() || group.len() >= MAX_GROUP {
                break;
            }
            match page_rx.try_recv() {
                Ok(m) => message = Some(m),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            let n_pages = group.len() as u64;
            let n_leads: u64 = group.iter().map(|p| p.len() as u64).sum();
            let (store, key, next, at) = (
                store.clone(),
                key.clone(),
                next_cursor.clone(),
                crate::api::observer::now_utc_ms(),
            );
            let write = tokio::task::spawn_blocking(move || {
                write_pages(
                    &store,
                    &key,
                    &group,
                    next.as_deref(),
                    last_page,
                    crash_at,
                    &at,
                )
            });
            let (counts, wm) = match write.await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => return Err(fail(local_err(e))),
                Err(e) => return Err(fail(join_error(e))),
            };
            state.pages += n_pages;
            state.leads += n_leads;
            state.new += counts.new;
            state.updated += counts.updated;
            state.watermark = wm;
            progress(&state);
        }
        if last_page {
            return Ok(finish(SyncOutcome::Completed, state, sent(&requests)));
        }
        if let Some(e) = failure {
            return Err(fail(e));
        }
        if cancel.is_cancelled() {
            // Cancelled while pages were written: their checkpoint is committed.
            return cancelled(state, sent(&requests));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fts_query_never_panics(s in "\\PC{0,40}") {
            let _ = fts_query(&s);
        }
    }

    #[test]
    fn csv_cells_are_formula_safe_and_quoted() {
        let mut out = Vec::new();
        CsvWriter::default()
            .record(
                &mut out,
                [
                    "=SUM(A1)",
                    "+1 555",
                    "-x",
                    "@cmd",
                    "\tx",
                    "a,b",
                    "say \"hi\"",
                    "ok",
                ]
                .into_iter(),
            )
            .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "'=SUM(A1),'+1 555,'-x,'@cmd,'\tx,\"a,b\",\"say \"\"hi\"\"\",ok\r\n"
        );
    }

    fn lead(id: &str, updated_at: &str, title: &str) -> Lead {
        serde_json::from_value(serde_json::json!({
            "id": id, "email": format!("{id}@example.com"), "full_name": "Ada Lovelace",
            "first_name": null, "last_name": null, "phone": null, "job_title": title,
            "company_name": "Analytical Engines", "company_domain": null, "linkedin_url": null,
            "status": "new", "source": "api", "custom_fields": {"tier": 1},
            "created_at": "2026-03-10T12:00:00.000Z", "updated_at": updated_at,
        }))
        .unwrap()
    }

    #[test]
    fn a_group_of_pages_commits_like_its_pages_one_by_one() {
        let store = Store::open_in_memory().unwrap();
        let mirror = Mirror::open(store.clone(), "ws_1", "p").unwrap();
        let t0 = "2026-03-10T12:00:00.000Z";
        let t1 = "2026-03-10T12:00:05.000Z";
        // lead_a is edited while the run pages: it comes again, newer, in the next page.
        let pages = vec![
            vec![
                lead("lead_a", t0, "Analyst"),
                lead("lead_b", t0, "Engineer"),
            ],
            vec![lead("lead_a", t1, "Countess")],
        ];
        let (counts, wm) =
            write_pages(&store, &mirror.key, &pages, Some("c3"), false, None, t1).unwrap();
        assert_eq!((counts.new, counts.updated), (2, 1));
        let wm = wm.unwrap();
        assert_eq!((wm.updated_at.as_str(), wm.id.as_str()), (t1, "lead_a"));
        let a = mirror.get("lead_a").unwrap().unwrap();
        assert_eq!(a.job_title.as_deref(), Some("Countess"));
        assert_eq!(a.custom_fields["tier"], 1);
        let (pages_done, leads_done, cursor): (i64, i64, Option<String>) = store
            .with_conn(|c| {
                c.query_row(
                    "SELECT run_pages, run_leads, run_cursor FROM sync_state WHERE mirror = 'ws_1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap();
        assert_eq!(
            (pages_done, leads_done, cursor.as_deref()),
            (2, 3, Some("c3"))
        );
        // Read again unchanged: nothing is rewritten; the search index matches the new title.
        let again = vec![vec![
            lead("lead_a", t1, "Countess"),
            lead("lead_b", t0, "Engineer"),
        ]];
        let (counts, _) = write_pages(&store, &mirror.key, &again, None, true, None, t1).unwrap();
        assert_eq!((counts.new, counts.updated), (0, 0));
        let q = |text: &str| {
            mirror
                .search(&LeadQuery {
                    query: text.into(),
                    ..LeadQuery::default()
                })
                .unwrap()
                .total
        };
        assert_eq!((q("countess"), q("analyst"), q("engineer")), (1, 0, 1));
        assert_eq!(mirror.count().unwrap(), 2);
    }

    #[test]
    fn fts_queries_quote_every_word() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("@ -"), None);
        assert_eq!(fts_query("ada \"x"), Some("\"ada\"* \"\"\"x\"*".to_owned()));
    }

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
