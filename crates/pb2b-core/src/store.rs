//! The local SQLite database (bundled SQLite, WAL) and the request log kept in it.
//!
//! Migrations are an ordered list applied by `PRAGMA user_version`: migration `i` brings the
//! schema from version `i` to `i + 1`, inside one transaction. Later modules (import journals,
//! the mirror, export jobs) append to [`MIGRATIONS`] and use [`Store::with_conn`].
//!
//! Several processes share the database (the app and any number of `pb2b` runs on one data
//! folder):
//!
//! | rule | how |
//! | --- | --- |
//! | no write fails because another process writes | every transaction begins `IMMEDIATE` (takes the write lock at `BEGIN`, so no read-then-write upgrade can deadlock and fail at once) and waits for the lock |
//! | waits are bounded | [`BUSY_TIMEOUT`] (`PB2B_BUSY_TIMEOUT_MS` overrides it); past it the error is [`StoreError::Busy`], which names the other processes that have the database open ([`crate::presence`]) |
//! | migrations never race | each runs in an `EXCLUSIVE` transaction that re-reads the version inside it, so a second process finds the work done and skips it |
//!
//! The request log never stores a key: [`crate::api::Exchange`] carries none (the client builds
//! it without `Authorization`), and [`RequestLog`] drops any `Authorization`/`Cookie` header
//! again before writing, in case another caller ever records an exchange.

use crate::error::Code;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use rusqlite::{
    params, params_from_iter, Connection, ErrorCode, OptionalExtension, TransactionBehavior,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use ts_rs::TS;

use crate::api::{Exchange, RequestObserver};
use crate::error::{codes, ErrorReport};

/// Schema migrations, in order (index `i` upgrades from user_version `i`).
pub const MIGRATIONS: &[&str] = &[
    "CREATE TABLE request_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        profile TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER,
        duration_ms INTEGER NOT NULL,
        request_id TEXT,
        idempotency_key TEXT,
        replayed INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        attempt INTEGER NOT NULL DEFAULT 1,
        request_headers TEXT NOT NULL DEFAULT '[]',
        response_excerpt TEXT
    );
    CREATE INDEX request_log_at ON request_log(at);
    CREATE INDEX request_log_request_id ON request_log(request_id);
    CREATE INDEX request_log_status ON request_log(status);",
    // Modules (import, sync, exports, webhooks) keep their own migration lists; this table
    // records how far each has gone (see `Store::migrate_module`).
    "CREATE TABLE module_schema (module TEXT PRIMARY KEY, version INTEGER NOT NULL);",
    // No query seeks a request id: the Activity filter matches it anywhere in the id
    // (`instr`), which reads the table, and the log holds at most `DEFAULT_RETENTION` rows.
    // The index only cost every request a write at a random place in it (and every prune a
    // delete there): a fifth of a per-row import's CPU went to the log's writes.
    "DROP INDEX IF EXISTS request_log_request_id;",
    // For the same reason, the indexes on `at` and `status`: the log holds `DEFAULT_RETENTION`
    // rows (plus a batch), which the Activity filters read newest first by `id` in a few
    // milliseconds, while each index cost every logged request an insert and every prune a
    // delete (an import of 100,000 rows writes 100,000 log rows and prunes 90,000).
    "DROP INDEX IF EXISTS request_log_at; DROP INDEX IF EXISTS request_log_status;",
];

/// How many API calls the request log keeps: the one rule, for the app and the CLI.
pub const DEFAULT_RETENTION: usize = 10_000;

/// The longest a statement waits for another process's write lock before it fails with
/// [`StoreError::Busy`]. A sync's group commit or an import's journal batch holds the lock for
/// milliseconds; a wait this long means another process is stuck or holding the lock on purpose.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn busy_timeout() -> std::time::Duration {
    std::env::var("PB2B_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map(std::time::Duration::from_millis)
        .unwrap_or(BUSY_TIMEOUT)
}

fn is_busy(err: &rusqlite::Error) -> bool {
    matches!(
        err.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// What can go wrong with the local database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the local database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the local database {path} could not be opened: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the local database was written by a newer version of the app (schema {found}, this app knows {known}); update the app")]
    TooNew { found: i64, known: i64 },
    #[error("no logged request with id {0}")]
    NotFound(i64),
    #[error("The local database {path} stayed locked by another program for {:.1} s{}; try again when it has finished, or close it.", .waited.as_secs_f64(), holders_text(.holders))]
    Busy {
        path: PathBuf,
        waited: std::time::Duration,
        holders: Vec<crate::presence::ProcessInfo>,
    },
}

fn holders_text(holders: &[crate::presence::ProcessInfo]) -> String {
    if holders.is_empty() {
        return String::new();
    }
    let names: Vec<String> = holders.iter().map(ToString::to_string).collect();
    format!(" (open in: {})", names.join(", "))
}

impl From<StoreError> for ErrorReport {
    fn from(err: StoreError) -> Self {
        match &err {
            StoreError::NotFound(_) => {
                ErrorReport::local(codes::INVALID_INPUT, err.to_string(), false)
            }
            StoreError::Busy { .. } => {
                ErrorReport::local(Code::DatabaseBusy, err.to_string(), true)
            }
            _ => ErrorReport::local(Code::LocalDatabaseError, err.to_string(), false),
        }
    }
}

/// The app's SQLite database. Cheap to clone (one shared connection).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
    path: Option<PathBuf>,
}

struct Inner {
    /// Shared with the request log's writer thread (see [`LogQueue`]), which holds it only
    /// weakly and only while it writes.
    conn: Arc<Mutex<Connection>>,
    /// Request-log rows not written yet (see [`RequestLog`]'s `RequestObserver`).
    log: Arc<LogQueue>,
    /// This process's entry among the database's users (see [`crate::presence`]).
    _presence: Option<crate::presence::Presence>,
}

struct Held {
    profile: Arc<str>,
    retention: usize,
    exchange: Exchange,
    since: Instant,
}

/// More held rows than this means nothing has used the store for a long time; the oldest go.
const MAX_HELD: usize = 10_000;
/// Request-log rows written together once this many are held (see [`RequestLog`]).
const LOG_BATCH: usize = 64;
/// ... or once the oldest held row is this old, or when a request comes after a quiet spell
/// this long (a lone request is written at once).
const LOG_DELAY: Duration = Duration::from_millis(100);
/// The writer thread ends after this many quiet [`LOG_DELAY`]s (and starts again when needed).
const LOG_IDLE_ROUNDS: u32 = 50;

/// The request-log rows recorded and not yet written, and the thread that writes them.
#[derive(Default)]
struct LogQueue {
    held: Mutex<Vec<Held>>,
    /// When held rows were last written.
    last_flush: Mutex<Option<Instant>>,
    /// The writer thread, while it runs.
    writer: Mutex<Option<std::thread::Thread>>,
}

impl LogQueue {
    /// Writes the held rows in one transaction, then prunes once. The caller holds the
    /// connection's lock, and the rows are taken only under it: so when [`Inner`]'s drop has
    /// the lock, every row is either written or still here for it. (Written one by one, each
    /// row was its own commit and prune: an import or sync making thousands of requests a
    /// second spent more on its Activity rows than on its own work.)
    fn flush(&self, conn: &Connection) {
        let held = std::mem::take(&mut *lock(&self.held));
        if held.is_empty() {
            return;
        }
        *lock(&self.last_flush) = Some(Instant::now());
        if let Err(e) = insert_all(conn, &held) {
            tracing::warn!(error = %e, rows = held.len(), "could not write the request log");
        }
    }

    /// Holds a row; says whether it should be written now and by whom.
    fn hold(&self, row: Held) -> Due {
        let mut held = lock(&self.held);
        if held.len() >= MAX_HELD {
            held.remove(0);
        }
        held.push(row);
        if held.len() >= LOG_BATCH || held[0].since.elapsed() >= LOG_DELAY {
            Due::Writer
        } else if held.len() == 1 && lock(&self.last_flush).is_none_or(|t| t.elapsed() >= LOG_DELAY)
        {
            Due::Caller
        } else {
            Due::Later
        }
    }

    /// Wakes the writer thread (`now`) or makes sure it runs (it writes within [`LOG_DELAY`]).
    fn wake(self: &Arc<Self>, conn: &Arc<Mutex<Connection>>, now: bool) {
        let mut writer = lock(&self.writer);
        if let Some(t) = &*writer {
            if now {
                t.unpark();
            }
            return;
        }
        let (queue, conn) = (self.clone(), Arc::downgrade(conn));
        let spawned = std::thread::Builder::new()
            .name("pb2b-request-log".into())
            .spawn(move || queue.write_loop(&conn));
        match spawned {
            Ok(h) => {
                if now {
                    h.thread().unpark();
                }
                *writer = Some(h.thread().clone());
            }
            // The rows stay held: the next user of the store writes them.
            Err(e) => tracing::warn!(error = %e, "could not start the request log's writer"),
        }
    }

    fn write_loop(&self, conn: &Weak<Mutex<Connection>>) {
        let mut quiet = 0u32;
        loop {
            std::thread::park_timeout(LOG_DELAY);
            let Some(conn) = conn.upgrade() else { return };
            if lock(&self.held).is_empty() {
                quiet += 1;
                if quiet >= LOG_IDLE_ROUNDS {
                    // A row held now finds no writer and starts one (both under this lock).
                    let mut writer = lock(&self.writer);
                    if lock(&self.held).is_empty() {
                        *writer = None;
                        return;
                    }
                }
                continue;
            }
            quiet = 0;
            self.flush(&lock(&conn));
        }
    }
}

/// Who writes a held request-log row.
enum Due {
    /// A lone request: the caller, if the connection is free.
    Caller,
    /// A full batch, or an old row: the writer thread, now.
    Writer,
    /// The writer thread, within [`LOG_DELAY`].
    Later,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.log.flush(&lock(&self.conn));
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, in WAL mode, and migrates it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            let _ = crate::private_fs::create_dir_all(dir);
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Open {
            path: path.to_owned(),
            source,
        })?;
        // Before the WAL exists: SQLite gives the -wal and -shm files the database's mode.
        if let Err(err) = crate::private_fs::restrict(path) {
            tracing::warn!(path = %path.display(), error = %err, "could not make the database private");
        }
        conn.busy_timeout(busy_timeout())?;
        // Switching a new database to WAL needs it to itself, and SQLite answers "locked" at once
        // (without the busy handler) while another process opens or switches it too: retry
        // within the same bound as any other wait.
        let deadline = std::time::Instant::now() + busy_timeout();
        loop {
            match conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(())) {
                Ok(()) => break,
                Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => return Err(busy_or(e.into(), Some(path))),
            }
        }
        // synchronous=NORMAL: in WAL mode a commit survives the app being killed (the crash the
        // sync and import guarantees are about); only an OS crash may lose the last commits.
        // temp_store=MEMORY: statement journals (every statement that fires a trigger opens
        // one) stay off the disk. cache_size: 16 MiB of pages instead of 2, so the mirror's
        // indexes are not re-read from the OS on every page of a sync.
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;
             PRAGMA cache_size=-16384; PRAGMA wal_autocheckpoint=8192;",
        )
        .map_err(|e| busy_or(e.into(), Some(path)))?;
        let presence = crate::presence::Presence::register(path);
        Self::init(conn, Some(path.to_owned()), presence)
    }

    /// A database in memory (tests, the CLI without a data folder).
    pub fn open_in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, None, None)
    }

    fn init(
        mut conn: Connection,
        path: Option<PathBuf>,
        presence: Option<crate::presence::Presence>,
    ) -> Result<Self, StoreError> {
        conn.set_transaction_behavior(TransactionBehavior::Immediate);
        migrate(&mut conn).map_err(|e| busy_or(e, path.as_deref()))?;
        Ok(Store {
            inner: Arc::new(Inner {
                conn: Arc::new(Mutex::new(conn)),
                log: Arc::default(),
                _presence: presence,
            }),
            path,
        })
    }

    /// A busy error with the names of the processes that have the database open.
    fn busy(&self, err: StoreError) -> StoreError {
        busy_or(err, self.path.as_deref())
    }

    /// The file behind the store, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The connection, after writing any held request-log rows.
    fn lock(&self) -> MutexGuard<'_, Connection> {
        let conn = lock(&self.inner.conn);
        self.inner.log.flush(&conn);
        conn
    }

    /// The connection if no one holds it (same as [`Self::lock`] otherwise).
    fn try_lock(&self) -> Option<MutexGuard<'_, Connection>> {
        let conn = match self.inner.conn.try_lock() {
            Ok(c) => c,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        self.inner.log.flush(&conn);
        Some(conn)
    }

    /// Runs `f` with the connection (for modules that keep their own tables).
    pub fn with_conn<R>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<R>,
    ) -> Result<R, StoreError> {
        f(&mut self.lock()).map_err(|e| self.busy(e.into()))
    }

    /// Applies a module's own migrations (import journal, sync mirror, export jobs, ...), tracked
    /// per module in `module_schema`, so modules add tables without touching each other's lists.
    /// Index `i` of `migrations` upgrades the module from version `i`; each runs in one
    /// transaction. Idempotent: call it when the module opens its tables.
    pub fn migrate_module(&self, module: &str, migrations: &[&str]) -> Result<(), StoreError> {
        let mut conn = self.lock();
        migrate_module_locked(&mut conn, module, migrations).map_err(|e| self.busy(e))
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }
}

/// `err` as [`StoreError::Busy`] (naming who has `path` open) when SQLite gave up waiting.
fn busy_or(err: StoreError, path: Option<&Path>) -> StoreError {
    match (&err, path) {
        (StoreError::Sqlite(e), Some(path)) if is_busy(e) => StoreError::Busy {
            path: path.to_owned(),
            waited: busy_timeout(),
            holders: crate::presence::Presence::others(path),
        },
        _ => err,
    }
}

fn migrate_module_locked(
    conn: &mut Connection,
    module: &str,
    migrations: &[&str],
) -> Result<(), StoreError> {
    {
        // Fast path without the exclusive lock: already at this version (every open after the
        // first). The version is checked again under the lock below.
        let found: Option<i64> = conn
            .query_row(
                "SELECT version FROM module_schema WHERE module = ?1",
                [module],
                |r| r.get(0),
            )
            .optional()?;
        if found == Some(migrations.len() as i64) {
            return Ok(());
        }
    }
    {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
        let found: i64 = tx
            .query_row(
                "SELECT version FROM module_schema WHERE module = ?1",
                [module],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        let known = migrations.len() as i64;
        if found > known {
            return Err(StoreError::TooNew { found, known });
        }
        for sql in migrations.iter().skip(found as usize) {
            tx.execute_batch(sql)?;
        }
        tx.execute(
            "INSERT INTO module_schema (module, version) VALUES (?1, ?2)
             ON CONFLICT(module) DO UPDATE SET version = excluded.version",
            params![module, known],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Brings the core schema to [`MIGRATIONS`]' version. The version is read inside an EXCLUSIVE
/// transaction, so of two processes opening a new database at once, the second waits and then
/// finds the tables made (it never runs a `CREATE TABLE` twice).
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let known = MIGRATIONS.len() as i64;
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found == known {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Exclusive)?;
    let found: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > known {
        return Err(StoreError::TooNew { found, known });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql)?;
    }
    tx.execute_batch(&format!("PRAGMA user_version = {known}"))?;
    tx.commit()?;
    Ok(())
}

/// One row of the request log, as the Activity screen shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "LoggedRequest.ts")]
pub struct LoggedRequest {
    #[ts(type = "number")]
    pub id: i64,
    pub at: String,
    pub profile: String,
    pub method: String,
    pub path: String,
    pub status: Option<u16>,
    #[ts(type = "number")]
    pub duration_ms: u64,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub replayed: bool,
    pub error_code: Option<String>,
    pub attempt: u32,
    pub request_headers: Vec<(String, String)>,
    pub response_excerpt: Option<String>,
}

/// Activity screen filters; every member optional (`{}` lists the newest 200).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(default)]
#[ts(export_to = "LogFilter.ts")]
pub struct LogFilter {
    /// 2, 3, 4 or 5 for 2xx..5xx; 0 for attempts that got no answer.
    #[ts(optional)]
    pub status_class: Option<u16>,
    /// An exact status.
    #[ts(optional)]
    pub status: Option<u16>,
    /// Substring of path and query.
    #[ts(optional)]
    pub path_contains: Option<String>,
    /// Inclusive lower bound on `at` (`2026-03-10T12:00:00.000Z`).
    #[ts(optional)]
    pub since: Option<String>,
    /// Inclusive upper bound on `at`.
    #[ts(optional)]
    pub until: Option<String>,
    /// Substring of the request_id (paste a whole one to find it).
    #[ts(optional)]
    pub request_id: Option<String>,
    /// Only this profile's requests.
    #[ts(optional)]
    pub profile: Option<String>,
    /// At most this many rows, newest first (default 200, at most 10,000).
    #[ts(optional)]
    pub limit: Option<u32>,
}

/// Headers never written to the log, whatever the caller recorded.
const NEVER_LOGGED: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

fn safe_headers(headers: &[(String, String)]) -> Vec<&(String, String)> {
    // Compared without changing case in a copy: this runs for every logged request.
    headers
        .iter()
        .filter(|(n, v)| {
            let v = v.trim_start().as_bytes();
            !NEVER_LOGGED
                .iter()
                .any(|never| n.eq_ignore_ascii_case(never))
                && !v
                    .get(..7)
                    .is_some_and(|start| start.eq_ignore_ascii_case(b"bearer "))
        })
        .collect()
}

/// The request log of one profile: the client's [`RequestObserver`].
#[derive(Debug, Clone)]
pub struct RequestLog {
    store: Store,
    profile: Arc<str>,
    retention: usize,
}

const COLUMNS: &str = "id, at, profile, method, path, status, duration_ms, request_id, \
    idempotency_key, replayed, error_code, attempt, request_headers, response_excerpt";

fn row_to_logged(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedRequest> {
    let headers: String = r.get(12)?;
    Ok(LoggedRequest {
        id: r.get(0)?,
        at: r.get(1)?,
        profile: r.get(2)?,
        method: r.get(3)?,
        path: r.get(4)?,
        status: r.get(5)?,
        duration_ms: r.get::<_, i64>(6)?.max(0) as u64,
        request_id: r.get(7)?,
        idempotency_key: r.get(8)?,
        replayed: r.get(9)?,
        error_code: r.get(10)?,
        attempt: r.get(11)?,
        request_headers: serde_json::from_str(&headers).unwrap_or_default(),
        response_excerpt: r.get(13)?,
    })
}

impl RequestLog {
    /// Logs under `profile`, keeping the newest `retention` rows of the whole log (at least 1).
    pub fn new(store: Store, profile: &str, retention: usize) -> Self {
        RequestLog {
            store,
            profile: profile.into(),
            retention: retention.max(1),
        }
    }

    /// The profile this log records under.
    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Changes how many rows are kept (applied at the next insert, or by [`Self::prune`]).
    pub fn set_retention(&mut self, retention: usize) {
        self.retention = retention.max(1);
    }

    /// Writes one exchange and trims the log to the retention bound.
    pub fn insert(&self, exchange: &Exchange) -> Result<i64, StoreError> {
        insert_locked(&self.store.lock(), &self.profile, self.retention, exchange)
    }

    /// Deletes all but the newest `retention` rows.
    pub fn prune(&self) -> Result<usize, StoreError> {
        prune_locked(&self.store.lock(), self.retention)
    }

    /// Rows matching `filter`, newest first.
    pub fn query(&self, filter: &LogFilter) -> Result<Vec<LoggedRequest>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM request_log WHERE 1=1");
        let mut args: Vec<rusqlite::types::Value> = Vec::new();
        use rusqlite::types::Value as V;
        match filter.status_class {
            Some(0) => sql.push_str(" AND status IS NULL"),
            Some(c) => {
                sql.push_str(" AND status >= ? AND status < ?");
                args.push(V::Integer(i64::from(c) * 100));
                args.push(V::Integer(i64::from(c) * 100 + 100));
            }
            None => {}
        }
        if let Some(s) = filter.status {
            sql.push_str(" AND status = ?");
            args.push(V::Integer(i64::from(s)));
        }
        if let Some(p) = filter.path_contains.as_deref().filter(|p| !p.is_empty()) {
            sql.push_str(" AND instr(path, ?) > 0");
            args.push(V::Text(p.to_owned()));
        }
        if let Some(s) = &filter.since {
            sql.push_str(" AND at >= ?");
            args.push(V::Text(s.clone()));
        }
        if let Some(u) = &filter.until {
            sql.push_str(" AND at <= ?");
            args.push(V::Text(u.clone()));
        }
        if let Some(r) = filter
            .request_id
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
        {
            sql.push_str(" AND instr(request_id, ?) > 0");
            args.push(V::Text(r.to_owned()));
        }
        if let Some(p) = &filter.profile {
            sql.push_str(" AND profile = ?");
            args.push(V::Text(p.clone()));
        }
        sql.push_str(" ORDER BY id DESC LIMIT ?");
        args.push(V::Integer(i64::from(
            filter.limit.unwrap_or(200).clamp(1, 10_000),
        )));
        let conn = self.store.lock();
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(args), row_to_logged)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One row by id.
    pub fn get(&self, id: i64) -> Result<LoggedRequest, StoreError> {
        self.store
            .lock()
            .query_row(
                &format!("SELECT {COLUMNS} FROM request_log WHERE id = ?1"),
                [id],
                row_to_logged,
            )
            .optional()?
            .ok_or(StoreError::NotFound(id))
    }

    /// Rows in the whole log.
    pub fn count(&self) -> Result<u64, StoreError> {
        Ok(self
            .store
            .lock()
            .query_row("SELECT count(*) FROM request_log", [], |r| {
                r.get::<_, i64>(0)
            })?
            .max(0) as u64)
    }

    /// The redacted JSON a user pastes into a support ticket: request line, headers (never
    /// Authorization), status, response excerpt, request_id, time and app version.
    pub fn support_bundle(&self, id: i64, app_version: &str) -> Result<Value, StoreError> {
        let r = self.get(id)?;
        let headers: serde_json::Map<String, Value> = safe_headers(&r.request_headers)
            .into_iter()
            .map(|(n, v)| (n.clone(), Value::String(v.clone())))
            .collect();
        Ok(json!({
            "app_version": app_version,
            "core_version": crate::CORE_VERSION,
            "time": r.at,
            "profile": r.profile,
            "request": {
                "line": format!("{} {}", r.method, r.path),
                "headers": headers,
                "idempotency_key": r.idempotency_key,
                "attempt": r.attempt,
            },
            "response": {
                "status": r.status,
                "request_id": r.request_id,
                "replayed": r.replayed,
                "error_code": r.error_code,
                "duration_ms": r.duration_ms,
                "body_excerpt": r.response_excerpt,
            },
        }))
    }
}

fn insert_locked(
    conn: &Connection,
    profile: &str,
    retention: usize,
    exchange: &Exchange,
) -> Result<i64, StoreError> {
    let id = insert_row(conn, profile, exchange)?;
    prune_locked(conn, retention)?;
    Ok(id)
}

/// Held rows in one transaction, in the order they were recorded, then one prune (to the
/// smallest retention among them: every log of a process keeps the same).
fn insert_all(conn: &Connection, held: &[Held]) -> Result<(), StoreError> {
    let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
    for h in held {
        insert_row(&tx, &h.profile, &h.exchange)?;
    }
    if let Some(retention) = held.iter().map(|h| h.retention).min() {
        prune_locked(&tx, retention)?;
    }
    tx.commit()?;
    Ok(())
}

fn insert_row(conn: &Connection, profile: &str, exchange: &Exchange) -> Result<i64, StoreError> {
    let headers = serde_json::to_string(&safe_headers(&exchange.request_headers))
        .unwrap_or_else(|_| "[]".into());
    conn.prepare_cached(
        "INSERT INTO request_log (at, profile, method, path, status, duration_ms, request_id,
            idempotency_key, replayed, error_code, attempt, request_headers, response_excerpt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        exchange.at,
        profile,
        exchange.method,
        exchange.path,
        exchange.status,
        i64::try_from(exchange.duration_ms).unwrap_or(i64::MAX),
        exchange.request_id,
        exchange.idempotency_key,
        exchange.replayed,
        exchange.error_code,
        exchange.attempt,
        headers,
        exchange.response_excerpt,
    ])?;
    Ok(conn.last_insert_rowid())
}

/// Ids come from AUTOINCREMENT and only the oldest rows are ever deleted, so they are contiguous
/// and "all but the newest `retention`" is an id range: a seek on the rowid, where walking back
/// `retention` rows (the first version) cost a measurable share of every request of a sync.
fn prune_locked(conn: &Connection, retention: usize) -> Result<usize, StoreError> {
    let keep = i64::try_from(retention).unwrap_or(i64::MAX);
    Ok(conn
        .prepare_cached(
            "DELETE FROM request_log WHERE id <= (SELECT max(id) FROM request_log) - ?1",
        )?
        .execute([keep])?)
}

/// The client calls this on its async task, so it never waits for the connection:
///
/// | situation | what happens |
/// | --- | --- |
/// | a lone request (nothing written for [`LOG_DELAY`]) | written at once if the connection is free |
/// | requests in a burst (an import, a sync) | held in memory and written together by a thread of the store (never the caller's: an import's or sync's async loop does not wait for its Activity rows), in one transaction with one prune, once [`LOG_BATCH`] are held or the oldest is [`LOG_DELAY`] old |
/// | the connection is busy (a sync writing a page, an import committing) | held: waiting would stall the next request behind that transaction |
/// | anyone uses the store (every read of the log does) | the held rows are written first, so a query never misses one |
/// | the store is dropped | the held rows are written |
///
/// A process killed while rows are held loses those rows of the log (at most [`LOG_BATCH`],
/// or [`LOG_DELAY`] of requests), never data.
impl RequestObserver for RequestLog {
    fn record(&self, exchange: &Exchange) {
        let inner = &self.store.inner;
        let due = inner.log.hold(Held {
            profile: self.profile.clone(),
            retention: self.retention,
            exchange: exchange.clone(),
            since: Instant::now(),
        });
        match due {
            // Taking the connection writes what is held (see `Store::try_lock`).
            Due::Caller if self.store.try_lock().is_some() => {}
            Due::Caller | Due::Later => inner.log.wake(&inner.conn, false),
            Due::Writer => inner.log.wake(&inner.conn, true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_first_opens_of_one_new_database_at_once_all_succeed() {
        // Switching a new database to WAL is answered "locked" at once, without the busy
        // handler, while another connection switches it too (seen: 1 of 320 `pb2b` processes).
        for _ in 0..25 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("pb2b.sqlite");
            let opens: Vec<_> = (0..8)
                .map(|_| {
                    let path = path.clone();
                    std::thread::spawn(move || Store::open(&path).map(|_| ()))
                })
                .collect();
            for open in opens {
                open.join().unwrap().unwrap();
            }
        }
    }

    fn exchange(i: u32, status: Option<u16>, path: &str) -> Exchange {
        Exchange {
            at: format!("2026-03-10T12:00:{:02}.000Z", i % 60),
            method: "GET".into(),
            path: path.into(),
            status,
            duration_ms: 12,
            request_id: Some(format!("req_{i:024x}")),
            idempotency_key: None,
            replayed: false,
            error_code: None,
            attempt: 1,
            request_headers: vec![
                ("user-agent".into(), "ProspectB2B-Desktop/test".into()),
                ("Authorization".into(), "Bearer pb2b_live_x_y".into()),
                ("x-other".into(), "Bearer sneaky".into()),
            ],
            response_excerpt: Some("{}".into()),
        }
    }

    #[test]
    fn a_request_recorded_while_the_store_is_busy_is_written_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sqlite");
        let store = Store::open(&path).unwrap();
        let log = RequestLog::new(store.clone(), "p", 10);
        // Another thread's transaction holds the connection (here: this thread's).
        store
            .with_conn(|_| {
                log.record(&exchange(1, Some(200), "/leads"));
                Ok(())
            })
            .unwrap();
        // Held, not lost: the next reader writes it first.
        assert_eq!(log.count().unwrap(), 1);
        assert_eq!(log.query(&LogFilter::default()).unwrap()[0].path, "/leads");
        // Held at the end of the process: written when the last clone of the store goes.
        store
            .with_conn(|_| {
                log.record(&exchange(2, Some(201), "/exports"));
                Ok(())
            })
            .unwrap();
        drop(log);
        drop(store);
        let reopened = RequestLog::new(Store::open(&path).unwrap(), "p", 10);
        let paths: Vec<String> = reopened
            .query(&LogFilter::default())
            .unwrap()
            .into_iter()
            .map(|r| r.path)
            .collect();
        assert_eq!(paths, ["/exports", "/leads"]);
    }

    #[test]
    fn a_burst_of_requests_is_written_in_order_pruned_and_seen_by_another_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.sqlite");
        let store = Store::open(&path).unwrap();
        let log = RequestLog::new(store.clone(), "p", 300);
        for i in 0..1000 {
            log.record(&exchange(i, Some(200), &format!("/leads/{i}")));
        }
        // Another connection to the file (`pb2b activity` beside the app) sees every row the
        // retention keeps, although this store is not used again: held rows do not wait for
        // the next user of the store.
        let other = RequestLog::new(Store::open(&path).unwrap(), "p", 300);
        let all = LogFilter {
            limit: Some(10_000),
            ..LogFilter::default()
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let paths = loop {
            let rows = other.query(&all).unwrap();
            if rows.first().is_some_and(|r| r.path == "/leads/999") {
                break rows.into_iter().map(|r| r.path).collect::<Vec<_>>();
            }
            assert!(
                Instant::now() < deadline,
                "the held rows were never written"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let want: Vec<String> = (700..1000).rev().map(|i| format!("/leads/{i}")).collect();
        assert_eq!(paths, want);
        // The writer's own view is the same.
        assert_eq!(log.count().unwrap(), 300);
    }

    #[test]
    fn module_migrations_apply_once_in_order_and_refuse_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.sqlite");
        let v1: &[&str] = &["CREATE TABLE a (x INTEGER);"];
        let v2: &[&str] = &[
            "CREATE TABLE a (x INTEGER);",
            "ALTER TABLE a ADD COLUMN y TEXT;",
        ];
        let s = Store::open(&path).unwrap();
        s.migrate_module("a", v1).unwrap();
        s.migrate_module("a", v1).unwrap();
        s.migrate_module("a", v2).unwrap();
        s.with_conn(|c| c.execute("INSERT INTO a (x, y) VALUES (1, 'one')", []))
            .unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        s.migrate_module("a", v2).unwrap();
        let y: String = s
            .with_conn(|c| c.query_row("SELECT y FROM a", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(y, "one");
        assert!(matches!(
            s.migrate_module("a", v1),
            Err(StoreError::TooNew { found: 2, known: 1 })
        ));
        // Another module's list is independent.
        s.migrate_module("b", &["CREATE TABLE b (z INTEGER);"])
            .unwrap();
    }

    #[test]
    fn migrations_set_the_user_version_and_reopen_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        drop(s);
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let mode: String = s
            .with_conn(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(mode, "wal");
        s.with_conn(|c| c.execute_batch("PRAGMA user_version = 99"))
            .unwrap();
        drop(s);
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }

    #[test]
    fn retention_keeps_the_newest() {
        let log = RequestLog::new(Store::open_in_memory().unwrap(), "p", 5);
        for i in 0..12 {
            log.insert(&exchange(i, Some(200), &format!("/x/{i}")))
                .unwrap();
        }
        assert_eq!(log.count().unwrap(), 5);
        let rows = log.query(&LogFilter::default()).unwrap();
        let paths: Vec<_> = rows.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/x/11", "/x/10", "/x/9", "/x/8", "/x/7"]);
        let mut smaller = log.clone();
        smaller.set_retention(2);
        assert_eq!(smaller.prune().unwrap(), 3);
        assert_eq!(log.count().unwrap(), 2);
    }

    #[test]
    fn filters() {
        let store = Store::open_in_memory().unwrap();
        let a = RequestLog::new(store.clone(), "A", 100);
        let b = RequestLog::new(store, "B", 100);
        a.insert(&exchange(1, Some(200), "/api/public/v1/me"))
            .unwrap();
        a.insert(&exchange(2, Some(404), "/api/public/v1/leads/lead_x"))
            .unwrap();
        a.insert(&exchange(3, Some(500), "/api/public/v1/leads"))
            .unwrap();
        b.insert(&exchange(4, None, "/api/public/v1/leads?limit=5"))
            .unwrap();
        b.insert(&exchange(5, Some(429), "/api/public/v1/me"))
            .unwrap();
        let q = |f: LogFilter| -> Vec<String> {
            a.query(&f)
                .unwrap()
                .into_iter()
                .map(|r| r.request_id.unwrap())
                .collect()
        };
        let rid = |i: u32| format!("req_{i:024x}");
        assert_eq!(q(LogFilter::default()).len(), 5);
        assert_eq!(
            q(LogFilter {
                status_class: Some(4),
                ..Default::default()
            }),
            [rid(5), rid(2)]
        );
        assert_eq!(
            q(LogFilter {
                status_class: Some(0),
                ..Default::default()
            }),
            [rid(4)]
        );
        assert_eq!(
            q(LogFilter {
                status: Some(500),
                ..Default::default()
            }),
            [rid(3)]
        );
        assert_eq!(
            q(LogFilter {
                path_contains: Some("leads".into()),
                ..Default::default()
            }),
            [rid(4), rid(3), rid(2)]
        );
        assert_eq!(
            q(LogFilter {
                since: Some("2026-03-10T12:00:02.000Z".into()),
                until: Some("2026-03-10T12:00:04.000Z".into()),
                ..Default::default()
            }),
            [rid(4), rid(3), rid(2)]
        );
        assert_eq!(
            q(LogFilter {
                request_id: Some(rid(3)),
                ..Default::default()
            }),
            [rid(3)]
        );
        assert_eq!(
            q(LogFilter {
                profile: Some("B".into()),
                ..Default::default()
            }),
            [rid(5), rid(4)]
        );
        assert_eq!(
            q(LogFilter {
                limit: Some(2),
                ..Default::default()
            }),
            [rid(5), rid(4)]
        );
        // Filters arrive from the UI as JSON.
        let f: LogFilter = serde_json::from_str(r#"{"status_class": 5}"#).unwrap();
        assert_eq!(q(f), [rid(3)]);
    }

    #[test]
    fn authorization_is_never_stored_and_bundles_are_redacted() {
        let log = RequestLog::new(Store::open_in_memory().unwrap(), "p", 10);
        let id = log
            .insert(&exchange(1, Some(401), "/api/public/v1/me"))
            .unwrap();
        let row = log.get(id).unwrap();
        assert_eq!(
            row.request_headers,
            vec![(
                "user-agent".to_string(),
                "ProspectB2B-Desktop/test".to_string()
            )]
        );
        let bundle = log.support_bundle(id, "9.9.9").unwrap();
        let text = bundle.to_string();
        assert!(
            !text.to_ascii_lowercase().contains("authorization"),
            "{text}"
        );
        assert!(!text.contains("Bearer"), "{text}");
        assert_eq!(bundle["request"]["line"], "GET /api/public/v1/me");
        assert_eq!(bundle["response"]["status"], 401);
        assert_eq!(bundle["app_version"], "9.9.9");
        assert_eq!(bundle["response"]["request_id"], format!("req_{:024x}", 1));
        assert!(matches!(log.get(id + 100), Err(StoreError::NotFound(_))));
    }
}
