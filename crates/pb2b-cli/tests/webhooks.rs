//! `pb2b webhooks ...` as a script would run it, against the in-process sandbox over HTTP:
//! the secret is printed only by create and rotate, `verify` exit codes, and no secret in the
//! data folder (request log SQLite, settings) afterwards.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use pb2b_core::api::{Client, ClientConfig, NewLead, NoopObserver};
use pb2b_core::secret::SecretString;
use pb2b_core::webhooks::{sign, ReceiverConfig, TestReceiver};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn pb2b(data_dir: &Path, base_url: &str, key: &str, args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("PB2B_API_KEY", key)
        .env("PB2B_BASE_URL", base_url)
        .env("WH_SECRET", "")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    run_cmd(cmd, stdin.to_vec()).await
}

async fn run_cmd(mut cmd: Command, stdin: Vec<u8>) -> Run {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = cmd.spawn().expect("pb2b runs");
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

async fn verify(data_dir: &Path, secret: &str, ts: &str, sig: &str, body: &[u8]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
    cmd.args([
        "webhooks",
        "verify",
        "--secret-env",
        "WH_SECRET",
        "--timestamp",
        ts,
        "--signature",
        sig,
    ])
    .arg("--data-dir")
    .arg(data_dir)
    .env("WH_SECRET", secret)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    run_cmd(cmd, body.to_vec()).await
}

fn occurrences_in_dir(dir: &Path, needle: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += occurrences_in_dir(&path, needle);
        } else {
            let bytes = std::fs::read(&path).unwrap();
            n += bytes
                .windows(needle.len())
                .filter(|w| *w == needle.as_bytes())
                .count();
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_from_the_command_line() {
    let sb = pb2b_sandbox::start(pb2b_sandbox::SandboxConfig {
        webhook_retry_delays: vec![Duration::from_millis(50); 4],
        ..Default::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let key = sb.keys.full.clone();
    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let url = receiver.url();

    // https is required unless the API is a sandbox on loopback; unknown events are refused.
    let refused = pb2b(
        data,
        &sb.base_url,
        &key,
        &[
            "webhooks",
            "create",
            "--url",
            "http://example.com/x",
            "--events",
            "lead.created",
        ],
        b"",
    )
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("https"), "{}", refused.stderr);
    let refused = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "create", "--url", &url, "--events", "lead.gone"],
        b"",
    )
    .await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);

    let created = pb2b(
        data,
        &sb.base_url,
        &key,
        &[
            "webhooks",
            "create",
            "--url",
            &url,
            "--events",
            "lead.created,export.completed",
            "--json",
        ],
        b"",
    )
    .await;
    assert_eq!(created.code, 0, "{}", created.stderr);
    let created: serde_json::Value = serde_json::from_str(&created.stdout).unwrap();
    let id = created["endpoint"]["id"].as_str().unwrap().to_owned();
    let secret = created["secret"]["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created["endpoint"]["events"],
        serde_json::json!(["lead.created", "export.completed"])
    );
    receiver.set_secret(Some(SecretString::new(secret.clone())));

    let list = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "list", "--json"],
        b"",
    )
    .await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains(&id));
    assert!(!list.stdout.contains(&secret));
    let words = pb2b(data, &sb.base_url, &key, &["webhooks", "list"], b"").await;
    assert!(words.stdout.contains(&id) && !words.stdout.contains(&secret));

    // A real delivery, checked by `verify`.
    let client = Client::new(
        ClientConfig::new(&sb.base_url),
        SecretString::new(key.clone()),
        Arc::new(NoopObserver),
    )
    .unwrap();
    let mut live = receiver.subscribe();
    client
        .create_lead(
            &NewLead {
                email: "cli-hook@example.com".into(),
                full_name: Some("Cli Hook".into()),
                ..Default::default()
            },
            "cli-lead-1",
        )
        .await
        .unwrap();
    let d = tokio::time::timeout(Duration::from_secs(20), live.next_delivery())
        .await
        .unwrap()
        .unwrap();
    assert!(d.verdict.valid, "{:?}", d.verdict);
    let ts = d.timestamp.clone().unwrap();
    let sig = d.signature.clone().unwrap();
    let ok = verify(data, &secret, &ts, &sig, &d.raw_body).await;
    assert_eq!(ok.code, 0, "{} {}", ok.stdout, ok.stderr);
    let mut tampered = d.raw_body.clone();
    tampered.extend_from_slice(b" ");
    let bad = verify(data, &secret, &ts, &sig, &tampered).await;
    assert_eq!(bad.code, 1, "{}", bad.stderr);
    assert!(bad.stderr.contains("signature_mismatch"), "{}", bad.stderr);
    let wrong = verify(data, "whsec_wrong", &ts, &sig, &d.raw_body).await;
    assert_eq!(wrong.code, 1);
    let old = (ts.parse::<i64>().unwrap() - 3600).to_string();
    let old_sig = format!(
        "v1={}",
        sign(&SecretString::new(secret.clone()), &old, &d.raw_body)
    );
    let stale = verify(data, &secret, &old, &old_sig, &d.raw_body).await;
    assert_eq!(stale.code, 1);
    assert!(stale.stderr.contains("tolerance"), "{}", stale.stderr);
    let malformed = verify(data, &secret, &ts, "v1=zz", &d.raw_body).await;
    assert_eq!(malformed.code, 2, "{}", malformed.stderr);
    let no_env = pb2b(
        data,
        &sb.base_url,
        &key,
        &[
            "webhooks",
            "verify",
            "--secret-env",
            "PB2B_TEST_UNSET_VAR",
            "--timestamp",
            &ts,
            "--signature",
            &sig,
        ],
        &d.raw_body,
    )
    .await;
    assert_eq!(no_env.code, 2);

    // Deliveries, then a manual retry.
    let deliveries = loop {
        let r = pb2b(
            data,
            &sb.base_url,
            &key,
            &["webhooks", "deliveries", &id, "--json"],
            b"",
        )
        .await;
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        if v["deliveries"][0]["status"] == "succeeded" {
            break v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let del = deliveries["deliveries"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(Some(del.as_str()), d.delivery_id.as_deref());
    let retry = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "retry", &id, &del, "--json"],
        b"",
    )
    .await;
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    let d2 = tokio::time::timeout(Duration::from_secs(20), live.next_delivery())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d2.delivery_id.as_deref(), Some(del.as_str()));

    // Update, rotate (a new secret, printed once), delete.
    let upd = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "update", &id, "--disable", "--json"],
        b"",
    )
    .await;
    assert_eq!(upd.code, 0, "{}", upd.stderr);
    assert!(upd.stdout.contains("\"enabled\": false"));
    // Without a terminal to ask on, rotating and deleting need --yes: refused, nothing changed.
    let unasked = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "rotate", &id],
        b"y\n",
    )
    .await;
    assert_eq!(unasked.code, 2, "{}", unasked.stderr);
    assert!(unasked.stderr.contains("--yes"), "{}", unasked.stderr);
    assert!(!unasked.stdout.contains("whsec_"), "{}", unasked.stdout);
    let rotated = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "rotate", &id, "--yes"],
        b"",
    )
    .await;
    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new_secret = rotated
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("signing secret  "))
        .unwrap()
        .to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let missing = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "delete", "wh_doesnotexist", "--yes"],
        b"",
    )
    .await;
    // A server 4xx about the input (here 404) is an input error: exit 2.
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("not_found"), "{}", missing.stderr);
    let unasked = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "delete", &id],
        b"y\n",
    )
    .await;
    assert_eq!(unasked.code, 2, "{}", unasked.stderr);
    let listed = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "list", "--json"],
        b"",
    )
    .await;
    assert!(
        listed.stdout.contains(&id),
        "not deleted without --yes: {}",
        listed.stdout
    );
    let del = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "delete", &id, "-y"],
        b"",
    )
    .await;
    assert_eq!(del.code, 0, "{}", del.stderr);
    let listed = pb2b(
        data,
        &sb.base_url,
        &key,
        &["webhooks", "list", "--json"],
        b"",
    )
    .await;
    assert!(
        !listed.stdout.contains(&id),
        "deleted with -y: {}",
        listed.stdout
    );

    // The request log (SQLite) and everything else in the data folder hold neither secret.
    assert!(data.join(pb2b_core::DATABASE_FILE).exists());
    for s in [&secret, &new_secret] {
        assert_eq!(occurrences_in_dir(data, s), 0);
        assert_eq!(occurrences_in_dir(data, &s[12..]), 0);
    }
    receiver.stop().await;
}
