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
//! - **One transaction per page**: the page's upserts, the new watermark, the run's counters and
//!   the next cursor (the checkpoint) commit together. A crash at any point leaves either the
//!   whole page and its checkpoint or neither; the next [`sync`] resumes the interrupted run from
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
//! - The next page is requested while the current one is written (one page ahead), so the
//!   network and SQLite overlap.
//! - Test hook: `PB2B_SYNC_CRASH_AFTER_PAGES=N` aborts the process inside the N-th page's
//!   transaction of a run (after its upserts, before its checkpoint and commit): read only in
//!   [`write_page`], for the kill tests.
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
use std::time::Duration;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
/// Re-exported so fronts (CLI, app) need no direct tokio-util dependency.
pub use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use crate::api::observer::format_utc_ms;
use crate::api::{ApiError, ApiPage, Client, Lead, ListLeadsQuery};
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
pub const MIGRATIONS: &[&str] = &["CREATE TABLE sync_leads (
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
    );"];

// ---------------------------------------------------------------------------------------------
// Timestamps

/// Parses RFC 3339 (`2026-03-10T12:00:00.000Z`, any fraction, `Z` or `±HH:MM`) or a plain date
/// (`2026-03-10`, midnight UTC) into milliseconds since the Unix epoch. `None` for anything else.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    if !s.is_ascii() {
        return None;
    }
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if b.len() == 10 {
        return Some(days * 86_400_000);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 3 {
                millis = millis * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..3 {
            millis *= 10;
        }
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            if rest.as_bytes()[3] != b':' {
                return None;
            }
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let m = oh * 60 + om;
            if rest.starts_with('-') {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    Some(days * 86_400_000 + ((h * 60 + mi - offset_min) * 60 + sec.min(59)) * 1000 + millis)
}

/// `2026-03-10T12:00:00.000Z` for milliseconds since the epoch (clamped at the epoch).
pub fn format_timestamp(ms: i64) -> String {
    format_utc_ms(Duration::from_millis(ms.max(0) as u64))
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

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

const LEAD_COLS: &str = "id, email, full_name, first_name, last_name, phone, job_title, \
    company_name, company_domain, linkedin_url, status, source, custom_fields, created_at, \
    updated_at";

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
                    "SELECT {LEAD_COLS} FROM sync_leads WHERE mirror = ?1 AND id = ?2"
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
            LEAD_COLS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
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
                    "SELECT {LEAD_COLS} FROM sync_leads WHERE mirror = ?1 ORDER BY id"
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
            LEAD_COLS
                .split(", ")
                .map(|c| format!("l.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
            w.sql
        );
        let mut csv = CsvWriter::default();
        if format == ExportFormat::Csv {
            out.write_all(b"\xEF\xBB\xBF").map_err(io)?;
            csv.record(out, CSV_HEADER.iter().copied()).map_err(io)?;
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
                        let custom = serde_json::to_string(&lead.custom_fields)
                            .unwrap_or_else(|_| "{}".into());
                        let cells = [
                            lead.id.as_str(),
                            &lead.email,
                            lead.full_name.as_deref().unwrap_or(""),
                            lead.first_name.as_deref().unwrap_or(""),
                            lead.last_name.as_deref().unwrap_or(""),
                            lead.phone.as_deref().unwrap_or(""),
                            lead.job_title.as_deref().unwrap_or(""),
                            lead.company_name.as_deref().unwrap_or(""),
                            lead.company_domain.as_deref().unwrap_or(""),
                            lead.linkedin_url.as_deref().unwrap_or(""),
                            &lead.status,
                            &lead.source,
                            &custom,
                            &lead.created_at,
                            &lead.updated_at,
                        ];
                        csv.record(out, cells.iter().copied()).map_err(io)?;
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

/// The CSV header row.
pub const CSV_HEADER: [&str; 15] = [
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

fn upsert(tx: &Transaction<'_>, key: &str, lead: &Lead) -> rusqlite::Result<Option<bool>> {
    let existing: Option<(i64, String)> = tx
        .prepare_cached("SELECT rid, updated_at FROM sync_leads WHERE mirror = ?1 AND id = ?2")?
        .query_row(params![key, lead.id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let custom = serde_json::to_string(&lead.custom_fields).unwrap_or_else(|_| "{}".into());
    match existing {
        Some((_, updated_at)) if updated_at == lead.updated_at => Ok(None),
        Some((rid, _)) => {
            tx.prepare_cached(
                "UPDATE sync_leads SET email = ?2, full_name = ?3, first_name = ?4,
                    last_name = ?5, phone = ?6, job_title = ?7, company_name = ?8,
                    company_domain = ?9, linkedin_url = ?10, status = ?11, source = ?12,
                    custom_fields = ?13, created_at = ?14, updated_at = ?15
                 WHERE rid = ?1",
            )?
            .execute(params![
                rid,
                lead.email,
                lead.full_name,
                lead.first_name,
                lead.last_name,
                lead.phone,
                lead.job_title,
                lead.company_name,
                lead.company_domain,
                lead.linkedin_url,
                lead.status,
                lead.source,
                custom,
                lead.created_at,
                lead.updated_at,
            ])?;
            Ok(Some(false))
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO sync_leads (mirror, id, email, full_name, first_name, last_name,
                    phone, job_title, company_name, company_domain, linkedin_url, status, source,
                    custom_fields, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            )?
            .execute(params![
                key,
                lead.id,
                lead.email,
                lead.full_name,
                lead.first_name,
                lead.last_name,
                lead.phone,
                lead.job_title,
                lead.company_name,
                lead.company_domain,
                lead.linkedin_url,
                lead.status,
                lead.source,
                custom,
                lead.created_at,
                lead.updated_at,
            ])?;
            Ok(Some(true))
        }
    }
}

/// Writes one page and its checkpoint in one transaction; the last page also closes the run.
/// Returns the page's counts and the watermark after it.
fn write_page(
    store: &Store,
    key: &str,
    leads: &[Lead],
    next_cursor: Option<&str>,
    last_page: bool,
    crash_at: Option<u64>,
    finished_at: &str,
) -> Result<(PageCounts, Option<Watermark>), StoreError> {
    store.with_conn(|c| {
        let tx = c.transaction()?;
        let mut counts = PageCounts::default();
        let mut best: Option<(i64, &Lead)> = None;
        for lead in leads {
            match upsert(&tx, key, lead)? {
                Some(true) => counts.new += 1,
                Some(false) => counts.updated += 1,
                None => {}
            }
            if let Some(ms) = parse_timestamp(&lead.updated_at) {
                if best.is_none_or(|(b, l)| (ms, lead.id.as_str()) > (b, l.id.as_str())) {
                    best = Some((ms, lead));
                }
            }
        }
        // The crash test hook: die after the page's upserts, before its checkpoint and commit.
        if let Some(n) = crash_at {
            let pages: i64 = tx.query_row(
                "SELECT run_pages FROM sync_state WHERE mirror = ?1",
                [key],
                |r| r.get(0),
            )?;
            if pages.max(0) as u64 + 1 >= n {
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
            "UPDATE sync_state SET run_cursor = ?2, run_pages = run_pages + 1,
                run_leads = run_leads + ?3, run_new = run_new + ?4,
                run_updated = run_updated + ?5
             WHERE mirror = ?1",
            params![
                key,
                next_cursor,
                leads.len() as i64,
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

type Fetch = tokio::task::JoinHandle<Result<ApiPage<Lead>, ApiError>>;

fn fetch(client: &Client, query: ListLeadsQuery) -> Fetch {
    let client = client.clone();
    tokio::spawn(async move { client.list_leads(&query).await })
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
    let mut requests = 0u64;
    let mut cursor = plan.cursor;
    let mut cursor_retried = false;
    let query = |cursor: Option<String>| ListLeadsQuery {
        limit: Some(page_size),
        updated_after: plan.updated_after.clone(),
        cursor,
    };
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

    let mut in_flight = Some(fetch(client, query(cursor.clone())));
    requests += 1;
    loop {
        let Some(mut handle) = in_flight.take() else {
            break;
        };
        let page = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                handle.abort();
                return cancelled(state, requests);
            }
            r = &mut handle => r.map_err(join_error).map_err(fail)?,
        };
        let page = match page {
            Ok(p) => p,
            // A resumed cursor the server no longer accepts: restart the run's query.
            Err(e) if e.code == "invalid_cursor" && cursor.is_some() && !cursor_retried => {
                cursor_retried = true;
                cursor = None;
                in_flight = Some(fetch(client, query(None)));
                requests += 1;
                continue;
            }
            Err(e) => return Err(fail(e.into())),
        };
        let last_page = !page.has_more;
        let next = if last_page {
            None
        } else {
            match page.next_cursor.clone() {
                Some(c) if Some(&c) != cursor.as_ref() => Some(c),
                _ => {
                    return Err(fail(ErrorReport::local(
                        "invalid_response",
                        "The server said more leads follow but gave no new cursor.",
                        true,
                    )))
                }
            }
        };
        // One page ahead: ask for the next page while this one is written.
        if let Some(c) = &next {
            if !cancel.is_cancelled() {
                in_flight = Some(fetch(client, query(Some(c.clone()))));
                requests += 1;
            }
        }
        let leads = page.data;
        let n = leads.len() as u64;
        let write = {
            let (store, key, next, at) = (
                store.clone(),
                key.clone(),
                next.clone(),
                crate::api::observer::now_utc_ms(),
            );
            tokio::task::spawn_blocking(move || {
                write_page(
                    &store,
                    &key,
                    &leads,
                    next.as_deref(),
                    last_page,
                    crash_at,
                    &at,
                )
            })
        };
        let (counts, wm) = match write.await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                if let Some(h) = in_flight.take() {
                    h.abort();
                }
                return Err(fail(local_err(e)));
            }
            Err(e) => {
                if let Some(h) = in_flight.take() {
                    h.abort();
                }
                return Err(fail(join_error(e)));
            }
        };
        cursor = next;
        state.pages += 1;
        state.leads += n;
        state.new += counts.new;
        state.updated += counts.updated;
        state.watermark = wm;
        progress(&state);
        if last_page {
            return Ok(finish(SyncOutcome::Completed, state, requests));
        }
        if in_flight.is_none() {
            // Cancelled while the page was written: its checkpoint is committed.
            return cancelled(state, requests);
        }
    }
    Ok(finish(SyncOutcome::Completed, state, requests))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_parse_and_format() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(
            parse_timestamp("2026-03-10T12:00:00.000Z").map(format_timestamp),
            Some("2026-03-10T12:00:00.000Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10T14:00:00.5+02:00").map(format_timestamp),
            Some("2026-03-10T12:00:00.500Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10T12:00:00.123456Z").map(format_timestamp),
            Some("2026-03-10T12:00:00.123Z".into())
        );
        assert_eq!(
            parse_timestamp("2026-03-10").map(format_timestamp),
            Some("2026-03-10T00:00:00.000Z".into())
        );
        for bad in [
            "",
            "yesterday",
            "2026-02-30",
            "2026-13-01T00:00:00Z",
            "2026-03-10T25:00:00Z",
            "2026-03-10T12:00:00",
            "2026-03-10T12:00:00.Z",
            "2026-03-10T12:00:00+0200",
            "２０２６-03-10",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn timestamps_round_trip(ms in 0i64..4_102_444_800_000) {
            prop_assert_eq!(parse_timestamp(&format_timestamp(ms)), Some(ms));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = parse_timestamp(&s);
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
