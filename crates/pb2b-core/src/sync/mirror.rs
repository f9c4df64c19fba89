//! The mirror: [`Mirror`], its queries, search, counts and export, and the lead columns shared
//! with the engine's page upsert.

use crate::error::Code;
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension};
use serde_json::{Map, Value};

use super::{
    format_timestamp, invalid, local_err, parse_timestamp, CancellationToken, CsvCells,
    ExportFormat, LeadPage, LeadQuery, LeadSort, LeadSortField, MirrorCounts, MAX_SEARCH_LIMIT,
    MIGRATIONS, MODULE,
};
use crate::api::Lead;
use crate::error::ErrorReport;
use crate::store::Store;

/// A workspace's local mirror. Cheap to clone; clones share the "one run at a time" guard.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub(super) store: Store,
    pub(super) key: String,
    pub(super) running: Arc<AtomicBool>,
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
    /// Every condition, the text query as a subquery on the search index.
    sql: String,
    args: Vec<SqlValue>,
    /// The conditions other than the text query, and that query ([`fts_query`]) if any.
    base_sql: String,
    base_args: Vec<SqlValue>,
    text: Option<String>,
}

fn build_where(key: &str, q: &LeadQuery) -> Result<Where, ErrorReport> {
    let mut sql = String::from("l.mirror = ?");
    let mut args = vec![SqlValue::Text(key.to_owned())];
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
    let text = fts_query(&q.query);
    let (base_sql, base_args) = (sql.clone(), args.clone());
    if let Some(m) = &text {
        sql.push_str(
            " AND l.rid IN (SELECT rowid FROM sync_leads_fts WHERE sync_leads_fts MATCH ?)",
        );
        args.push(SqlValue::Text(m.clone()));
    }
    Ok(Where {
        sql,
        args,
        base_sql,
        base_args,
        text,
    })
}

/// A text search with at most this many matches is paged by sorting its matches; one with more
/// walks the sort order's index (its first pages end early).
const FEW_MATCHES: i64 = 5_000;

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

/// How many of the mirror's leads match text query `m` (an [`fts_query`]) and `w`'s other
/// conditions, counted from the search index outwards (each match is looked up by rowid), never
/// by walking the mirror. When `alone` allows it and the query has no condition but the mirror,
/// and the store holds no other mirror's leads (two index seeks), the search index's own count is
/// the answer (the index holds exactly the table's rows: its triggers, or the bulk load's
/// rebuild, keep it so), which skips even those lookups.
fn text_total(
    c: &rusqlite::Connection,
    key: &str,
    w: &Where,
    m: &str,
    alone: bool,
) -> rusqlite::Result<i64> {
    let only_condition_is_the_mirror = w.base_sql == "l.mirror = ?";
    if alone && only_condition_is_the_mirror {
        let only_mirror: bool = c
            .prepare_cached(
                "SELECT NOT EXISTS (SELECT 1 FROM sync_leads WHERE mirror < ?1)
                    AND NOT EXISTS (SELECT 1 FROM sync_leads WHERE mirror > ?1)",
            )?
            .query_row([key], |r| r.get(0))?;
        if only_mirror {
            return c
                .prepare_cached(
                    "SELECT count(*) FROM sync_leads_fts WHERE sync_leads_fts MATCH ?1",
                )?
                .query_row([m], |r| r.get(0));
        }
    }
    let mut args = vec![SqlValue::Text(m.to_owned())];
    args.extend(w.base_args.iter().cloned());
    c.prepare_cached(&format!(
        "SELECT count(*) FROM sync_leads_fts CROSS JOIN sync_leads l
             ON l.rid = sync_leads_fts.rowid WHERE sync_leads_fts MATCH ? AND {}",
        w.base_sql
    ))?
    .query_row(params_from_iter(args.iter()), |r| r.get(0))
}

/// A page of `w`'s leads in `sort` order, read by walking the sort's index and testing each lead
/// against the conditions (the text query as a set of matches): the first pages end early.
fn page_by_walking(
    c: &rusqlite::Connection,
    w: &Where,
    sort: &LeadSort,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Vec<Lead>> {
    let rows_sql = format!(
        "SELECT {} FROM sync_leads l WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
        lead_cols(true),
        w.sql,
        order_by(sort)
    );
    let mut args = w.args.clone();
    args.push(SqlValue::Integer(i64::from(limit)));
    args.push(SqlValue::Integer(offset as i64));
    let mut st = c.prepare_cached(&rows_sql)?;
    let rows = st.query_map(params_from_iter(args.iter()), row_to_lead)?;
    rows.collect()
}

impl Mirror {
    /// Opens (creating the tables if needed) the mirror of workspace `workspace_id`, labelled with
    /// `profile` (the profile name, for [`Mirror::for_profile`]).
    pub fn open(store: Store, workspace_id: &str, profile: &str) -> Result<Self, ErrorReport> {
        Self::open_with_key(store, workspace_id, profile, None)
    }

    /// [`Mirror::open`] for a workspace verified with `/me`, recording the key prefix it was
    /// opened with (the mirror belongs to the workspace; the prefix says which key last wrote it).
    pub fn open_for(
        store: Store,
        owner: &crate::workspace::Owner,
        profile: &str,
    ) -> Result<Self, ErrorReport> {
        Self::open_with_key(store, &owner.workspace_id, profile, Some(&owner.key_prefix))
    }

    fn open_with_key(
        store: Store,
        workspace_id: &str,
        profile: &str,
        key_prefix: Option<&str>,
    ) -> Result<Self, ErrorReport> {
        let key = workspace_id.trim();
        if key.is_empty() {
            return Err(invalid("the mirror needs a workspace id"));
        }
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(local_err)?;
        super::bulk::recover(&store).map_err(local_err)?;
        store
            .with_conn(|c| {
                let tx = c.transaction()?;
                tx.execute(
                    "INSERT INTO sync_state (mirror, profile, key_prefix) VALUES (?1, ?2, ?3)
                     ON CONFLICT(mirror) DO UPDATE SET profile = excluded.profile,
                         key_prefix = coalesce(excluded.key_prefix, key_prefix)",
                    params![key, profile, key_prefix],
                )?;
                tx.execute(
                    "INSERT INTO sync_profiles (profile, mirror, key_prefix, opened_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT(profile) DO UPDATE SET mirror = excluded.mirror,
                         key_prefix = excluded.key_prefix, opened_at = excluded.opened_at",
                    params![profile, key, key_prefix, crate::time::now_utc_ms()],
                )?;
                tx.commit()
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
        super::bulk::recover(&store).map_err(local_err)?;
        let key: Option<String> = store
            .with_conn(|c| {
                c.query_row(
                    "SELECT mirror FROM sync_profiles WHERE profile = ?1",
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

    /// Writes one lead as the server answered it (a lead edit), so the list shows it at once; the
    /// next sync reads it again as a tie and leaves it.
    pub fn put_lead(&self, lead: &Lead) -> Result<(), ErrorReport> {
        self.store
            .with_conn(|c| {
                let tx = c.transaction()?;
                super::engine::upsert_rows(&tx, &self.key, &[lead])?;
                tx.commit()
            })
            .map_err(local_err)
    }

    /// Removes one lead (deleted on the server).
    pub fn remove_lead(&self, id: &str) -> Result<(), ErrorReport> {
        self.store
            .with_conn(|c| {
                c.prepare_cached("DELETE FROM sync_leads WHERE mirror = ?1 AND id = ?2")?
                    .execute(params![self.key, id])
                    .map(|_| ())
            })
            .map_err(local_err)
    }

    /// Searches, filters, sorts and pages the mirror.
    pub fn search(&self, q: &LeadQuery) -> Result<LeadPage, ErrorReport> {
        self.search_with(q, FEW_MATCHES)
    }

    /// [`Mirror::search`] with the threshold between its two ways of paging a text search.
    fn search_with(&self, q: &LeadQuery, few_matches: i64) -> Result<LeadPage, ErrorReport> {
        // A first sync killed in its bulk load: build its indexes before searching. Best effort:
        // the search runs either way (a failed build is retried at the next search).
        let _ = super::bulk::recover(&self.store);
        let w = build_where(&self.key, q)?;
        let limit = q.limit.clamp(1, MAX_SEARCH_LIMIT);
        let offset = q.offset.min(i64::MAX as u64);
        // With a text query, SQLite cannot know how few leads match: left to itself it walks the
        // mirror's index and tests every lead against the matches (100,000 probes for a search
        // that finds nothing, and the count of a one-letter search walked them all too). So the
        // matches are counted from the search index outwards first ([`text_total`]), and that
        // count chooses the page's way: with few, the page is read from the matches outwards
        // (CROSS JOIN keeps that order) and sorted; with many, walking the sort's index is the
        // cheaper way, and its first pages end early.
        let from_matches = format!(
            "FROM sync_leads_fts CROSS JOIN sync_leads l ON l.rid = sync_leads_fts.rowid
             WHERE sync_leads_fts MATCH ? AND {}",
            w.base_sql
        );
        let key = self.key.clone();
        self.store
            .with_conn(|c| {
                // One read transaction: the count and the page see the same mirror.
                let c = c.transaction()?;
                if let Some(m) = &w.text {
                    let total = text_total(&c, &key, &w, m, true)?;
                    if total <= few_matches {
                        let mut args = vec![SqlValue::Text(m.clone())];
                        args.extend(w.base_args.iter().cloned());
                        args.push(SqlValue::Integer(i64::from(limit)));
                        args.push(SqlValue::Integer(offset as i64));
                        let rows = c
                            .prepare_cached(&format!(
                                "SELECT {} {from_matches} ORDER BY {} LIMIT ? OFFSET ?",
                                lead_cols(true),
                                order_by(&q.sort)
                            ))?
                            .query_map(params_from_iter(args.iter()), row_to_lead)?
                            .collect::<Result<Vec<_>, _>>()?;
                        return Ok(LeadPage {
                            rows,
                            total: total.max(0) as u64,
                            offset,
                        });
                    }
                    let rows = page_by_walking(&c, &w, &q.sort, limit, offset)?;
                    return Ok(LeadPage {
                        rows,
                        total: total.max(0) as u64,
                        offset,
                    });
                }
                let total: i64 = c
                    .prepare_cached(&format!(
                        "SELECT count(*) FROM sync_leads l WHERE {}",
                        w.sql
                    ))?
                    .query_row(params_from_iter(w.args.iter()), |r| r.get(0))?;
                let rows = page_by_walking(&c, &w, &q.sort, limit, offset)?;
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

    /// Streams the leads matching `query`'s text and filters (not its sort, offset or limit) to
    /// `out`, in the mirror's insertion order, 1,000 rows per read (the database is not held
    /// between reads). CSV cells are written for `cells` ([`CsvCells`]); JSON Lines as they are.
    /// Returns the number of leads written. Blocking: call it from `spawn_blocking` in async
    /// code.
    pub fn export(
        &self,
        format: ExportFormat,
        cells: CsvCells,
        query: &LeadQuery,
        out: &mut impl Write,
        cancel: Option<&CancellationToken>,
    ) -> Result<u64, ErrorReport> {
        let io = |e: std::io::Error| ErrorReport::local(Code::IoError, e.to_string(), false);
        let _ = super::bulk::recover(&self.store);
        let w = build_where(&self.key, query)?;
        let sql = format!(
            "SELECT l.rid, {} FROM sync_leads l WHERE {} AND l.rid > ? ORDER BY l.rid LIMIT 1000",
            lead_cols(true),
            w.sql
        );
        let mut csv = CsvWriter {
            cells,
            line: String::new(),
        };
        if format == ExportFormat::Csv {
            out.write_all(b"\xEF\xBB\xBF").map_err(io)?;
            csv.record(out, LEAD_FIELDS.iter().copied()).map_err(io)?;
        }
        let mut after: i64 = 0;
        let mut written = 0u64;
        loop {
            if cancel.is_some_and(CancellationToken::is_cancelled) {
                return Err(ErrorReport::local(
                    Code::Cancelled,
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

    /// [`Mirror::export`] into `path`, written all at once
    /// ([`crate::saved_files::write_atomically`]: a failed or cancelled export leaves no partial
    /// file, and an existing file its old content).
    pub fn export_to_file(
        &self,
        format: ExportFormat,
        cells: CsvCells,
        query: &LeadQuery,
        path: &std::path::Path,
        cancel: Option<&CancellationToken>,
    ) -> Result<u64, ErrorReport> {
        // Lead data: the user's alone (0600 on Unix); the rename keeps the mode.
        crate::saved_files::write_atomically(path, |out| {
            self.export(format, cells, query, out, cancel)
        })
    }
}

/// A lead's values in [`LEAD_FIELDS`] order: `None` for an unset optional field, custom fields
/// as JSON text.
pub(super) fn lead_values(l: &Lead) -> [Option<std::borrow::Cow<'_, str>>; 15] {
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

/// A lead's `custom_fields` as the mirror stores them (JSON text; unreadable: none).
pub(crate) fn custom_fields_of(text: &str) -> Map<String, Value> {
    serde_json::from_str::<Map<String, Value>>(text).unwrap_or_default()
}

pub(crate) fn lead_from_offset(r: &rusqlite::Row<'_>, o: usize) -> rusqlite::Result<Lead> {
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
        custom_fields: custom_fields_of(&custom),
        created_at: r.get(o + 13)?,
        updated_at: r.get(o + 14)?,
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
    cells: CsvCells,
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
            let cell = match self.cells {
                CsvCells::Spreadsheet => formula_safe(cell),
                CsvCells::Raw => cell.into(),
            };
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

    /// 300 leads, every tenth in mirror ws_b when `other_mirror`, the rest in ws_a; ws_a's mirror.
    fn two_named_mirrors(other_mirror: bool) -> Mirror {
        let store = Store::open_in_memory().unwrap();
        let m = Mirror::open(store.clone(), "ws_a", "p").unwrap();
        Mirror::open(store.clone(), "ws_b", "p").unwrap();
        store
            .with_conn(|c| {
                let mut st = c.prepare(
                    "INSERT INTO sync_leads (mirror, id, email, full_name, company_name, status,
                        source, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'api', ?7, ?7)",
                )?;
                for i in 0..300 {
                    let mirror = if other_mirror && i % 10 == 0 { "ws_b" } else { "ws_a" };
                    let name = if i % 3 == 0 { "Ada Lovelace" } else { "Alan Turing" };
                    let status = if i % 2 == 0 { "new" } else { "qualified" };
                    let at = format!("2026-11-{:02}T00:00:00.000Z", 1 + i % 28);
                    st.execute(rusqlite::params![
                        mirror,
                        format!("lead_{i}"),
                        format!("p{i}@ex.example"),
                        name,
                        format!("Co {}", i % 7),
                        status,
                        at
                    ])?;
                }
                Ok(())
            })
            .unwrap();
        m
    }

    #[test]
    fn a_text_search_pages_the_same_from_its_matches_as_along_the_sort_index() {
        for other_mirror in [true, false] {
            let m = two_named_mirrors(other_mirror);
            for (text, status) in [("ada", None), ("alan tur", Some("new")), ("nobody", None)] {
                for field in [
                    LeadSortField::UpdatedAt,
                    LeadSortField::Email,
                    LeadSortField::CompanyName,
                ] {
                    for offset in [0, 7, 150] {
                        let q = LeadQuery {
                            query: text.into(),
                            filter: super::super::LeadFilter {
                                status: status.map(str::to_owned),
                                ..super::super::LeadFilter::default()
                            },
                            sort: LeadSort {
                                field,
                                descending: offset == 7,
                            },
                            offset,
                            limit: 25,
                        };
                        let sorted = m.search_with(&q, i64::MAX).unwrap();
                        let walked = m.search_with(&q, 0).unwrap();
                        assert_eq!(sorted, walked, "{text} {field:?} {offset}");
                    }
                }
            }
        }
        let ada = two_named_mirrors(true)
            .search_with(
                &LeadQuery {
                    query: "ada".into(),
                    ..LeadQuery::default()
                },
                i64::MAX,
            )
            .unwrap();
        // Every third lead of ws_a (270 of the 300), never ws_b's.
        assert_eq!(
            ada.total,
            (0..300).filter(|i| i % 3 == 0 && i % 10 != 0).count() as u64
        );
    }

    #[test]
    fn a_text_search_counts_what_walking_the_mirror_counts() {
        for other_mirror in [true, false] {
            let m = two_named_mirrors(other_mirror);
            for (text, status) in [
                ("ada", None),
                ("a", None),
                ("alan tur", Some("new")),
                ("nobody", None),
            ] {
                let q = LeadQuery {
                    query: text.into(),
                    filter: super::super::LeadFilter {
                        status: status.map(str::to_owned),
                        ..super::super::LeadFilter::default()
                    },
                    ..LeadQuery::default()
                };
                let w = build_where(&m.key, &q).unwrap();
                let fts = w.text.clone().unwrap();
                let (walked, alone, looked_up) = m
                    .store
                    .with_conn(|c| {
                        let walked: i64 = c.query_row(
                            &format!("SELECT count(*) FROM sync_leads l WHERE {}", w.sql),
                            params_from_iter(w.args.iter()),
                            |r| r.get(0),
                        )?;
                        Ok((
                            walked,
                            text_total(c, &m.key, &w, &fts, true)?,
                            text_total(c, &m.key, &w, &fts, false)?,
                        ))
                    })
                    .unwrap();
                assert_eq!(
                    alone, walked,
                    "{text} {status:?} other mirror: {other_mirror}"
                );
                assert_eq!(
                    looked_up, walked,
                    "{text} {status:?} other mirror: {other_mirror}"
                );
                assert!(walked > 0 || text == "nobody");
            }
        }
    }

    #[test]
    fn each_profile_finds_the_mirror_it_opened_last_whoever_opened_it_since() {
        let store = Store::open_in_memory().unwrap();
        let owner = |ws: &str| crate::workspace::Owner {
            workspace_id: ws.into(),
            workspace_name: ws.into(),
            key_prefix: format!("pb2b_test_{ws}"),
        };
        Mirror::open_for(store.clone(), &owner("ws_a"), "(environment)").unwrap();
        Mirror::open_for(store.clone(), &owner("ws_b"), "Client B").unwrap();
        // The app opens the cron job's mirror under its own profile name.
        Mirror::open_for(store.clone(), &owner("ws_a"), "Agency").unwrap();
        let of = |p: &str| {
            Mirror::for_profile(store.clone(), p)
                .unwrap()
                .map(|m| m.workspace_id().to_owned())
        };
        assert_eq!(of("(environment)").as_deref(), Some("ws_a"));
        assert_eq!(of("Agency").as_deref(), Some("ws_a"));
        assert_eq!(of("Client B").as_deref(), Some("ws_b"));
        assert_eq!(of("nobody"), None);
        let prefix: Option<String> = store
            .with_conn(|c| {
                c.query_row(
                    "SELECT key_prefix FROM sync_state WHERE mirror = 'ws_a'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap();
        assert_eq!(prefix.as_deref(), Some("pb2b_test_ws_a"));
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
}
