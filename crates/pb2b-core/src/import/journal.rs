//! The import journal in the local SQLite database (module `import`, applied with
//! [`Store::migrate_module`]): one row per import, one row per file row with its state, and the
//! remembered mappings per header set.

use crate::error::Code;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use ts_rs::TS;

use super::mapping::Mapping;
use super::reader::{FileFormat, ReadStats};
use crate::error::ErrorReport;
use crate::store::Store;
use crate::workspace::Owner;

/// This module's migrations (never edit a shipped entry; append).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE import_jobs (
    id TEXT PRIMARY KEY,
    file_path TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    headers_json TEXT NOT NULL,
    format_json TEXT NOT NULL,
    mapping_json TEXT NOT NULL,
    status TEXT NOT NULL,
    total_rows INTEGER NOT NULL DEFAULT 0,
    blank_lines INTEGER NOT NULL DEFAULT 0,
    ragged_rows INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE import_rows (
    import_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    state TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    payload TEXT,
    original TEXT NOT NULL,
    lead_id TEXT,
    error_code TEXT,
    error_message TEXT,
    request_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    replayed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (import_id, row_number)
) WITHOUT ROWID;
CREATE INDEX import_rows_state ON import_rows(import_id, state, row_number);
CREATE TABLE import_mappings (
    header_key TEXT PRIMARY KEY,
    mapping_json TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
"#,
    // Every import records who it belongs to (see `crate::workspace::Owner`); NULL for imports
    // journaled before this version, until `assign_known_owners` or the user assigns them.
    r#"
ALTER TABLE import_jobs ADD COLUMN workspace_id TEXT;
ALTER TABLE import_jobs ADD COLUMN workspace_name TEXT;
ALTER TABLE import_jobs ADD COLUMN key_prefix TEXT;
"#,
    // Optional values a row is sent without (`crate::leads::prepare`): JSON of `DroppedField`s
    // per row (NULL: none), and how many rows to send lose one, counted once while staging.
    r#"
ALTER TABLE import_rows ADD COLUMN dropped TEXT;
ALTER TABLE import_jobs ADD COLUMN dropped_rows INTEGER NOT NULL DEFAULT 0;
"#,
    // Import modes and the review (`super::review`): the mode and the last review per import;
    // per row its class, the workspace's lead it matched (id, updated_at when reviewed), the
    // changes it would make (JSON of `FieldChange`s), and after sending what the server did
    // (`created`, `updated`, `unchanged`) and where that disagrees with the review (`note`).
    r#"
ALTER TABLE import_jobs ADD COLUMN mode TEXT NOT NULL DEFAULT 'create';
ALTER TABLE import_jobs ADD COLUMN review_json TEXT;
ALTER TABLE import_rows ADD COLUMN review TEXT;
ALTER TABLE import_rows ADD COLUMN match_id TEXT;
ALTER TABLE import_rows ADD COLUMN match_updated_at TEXT;
ALTER TABLE import_rows ADD COLUMN changes TEXT;
ALTER TABLE import_rows ADD COLUMN result TEXT;
ALTER TABLE import_rows ADD COLUMN note TEXT;
"#,
    // Bulk delivery (`super::bulk`): one row per import job sent, journaled with its
    // Idempotency-Key before it is sent (`open`), with the server's job id once answered
    // (`accepted`), then `done`, `failed` (the job failed: its rows went back to pending) or
    // `void` (its rows were settled another way). `import_rows.batch` names the batch a row was
    // last sent in (its `seq`).
    r#"
CREATE TABLE import_batches (
    import_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    first_row INTEGER NOT NULL,
    last_row INTEGER NOT NULL,
    row_count INTEGER NOT NULL,
    mode TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    server_import_id TEXT,
    request_id TEXT,
    replayed INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (import_id, seq)
);
ALTER TABLE import_rows ADD COLUMN batch INTEGER;
"#,
    // The review's per-row results move out of `import_rows` into a narrow table of their own
    // (`super::review`): a row's class, the workspace's lead it matched (id, updated_at when
    // reviewed) and the changes it would make. A journal row then held the payload and the
    // original cells (about 650 bytes), so writing the ~60 bytes of a review into it rewrote
    // every page of the journal through the WAL; now a review writes this table only (the
    // rows it does not send are settled later; `review_unsettled` counts those not yet, see
    // `super::review`). Existing reviews are carried over, then the old columns go.
    r#"
CREATE TABLE import_row_reviews (
    import_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    class TEXT NOT NULL,
    match_id TEXT,
    match_updated_at TEXT,
    changes TEXT,
    PRIMARY KEY (import_id, row_number)
) WITHOUT ROWID;
INSERT INTO import_row_reviews (import_id, row_number, class, match_id, match_updated_at, changes)
    SELECT import_id, row_number, review, match_id, match_updated_at, changes FROM import_rows
    WHERE review IS NOT NULL;
ALTER TABLE import_rows DROP COLUMN review;
ALTER TABLE import_rows DROP COLUMN match_id;
ALTER TABLE import_rows DROP COLUMN match_updated_at;
ALTER TABLE import_rows DROP COLUMN changes;
ALTER TABLE import_jobs ADD COLUMN review_unsettled INTEGER NOT NULL DEFAULT 0;
"#,
    // A row's payload and original cells (written once, when staged) move out of `import_rows`
    // into a table of their own, so the journal rows the senders update as a row goes
    // pending → in flight → created are ~150 bytes instead of ~650: each state change rewrote
    // the whole record and its page through the WAL, which was ~70% of the client's CPU on a
    // bulk import (`docs/PERFORMANCE.md`, issue 12). Existing rows are carried over.
    r#"
CREATE TABLE import_row_data (
    import_id TEXT NOT NULL REFERENCES import_jobs(id) ON DELETE CASCADE,
    row_number INTEGER NOT NULL,
    payload TEXT,
    original TEXT NOT NULL,
    PRIMARY KEY (import_id, row_number)
) WITHOUT ROWID;
INSERT INTO import_row_data (import_id, row_number, payload, original)
    SELECT import_id, row_number, payload, original FROM import_rows;
ALTER TABLE import_rows DROP COLUMN payload;
ALTER TABLE import_rows DROP COLUMN original;
"#,
    // The state index keeps only the rows a query looks for by state: `in_flight` (a per-row
    // run killed mid-request) and `failed` (retry, the error report). Every state change of a
    // row moved its entry in the full index, two of the four b-tree writes of each journal
    // update (issue 12, eighth round); pending and settled rows are read in row order along
    // the primary key instead. The `OR` (not `IN`) lets SQLite see that a query's
    // `state = 'failed'` implies the index's condition. A bulk import job's rows stay `pending`
    // while it is in flight: the open batch's range is what says so (see `super::bulk`), so the
    // rows of batches journaled in flight by an earlier version become `pending` here.
    r#"
UPDATE import_rows SET state = 'pending'
 WHERE state = 'in_flight' AND batch IS NOT NULL AND EXISTS (SELECT 1 FROM import_batches b
   WHERE b.import_id = import_rows.import_id AND b.seq = import_rows.batch AND b.state IN ('open', 'accepted')
     AND import_rows.row_number BETWEEN b.first_row AND b.last_row);
DROP INDEX import_rows_state;
CREATE INDEX import_rows_unsettled ON import_rows(import_id, state, row_number)
    WHERE state = 'in_flight' OR state = 'failed';
"#,
];

/// Row states in the journal.
pub mod state {
    pub const PENDING: &str = "pending";
    pub const IN_FLIGHT: &str = "in_flight";
    pub const CREATED: &str = "created";
    pub const FAILED: &str = "failed";
    pub const SKIPPED: &str = "skipped";
}

/// Import statuses.
pub mod status {
    /// Rows are being written to the journal (a crash here restarts the staging).
    pub const STAGING: &str = "staging";
    pub const READY: &str = "ready";
    pub const RUNNING: &str = "running";
    pub const PAUSED: &str = "paused";
    pub const COMPLETED: &str = "completed";
    pub const CANCELLED: &str = "cancelled";
}

pub(crate) fn store_err(e: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::StoreError,
        format!("The local database failed: {e}"),
        true,
    )
}

/// Opens (creates or upgrades) the import tables.
pub fn migrate(store: &Store) -> Result<(), ErrorReport> {
    store
        .migrate_module("import", MIGRATIONS)
        .map_err(store_err)
}

/// The key of a header set (order and case of the names matter not).
pub fn header_key(headers: &[String]) -> String {
    let mut norm: Vec<String> = headers
        .iter()
        .map(|h| super::mapping::normalize_header(h))
        .collect();
    norm.sort();
    let mut hash = Sha256::new();
    for h in &norm {
        hash.update(h.as_bytes());
        hash.update([0]);
    }
    hex::encode(&hash.finalize()[..16])
}

/// Remembers the mapping used for this header set.
pub fn remember_mapping(
    store: &Store,
    headers: &[String],
    mapping: &Mapping,
) -> Result<(), ErrorReport> {
    migrate(store)?;
    let json = serde_json::to_string(mapping).map_err(store_err)?;
    store
        .with_conn(|c| {
            c.execute(
                "INSERT INTO import_mappings (header_key, mapping_json, updated_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(header_key) DO UPDATE SET mapping_json = excluded.mapping_json, updated_at = excluded.updated_at",
                params![header_key(headers), json, crate::api::observer::now_utc_ms()],
            )
        })
        .map_err(store_err)?;
    Ok(())
}

/// The mapping remembered for this header set, if any (re-indexed to this file's column order).
pub fn remembered_mapping(
    store: &Store,
    headers: &[String],
) -> Result<Option<Mapping>, ErrorReport> {
    migrate(store)?;
    let json: Option<String> = store
        .with_conn(|c| {
            c.query_row(
                "SELECT mapping_json FROM import_mappings WHERE header_key = ?1",
                [header_key(headers)],
                |r| r.get(0),
            )
            .optional()
        })
        .map_err(store_err)?;
    let Some(m) = json.and_then(|j| serde_json::from_str::<Mapping>(&j).ok()) else {
        return Ok(None);
    };
    // Same header set, maybe another column order: match columns by normalised name.
    let mut columns = Vec::new();
    for (i, h) in headers.iter().enumerate() {
        let n = super::mapping::normalize_header(h);
        let found = m
            .columns
            .iter()
            .find(|c| super::mapping::normalize_header(&c.header) == n);
        columns.push(super::mapping::ColumnMapping {
            index: i as u32,
            header: h.clone(),
            target: found
                .map(|c| c.target.clone())
                .unwrap_or(super::mapping::ColumnTarget::Ignore),
            confidence: 100,
        });
    }
    Ok(Some(Mapping { columns }))
}

/// One import as the UI lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "ImportJob.ts")]
pub struct ImportJob {
    pub id: String,
    pub file_path: String,
    pub file_name: String,
    #[ts(type = "number")]
    pub file_size: u64,
    pub headers: Vec<String>,
    pub format: FileFormat,
    pub mapping: Mapping,
    /// `staging`, `ready`, `running`, `paused`, `completed`, `cancelled`. `running` found at
    /// start-up means the app stopped mid-way: offer to resume.
    pub status: String,
    pub counts: RowCounts,
    pub created_at: String,
    pub updated_at: String,
    /// The workspace and key it was made with; `null` for an import journaled by an older
    /// version whose workspace could not be worked out (the user is asked).
    pub owner: Option<Owner>,
    /// What it does with e-mails the workspace has (set by its review; `create` before one).
    pub mode: super::review::ImportMode,
}

/// How many journal rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "RowCounts.ts")]
pub struct RowCounts {
    #[ts(type = "number")]
    pub total: u64,
    #[ts(type = "number")]
    pub pending: u64,
    #[ts(type = "number")]
    pub in_flight: u64,
    /// Rows the server created.
    #[ts(type = "number")]
    pub created: u64,
    /// Rows sent onto an existing lead (modes upsert and update) that changed it.
    #[ts(type = "number")]
    pub updated: u64,
    /// Rows sent onto an existing lead that already held their values.
    #[ts(type = "number")]
    pub unchanged: u64,
    #[ts(type = "number")]
    pub failed: u64,
    /// Invalid, duplicate or cancelled rows (never sent).
    #[ts(type = "number")]
    pub skipped: u64,
    #[ts(type = "number")]
    pub blank_lines: u64,
    #[ts(type = "number")]
    pub ragged_rows: u64,
    /// Rows to send (not skipped when staged) that go without one or more optional values the
    /// contract would refuse; the result files list them (`dropped_fields`).
    #[ts(type = "number")]
    pub with_dropped_fields: u64,
}

pub(crate) fn counts(store: &Store, id: &str) -> Result<RowCounts, ErrorReport> {
    store
        .with_conn(|c| {
            let mut rc = RowCounts::default();
            // A row the server accepted is `created` in the journal; its `result` says whether
            // the server created it or wrote it onto an existing lead.
            let mut stmt = c.prepare_cached(
                "SELECT CASE WHEN state = 'created' THEN coalesce(result, 'created') ELSE state END, COUNT(*)
                 FROM import_rows WHERE import_id = ?1 GROUP BY 1",
            )?;
            let rows =
                stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (s, n) = row?;
                let n = n as u64;
                rc.total += n;
                match s.as_str() {
                    state::PENDING => rc.pending = n,
                    state::IN_FLIGHT => rc.in_flight = n,
                    state::CREATED => rc.created = n,
                    "updated" => rc.updated = n,
                    "unchanged" => rc.unchanged = n,
                    state::FAILED => rc.failed = n,
                    _ => rc.skipped += n,
                }
            }
            // The rows of a bulk import job in flight stay `pending` in the journal: the open
            // batch's range says they are in flight (see `super::bulk`).
            let in_batches: i64 = c
                .prepare_cached(
                    "SELECT coalesce(sum((SELECT count(*) FROM import_rows r WHERE r.import_id = b.import_id
                         AND r.row_number BETWEEN b.first_row AND b.last_row AND +r.state = 'pending')), 0)
                     FROM import_batches b WHERE b.import_id = ?1 AND b.state IN ('open', 'accepted')",
                )?
                .query_row([id], |r| r.get(0))?;
            let in_batches = (in_batches as u64).min(rc.pending);
            rc.pending -= in_batches;
            rc.in_flight += in_batches;
            let (b, r, d, u): (i64, i64, i64, i64) = c.query_row(
                "SELECT blank_lines, ragged_rows, dropped_rows, review_unsettled FROM import_jobs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?;
            // Rows the review does not send that no sender reached yet are `pending` in the
            // journal and skipped in fact (see `super::review`).
            let u = (u as u64).min(rc.pending);
            rc.pending -= u;
            rc.skipped += u;
            rc.blank_lines = b as u64;
            rc.ragged_rows = r as u64;
            rc.with_dropped_fields = d as u64;
            Ok(rc)
        })
        .map_err(store_err)
}

/// One import by id.
pub fn get_import(store: &Store, id: &str) -> Result<ImportJob, ErrorReport> {
    migrate(store)?;
    let row = store
        .with_conn(|c| {
            c.query_row(
                "SELECT id, file_path, file_name, file_size, headers_json, format_json, mapping_json, status, created_at, updated_at, workspace_id, workspace_name, key_prefix, mode FROM import_jobs WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, String>(8)?,
                        r.get::<_, String>(9)?,
                        (
                            r.get::<_, Option<String>>(10)?,
                            r.get::<_, Option<String>>(11)?,
                            r.get::<_, Option<String>>(12)?,
                        ),
                        r.get::<_, String>(13)?,
                    ))
                },
            )
            .optional()
        })
        .map_err(store_err)?
        .ok_or_else(|| {
            ErrorReport::local(
                Code::NotFound,
                format!("There is no import {id} in the local journal."),
                false,
            )
        })?;
    Ok(ImportJob {
        id: row.0,
        file_path: row.1,
        file_name: row.2,
        file_size: row.3 as u64,
        headers: serde_json::from_str(&row.4).map_err(store_err)?,
        format: serde_json::from_str(&row.5).map_err(store_err)?,
        mapping: serde_json::from_str(&row.6).map_err(store_err)?,
        status: row.7,
        counts: counts(store, id)?,
        created_at: row.8,
        updated_at: row.9,
        owner: match row.10 {
            (Some(workspace_id), name, key_prefix) => Some(Owner {
                workspace_name: name.unwrap_or_else(|| workspace_id.clone()),
                workspace_id,
                key_prefix: key_prefix.unwrap_or_default(),
            }),
            (None, _, _) => None,
        },
        mode: super::review::ImportMode::parse(&row.11).unwrap_or_default(),
    })
}

/// Records who an import belongs to (at staging; when the user assigns an older import; when a
/// rotated key of the same workspace takes it over).
pub(crate) fn set_owner(store: &Store, id: &str, owner: &Owner) -> Result<(), ErrorReport> {
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_jobs SET workspace_id = ?2, workspace_name = ?3, key_prefix = ?4 WHERE id = ?1",
                params![id, owner.workspace_id, owner.workspace_name, owner.key_prefix],
            )
        })
        .map_err(store_err)?;
    Ok(())
}

/// Assigns imports journaled before imports recorded their workspace, where the local database
/// tells: the request log names the profile that sent the import's rows (their Idempotency-Keys
/// start with `imp-<id>-`), and that profile's mirror names its workspace. The rest stay
/// unassigned, and the user is asked. Returns how many were assigned.
pub fn assign_known_owners(store: &Store) -> Result<usize, ErrorReport> {
    migrate(store)?;
    store
        .with_conn(|c| {
            let has_sync: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'sync_state')",
                [],
                |r| r.get(0),
            )?;
            if !has_sync {
                return Ok(0);
            }
            c.execute(
                "UPDATE import_jobs SET workspace_id = (
                     SELECT s.mirror FROM request_log r JOIN sync_state s ON s.profile = r.profile
                     WHERE r.idempotency_key >= 'imp-' || import_jobs.id || '-'
                       AND r.idempotency_key < 'imp-' || import_jobs.id || '.'
                     ORDER BY r.id DESC LIMIT 1)
                 WHERE workspace_id IS NULL",
                [],
            )?;
            c.execute(
                "UPDATE import_jobs SET workspace_name = workspace_id
                 WHERE workspace_id IS NOT NULL AND workspace_name IS NULL",
                [],
            )
        })
        .map_err(store_err)
}

/// Every import, newest first.
pub fn list_imports(store: &Store) -> Result<Vec<ImportJob>, ErrorReport> {
    migrate(store)?;
    let ids: Vec<String> = store
        .with_conn(|c| {
            let mut s =
                c.prepare("SELECT id FROM import_jobs ORDER BY created_at DESC, id DESC")?;
            let v = s
                .query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()?;
            Ok(v)
        })
        .map_err(store_err)?;
    ids.iter().map(|id| get_import(store, id)).collect()
}

/// Imports that stopped before the end (`staging`, `ready`, `running`, `paused`): the app offers
/// to resume them at start-up.
pub fn unfinished_imports(store: &Store) -> Result<Vec<ImportJob>, ErrorReport> {
    Ok(list_imports(store)?
        .into_iter()
        .filter(|j| {
            matches!(
                j.status.as_str(),
                status::STAGING | status::READY | status::RUNNING | status::PAUSED
            )
        })
        .collect())
}

pub(crate) fn set_status(store: &Store, id: &str, s: &str) -> Result<(), ErrorReport> {
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_jobs SET status = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, s, crate::api::observer::now_utc_ms()],
            )
        })
        .map_err(store_err)?;
    Ok(())
}

pub(crate) fn set_read_stats(
    store: &Store,
    id: &str,
    st: &ReadStats,
    dropped_rows: u64,
) -> Result<(), ErrorReport> {
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_jobs SET total_rows = ?2, blank_lines = ?3, ragged_rows = ?4, dropped_rows = ?5 WHERE id = ?1",
                params![id, st.rows as i64, st.blank_lines as i64, st.ragged_rows as i64, dropped_rows as i64],
            )
        })
        .map_err(store_err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journal reviewed before the review had its own table keeps its reviews, and its rows'
    /// payloads and original cells: the migrations carry them over to their own tables and
    /// drop the old columns.
    #[test]
    fn the_review_table_migration_keeps_earlier_reviews() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        // Up to the migration before the review table's.
        let before = 5;
        store
            .migrate_module("import", &MIGRATIONS[..before])
            .unwrap();
        store
            .with_conn(|c| {
                c.execute_batch(
                    "INSERT INTO import_jobs (id, file_path, file_name, file_size, headers_json, format_json, mapping_json, status, created_at, updated_at)
                     VALUES ('imp1', 'a.csv', 'a.csv', 1, '[]', '{}', '{}', 'ready', 't', 't');
                     INSERT INTO import_rows (import_id, row_number, state, idempotency_key, payload, original, review, match_id, match_updated_at, changes)
                     VALUES ('imp1', 2, 'pending', 'k2', '{}', '[]', 'update', 'lead_1', '2026-01-01T00:00:00.000Z', '[{\"field\":\"phone\"}]'),
                            ('imp1', 3, 'skipped', 'k3', NULL, '[\"x\"]', 'invalid', NULL, NULL, NULL),
                            ('imp1', 4, 'pending', 'k4', '{\"email\":\"a@b.co\"}', '[\"a@b.co\"]', NULL, NULL, NULL, NULL);",
                )
            })
            .unwrap();
        migrate(&store).unwrap();
        let (reviews, columns, data) = store
            .with_conn(|c| {
                let reviews = c
                    .prepare(
                        "SELECT row_number, class, match_id, match_updated_at, changes FROM import_row_reviews
                         WHERE import_id = 'imp1' ORDER BY row_number",
                    )?
                    .query_map([], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, Option<String>>(3)?,
                            r.get::<_, Option<String>>(4)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                let columns = c
                    .prepare("SELECT name FROM pragma_table_info('import_rows')")?
                    .query_map([], |r| r.get::<_, String>(0))?
                    .collect::<Result<Vec<_>, _>>()?;
                let data = c
                    .prepare(
                        "SELECT row_number, payload, original FROM import_row_data
                         WHERE import_id = 'imp1' ORDER BY row_number",
                    )?
                    .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?)))?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok((reviews, columns, data))
            })
            .unwrap();
        assert_eq!(
            reviews,
            vec![
                (
                    2,
                    "update".to_owned(),
                    Some("lead_1".to_owned()),
                    Some("2026-01-01T00:00:00.000Z".to_owned()),
                    Some("[{\"field\":\"phone\"}]".to_owned())
                ),
                (3, "invalid".to_owned(), None, None, None),
            ]
        );
        assert_eq!(
            data,
            vec![
                (2, Some("{}".to_owned()), "[]".to_owned()),
                (3, None, "[\"x\"]".to_owned()),
                (
                    4,
                    Some("{\"email\":\"a@b.co\"}".to_owned()),
                    "[\"a@b.co\"]".to_owned()
                ),
            ]
        );
        for gone in [
            "review",
            "match_id",
            "match_updated_at",
            "changes",
            "payload",
            "original",
        ] {
            assert!(!columns.iter().any(|c| c == gone), "{gone} in {columns:?}");
        }
        // Deleting the import deletes its reviews and rows' data.
        store
            .with_conn(|c| {
                c.execute("DELETE FROM import_jobs WHERE id = 'imp1'", [])?;
                c.query_row(
                    "SELECT (SELECT count(*) FROM import_row_reviews) + (SELECT count(*) FROM import_row_data)",
                    [],
                    |r| r.get::<_, i64>(0),
                )
            })
            .map(|n| assert_eq!(n, 0))
            .unwrap();
    }
}
