//! Bulk loading of a first sync into an empty mirror table: the secondary indexes and the
//! full-text triggers are set aside while the rows go in, then built once at the end (sorting
//! 100,000 keys once is much cheaper than 100,000 b-tree inserts into six indexes, and one FTS5
//! `rebuild` is cheaper than its triggers' per-statement segments and merges).
//!
//! | rule | how |
//! | --- | --- |
//! | when | a run of a mirror kept in a file starts and `sync_leads` holds no row at all (of any mirror): [`enter`] |
//! | what is set aside | every index (but the `UNIQUE (mirror, id)` the upsert needs) and trigger of `sync_leads`, read from `sqlite_master`, so the migrations stay the one place they are defined |
//! | recorded durably | each dropped object's `CREATE` statement is a row of `sync_bulk` (with the mirror whose run set it aside), in the same transaction as the `DROP`s: the schema and the record change together or not at all |
//! | finished | [`finish`]: in one transaction, the saved statements run again, the FTS index is rebuilt from the table (`'rebuild'`), and `sync_bulk` is emptied; a kill at any point leaves either the bulk state with its record, or the whole finished schema |
//! | finished when | the run's last page (same transaction as its checkpoint), or the run ending otherwise (failed, cancelled); and whenever a mirror is opened or searched while a record is left and no run holds that mirror's `sync-<mirror>` lock (a killed run): [`recover`] |
//! | meanwhile | rows are complete and listable; text search and sorted lists see the rows only once the run finishes (the run is the mirror's first, so they were not there before it) |

use rusqlite::{params, Connection, OptionalExtension};

use crate::store::{Store, StoreError};

/// Sets the indexes and triggers of `sync_leads` aside for a first sync of `mirror`, when the
/// table is empty and the store is a file (see the module docs). Returns whether it did.
pub(super) fn enter(store: &Store, mirror: &str) -> Result<bool, StoreError> {
    if store.path().is_none() {
        return Ok(false);
    }
    store.with_conn(|c| {
        let tx = c.transaction()?;
        let busy: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sync_leads) OR EXISTS (SELECT 1 FROM sync_bulk)",
            [],
            |r| r.get(0),
        )?;
        if busy {
            return Ok(false);
        }
        let objects: Vec<(String, String, String)> = {
            let mut st = tx.prepare(
                "SELECT type, name, sql FROM sqlite_master
                     WHERE tbl_name = 'sync_leads' AND type IN ('index', 'trigger')
                       AND sql IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect::<rusqlite::Result<_>>()?
        };
        for (kind, name, sql) in &objects {
            tx.execute(
                "INSERT INTO sync_bulk (name, kind, mirror, sql) VALUES (?1, ?2, ?3, ?4)",
                params![name, kind, mirror, sql],
            )?;
            let what = if kind == "index" { "INDEX" } else { "TRIGGER" };
            tx.execute_batch(&format!("DROP {what} \"{}\"", name.replace('"', "\"\"")))?;
        }
        tx.commit()?;
        Ok(!objects.is_empty())
    })
}

/// The page cache (and so the sort buffer) while the indexes are built, in KiB (negative: SQLite's
/// unit for a size in KiB).
const BUILD_CACHE_KIB: i64 = -4096;

/// Builds what [`enter`] set aside, rebuilds the search index and clears the record, inside the
/// caller's transaction. Nothing to do when no record is left.
pub(super) fn finish(c: &Connection) -> rusqlite::Result<bool> {
    let objects: Vec<String> = {
        let mut st =
            c.prepare_cached("SELECT sql FROM sync_bulk ORDER BY kind = 'trigger', name")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if objects.is_empty() {
        return Ok(false);
    }
    // CREATE INDEX sorts in memory up to the page cache's size before it spills to a temporary
    // file: a smaller cache for the build keeps the process's peak the same for any number of
    // leads (with the usual 16 MiB, the peak grew with the mirror up to that bound).
    let cache: i64 = c.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    c.execute_batch(&format!("PRAGMA cache_size = {BUILD_CACHE_KIB}"))?;
    let built = (|| {
        for sql in &objects {
            c.execute_batch(sql)?;
        }
        c.execute_batch(
            "INSERT INTO sync_leads_fts(sync_leads_fts) VALUES ('rebuild');
             DELETE FROM sync_bulk;",
        )
    })();
    c.execute_batch(&format!("PRAGMA cache_size = {cache}"))?;
    built.map(|()| true)
}

/// Runs `f` (a transaction that may call [`finish`]) with SQLite's temporary storage in files
/// while a bulk load is pending. CREATE INDEX spills its sort to temporary files, and the store's
/// `temp_store=MEMORY` (chosen for statement journals) would keep those in RAM: the build's peak
/// grew with the mirror. The setting cannot change inside a transaction, hence around it. The
/// files are SQLite's own (0600, unlinked as they are created).
pub(super) fn with_file_temp_store<T>(
    c: &mut Connection,
    f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let pending: bool = c.query_row("SELECT EXISTS (SELECT 1 FROM sync_bulk)", [], |r| r.get(0))?;
    if !pending {
        return f(c);
    }
    c.execute_batch("PRAGMA temp_store = FILE")?;
    let result = f(c);
    c.execute_batch("PRAGMA temp_store = MEMORY")?;
    result
}

/// Finishes a bulk load left behind by a run that no longer runs (killed): when a record is left
/// and its mirror's `sync-<mirror>` lock is free (taken for the time of the build), in one
/// transaction. Cheap when there is no record (one read).
pub(super) fn recover(store: &Store) -> Result<(), StoreError> {
    let Some(path) = store.path().map(ToOwned::to_owned) else {
        return Ok(());
    };
    let pending: Option<String> = store.with_conn(|c| {
        c.query_row("SELECT mirror FROM sync_bulk LIMIT 1", [], |r| r.get(0))
            .optional()
    })?;
    let Some(mirror) = pending else {
        return Ok(());
    };
    // A run that holds the lock finishes its own bulk load; this process may be that run.
    let Ok(Some(_lock)) = crate::presence::NamedLock::try_take(&path, &format!("sync-{mirror}"))
    else {
        return Ok(());
    };
    store.with_conn(|c| {
        with_file_temp_store(c, |c| {
            let tx = c.transaction()?;
            finish(&tx)?;
            tx.commit()
        })
    })
}

/// Finishes the bulk load at the end of a run that did not reach its last page (best effort: a
/// failure leaves the record for [`recover`]).
pub(super) fn finish_now(store: &Store) {
    let _ = store.with_conn(|c| {
        with_file_temp_store(c, |c| {
            let tx = c.transaction()?;
            finish(&tx)?;
            tx.commit()
        })
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::{LeadQuery, Mirror};

    fn objects(store: &Store) -> Vec<(String, String)> {
        store
            .with_conn(|c| {
                let mut st = c.prepare(
                    "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'sync_leads'
                     AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name",
                )?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
            .unwrap()
    }

    fn set_aside(store: &Store) -> i64 {
        store
            .with_conn(|c| c.query_row("SELECT count(*) FROM sync_bulk", [], |r| r.get(0)))
            .unwrap()
    }

    fn found(m: &Mirror, text: &str) -> u64 {
        m.search(&LeadQuery {
            query: text.into(),
            ..LeadQuery::default()
        })
        .unwrap()
        .total
    }

    #[test]
    fn a_bulk_load_left_by_a_dead_run_is_finished_at_the_next_open_not_while_its_run_lives() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("mirror.sqlite");
        let store = Store::open(&path).unwrap();
        let m = Mirror::open(store.clone(), "ws_1", "p").unwrap();
        let complete = objects(&store);
        assert_eq!(complete.len(), 9, "6 indexes and 3 triggers");
        // Only into an empty table, and never twice.
        assert!(enter(&store, "ws_1").unwrap());
        assert!(objects(&store).is_empty());
        assert!(!enter(&store, "ws_1").unwrap());
        assert_eq!(set_aside(&store), 9);
        store
            .with_conn(|c| {
                c.execute_batch(
                    "INSERT INTO sync_leads (mirror, id, email, full_name, status, source,
                        created_at, updated_at) VALUES
                     ('ws_1', 'lead_1', 'ada@example.com', 'Ada Lovelace', 'new', 'api', 't', 't'),
                     ('ws_1', 'lead_2', 'grace@example.com', 'Grace Hopper', 'new', 'api', 't', 't')",
                )
            })
            .unwrap();
        // Its run still holds the mirror's lock (here: this test): opening and searching from
        // another connection leave the load to the run.
        let run = crate::presence::NamedLock::try_take(&path, "sync-ws_1")
            .unwrap()
            .unwrap();
        let other = Mirror::open(Store::open(&path).unwrap(), "ws_1", "p").unwrap();
        assert_eq!(found(&other, "grace"), 0);
        assert_eq!(set_aside(&store), 9);
        drop(other);
        // The run is gone (killed): the next open builds everything in one transaction.
        drop(run);
        let reopened = Mirror::open(Store::open(&path).unwrap(), "ws_1", "p").unwrap();
        assert_eq!(set_aside(reopened.store()), 0);
        assert_eq!(objects(reopened.store()), complete);
        assert_eq!(
            (found(&reopened, "grace"), found(&reopened, "lovelace")),
            (1, 1)
        );
        reopened
            .store()
            .with_conn(|c| {
                c.execute_batch(
                    "INSERT INTO sync_leads_fts(sync_leads_fts, rank) VALUES ('integrity-check', 1)",
                )
            })
            .unwrap();
        // Not a first sync any more; and an in-memory mirror never loads in bulk.
        assert!(!enter(reopened.store(), "ws_1").unwrap());
        assert_eq!(found(&m, "ada"), 1);
        let memory = Store::open_in_memory().unwrap();
        Mirror::open(memory.clone(), "ws_1", "p").unwrap();
        assert!(!enter(&memory, "ws_1").unwrap());
    }
}
