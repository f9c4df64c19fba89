//! Boundaries between workspaces and between processes, with `pb2b` as real processes against
//! in-process sandboxes (two sandboxes = two workspaces, `--workspace` of the sandbox):
//! - an import paused (Ctrl-C) or SIGKILLed under workspace A and resumed under workspace B's key
//!   sends nothing to B and says which two workspaces; resumed under A it makes exactly one lead
//!   per valid row;
//! - an import SIGKILLed with rows in flight and resumed under a second key of the same workspace
//!   (rotation) makes no duplicate;
//! - `pb2b sync`, `sync --full`, `import` and `leads list --local` running at once on one fresh
//!   data folder never fail, and the mirror ends equal to the server;
//! - a database held by another process fails after the bounded wait, naming that process;
//! - `pb2b login` refuses a taken profile name unless `--replace`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, output, pb2b_as as pb2b, server_count};
use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

fn run(key: &str, sb: &Sandbox, data: &Path, args: &[&str]) -> Command {
    let mut cmd = pb2b(key, sb, data);
    cmd.args(args);
    cmd
}

async fn leads(sb: &Sandbox) -> u64 {
    server_count(sb, "leads").await
}

/// A CSV of `rows` valid rows (and one invalid) with e-mails unique to `tag`.
fn csv(dir: &Path, tag: &str, rows: usize) -> PathBuf {
    let file = dir.join(format!("{tag}.csv"));
    let mut s = String::from("Name,Email,Company\n");
    for i in 0..rows {
        s.push_str(&format!("Person {i},{tag}-{i}@example.com,Org {i}\n"));
    }
    s.push_str("Bad,not-an-email,Org\n");
    std::fs::write(&file, s).unwrap();
    file
}

async fn sandbox(workspace: &str, latency_ms: u64, drop_after_commit: f64) -> Sandbox {
    pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        latency_ms,
        fault_drop_after_commit: drop_after_commit,
        fault_seed: 7,
        workspace: workspace.into(),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// Takes `leads.import` from the sandbox's two full keys, so imports go row by row: a bulk job
/// of these few hundred rows lands at once, leaving nothing to interrupt (the bulk path's
/// interruptions, rotation included, are `pb2b-core`'s tests/import_bulk.rs).
async fn per_row(sb: &Sandbox) {
    let scopes: Vec<&str> = pb2b_sandbox::ALL_SCOPES
        .into_iter()
        .filter(|s| *s != "leads.import")
        .collect();
    for key in ["full", "full_2"] {
        let resp = reqwest::Client::new()
            .post(format!("{}/keys/{key}", sb.admin_url))
            .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
            .json(&serde_json::json!({ "scopes": scopes }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{key}: {resp:?}");
    }
}

/// Starts an import and stops it once the server has at least `at_least` of its leads: with
/// SIGINT (the CLI pauses on Ctrl-C) or SIGKILL.
async fn interrupted_import(
    key: &str,
    sb: &Sandbox,
    data: &Path,
    file: &Path,
    at_least: u64,
    signal: &str,
) {
    let mut child = pb2b(key, sb, data)
        .args(["import", "--json", "--concurrency", "8"])
        .arg(file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while leads(sb).await < at_least && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = child.id().to_string();
    let killed = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(!status.success() || signal == "-INT", "{status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_resumed_under_another_workspace_sends_nothing_there() {
    let a = sandbox("sandbox", 30, 0.0).await;
    let b = sandbox("acme", 0, 0.0).await;
    per_row(&a).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rows = 300;
    for (signal, tag) in [("-INT", "paused"), ("-KILL", "killed")] {
        let file = csv(tmp.path(), tag, rows);
        let before = leads(&a).await;
        interrupted_import(&a.keys.full, &a, &data, &file, before + 20, signal).await;
        let partial = leads(&a).await - before;
        assert!(partial > 0 && partial < rows as u64, "{signal}: {partial}");

        // Under workspace B's key: refused, nothing sent to B, both workspaces named.
        let wrong = output({
            let mut c = pb2b(&b.keys.full, &b, &data);
            c.args(["import", "--resume", "--json"]).arg(&file);
            c
        })
        .await;
        assert!(!wrong.status.success(), "{signal}: {wrong:?}");
        let err = &json(&wrong)["error"];
        assert_eq!(err["code"], "wrong_workspace", "{signal}: {err}");
        let message = err["message"].as_str().unwrap();
        for name in [
            "ws_sandbox",
            "Sandbox workspace",
            "ws_acme",
            "Sandbox workspace acme",
        ] {
            assert!(message.contains(name), "{signal}: {message} names {name}");
        }
        assert_eq!(leads(&b).await, 0, "{signal}: nothing reaches workspace B");
        assert_eq!(wrong.status.code(), Some(2), "{signal}: a usage error");

        // Under workspace A: exactly one lead per valid row.
        let resumed = output({
            let mut c = pb2b(&a.keys.full, &a, &data);
            c.args(["import", "--resume", "--json"]).arg(&file);
            c
        })
        .await;
        assert!(resumed.status.success(), "{signal}: {resumed:?}");
        let v = json(&resumed);
        assert_eq!(v["summary"]["status"], "completed");
        assert_eq!(v["summary"]["counts"]["created"], rows);
        assert_eq!(
            leads(&a).await - before,
            rows as u64,
            "{signal}: one per row"
        );
    }
    assert_eq!(leads(&b).await, 0);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_key_resumes_a_killed_import_without_duplicates() {
    // Half the writes commit and then lose their connection: the client retries them with the
    // same Idempotency-Key, so at the kill some rows are committed on the server while the
    // journal still has them in flight. Under the rotated key those keys mean nothing (they are
    // scoped per API key): only the lookup by e-mail keeps them from being created twice.
    let sb = sandbox("sandbox", 20, 0.5).await;
    per_row(&sb).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let rows = 300;
    let file = csv(tmp.path(), "rotation", rows);
    interrupted_import(&sb.keys.full, &sb, &data, &file, 40, "-KILL").await;
    let partial = leads(&sb).await;
    assert!(partial > 0 && partial < rows as u64, "{partial}");

    let resumed = output({
        let mut c = pb2b(&sb.keys.full_2, &sb, &data);
        c.args(["import", "--resume", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(resumed.status.success(), "{resumed:?}");
    let v = json(&resumed);
    assert_eq!(v["summary"]["counts"]["created"], rows);
    assert_eq!(leads(&sb).await, rows as u64, "0 duplicates after rotation");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_side_by_side_on_one_fresh_data_folder_never_fail() {
    let sb = sandbox("sandbox", 0, 0.0).await;
    let bulk: Value = reqwest::Client::new()
        .post(format!("{}/leads/bulk", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&serde_json::json!({"count": 3000}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(bulk.get("data").is_some(), "{bulk}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fresh");
    let until = Instant::now() + Duration::from_secs(20);
    let mut workers = Vec::new();
    for (w, args) in [
        (0, vec!["sync", "--json"]),
        (1, vec!["sync", "--full", "--json"]),
        (2, vec!["import", "--json"]),
        (3, vec!["leads", "list", "--local", "--json"]),
        (4, vec!["sync", "--json"]),
    ] {
        let (key, base, data, dir) = (
            sb.keys.full.clone(),
            sb.base_url.clone(),
            data.clone(),
            tmp.path().to_owned(),
        );
        workers.push(std::thread::spawn(move || {
            let mut runs = Vec::new();
            let mut round = 0;
            while Instant::now() < until {
                round += 1;
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
                cmd.env("PB2B_API_KEY", &key)
                    .env("PB2B_BASE_URL", &base)
                    .env("PB2B_DATA_DIR", &data)
                    .stdin(Stdio::null())
                    .args(&args);
                if w == 2 {
                    cmd.arg(csv(&dir, &format!("side-{round}"), 50));
                }
                if w == 3 && round == 1 {
                    // Reading the mirror needs a first sync; give the syncs a head start.
                    std::thread::sleep(Duration::from_secs(3));
                }
                let out = cmd.output().unwrap();
                runs.push((args.join(" "), out));
            }
            runs
        }));
    }
    let mut failures = Vec::new();
    let mut total = 0;
    for w in workers {
        for (what, out) in w.join().unwrap() {
            total += 1;
            if !out.status.success() {
                failures.push(format!(
                    "{what}: {:?} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
    }
    assert!(total >= 10, "{total} runs");
    assert!(
        failures.is_empty(),
        "{} of {total}: {failures:#?}",
        failures.len()
    );
    // The mirror equals the server once the last sync has run.
    let last = output(run(&sb.keys.full, &sb, &data, &["sync", "--json"])).await;
    assert!(last.status.success(), "{last:?}");
    assert_eq!(
        json(&last)["status"]["total_leads"].as_u64().unwrap(),
        leads(&sb).await
    );
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_held_too_long_names_the_process_holding_it() {
    let sb = sandbox("sandbox", 0, 0.0).await;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let first = output(run(&sb.keys.full, &sb, &data, &["sync", "--json"])).await;
    assert!(first.status.success(), "{first:?}");
    // This test process opens the database and keeps a write transaction open.
    pb2b_core::presence::set_label("the workspaces test");
    let store = pb2b_core::store::Store::open(&data.join(pb2b_core::DATABASE_FILE)).unwrap();
    store
        .with_conn(|c| c.execute_batch("BEGIN IMMEDIATE"))
        .unwrap();
    let busy = output({
        let mut c = pb2b(&sb.keys.full, &sb, &data);
        c.env("PB2B_BUSY_TIMEOUT_MS", "300")
            .args(["sync", "--json"]);
        c
    })
    .await;
    store.with_conn(|c| c.execute_batch("ROLLBACK")).unwrap();
    assert_eq!(busy.status.code(), Some(5), "a local failure: {busy:?}");
    let err = &json(&busy)["error"];
    assert_eq!(err["code"], "database_busy");
    assert_eq!(err["retryable"], true);
    let message = err["message"].as_str().unwrap();
    assert!(message.contains("the workspaces test"), "{message}");
    assert!(
        message.contains(&std::process::id().to_string()),
        "{message}"
    );
    // Let go, and the same command works.
    let again = output(run(&sb.keys.full, &sb, &data, &["sync", "--json"])).await;
    assert!(again.status.success(), "{again:?}");
    sb.shutdown().await;
}
