//! The PostgreSQL destination against a real PostgreSQL (`scripts/with-postgres`) and the
//! in-process sandbox over HTTP: the mirror equals the server (0 duplicates, 0 missing) after
//! edits while paging and ties on `updated_at`, with the same scenario run against the SQLite
//! mirror; a second sync with nothing changed writes no lead row; no table but ours is left;
//! one workspace per schema; one run per schema across connections.
//!
//! Each test writes its own schema, so the tests run in parallel on one cluster.

mod common;

use common::{admin, bulk, client, edit, empty, sandbox_with, server_leads};
use pb2b_core::api::{Client, Lead};
use pb2b_core::error::Code;
use pb2b_core::store::Store;
use pb2b_core::sync::postgres::{PgTarget, Postgres};
use pb2b_core::sync::{
    self, Destination, Mirror, SyncOptions, SyncOutcome, SyncProgress, VerifyPhase, VerifyProgress,
};
use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// The cluster `scripts/with-postgres` started.
fn pg_url() -> String {
    std::env::var("PB2B_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "PB2B_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server. Run them through \
             scripts/with-postgres, e.g. `scripts/with-postgres cargo test -p pb2b-core --test postgres` \
             (it installs Debian's postgresql if needed and starts a private cluster on 127.0.0.1)."
        )
    })
}

/// A schema of its own for each test (and each run of it).
fn schema(test: &str) -> String {
    format!("t_{test}_{:08x}", fastrand::u32(..))
}

fn target(schema: &str) -> PgTarget {
    PgTarget::parse(&pg_url(), Some(schema), None).expect("target")
}

/// A plain connection for the test's own checks.
async fn raw() -> tokio_postgres::Client {
    let (c, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    c
}

fn opts(page_size: u32) -> SyncOptions {
    SyncOptions {
        page_size,
        ..SyncOptions::default()
    }
}

async fn ws_id(c: &Client) -> String {
    c.me().await.expect("me").data.workspace.id
}

/// The same scenario for any destination: leads sharing one `updated_at` (ties), edits and
/// creates while the run pages, then a lead edited and set back to the watermark's `updated_at`
/// (a tie with new content, which the overlap window re-reads). `read` lists the destination.
async fn edits_while_paging_and_ties<D, F, Fut>(sb: &Sandbox, c: &Client, dest: &D, read: F)
where
    D: Destination,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<Lead>>,
{
    let tie = "2026-03-10T12:00:00.000Z";
    bulk(sb, 300, Some(tie)).await;
    bulk(sb, 300, None).await;
    let before = server_leads(c).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    let (o, cancel) = (opts(50), CancellationToken::new());
    let run = sync::sync_to(c, dest, &o, &cancel, move |p: &SyncProgress| {
        let _ = tx.send(p.pages);
    });
    let edits = async {
        while let Some(pages) = rx.recv().await {
            if pages >= 2 {
                for (i, lead) in before.iter().step_by(53).enumerate() {
                    edit(
                        sb,
                        &lead.id,
                        json!({"status": "qualified", "custom_fields": {"touched": i}}),
                    )
                    .await;
                }
                bulk(sb, 5, None).await;
                break;
            }
        }
    };
    let (first, ()) = tokio::join!(run, edits);
    assert_eq!(first.expect("first sync").outcome, SyncOutcome::Completed);
    sync::sync_to(c, dest, &opts(50), &CancellationToken::new(), |_| {})
        .await
        .expect("second sync");
    assert_eq!(read().await, server_leads(c).await, "equal after paging");

    // A tie with new content at the newest `updated_at`: edited, then set back to the time it had.
    let newest = server_leads(c)
        .await
        .into_iter()
        .max_by(|a, b| (&a.updated_at, &a.id).cmp(&(&b.updated_at, &b.id)))
        .unwrap();
    edit(sb, &newest.id, json!({"job_title": "Tied Title"})).await;
    admin(
        sb,
        reqwest::Method::POST,
        "/leads/set-updated-at",
        json!({"ids": [newest.id], "updated_at": newest.updated_at}),
    )
    .await;
    let third = sync::sync_to(c, dest, &opts(50), &CancellationToken::new(), |_| {})
        .await
        .expect("third sync");
    assert_eq!(third.progress.updated, 1, "{third:?}");
    let server = server_leads(c).await;
    assert_eq!(server.len(), 605);
    let mirrored = read().await;
    assert_eq!(mirrored, server, "0 missing, 0 stale");
    let mut ids: Vec<_> = mirrored.iter().map(|l| &l.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 605, "0 duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_while_paging_and_ties_end_equal_in_postgres() {
    let sb = sandbox_with(SandboxConfig {
        latency_ms: 3,
        ..empty()
    })
    .await;
    let (c, _) = client(&sb, &sb.keys.full);
    let pg = Postgres::open(&target(&schema("edits")), &ws_id(&c).await)
        .await
        .expect("open");
    edits_while_paging_and_ties(&sb, &c, &pg, || async { pg.all_leads().await.unwrap() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_while_paging_and_ties_end_equal_in_sqlite() {
    let sb = sandbox_with(SandboxConfig {
        latency_ms: 3,
        ..empty()
    })
    .await;
    let (c, _) = client(&sb, &sb.keys.full);
    let m = Mirror::open(Store::open_in_memory().unwrap(), &ws_id(&c).await, "p").unwrap();
    edits_while_paging_and_ties(&sb, &c, &m, || async { m.all_leads().unwrap() }).await;
}

/// `(id, xmin)` of every lead row: a row rewritten gets a new xmin.
async fn row_versions(db: &tokio_postgres::Client, schema: &str) -> Vec<(String, String)> {
    db.query(
        &format!("SELECT id, xmin::text FROM \"{schema}\".leads ORDER BY id"),
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_with_nothing_changed_writes_no_lead_and_leaves_only_our_tables() {
    let sb = sandbox_with(empty()).await;
    bulk(&sb, 250, Some("2026-03-10T12:00:00.000Z")).await;
    bulk(&sb, 90, None).await; // within the overlap window: re-read in one page
    let (c, _) = client(&sb, &sb.keys.full);
    let name = schema("unchanged");
    let pg = Postgres::open(&target(&name), &ws_id(&c).await)
        .await
        .unwrap();
    let first = sync::sync_to(&c, &pg, &opts(100), &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!((first.progress.new, first.progress.pages), (340, 4));
    assert_eq!(pg.all_leads().await.unwrap(), server_leads(&c).await);
    let db = raw().await;
    let before = row_versions(&db, &name).await;
    assert_eq!(before.len(), 340);

    let second = sync::sync_to(&c, &pg, &opts(100), &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    assert_eq!(second.requests, 1);
    assert!(
        second.progress.leads >= 1,
        "the overlap re-reads the newest"
    );
    assert_eq!((second.progress.new, second.progress.updated), (0, 0));
    assert_eq!(
        row_versions(&db, &name).await,
        before,
        "no lead row rewritten"
    );

    let tables: Vec<String> = db
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1
             ORDER BY 1",
            &[&name],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(tables, ["leads", "pb2b_schema", "sync_state"]);
    let status = pg.status().await.unwrap();
    assert_eq!(status.total_leads, 340);
    assert_eq!(status.last_outcome, Some(SyncOutcome::Completed));
    assert!(!status.interrupted);

    // Typed columns: timestamps and jsonb, queryable as such.
    let typed: (String, String) = {
        let r = db
            .query_one(
                &format!(
                    "SELECT pg_typeof(updated_at)::text, pg_typeof(custom_fields)::text
                     FROM \"{name}\".leads LIMIT 1"
                ),
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(
        typed,
        ("timestamp with time zone".to_owned(), "jsonb".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_mirrors_one_workspace() {
    let name = schema("owner");
    let t = target(&name);
    Postgres::open(&t, "ws_first").await.unwrap();
    let err = Postgres::open(&t, "ws_second").await.unwrap_err();
    assert_eq!(err.code, "wrong_workspace");
    assert!(err.message.contains("ws_first"), "{}", err.message);
    assert!(err.message.contains("--schema"), "{}", err.message);
    // The owner can open it again (migrations are idempotent).
    Postgres::open(&t, "ws_first").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_per_schema_across_connections() {
    let name = schema("lock");
    let a = Postgres::open(&target(&name), "ws_1").await.unwrap();
    let b = Postgres::open(&target(&name), "ws_1").await.unwrap();
    let held = a.lock(&CancellationToken::new()).await.expect("first lock");
    // The same connection's second run is refused at once.
    assert_eq!(
        a.lock(&CancellationToken::new()).await.err().unwrap().code,
        "sync_running"
    );
    // Another connection (another process or machine) waits; cancelling the wait ends it.
    let cancel = CancellationToken::new();
    let waiting = b.lock(&cancel);
    let canceller = async {
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        cancel.cancel();
    };
    let (waited, ()) = tokio::join!(waiting, canceller);
    assert_eq!(waited.err().unwrap().code, "cancelled");
    drop(held);
    // Freed when the first run ends.
    let got = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        b.lock(&CancellationToken::new()),
    )
    .await
    .expect("the lock is freed");
    assert!(got.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_or_port_is_a_clear_destination_error() {
    let url = pg_url();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let u = url::Url::parse(&url).unwrap();
    let bad = format!("postgres://{}@127.0.0.1:{closed}{}", u.username(), u.path());
    let err = Postgres::open(&PgTarget::parse(&bad, None, Some("hunter2")).unwrap(), "ws")
        .await
        .unwrap_err();
    assert_eq!(err.code, "destination_error");
    assert!(err.retryable);
    assert!(err.message.contains("running"), "{}", err.message);
    assert!(!err.message.contains("hunter2"), "{}", err.message);
}

/// A whole verify (never cancelled, progress unused).
async fn verify<D: Destination>(c: &Client, dest: &D, repair: bool) -> sync::VerifyReport {
    sync::verify(c, dest, repair, &CancellationToken::new(), &|_| {})
        .await
        .unwrap()
}

/// The same verification scenario for any destination: three days of 1,000 leads (three
/// ranges); `tamper(deleted_id, bumped_id, new_updated_at)` damages the destination in the
/// second and third range; verify names them, repair re-reads only them.
async fn verify_and_repair<D, T, TF, R, RF>(
    sb: &Sandbox,
    c: &Client,
    rec: &common::Recorder,
    dest: &D,
    tamper: T,
    read: R,
) where
    D: Destination,
    T: FnOnce(String, String, String) -> TF,
    TF: std::future::Future<Output = ()>,
    R: Fn() -> RF,
    RF: std::future::Future<Output = Vec<Lead>>,
{
    let days = [
        "2026-03-10T00:00:00.000Z",
        "2026-03-11T00:00:00.000Z",
        "2026-03-12T00:00:00.000Z",
    ];
    for d in days {
        bulk(sb, 1000, Some(d)).await;
    }
    sync::sync_to(c, dest, &opts(100), &CancellationToken::new(), |_| {})
        .await
        .unwrap();
    let clean = verify(c, dest, false).await;
    assert!(clean.equal && clean.differing.is_empty(), "{clean:?}");
    assert_eq!(
        (clean.ranges, clean.server_leads, clean.destination_leads),
        (3, 3000, 3000)
    );

    let server = server_leads(c).await;
    let in_day = |d: &str| {
        server
            .iter()
            .find(|l| l.updated_at == d)
            .unwrap()
            .id
            .clone()
    };
    tamper(
        in_day(days[1]),
        in_day(days[2]),
        "2026-03-12T00:00:01.000Z".into(),
    )
    .await;
    let found = verify(c, dest, false).await;
    assert!(!found.equal);
    assert_eq!(found.destination_leads, 2999);
    let froms: Vec<_> = found.differing.iter().map(|r| r.from.as_deref()).collect();
    assert_eq!(
        froms,
        [Some(days[1]), Some(days[2])],
        "the first range that differs is named first"
    );
    assert_eq!(
        (
            found.differing[0].server_leads,
            found.differing[0].destination_leads
        ),
        (1000, 999)
    );

    // Cancelled once its first range is repaired: `cancelled`, and that range stays repaired.
    let cancel = CancellationToken::new();
    let seen = std::sync::Mutex::new(Vec::new());
    let err = sync::verify(c, dest, true, &cancel, &|p| {
        seen.lock().unwrap().push(p);
        if p.phase == VerifyPhase::Repairing {
            cancel.cancel();
        }
    })
    .await
    .unwrap_err();
    assert_eq!(err.code, Code::Cancelled, "{err:?}");
    let seen = seen.into_inner().unwrap();
    assert!(seen
        .iter()
        .any(|p| p.phase == VerifyPhase::Reading && p.done == 3000));
    let compared = seen.iter().rfind(|p| p.phase == VerifyPhase::Comparing);
    assert_eq!(compared.map(|p| (p.done, p.total)), Some((3, Some(3))));
    assert_eq!(
        seen.last(),
        Some(&VerifyProgress {
            phase: VerifyPhase::Repairing,
            done: 1,
            total: Some(2)
        })
    );
    let left = verify(c, dest, false).await;
    let froms: Vec<_> = left.differing.iter().map(|r| r.from.as_deref()).collect();
    assert_eq!(froms, [Some(days[2])], "the repaired range stays repaired");

    rec.clear();
    let repaired = verify(c, dest, true).await;
    assert_eq!(repaired.repaired, 1);
    assert!(repaired.equal, "{repaired:?}");
    // Only the differing ranges were re-read: every request past the full listing starts at or
    // after the second day.
    let range_reads: Vec<String> = rec
        .all()
        .iter()
        .filter_map(|e| {
            e.path
                .split("updated_after=")
                .nth(1)
                .map(|v| v.split('&').next().unwrap().replace("%3A", ":"))
        })
        .collect();
    assert!(!range_reads.is_empty());
    assert!(
        range_reads
            .iter()
            .all(|v| v.as_str() >= "2026-03-10T23:59:59.999Z"),
        "{range_reads:?}"
    );
    assert_eq!(read().await, server_leads(c).await);
    assert!(verify(c, dest, false).await.equal);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_differing_range_and_repairs_only_those_in_postgres() {
    let sb = sandbox_with(empty()).await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let name = schema("verify");
    let pg = Postgres::open(&target(&name), &ws_id(&c).await)
        .await
        .unwrap();
    let db = raw().await;
    let tamper = |gone: String, bumped: String, at: String| {
        let (db, name) = (&db, &name);
        async move {
            db.execute(
                &format!("DELETE FROM \"{name}\".leads WHERE id = $1"),
                &[&gone],
            )
            .await
            .unwrap();
            db.execute(
                &format!(
                    "UPDATE \"{name}\".leads SET updated_at = $2::text::timestamptz WHERE id = $1"
                ),
                &[&bumped, &at],
            )
            .await
            .unwrap();
        }
    };
    verify_and_repair(&sb, &c, &rec, &pg, tamper, || async {
        pg.all_leads().await.unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_the_first_differing_range_and_repairs_only_those_in_sqlite() {
    let sb = sandbox_with(empty()).await;
    let (c, rec) = client(&sb, &sb.keys.full);
    let store = Store::open_in_memory().unwrap();
    let m = Mirror::open(store.clone(), &ws_id(&c).await, "p").unwrap();
    let tamper = |gone: String, bumped: String, at: String| {
        let store = store.clone();
        async move {
            store
                .with_conn(|c| {
                    c.execute("DELETE FROM sync_leads WHERE id = ?1", [&gone])?;
                    c.execute(
                        "UPDATE sync_leads SET updated_at = ?2 WHERE id = ?1",
                        [&bumped, &at],
                    )
                })
                .unwrap();
        }
    };
    verify_and_repair(&sb, &c, &rec, &m, tamper, || async {
        m.all_leads().unwrap()
    })
    .await;
}
