//! `pb2b sync` as a real process against the in-process sandbox: killed inside a page's
//! transaction (the `PB2B_SYNC_CRASH_AFTER_PAGES` hook: after the page's upserts, before its
//! checkpoint) and with SIGKILL at random moments; after resuming, the mirror holds every lead
//! once and equals the server. Also `pb2b leads list --local` and `leads export --local`.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use pb2b_core::api::{Client, ClientConfig, Lead, ListLeadsQuery, NoopObserver};
use pb2b_core::secret::SecretString;
use pb2b_core::store::Store;
use pb2b_core::sync::Mirror;
use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

fn pb2b(sb: &Sandbox, data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_API_KEY", &sb.keys.full)
        .env("PB2B_BASE_URL", &sb.base_url)
        .env("PB2B_DATA_DIR", data)
        .env_remove("PB2B_SYNC_CRASH_AFTER_PAGES")
        .stdin(Stdio::null());
    cmd
}

async fn output(mut cmd: Command) -> Output {
    tokio::task::spawn_blocking(move || cmd.output().expect("pb2b runs"))
        .await
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

fn api(sb: &Sandbox) -> Client {
    Client::new(
        ClientConfig::new(&sb.base_url),
        SecretString::new(sb.keys.full.clone()),
        std::sync::Arc::new(NoopObserver),
    )
    .unwrap()
}

async fn server_leads(c: &Client) -> Vec<Lead> {
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
        out.extend(page.data);
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

async fn mirror_of(sb: &Sandbox, db: &Path) -> Mirror {
    let ws = api(sb).me().await.unwrap().data.workspace.id;
    Mirror::open(Store::open(db).unwrap(), &ws, "(environment)").unwrap()
}

/// Rows per id in the mirror table (a duplicate would show as a count above 1).
fn duplicates(m: &Mirror) -> i64 {
    m.store()
        .with_conn(|c| {
            c.query_row(
                "SELECT count(*) FROM (SELECT id FROM sync_leads GROUP BY mirror, id HAVING count(*) > 1)",
                [],
                |r| r.get(0),
            )
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_a_pages_write_and_its_checkpoint_then_resumed() {
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
    let db = tmp.path().join("mirror.sqlite");

    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--json", "--db"])
        .arg(&db)
        .env("PB2B_SYNC_CRASH_AFTER_PAGES", "3");
    let crashed = output(cmd).await;
    assert!(!crashed.status.success(), "the hook aborts the process");

    {
        let m = mirror_of(&sb, &db).await;
        // Page 3's upserts rolled back with its transaction. The pages before it committed with
        // their checkpoint: each in its own transaction when the writer keeps up with the
        // network (200 leads), or in page 3's group when it fell behind (0 or 100). Whole pages
        // either way, never a part of one.
        let kept = m.count().unwrap();
        assert!(kept % 100 == 0 && kept < 300, "{kept} leads kept");
        let status = m.status().unwrap();
        assert!(status.interrupted);
        assert_eq!(status.watermark.is_some(), kept > 0);
    }

    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--json", "--db"]).arg(&db);
    let done = output(cmd).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let v: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(v["report"]["outcome"], "completed");
    assert_eq!(v["report"]["progress"]["resumed"], true);
    assert_eq!(v["report"]["progress"]["new"], 450);
    assert_eq!(v["report"]["progress"]["pages"], 5);

    let m = mirror_of(&sb, &db).await;
    assert_eq!(duplicates(&m), 0);
    assert_eq!(m.all_leads().unwrap(), server_leads(&api(&sb)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        latency_ms: 3,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    admin(
        &sb,
        reqwest::Method::POST,
        "/leads/bulk",
        json!({"count": 1500}),
    )
    .await;
    let c = api(&sb);
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("mirror.sqlite");
    // Kill points spread over the run (fixed, so a failure reproduces).
    for (round, delay_ms) in [40u64, 170, 95, 240, 25].into_iter().enumerate() {
        let mut child = pb2b(&sb, tmp.path())
            .args(["sync", "--json", "--db"])
            .arg(&db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = child.kill(); // SIGKILL
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        // The server changes between runs too.
        let all = server_leads(&c).await;
        let id = &all[(round * 373) % all.len()].id;
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
    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--json", "--db"]).arg(&db);
    let done = output(cmd).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let m = mirror_of(&sb, &db).await;
    assert_eq!(duplicates(&m), 0);
    let server = server_leads(&c).await;
    assert_eq!(server.len(), 1535);
    assert_eq!(m.all_leads().unwrap(), server, "0 missing, 0 stale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_list_and_export_read_the_local_mirror() {
    let sb = pb2b_sandbox::start(SandboxConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("mirror.sqlite");
    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--db"]).arg(&db);
    let done = output(cmd).await;
    assert!(done.status.success());
    assert!(String::from_utf8_lossy(&done.stdout).contains("40 new"));

    // Offline: the server is gone.
    sb.shutdown().await;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_DATA_DIR", tmp.path())
        .env_remove("PB2B_API_KEY")
        .args(["leads", "list", "--local", "--json", "--limit", "5", "--db"])
        .arg(&db);
    let listed = output(cmd).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let page: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(page["total"], 40);
    assert_eq!(page["rows"].as_array().unwrap().len(), 5);

    let out = tmp.path().join("leads.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_DATA_DIR", tmp.path())
        .env_remove("PB2B_API_KEY")
        .args(["leads", "export", "--local", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&out);
    assert!(output(cmd).await.status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with('\u{feff}'));
    assert_eq!(text.lines().count(), 41);
    // For a spreadsheet by default: the seeded `+1 555 01..` phones start with a `'`.
    assert!(text.contains(",'+1 555 01"), "{text}");

    // --raw: the values as they are, for a program.
    let raw_out = tmp.path().join("leads-raw.csv");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_DATA_DIR", tmp.path())
        .env_remove("PB2B_API_KEY")
        .args(["leads", "export", "--local", "--raw", "--db"])
        .arg(&db)
        .arg("--out")
        .arg(&raw_out);
    let done = output(cmd).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let raw = std::fs::read_to_string(&raw_out).unwrap();
    assert_eq!(raw.lines().count(), 41);
    assert!(raw.contains(",+1 555 01") && !raw.contains(",'+"), "{raw}");
    assert_eq!(
        raw.replace(",+1 555", ",'+1 555"),
        text,
        "only the neutralised cells differ"
    );

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_DATA_DIR", tmp.path())
        .env_remove("PB2B_API_KEY")
        .args(["leads", "list", "--local", "--json", "--db"])
        .arg(tmp.path().join("empty.sqlite"));
    let none = output(cmd).await;
    assert_eq!(none.status.code(), Some(2), "no mirror yet: a usage error");
}

/// The `CREATE` statements of the indexes and triggers of `sync_leads`, by name, and whether the
/// search index matches the table (FTS5's `integrity-check` compares an external-content index
/// with its table), and how many objects a bulk load left set aside.
fn schema_and_search_check(store: &Store) -> (Vec<(String, String)>, bool, i64) {
    store
        .with_conn(|c| {
            let mut st = c.prepare(
                "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'sync_leads'
                 AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name",
            )?;
            let objects = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            let intact = c
                .execute_batch(
                    "INSERT INTO sync_leads_fts(sync_leads_fts, rank) VALUES ('integrity-check', 1)",
                )
                .is_ok();
            let set_aside = c.query_row("SELECT count(*) FROM sync_bulk", [], |r| r.get(0))?;
            Ok((objects, intact, set_aside))
        })
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_in_a_first_syncs_bulk_load_then_searched_finds_everything() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        latency_ms: 5,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    admin(
        &sb,
        reqwest::Method::POST,
        "/leads/bulk",
        json!({"count": 4000}),
    )
    .await;
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("mirror.sqlite");
    // What a mirror that never loaded in bulk has (a database with its tables and no sync).
    let fresh = {
        let m = mirror_of(&sb, &tmp.path().join("fresh.sqlite")).await;
        schema_and_search_check(m.store())
    };
    assert_eq!(fresh.0.len(), 9, "6 indexes and 3 triggers: {:?}", fresh.0);

    let mut child = pb2b(&sb, tmp.path())
        .args(["sync", "--json", "--db"])
        .arg(&db)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the run has committed rows in its bulk load, before its last page.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut watcher: Option<Store> = None;
    loop {
        assert!(std::time::Instant::now() < deadline, "no bulk load seen");
        assert!(child.try_wait().unwrap().is_none(), "the sync ended first");
        tokio::time::sleep(Duration::from_millis(5)).await;
        if watcher.is_none() && db.exists() {
            watcher = Store::open(&db).ok();
        }
        let Some(store) = &watcher else { continue };
        let seen = store.with_conn(|c| {
            c.query_row(
                "SELECT (SELECT count(*) FROM sync_bulk), (SELECT count(*) FROM sync_leads)",
                [],
                |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
            )
        });
        if let Ok((set_aside, rows)) = seen {
            if set_aside > 0 && rows >= 300 {
                break;
            }
        }
    }
    let _ = child.kill(); // SIGKILL
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    let store = watcher.unwrap();
    let (_, _, set_aside) = schema_and_search_check(&store);
    let (kept, email): (i64, String) = store
        .with_conn(|c| {
            c.query_row("SELECT count(*), max(email) FROM sync_leads", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    drop(store);
    assert!(
        set_aside > 0 && kept > 0 && kept < 4000,
        "{set_aside} set aside, {kept} kept"
    );

    // Searched offline with no sync in between: the bulk load is finished first.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env("PB2B_DATA_DIR", tmp.path())
        .env_remove("PB2B_API_KEY")
        .args([
            "leads", "list", "--local", "--json", "--search", &email, "--db",
        ])
        .arg(&db);
    let listed = output(cmd).await;
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let page: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(page["total"], 1, "{page}");
    assert_eq!(page["rows"][0]["email"], email.as_str());
    let m = mirror_of(&sb, &db).await;
    assert_eq!(
        schema_and_search_check(m.store()),
        (fresh.0.clone(), true, 0)
    );
    drop(m);

    // The resumed run (no longer a first sync) completes the mirror with the indexes in place.
    let mut cmd = pb2b(&sb, tmp.path());
    cmd.args(["sync", "--json", "--db"]).arg(&db);
    let done = output(cmd).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let m = mirror_of(&sb, &db).await;
    assert_eq!(duplicates(&m), 0);
    assert_eq!(m.all_leads().unwrap(), server_leads(&api(&sb)).await);
    assert_eq!(schema_and_search_check(m.store()), (fresh.0, true, 0));
}
