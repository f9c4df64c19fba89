//! `pb2b exports` as a real process against the in-process sandbox: killed (SIGKILL) while it
//! polls, started again, it finishes the same job without creating a second export.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{output, pb2b};

use pb2b_core::exports::{ExportStatus, Exports};
use pb2b_core::store::Store;
use pb2b_sandbox::SandboxConfig;
use serde_json::Value;

async fn server_exports(sb: &pb2b_sandbox::Sandbox) -> u64 {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/state", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["exports"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_while_polling_then_resumed_finishes_the_same_export() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        export_delay_ms: 4000,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = tmp.path().join("out");

    let mut child = pb2b(&sb, &data)
        .args(["exports", "create", "--wait", "--json", "--field", "id"])
        .arg("--field")
        .arg("email")
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Wait until the process has its export and has probed it at least once, then kill it.
    let db = data.join(pb2b_core::DATABASE_FILE);
    let mut polled = None;
    for _ in 0..400 {
        if db.exists() {
            if let Ok(store) = Store::open(&db) {
                let sandbox_workspace = pb2b_core::workspace::Owner {
                    workspace_id: "ws_sandbox".into(),
                    workspace_name: "Sandbox workspace".into(),
                    key_prefix: String::new(),
                };
                let jobs = Exports::open(store, sandbox_workspace, "(environment)")
                    .unwrap()
                    .list()
                    .unwrap();
                if let Some(j) = jobs.first().filter(|j| j.probe_count >= 1) {
                    polled = Some(j.clone());
                    break;
                }
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "still polling");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let polled = polled.expect("the CLI saved its job and probed");
    assert!(!polled.status.is_terminal(), "killed during polling");
    child.kill().unwrap(); // SIGKILL on Unix: no cleanup runs.
    child.wait().unwrap();
    assert_eq!(server_exports(&sb).await, 1);

    let mut resume = pb2b(&sb, &data);
    resume.args(["exports", "resume", "--json"]);
    let res = output(resume).await;
    assert!(
        res.status.success(),
        "{}",
        String::from_utf8_lossy(&res.stdout)
    );
    let jobs: Value = serde_json::from_slice(&res.stdout).unwrap();
    let job = &jobs.as_array().unwrap()[0];
    assert_eq!(job["job_id"], polled.job_id.as_str());
    assert_eq!(job["export_id"], polled.export_id.as_deref().unwrap());
    assert_eq!(job["status"], "completed");
    let path = job["local_path"].as_str().unwrap();
    assert!(Path::new(path).starts_with(&out));
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.starts_with("id,email\r\n"));
    assert_eq!(
        text.lines().count() as i64 - 1,
        job["row_count"].as_i64().unwrap()
    );
    assert_eq!(server_exports(&sb).await, 1, "no second export");

    // status and wait by export id; list; nothing left to resume.
    let export_id = polled.export_id.clone().unwrap();
    let mut status = pb2b(&sb, &data);
    status.args(["exports", "status", &export_id, "--json"]);
    let st = output(status).await;
    assert!(st.status.success());
    let st: Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["status"], ExportStatus::Completed.as_str());
    let mut again = pb2b(&sb, &data);
    again.args(["exports", "resume", "--json"]);
    let again: Value = serde_json::from_slice(&output(again).await.stdout).unwrap();
    assert_eq!(again, Value::Array(vec![]));

    // A failure is JSON with a code and a non-zero exit.
    let mut missing = pb2b(&sb, &data);
    missing.args(["exports", "wait", "exp_doesnotexist", "--json"]);
    let m = output(missing).await;
    assert!(!m.status.success());
    let err: Value = serde_json::from_slice(&m.stdout).unwrap();
    assert_eq!(err["error"]["code"], "not_found");
    assert!(err["error"]["request_id"].is_string());
    sb.shutdown().await;
}
