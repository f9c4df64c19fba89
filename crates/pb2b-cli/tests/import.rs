//! `pb2b leads create` and `pb2b import` as real processes against the in-process sandbox:
//! a retried submission makes one lead; --dry-run sends nothing; an import killed with SIGKILL
//! is finished by `--resume` with exactly one lead per row.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{json, output, pb2b};
use pb2b_sandbox::SandboxConfig;
use serde_json::Value;

async fn leads(sb: &pb2b_sandbox::Sandbox) -> u64 {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/state", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["leads"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_create_retried_with_its_key_makes_one_lead() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = [
        "leads",
        "create",
        "--json",
        "--full-name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--company-name",
        "Analytical",
        "--field",
        "job_title=Engineer",
        "--field",
        "tier=gold",
        "--idempotency-key",
        "lead-cli-test-1",
    ];
    let first = output({
        let mut c = pb2b(&sb, &data);
        c.args(args);
        c
    })
    .await;
    assert!(first.status.success(), "{first:?}");
    let a = json(&first);
    assert_eq!(a["replayed"], false);
    assert_eq!(a["lead"]["job_title"], "Engineer");
    assert_eq!(a["lead"]["custom_fields"]["tier"], "gold");
    let again = output({
        let mut c = pb2b(&sb, &data);
        c.args(args);
        c
    })
    .await;
    let b = json(&again);
    assert_eq!(b["replayed"], true);
    assert_eq!(b["lead"]["id"], a["lead"]["id"]);
    assert_eq!(leads(&sb).await, 1);
    // A bad e-mail is refused before sending, with the usage exit code.
    let bad = output({
        let mut c = pb2b(&sb, &data);
        c.args(["leads", "create", "--json", "--email", "nope"]);
        c
    })
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(json(&bad)["error"]["code"], "invalid_input");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_dry_run_then_killed_and_resumed() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        latency_ms: 20,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("people.csv");
    let rows = 600;
    let mut s = String::from("Name;E-mail Address;Organization\n");
    for i in 0..rows {
        s.push_str(&format!("Person {i};p{i}@example.com;Org {i}\n"));
    }
    s.push_str("Bad;not-an-email;Org\n");
    std::fs::write(&file, s).unwrap();

    let dry = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(dry.status.success(), "{dry:?}");
    let v = json(&dry);
    assert_eq!(v["validation"]["counts"]["will_create"], rows);
    assert_eq!(v["validation"]["counts"]["invalid"], 1);
    assert_eq!(leads(&sb).await, 0, "a dry run sends nothing");

    let mut child = pb2b(&sb, &data)
        .args(["import", "--json", "--concurrency", "4"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has created some leads (however slow the machine).
    for _ in 0..800 {
        if leads(&sb).await >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = leads(&sb).await;
    assert!(partial > 0 && partial < rows as u64, "{partial}");

    let resumed = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--resume", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(resumed.status.success(), "{resumed:?}");
    let v = json(&resumed);
    assert_eq!(v["summary"]["status"], "completed");
    assert_eq!(v["summary"]["counts"]["created"], rows);
    assert_eq!(v["summary"]["counts"]["skipped"], 1);
    assert_eq!(leads(&sb).await, rows as u64, "exactly one lead per row");
    let report = std::fs::read(v["error_report"].as_str().unwrap()).unwrap();
    assert!(report.starts_with(b"\xEF\xBB\xBF"));
    assert!(String::from_utf8_lossy(&report).contains("not-an-email"));
    sb.shutdown().await;
}
