//! `pb2b sync --to postgres://…` as a real process, into a real PostgreSQL
//! (`scripts/with-postgres`), from the in-process sandbox: SIGKILLed at random points of a
//! 20,000-lead sync and killed inside a page's transaction (the crash hook); after the last run
//! the schema equals the server, 0 duplicates and 0 missing, compared as (id, updated_at) sets.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{json, output, pb2b};
use pb2b_core::api::{Client, ClientConfig, ListLeadsQuery, NoopObserver};
use pb2b_core::secret::SecretString;
use pb2b_core::sync::postgres::{PgTarget, Postgres};
use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

fn pg_url() -> String {
    std::env::var("PB2B_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "PB2B_TEST_POSTGRES_URL is not set: these tests need a PostgreSQL server. Run them through \
             scripts/with-postgres, e.g. `scripts/with-postgres cargo test -p pb2b-cli --test postgres` \
             (it installs Debian's postgresql if needed and starts a private cluster on 127.0.0.1)."
        )
    })
}

/// A schema of its own for each test run.
fn schema(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("t_{test}_{}_{nanos:x}", std::process::id())
}

fn api(sb: &Sandbox) -> Client {
    Client::new(
        ClientConfig::new(&sb.base_url),
        SecretString::new(sb.keys.full.clone()),
        std::sync::Arc::new(NoopObserver),
    )
    .unwrap()
}

async fn admin(sb: &Sandbox, method: reqwest::Method, path: &str, body: Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
}

/// The server's `(id, updated_at)` of every lead, sorted by id.
async fn server_versions(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = c
            .list_leads(&ListLeadsQuery {
                limit: Some(100),
                updated_after: None,
                cursor,
            })
            .await
            .unwrap();
        out.extend(page.data.into_iter().map(|l| (l.id, l.updated_at)));
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    out.sort();
    out
}

/// The schema's `(id, updated_at)` of every lead, sorted by id.
async fn schema_versions(pg: &Postgres) -> Vec<(String, String)> {
    let mut v: Vec<_> = pg
        .all_leads()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.id, l.updated_at))
        .collect();
    v.sort();
    v
}

fn sync_to(sb: &Sandbox, data: &std::path::Path, schema: &str) -> Command {
    let mut cmd = pb2b(sb, data);
    cmd.args(["sync", "--json", "--to", &pg_url(), "--schema", schema]);
    cmd
}

async fn open(sb: &Sandbox, schema: &str) -> Postgres {
    let ws = api(sb).me().await.unwrap().data.workspace.id;
    Postgres::open(
        &PgTarget::parse(&pg_url(), Some(schema), None).unwrap(),
        &ws,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_of_a_20000_lead_sync_loses_and_duplicates_nothing() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    admin(
        &sb,
        reqwest::Method::POST,
        "/leads/bulk",
        json!({"count": 20_000}),
    )
    .await;
    let c = api(&sb);
    let tmp = tempfile::tempdir().unwrap();
    let name = schema("sigkill");
    // A first run measures how long a whole sync takes here, so the kill points fall inside runs.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill points seed {seed}");
    let mut rng = seed;
    let mut next = |n: u64| {
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (rng >> 33) % n
    };
    let mut killed_mid_run = 0;
    for round in 0..6u64 {
        let mut child = sync_to(&sb, tmp.path(), &name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let delay = 150 + next(1200);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        // The server changes between runs too: an edit and new leads.
        let all = server_versions(&c).await;
        let id = &all[next(all.len() as u64) as usize].0;
        admin(
            &sb,
            reqwest::Method::PATCH,
            &format!("/leads/{id}"),
            json!({"job_title": format!("Round {round}")}),
        )
        .await;
        admin(
            &sb,
            reqwest::Method::POST,
            "/leads/bulk",
            json!({"count": 7}),
        )
        .await;
    }
    assert!(killed_mid_run >= 1, "at least one kill landed inside a run");
    let done = output(sync_to(&sb, tmp.path(), &name)).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(json(&done)["report"]["outcome"], "completed");
    let server = server_versions(&c).await;
    assert_eq!(server.len(), 20_042);
    let pg = open(&sb, &name).await;
    let mirrored = schema_versions(&pg).await;
    let mut ids: Vec<_> = mirrored.iter().map(|(id, _)| id).collect();
    ids.dedup();
    assert_eq!(ids.len(), mirrored.len(), "0 duplicates");
    assert_eq!(mirrored, server, "0 missing, 0 stale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_inside_a_page_transaction_then_resumed() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    admin(
        &sb,
        reqwest::Method::POST,
        "/leads/bulk",
        json!({"count": 450}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let name = schema("crash");
    let mut cmd = sync_to(&sb, tmp.path(), &name);
    cmd.env("PB2B_SYNC_CRASH_AFTER_PAGES", "3");
    let crashed = output(cmd).await;
    assert!(!crashed.status.success(), "the hook aborts the process");
    {
        let pg = open(&sb, &name).await;
        // Whole pages with their checkpoint, never a part of one: page 3 rolled back.
        let kept = pg.count().await.unwrap();
        assert!(kept % 100 == 0 && kept < 300, "{kept} leads kept");
        let status = pg.status().await.unwrap();
        assert!(status.interrupted);
        assert_eq!(status.watermark.is_some(), kept > 0);
    }
    let done = output(sync_to(&sb, tmp.path(), &name)).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let v = json(&done);
    assert_eq!(v["report"]["outcome"], "completed");
    assert_eq!(v["report"]["progress"]["resumed"], true);
    assert_eq!(v["report"]["progress"]["new"], 450);
    let pg = open(&sb, &name).await;
    assert_eq!(schema_versions(&pg).await, server_versions(&api(&sb)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_connection_string_or_schema_is_refused_before_anything_is_sent() {
    let sb = pb2b_sandbox::start(SandboxConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    for (url, schema, needle) in [
        ("postgres://u@h/db?sslmode=require", "pb2b", "sslmode"),
        ("postgres://u@h/db", "Bad-Name", "schema"),
        ("mysql://nope", "pb2b", "postgres://"),
    ] {
        let mut cmd = pb2b(&sb, tmp.path());
        cmd.args(["sync", "--json", "--to", url, "--schema", schema]);
        let out = output(cmd).await;
        assert_eq!(out.status.code(), Some(2), "{url}: a usage error");
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(text.contains(needle), "{url}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_verify_names_the_difference_and_repair_fixes_it_for_both_destinations() {
    use pb2b_core::sync::Destination;
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    admin(
        &sb,
        reqwest::Method::POST,
        "/leads/bulk",
        json!({"count": 300}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let name = schema("verify");
    assert!(output(sync_to(&sb, tmp.path(), &name))
        .await
        .status
        .success());
    let verify = |extra: &[&str]| {
        let mut cmd = pb2b(&sb, tmp.path());
        cmd.args([
            "sync",
            "verify",
            "--json",
            "--to",
            &pg_url(),
            "--schema",
            &name,
        ])
        .args(extra);
        output(cmd)
    };
    let clean = verify(&[]).await;
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    assert_eq!(json(&clean)["equal"], true);

    // Damage the schema: one lead gone.
    let pg = open(&sb, &name).await;
    let mut leads = pg.all_leads().await.unwrap();
    leads.pop();
    pg.replace_range(None, None, leads).await.unwrap();
    let found = verify(&[]).await;
    assert!(!found.status.success(), "a difference is exit 1");
    assert_eq!(found.status.code(), Some(1), "a difference is exit 1");
    let v = json(&found);
    assert_eq!(v["destination_leads"], 299);
    assert_eq!(v["differing"][0]["server_leads"], 300);
    assert!(String::from_utf8_lossy(&found.stderr).contains("--repair"));
    let repaired = verify(&["--repair"]).await;
    assert!(
        repaired.status.success(),
        "{}",
        String::from_utf8_lossy(&repaired.stderr)
    );
    assert_eq!(json(&repaired)["repaired"], 1);
    assert_eq!(schema_versions(&pg).await, server_versions(&api(&sb)).await);

    // The local SQLite mirror verifies the same way.
    let db = tmp.path().join("mirror.sqlite");
    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--db"]).arg(&db);
    assert!(output(cmd).await.status.success());
    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "verify", "--json", "--db"]).arg(&db);
    let local = output(cmd).await;
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    assert_eq!(json(&local)["server_leads"], 300);
}
