//! The exit codes the README promises, one real `pb2b` process per class: an unknown `--profile`
//! and a server 422 are input errors (2), no profile at all is an authentication error (3),
//! Ctrl-C is 130 (and the work resumes afterwards; a verify stops too).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{json, output, pb2b};
use pb2b_sandbox::SandboxConfig;

/// `pb2b` with no key in the environment and an empty data folder.
fn bare(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.env_remove("PB2B_API_KEY")
        .env_remove("PB2B_BASE_URL")
        .env("PB2B_DATA_DIR", data)
        .stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_of_failure_has_its_exit_code() {
    let sb = pb2b_sandbox::start(SandboxConfig::default()).await.unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    let unknown = output({
        let mut c = bare(&data);
        c.args(["--json", "--profile", "Nobody", "me"]);
        c
    })
    .await;
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    assert_eq!(json(&unknown)["error"]["code"], "profile_not_found");

    let none = output({
        let mut c = bare(&data);
        c.args(["--json", "me"]);
        c
    })
    .await;
    assert_eq!(none.status.code(), Some(3), "{none:?}");
    assert_eq!(json(&none)["error"]["code"], "no_profile");

    // The server's 422: a field name only the server checks.
    let refused = output({
        let mut c = pb2b(&sb, &data);
        c.args([
            "--json",
            "exports",
            "create",
            "--field",
            "no_such_field",
            "--out",
        ])
        .arg(tmp.path());
        c
    })
    .await;
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    let err = &json(&refused)["error"];
    assert_eq!(err["code"], "validation_error");
    assert!(err["request_id"].as_str().is_some(), "{err}");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_exits_130_and_the_work_resumes() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        latency_ms: 150,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    reqwest::Client::new()
        .post(format!("{}/leads/bulk", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&serde_json::json!({"count": 4000}))
        .send()
        .await
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let child = pb2b(&sb, &data)
        .args(["--json", "sync"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Interrupt it once it has written some pages (about 40 pages at 150 ms each in all).
    let db = data.join(pb2b_core::DATABASE_FILE);
    let started = Instant::now();
    loop {
        let synced = pb2b_core::store::Store::open(&db)
            .ok()
            .and_then(|s| {
                s.with_conn(|c| c.query_row("SELECT count(*) FROM sync_leads", [], |r| r.get(0)))
                    .ok()
            })
            .unwrap_or(0i64);
        if synced >= 300 || started.elapsed() > Duration::from_secs(30) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    assert_eq!(json(&out)["error"]["code"], "cancelled");
    // The next run resumes and completes.
    let again = output({
        let mut c = pb2b(&sb, &data);
        c.args(["--json", "sync"]);
        c
    })
    .await;
    assert_eq!(again.status.code(), Some(0), "{again:?}");
    assert_eq!(json(&again)["status"]["total_leads"], 4040);

    // `sync verify` reports its progress as plain lines in a pipe, and Ctrl-C stops it too.
    let mut verify = pb2b(&sb, &data)
        .args(["sync", "verify"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = verify.stderr.take().unwrap();
    let pid = verify.id().to_string();
    let said = tokio::task::spawn_blocking(move || {
        use std::io::{BufRead, BufReader};
        let mut lines = BufReader::new(stderr).lines();
        let first = lines.next().unwrap().unwrap();
        // Interrupted while it reads the server's list (41 pages at 150 ms each).
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        (first, rest)
    })
    .await
    .unwrap();
    let out = tokio::task::spawn_blocking(move || verify.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(said.0.contains("reading the server's list"), "{said:?}");
    assert_eq!(out.status.code(), Some(130), "{out:?} {said:?}");
    assert!(
        said.1
            .iter()
            .any(|l| l.contains("Verify was cancelled; nothing was changed.")),
        "{said:?}"
    );
    sb.shutdown().await;
}
