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

    /// [`Mirror::export`] into `path`, through a temporary file renamed at the end (a failed or
    /// cancelled export leaves no partial file).
    pub fn export_to_file(
        &self,
        format: ExportFormat,
        cells: CsvCells,
        query: &LeadQuery,
        path: &std::path::Path,
        cancel: Option<&CancellationToken>,
    ) -> Result<u64, ErrorReport> {
        let io = |e: std::io::Error| {
            ErrorReport::local(Code::IoError, format!("{}: {e}", path.display()), false)
        };
        let tmp = path.with_extension(format!(
            "{}.partial",
            path.extension().and_then(|e| e.to_str()).unwrap_or("out")
        ));
        // Lead data: the user's alone (0600 on Unix); the rename keeps the mode.
        let file = crate::private_fs::create_file(&tmp).map_err(io)?;
        let mut buf = std::io::BufWriter::with_capacity(256 * 1024, file);
        let result = self
            .export(format, cells, query, &mut buf, cancel)
            .and_then(|n| {
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
