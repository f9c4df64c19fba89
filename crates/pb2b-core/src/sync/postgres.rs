//! The PostgreSQL destination: a workspace's leads mirrored into one schema of a team's database,
//! by the same engine as the app's SQLite mirror ([`super::sync_to`]).
//!
//! | rule | how |
//! | --- | --- |
//! | tables are ours | `<schema>.leads` (typed columns, `custom_fields` jsonb, `created_at`/`updated_at` timestamptz), `<schema>.sync_state` (one row: the workspace, the watermark, the run's cursor and counts), `<schema>.pb2b_schema` (the migration version); created and migrated here, under an advisory transaction lock so two first syncs do not race |
//! | one workspace per schema | the state row records the workspace id on first use; a key of another workspace gets `wrong_workspace` before anything is written |
//! | a batch is one transaction | a group of pages is upserted with one statement (`INSERT … SELECT FROM unnest(…) ON CONFLICT (id) DO UPDATE … WHERE`), the watermark, counts and next cursor are updated, and all commit together; no staging table exists |
//! | rewritten only when newer | `excluded.updated_at > leads.updated_at`; on a tie (the overlap window re-reads the newest leads) the row is rewritten only if its content differs, so re-reading is idempotent and a sync with nothing changed writes no lead row |
//! | one run per schema, across machines | a session advisory lock keyed by the schema name ([`LOCK_CLASS`], `hashtext(schema)`), plus an in-process flag; a second run waits (cancellably, at most 15 minutes) |
//! | names | the schema is `[a-z_][a-z0-9_]*`, at most 63 bytes (PostgreSQL's identifier limit); our table and index names are short and fixed |
//! | the password | from the URL or `PGPASSWORD` (the CLI), or the OS keychain (the app, by the rules of [`super::chosen`]: account [`PgTarget::keychain_account`], one per profile and database; the URL it saves must hold none, [`PgTarget::has_password`]); never in an error, a log line or a setting ([`PgTarget`]'s `Display` leaves it out) |
//! | TLS | not built in: `sslmode=require` (or stricter) is refused with a clear error instead of being ignored; use a private network, a local socket or an SSH tunnel |

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Config, NoTls};

use super::destination::{
    crash_now, decide, group_watermark, since_ms, ActiveRun, Destination, PageBatch, PageCounts,
    RunPlan,
};
use super::mirror::lead_values;
use super::state::parse_error;
use super::{
    CancellationToken, SyncOptions, SyncOutcome, SyncProgress, SyncStatus, Watermark, LEAD_FIELDS,
};
use crate::error::{Code, ErrorReport};

/// The schema used when none is given.
pub const DEFAULT_SCHEMA: &str = "pb2b";
/// The first key of the advisory lock a run holds (the second is `hashtext(schema)`).
pub const LOCK_CLASS: i32 = 0x7062_3262; // "pb2b"
/// The first key of the advisory transaction lock migrations hold.
const MIGRATE_CLASS: i32 = LOCK_CLASS + 1;
/// How long a run waits for another run of the same schema.
const WAIT_FOR_OTHER_SYNC: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Our migrations, in order; `{s}` is the quoted schema.
const MIGRATIONS: &[&str] = &["CREATE TABLE {s}.leads (
        id text PRIMARY KEY,
        email text NOT NULL,
        full_name text,
        first_name text,
        last_name text,
        phone text,
        job_title text,
        company_name text,
        company_domain text,
        linkedin_url text,
        status text NOT NULL,
        source text NOT NULL,
        custom_fields jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL
    );
    CREATE INDEX leads_updated_at_idx ON {s}.leads (updated_at, id);
    CREATE TABLE {s}.sync_state (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        workspace_id text NOT NULL,
        watermark_ms bigint,
        watermark_updated_at text,
        watermark_id text,
        run_active boolean NOT NULL DEFAULT false,
        run_mode text,
        run_updated_after text,
        run_cursor text,
        run_started_at text,
        run_pages bigint NOT NULL DEFAULT 0,
        run_leads bigint NOT NULL DEFAULT 0,
        run_new bigint NOT NULL DEFAULT 0,
        run_updated bigint NOT NULL DEFAULT 0,
        last_started_at text,
        last_finished_at text,
        last_outcome text,
        last_mode text,
        last_error text,
        last_pages bigint,
        last_leads bigint,
        last_new bigint,
        last_updated bigint
    );"];

/// Where to write: a parsed connection string and a schema. Its `Display` is the connection
/// string without the password.
#[derive(Clone, PartialEq)]
pub struct PgTarget {
    config: Config,
    schema: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PgTarget({self})")
    }
}

impl std::fmt::Display for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.config;
        let host = match c.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = c.get_ports().first().copied().unwrap_or(5432);
        write!(
            f,
            "postgres://{}@{host}:{port}/{} (schema {})",
            c.get_user().unwrap_or(""),
            c.get_dbname().unwrap_or(""),
            self.schema
        )
    }
}

fn invalid(msg: impl Into<String>) -> ErrorReport {
    ErrorReport::local(Code::InvalidInput, msg, false)
}

/// Checks a schema name: `[a-z_][a-z0-9_]*`, at most 63 bytes, not `pg_…`.
pub fn check_schema(name: &str) -> Result<(), ErrorReport> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let ok_first = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if !ok_chars || !ok_first || name.len() > 63 || name.starts_with("pg_") {
        return Err(invalid(format!(
            "“{name}” cannot be the schema: use lower-case letters, digits and _ (not first), at most 63 characters, not starting with pg_ (for example --schema pb2b)."
        )));
    }
    Ok(())
}

impl PgTarget {
    /// Parses `postgres://user[:password]@host[:port]/db[?sslmode=disable]` (or a `key=value`
    /// string) and the schema (default [`DEFAULT_SCHEMA`]). Without a password in the string,
    /// `password` (the caller passes `PGPASSWORD`) is used.
    pub fn parse(
        url: &str,
        schema: Option<&str>,
        password: Option<&str>,
    ) -> Result<Self, ErrorReport> {
        let mut config = Config::from_str(url.trim()).map_err(|e| {
            invalid(format!(
                "The PostgreSQL connection string is not valid ({e}); write it as postgres://user@host:5432/database."
            ))
        })?;
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        if config.get_user().is_none() {
            return Err(invalid(
                "The PostgreSQL connection string names no user; write it as postgres://user@host:5432/database.",
            ));
        }
        if !matches!(config.get_ssl_mode(), SslMode::Disable | SslMode::Prefer) {
            return Err(invalid(
                "This build connects to PostgreSQL without TLS, and the connection string asks for it (sslmode=require): use sslmode=disable on a private network or through an SSH tunnel.",
            ));
        }
        if config.get_password().is_none() {
            if let Some(p) = password.filter(|p| !p.is_empty()) {
                config.password(p);
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        config.application_name("pb2b sync");
        let schema = schema.unwrap_or(DEFAULT_SCHEMA).to_owned();
        check_schema(&schema)?;
        Ok(PgTarget { config, schema })
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Whether the connection string itself carried a password (or the caller's was applied).
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// `user@host:port/database`: which database, without password or schema.
    pub fn address(&self) -> String {
        let shown = self.to_string();
        let shown = shown.strip_prefix("postgres://").unwrap_or(&shown);
        shown
            .rsplit_once(" (schema ")
            .map_or(shown, |(a, _)| a)
            .to_owned()
    }

    /// The keychain account of the password a profile uses for this database:
    /// `postgres:<profile>:<user@host:port/database>` (one per profile and database; the schema
    /// does not change the login).
    pub fn keychain_account(&self, profile: &str) -> String {
        format!("postgres:{profile}:{}", self.address())
    }
}

/// Turns a PostgreSQL error into the product's error shape, naming a remedy. The message never
/// holds the connection string.
fn pg_err(what: &str, e: &tokio_postgres::Error) -> ErrorReport {
    let (detail, retryable) = match e.as_db_error() {
        Some(db) => (
            format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            // Serialization failures, deadlocks, shutdown and too many connections pass.
            matches!(
                db.code().code(),
                "40001" | "40P01" | "57P01" | "57P02" | "57P03" | "53300"
            ),
        ),
        None => (e.to_string(), true),
    };
    let remedy = match e.as_db_error().map(|d| d.code().code()) {
        Some("28P01" | "28000") => {
            "Check the user and the password (the one saved for this database, in the connection string or PGPASSWORD)."
        }
        Some("3D000") => "Create the database first, or name an existing one.",
        Some("42501") => {
            "The user needs CREATE on the database (for the schema) or on the schema."
        }
        _ => "Check that the PostgreSQL server is running and the connection string is right; the next sync resumes where this one stopped.",
    };
    ErrorReport::local(
        Code::DestinationError,
        format!("PostgreSQL: {what} failed: {detail}. {remedy}"),
        retryable,
    )
}

/// Aborts the connection's task when the destination is dropped.
struct ConnTask(tokio::task::JoinHandle<()>);

impl Drop for ConnTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A workspace's mirror in a PostgreSQL schema (see the module docs). One connection.
pub struct Postgres {
    client: Arc<tokio_postgres::Client>,
    /// The schema, quoted for SQL.
    s: String,
    schema: String,
    workspace_id: String,
    running: Arc<AtomicBool>,
    _conn: ConnTask,
}

impl std::fmt::Debug for Postgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Postgres(schema {}, {})", self.schema, self.workspace_id)
    }
}

/// The lead columns as SQL (`l.` prefixed when `prefix` is given).
fn cols(prefix: &str) -> String {
    LEAD_FIELDS
        .iter()
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn connect(target: &PgTarget) -> Result<(tokio_postgres::Client, ConnTask), ErrorReport> {
    let (client, connection) = target
        .config
        .connect(NoTls)
        .await
        .map_err(|e| pg_err(&format!("connecting to {target}"), &e))?;
    let task = ConnTask(tokio::spawn(async move {
        let _ = connection.await;
    }));
    client
        .batch_execute("SET TIME ZONE 'UTC'")
        .await
        .map_err(|e| pg_err("setting the session's time zone", &e))?;
    Ok((client, task))
}

/// Connects and answers what the server is (`PostgreSQL 15.x …`) — "Test connection".
pub async fn test_connection(target: &PgTarget) -> Result<String, ErrorReport> {
    let (client, _task) = connect(target).await?;
    let row = client
        .query_one("SELECT version()", &[])
        .await
        .map_err(|e| pg_err("asking the server's version", &e))?;
    Ok(row.get(0))
}

impl Postgres {
    /// Connects, creates or migrates our tables in the schema, and claims the schema for
    /// `workspace_id` (`wrong_workspace` if it holds another workspace's leads).
    pub async fn open(target: &PgTarget, workspace_id: &str) -> Result<Self, ErrorReport> {
        let workspace_id = workspace_id.trim();
        if workspace_id.is_empty() {
            return Err(invalid("the mirror needs a workspace id"));
        }
        let (mut client, task) = connect(target).await?;
        let s = format!("\"{}\"", target.schema);
        migrate(&mut client, &target.schema, &s).await?;
        let owner: String = client
            .query_one(
                &format!(
                    "WITH ins AS (INSERT INTO {s}.sync_state (workspace_id) VALUES ($1)
                        ON CONFLICT (singleton) DO NOTHING RETURNING workspace_id)
                     SELECT workspace_id FROM ins UNION ALL
                     SELECT workspace_id FROM {s}.sync_state LIMIT 1"
                ),
                &[&workspace_id],
            )
            .await
            .map_err(|e| pg_err("reading the sync state", &e))?
            .get(0);
        if owner != workspace_id {
            return Err(ErrorReport::local(
                Code::WrongWorkspace,
                format!(
                    "The schema “{}” of {target} mirrors workspace {owner}, not {workspace_id} (this key's). Choose another schema for this workspace (--schema), or use a key of {owner}.",
                    target.schema
                ),
                false,
            ));
        }
        Ok(Postgres {
            client: Arc::new(client),
            s,
            schema: target.schema.clone(),
            workspace_id: workspace_id.to_owned(),
            running: Arc::new(AtomicBool::new(false)),
            _conn: task,
        })
    }

    /// The schema written.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The workspace the schema mirrors.
    pub fn workspace_id(&self) -> &str {
        &self.workspace_id
    }

    /// Leads in the schema.
    pub async fn count(&self) -> Result<u64, ErrorReport> {
        let n: i64 = self
            .client
            .query_one(&format!("SELECT count(*) FROM {}.leads", self.s), &[])
            .await
            .map_err(|e| pg_err("counting leads", &e))?
            .get(0);
        Ok(n.max(0) as u64)
    }

    /// `(id, updated_at in ms)` of the leads with `from_ms <= updated_at < to_ms` (either bound
    /// open), ordered by `(updated_at, id)`.
    async fn versions_in(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<(String, i64)>, ErrorReport> {
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT id, (extract(epoch FROM updated_at) * 1000)::bigint AS ms
                     FROM {}.leads
                     WHERE ($1::bigint IS NULL OR updated_at >= to_timestamp($1::bigint / 1000.0))
                       AND ($2::bigint IS NULL OR updated_at < to_timestamp($2::bigint / 1000.0))
                     ORDER BY updated_at, id COLLATE \"C\"",
                    self.s
                ),
                &[&from_ms, &to_ms],
            )
            .await
            .map_err(|e| pg_err("reading lead versions", &e))?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Every lead in the schema, ordered by id (tests, verification).
    pub async fn all_leads(&self) -> Result<Vec<crate::api::Lead>, ErrorReport> {
        let ts = |c: &str| format!("to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')");
        let select: Vec<String> = LEAD_FIELDS
            .iter()
            .map(|c| match *c {
                "custom_fields" => "custom_fields::text".to_owned(),
                "created_at" | "updated_at" => ts(c),
                c => c.to_owned(),
            })
            .collect();
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT {} FROM {}.leads ORDER BY id COLLATE \"C\"",
                    select.join(", "),
                    self.s
                ),
                &[],
            )
            .await
            .map_err(|e| pg_err("reading leads", &e))?;
        rows.iter()
            .map(|r| {
                let custom: String = r.get(12);
                Ok(crate::api::Lead {
                    id: r.get(0),
                    email: r.get(1),
                    full_name: r.get(2),
                    first_name: r.get(3),
                    last_name: r.get(4),
                    phone: r.get(5),
                    job_title: r.get(6),
                    company_name: r.get(7),
                    company_domain: r.get(8),
                    linkedin_url: r.get(9),
                    status: r.get(10),
                    source: r.get(11),
                    custom_fields: serde_json::from_str(&custom).unwrap_or_default(),
                    created_at: r.get(13),
                    updated_at: r.get(14),
                })
            })
            .collect()
    }

    /// The status of the schema's mirror (the shape of the SQLite mirror's).
    pub async fn status(&self) -> Result<SyncStatus, ErrorReport> {
        let total = self.count().await?;
        let r = self
            .client
            .query_one(
                &format!(
                    "SELECT watermark_updated_at, watermark_id, run_active, last_started_at,
                        last_finished_at, last_outcome, last_mode, last_error,
                        last_pages, last_leads, last_new, last_updated,
                        run_pages, run_leads, run_new, run_updated
                     FROM {}.sync_state",
                    self.s
                ),
                &[],
            )
            .await
            .map_err(|e| pg_err("reading the sync state", &e))?;
        let n = |i: usize| r.get::<_, Option<i64>>(i).unwrap_or(0).max(0) as u64;
        let interrupted: bool = r.get(2);
        let progress = |base: usize| SyncProgress {
            pages: n(base),
            leads: n(base + 1),
            new: n(base + 2),
            updated: n(base + 3),
            watermark: None,
            resumed: false,
        };
        let last = if interrupted {
            Some(progress(12))
        } else if r.get::<_, Option<i64>>(8).is_some() {
            Some(progress(8))
        } else {
            None
        };
        let wm_at: Option<String> = r.get(0);
        let wm_id: Option<String> = r.get(1);
        let outcome: Option<String> = r.get(5);
        let error: Option<String> = r.get(7);
        Ok(SyncStatus {
            mirror: self.workspace_id.clone(),
            profile: None,
            total_leads: total,
            watermark: wm_at
                .zip(wm_id)
                .map(|(updated_at, id)| Watermark { updated_at, id }),
            interrupted,
            running: self.running.load(Ordering::SeqCst),
            last_started_at: r.get(3),
            last_finished_at: r.get(4),
            last_outcome: outcome.as_deref().and_then(SyncOutcome::parse),
            last_mode: r.get(6),
            last_error: error.as_deref().and_then(parse_error),
            last,
        })
    }
}

/// Creates the schema and our tables, or brings them to the newest version, in one transaction
/// under an advisory transaction lock (two first syncs do not race).
async fn migrate(
    client: &mut tokio_postgres::Client,
    schema: &str,
    s: &str,
) -> Result<(), ErrorReport> {
    let err =
        |e: tokio_postgres::Error| pg_err(&format!("creating the tables in schema {schema}"), &e);
    let tx = client.transaction().await.map_err(err)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))",
        &[&MIGRATE_CLASS, &schema],
    )
    .await
    .map_err(err)?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.pb2b_schema (
            singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            version integer NOT NULL
         );"
    ))
    .await
    .map_err(err)?;
    let version: i32 = tx
        .query_opt(&format!("SELECT version FROM {s}.pb2b_schema"), &[])
        .await
        .map_err(err)?
        .map_or(0, |r| r.get(0));
    if version as usize > MIGRATIONS.len() {
        return Err(ErrorReport::local(
            Code::DestinationError,
            format!(
                "The schema {schema} was made by a newer version of ProspectB2B Desktop (tables version {version}); update pb2b, or use another schema."
            ),
            false,
        ));
    }
    for m in &MIGRATIONS[version as usize..] {
        tx.batch_execute(&m.replace("{s}", s)).await.map_err(err)?;
    }
    if version as usize != MIGRATIONS.len() {
        tx.execute(
            &format!(
                "INSERT INTO {s}.pb2b_schema (version) VALUES ($1)
                 ON CONFLICT (singleton) DO UPDATE SET version = excluded.version"
            ),
            &[&(MIGRATIONS.len() as i32)],
        )
        .await
        .map_err(err)?;
    }
    tx.commit().await.map_err(err)
}

/// Held while a run writes the schema: the in-process flag and the session's advisory lock.
pub struct PgGuard {
    running: Arc<AtomicBool>,
    client: Arc<tokio_postgres::Client>,
    schema: String,
}

impl Drop for PgGuard {
    fn drop(&mut self) {
        self.running.store(false, Ordering::SeqCst);
        let (client, schema) = (self.client.clone(), std::mem::take(&mut self.schema));
        // The lock is the session's: closing the connection (or the process dying) frees it too.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let _ = client
                    .execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))",
                        &[&LOCK_CLASS, &schema],
                    )
                    .await;
            });
        }
    }
}

impl Destination for Postgres {
    type Guard = PgGuard;

    async fn lock(&self, cancel: &CancellationToken) -> Result<PgGuard, ErrorReport> {
        if self
            .running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(ErrorReport::local(
                Code::SyncRunning,
                "A sync into this PostgreSQL schema is already running.",
                true,
            ));
        }
        let guard = PgGuard {
            running: self.running.clone(),
            client: self.client.clone(),
            schema: self.schema.clone(),
        };
        let deadline = tokio::time::Instant::now() + WAIT_FOR_OTHER_SYNC;
        loop {
            let got: bool = self
                .client
                .query_one(
                    "SELECT pg_try_advisory_lock($1, hashtext($2))",
                    &[&LOCK_CLASS, &self.schema],
                )
                .await
                .map_err(|e| pg_err("taking the sync lock", &e))?
                .get(0);
            if got {
                return Ok(guard);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ErrorReport::local(
                    Code::SyncRunning,
                    format!(
                        "Another program has been syncing into schema {} for more than {} minutes; try again when it has finished.",
                        self.schema,
                        WAIT_FOR_OTHER_SYNC.as_secs() / 60
                    ),
                    true,
                ));
            }
            tokio::select! {
                _ = cancel.cancelled() => return Err(ErrorReport::local(
                    Code::Cancelled,
                    "The sync was cancelled while it waited for another program's sync.",
                    true,
                )),
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        }
    }

    async fn plan_run(
        &self,
        options: &SyncOptions,
        started_at: &str,
    ) -> Result<RunPlan, ErrorReport> {
        let since = since_ms(options)?;
        let s = &self.s;
        let err = |e: tokio_postgres::Error| pg_err("starting the run", &e);
        self.client.batch_execute("BEGIN").await.map_err(err)?;
        let result = async {
            let r = self
                .client
                .query_one(
                    &format!(
                        "SELECT run_active, run_mode, run_updated_after, run_cursor, run_pages,
                            run_leads, run_new, run_updated, watermark_ms, watermark_updated_at,
                            watermark_id
                         FROM {s}.sync_state FOR UPDATE"
                    ),
                    &[],
                )
                .await?;
            let active: Option<ActiveRun> = r.get::<_, bool>(0).then(|| {
                (
                    r.get::<_, Option<String>>(1).unwrap_or_default(),
                    r.get(2),
                    r.get(3),
                    [r.get(4), r.get(5), r.get(6), r.get(7)],
                )
            });
            let wm = r.get::<_, Option<i64>>(8).and_then(|ms| {
                Some((
                    ms,
                    Watermark {
                        updated_at: r.get::<_, Option<String>>(9)?,
                        id: r.get::<_, Option<String>>(10)?,
                    },
                ))
            });
            let (plan, reset) = decide(options, since, active, wm);
            if reset {
                self.client
                    .execute(
                        &format!(
                            "UPDATE {s}.sync_state SET watermark_ms = NULL,
                                watermark_updated_at = NULL, watermark_id = NULL"
                        ),
                        &[],
                    )
                    .await?;
            }
            if !plan.progress.resumed {
                self.client
                    .execute(
                        &format!(
                            "UPDATE {s}.sync_state SET run_active = true, run_mode = $1,
                                run_updated_after = $2, run_cursor = NULL, run_started_at = $3,
                                run_pages = 0, run_leads = 0, run_new = 0, run_updated = 0"
                        ),
                        &[&plan.mode, &plan.updated_after, &started_at],
                    )
                    .await?;
            }
            self.client
                .execute(
                    &format!("UPDATE {s}.sync_state SET last_started_at = $1"),
                    &[&started_at],
                )
                .await?;
            self.client.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>(plan)
        }
        .await;
        match result {
            Ok(plan) => Ok(plan),
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(err(e))
            }
        }
    }

    async fn write_pages(
        &self,
        batch: PageBatch,
    ) -> Result<(PageCounts, Option<Watermark>), ErrorReport> {
        let err = |e: tokio_postgres::Error| pg_err("writing a page of leads", &e);
        // One version per id: a lead edited while the run paged comes again in a later page,
        // newer; the newest is written, and each change counts as an update (as in the SQLite
        // mirror, page by page).
        let mut latest: std::collections::HashMap<&str, &crate::api::Lead> =
            std::collections::HashMap::new();
        let mut extra_updates = 0u64;
        for lead in batch.pages.iter().flatten() {
            match latest.get(lead.id.as_str()) {
                Some(prev) if prev.updated_at == lead.updated_at => {}
                Some(_) => {
                    extra_updates += 1;
                    latest.insert(&lead.id, lead);
                }
                None => {
                    latest.insert(&lead.id, lead);
                }
            }
        }
        let mut columns: Vec<Vec<Option<String>>> =
            (0..15).map(|_| Vec::with_capacity(latest.len())).collect();
        for lead in latest.values() {
            for (i, v) in lead_values(lead).into_iter().enumerate() {
                columns[i].push(v.map(|c| c.into_owned()));
            }
        }
        let s = &self.s;
        self.client.batch_execute("BEGIN").await.map_err(err)?;
        let result = async {
            let rows = self
                .client
                .query(&*self.upsert_sql(false), &columns_params(&columns))
                .await?;
            let new = rows.iter().filter(|r| r.get::<_, bool>(0)).count() as u64;
            let counts = PageCounts {
                new,
                updated: rows.len() as u64 - new + extra_updates,
            };
            if batch.crash_at.is_some() {
                let done: i64 = self
                    .client
                    .query_one(&format!("SELECT run_pages FROM {s}.sync_state"), &[])
                    .await?
                    .get(0);
                if crash_now(batch.crash_at, done, batch.pages.len()) {
                    std::process::abort();
                }
            }
            if let Some((ms, lead)) = group_watermark(&batch.pages) {
                self.client
                    .execute(
                        &format!(
                            "UPDATE {s}.sync_state SET watermark_ms = $1,
                                watermark_updated_at = $2, watermark_id = $3
                             WHERE watermark_ms IS NULL OR watermark_ms < $1
                                OR (watermark_ms = $1
                                    AND watermark_id COLLATE \"C\" < $3::text COLLATE \"C\")"
                        ),
                        &[&ms, &lead.updated_at, &lead.id],
                    )
                    .await?;
            }
            let n_pages = batch.pages.len() as i64;
            let n_leads: i64 = batch.pages.iter().map(|p| p.len() as i64).sum();
            let close = if batch.last_page {
                ", run_active = false, last_finished_at = $6,
                  last_outcome = 'completed', last_mode = run_mode, last_error = NULL,
                  last_pages = run_pages + $2, last_leads = run_leads + $3,
                  last_new = run_new + $4, last_updated = run_updated + $5"
            } else {
                ""
            };
            let next = if batch.last_page {
                None
            } else {
                batch.next_cursor.clone()
            };
            let (new_n, updated_n) = (counts.new as i64, counts.updated as i64);
            let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                vec![&next, &n_pages, &n_leads, &new_n, &updated_n];
            if batch.last_page {
                params.push(&batch.at);
            }
            let r = self
                .client
                .query_one(
                    &format!(
                        "UPDATE {s}.sync_state SET run_cursor = $1, run_pages = run_pages + $2,
                            run_leads = run_leads + $3, run_new = run_new + $4,
                            run_updated = run_updated + $5 {close}
                         RETURNING watermark_updated_at, watermark_id"
                    ),
                    &params,
                )
                .await?;
            let wm = r
                .get::<_, Option<String>>(0)
                .zip(r.get::<_, Option<String>>(1))
                .map(|(updated_at, id)| Watermark { updated_at, id });
            self.client.batch_execute("COMMIT").await?;
            Ok::<_, tokio_postgres::Error>((counts, wm))
        }
        .await;
        match result {
            Ok(v) => Ok(v),
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(err(e))
            }
        }
    }

    async fn versions(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<(String, i64)>, ErrorReport> {
        self.versions_in(from_ms, to_ms).await
    }

    async fn replace_range(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        leads: Vec<crate::api::Lead>,
    ) -> Result<(), ErrorReport> {
        let err = |e: tokio_postgres::Error| pg_err("repairing a range of leads", &e);
        let mut columns: Vec<Vec<Option<String>>> =
            (0..15).map(|_| Vec::with_capacity(leads.len())).collect();
        let mut seen = std::collections::HashSet::new();
        for lead in leads.iter().filter(|l| seen.insert(l.id.as_str())) {
            for (i, v) in lead_values(lead).into_iter().enumerate() {
                columns[i].push(v.map(|c| c.into_owned()));
            }
        }
        self.client.batch_execute("BEGIN").await.map_err(err)?;
        let result = async {
            self.client
                .execute(
                    &format!(
                        "DELETE FROM {}.leads
                         WHERE ($1::bigint IS NULL OR updated_at >= to_timestamp($1::bigint / 1000.0))
                           AND ($2::bigint IS NULL OR updated_at < to_timestamp($2::bigint / 1000.0))
                           AND NOT (id = ANY($3::text[]))",
                        self.s
                    ),
                    &[&from_ms, &to_ms, &columns[0]],
                )
                .await?;
            if !columns[0].is_empty() {
                self.client
                    .query(&*self.upsert_sql(true), &columns_params(&columns))
                    .await?;
            }
            self.client.batch_execute("COMMIT").await
        }
        .await;
        match result {
            Ok(()) => Ok(()),
            Err(e) => {
                let _ = self.client.batch_execute("ROLLBACK").await;
                Err(err(e))
            }
        }
    }

    async fn record_end(
        &self,
        outcome: SyncOutcome,
        error: Option<&ErrorReport>,
        finished_at: &str,
    ) {
        let error = error.and_then(|e| serde_json::to_string(e).ok());
        let _ = self
            .client
            .execute(
                &format!(
                    "UPDATE {}.sync_state SET last_finished_at = $1, last_outcome = $2,
                        last_mode = run_mode, last_error = $3, last_pages = run_pages,
                        last_leads = run_leads, last_new = run_new, last_updated = run_updated",
                    self.s
                ),
                &[&finished_at, &outcome.as_str(), &error],
            )
            .await;
    }
}

fn columns_params(
    columns: &[Vec<Option<String>>],
) -> Vec<&(dyn tokio_postgres::types::ToSql + Sync)> {
    columns
        .iter()
        .map(|c| c as &(dyn tokio_postgres::types::ToSql + Sync))
        .collect()
}

impl Postgres {
    /// The page upsert: every column as a `text[]` parameter, unnested into rows and merged by
    /// id; a row is rewritten only when the incoming `updated_at` is newer, or equal with other
    /// content (with `force`, a repair: whenever anything differs). Returns one row per lead
    /// written: `true` when it was new.
    fn upsert_sql(&self, force: bool) -> String {
        let s = &self.s;
        let all = cols("");
        let params = (1..=LEAD_FIELDS.len())
            .map(|i| format!("${i}::text[]"))
            .collect::<Vec<_>>()
            .join(", ");
        let select = LEAD_FIELDS
            .iter()
            .map(|c| match *c {
                "custom_fields" => "custom_fields::jsonb".to_owned(),
                "created_at" | "updated_at" => format!("{c}::timestamptz"),
                c => c.to_owned(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let rest = &LEAD_FIELDS[1..];
        let set = rest
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let new_row = rest
            .iter()
            .map(|c| format!("excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let old_row = rest
            .iter()
            .map(|c| format!("l.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let condition = if force {
            format!("({new_row}) IS DISTINCT FROM ({old_row})")
        } else {
            format!(
                "excluded.updated_at > l.updated_at
                OR (excluded.updated_at = l.updated_at
                    AND ({new_row}) IS DISTINCT FROM ({old_row}))"
            )
        };
        format!(
            "INSERT INTO {s}.leads AS l ({all})
             SELECT {select} FROM unnest({params}) AS t({all})
             ON CONFLICT (id) DO UPDATE SET {set}
             WHERE {condition}
             RETURNING (xmax = 0)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers_within_63_bytes() {
        assert!(check_schema("pb2b").is_ok());
        assert!(check_schema("team_leads_2").is_ok());
        assert!(check_schema(&"a".repeat(63)).is_ok());
        for bad in ["", "A", "1x", "x-y", "x\"y", "pg_x", &"a".repeat(64)] {
            assert_eq!(
                check_schema(bad).unwrap_err().code,
                Code::InvalidInput,
                "{bad}"
            );
        }
    }

    #[test]
    fn the_keychain_account_names_profile_and_database_never_the_password() {
        let with = PgTarget::parse("postgres://ann:s3cret@db.local:6543/crm", None, None).unwrap();
        assert!(with.has_password());
        let without =
            PgTarget::parse("postgres://ann@db.local:6543/crm", Some("leads"), None).unwrap();
        assert!(!without.has_password());
        assert_eq!(without.address(), "ann@db.local:6543/crm");
        // The schema does not change the login: one account per profile and database.
        assert_eq!(
            with.keychain_account("Team"),
            without.keychain_account("Team")
        );
        assert_eq!(
            without.keychain_account("Team"),
            "postgres:Team:ann@db.local:6543/crm"
        );
        assert!(!with.keychain_account("Team").contains("s3cret"));
        let applied = PgTarget::parse("postgres://ann@db.local/crm", None, Some("k")).unwrap();
        assert!(applied.has_password());
    }

    #[test]
    fn the_password_never_shows_in_the_target() {
        let t = PgTarget::parse(
            "postgres://ann:s3cret@db.local:6543/crm",
            Some("leads"),
            None,
        )
        .unwrap();
        let shown = format!("{t} {t:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(
            shown.contains("postgres://ann@db.local:6543/crm"),
            "{shown}"
        );
        let from_env = PgTarget::parse("postgres://ann@db.local/crm", None, Some("envpw")).unwrap();
        assert_eq!(from_env.config.get_password(), Some(&b"envpw"[..]));
        let e = PgTarget::parse("postgres://ann@db/crm?sslmode=require", None, None).unwrap_err();
        assert_eq!(e.code, Code::InvalidInput);
        assert!(e.message.contains("sslmode"));
    }
}
