//! `pb2b me`, `login`, `profiles` and `activity` as real processes against the in-process
//! sandbox: what each key opens, and exit codes that tell auth, usage, network and success apart.
//! The key comes from PB2B_API_KEY (as in CI), so no keychain is needed here; `login` needs one
//! and runs only where the test session provides it.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

fn pb2b(data: &Path, base_url: &str, key: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pb2b"))
        .args(args)
        .env("PB2B_API_KEY", key)
        .env("PB2B_BASE_URL", base_url)
        .env("PB2B_DATA_DIR", data)
        .stdin(Stdio::null())
        .output()
        .expect("pb2b runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

async fn sandbox() -> Sandbox {
    pb2b_sandbox::start(SandboxConfig::default()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn me_for_each_key_and_exit_codes_by_failure_class() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let url = sb.base_url.clone();

    let ok = tokio::task::spawn_blocking({
        let (url, key, data) = (url.clone(), sb.keys.full.clone(), data.to_owned());
        move || pb2b(&data, &url, &key, &["me", "--json"])
    })
    .await
    .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let check = json(&ok);
    assert_eq!(check["me"]["workspace"]["name"], "Sandbox workspace");
    assert!(check["request_id"].as_str().unwrap().starts_with("req_"));

    let ro = tokio::task::spawn_blocking({
        let (url, key, data) = (url.clone(), sb.keys.read_only.clone(), data.to_owned());
        move || pb2b(&data, &url, &key, &["me", "--json"])
    })
    .await
    .unwrap();
    assert_eq!(ro.status.code(), Some(0));
    let check = json(&ro);
    assert_eq!(check["me"]["read_only"], true);
    let create = check["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["action"] == "create_lead")
        .unwrap();
    assert_eq!(create["allowed"], false);
    assert_eq!(create["reason"], "This key is read-only");

    for (key, code) in [
        (&sb.keys.revoked, "api_key_revoked"),
        (&sb.keys.expired, "api_key_expired"),
    ] {
        let out = tokio::task::spawn_blocking({
            let (url, key, data) = (url.clone(), key.clone(), data.to_owned());
            move || pb2b(&data, &url, &key, &["me", "--json"])
        })
        .await
        .unwrap();
        assert_eq!(out.status.code(), Some(3), "auth failures exit 3");
        let err = json(&out);
        assert_eq!(err["error"]["code"], code);
        assert!(err["error"]["request_id"]
            .as_str()
            .unwrap()
            .starts_with("req_"));
    }

    let unreachable = tokio::task::spawn_blocking({
        let (key, data) = (sb.keys.full.clone(), data.to_owned());
        move || {
            pb2b(
                &data,
                "http://127.0.0.1:9/api/public/v1",
                &key,
                &["me", "--json"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(
        unreachable.status.code(),
        Some(4),
        "network failures exit 4"
    );
    assert_eq!(json(&unreachable)["error"]["code"], "unreachable");

    let usage = tokio::task::spawn_blocking({
        let (url, key, data) = (url.clone(), sb.keys.full.clone(), data.to_owned());
        move || pb2b(&data, &url, &key, &["activity", "--status", "banana"])
    })
    .await
    .unwrap();
    assert_eq!(usage.status.code(), Some(2), "usage errors exit 2");

    // Every call above is in the request log, with its request_id, and never the key.
    let log = tokio::task::spawn_blocking({
        let (url, key, data) = (url.clone(), sb.keys.full.clone(), data.to_owned());
        move || {
            pb2b(
                &data,
                &url,
                &key,
                &["activity", "--json", "--status", "4xx"],
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(log.status.code(), Some(0));
    let rows = json(&log);
    let codes: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error_code"].as_str())
        .collect();
    assert!(
        codes.contains(&"api_key_revoked") && codes.contains(&"api_key_expired"),
        "{codes:?}"
    );
    let db = std::fs::read(data.join(pb2b_core::DATABASE_FILE)).unwrap();
    assert!(!db
        .windows(sb.keys.full.len())
        .any(|w| w == sb.keys.full.as_bytes()));
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_saves_a_profile_in_the_keychain_and_me_uses_it() {
    let keychain = pb2b_core::secret::OsKeychain::new(pb2b_core::APP_IDENTIFIER).probe();
    if !keychain.reachable {
        assert!(
            std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_none(),
            "{}",
            keychain.detail
        );
        eprintln!("skipped: no Secret Service here; scripts/test provides one");
        return;
    }
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let (url, key) = (sb.base_url.clone(), sb.keys.full.clone());
    let out = tokio::task::spawn_blocking(move || {
        let run = |args: &[&str], env_key: Option<&str>| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_pb2b"));
            cmd.args(args)
                .env("PB2B_DATA_DIR", &data)
                .env_remove("PB2B_API_KEY")
                .env_remove("PB2B_BASE_URL");
            if let Some(k) = env_key {
                cmd.env("CLI_TEST_KEY", k);
            }
            cmd.stdin(Stdio::null()).output().unwrap()
        };
        let login = run(
            &[
                "login",
                "--name",
                "CLI test",
                "--base-url",
                &url,
                "--key-env",
                "CLI_TEST_KEY",
                "--json",
            ],
            Some(&key),
        );
        let me = run(&["me", "--json"], None);
        let profiles = run(&["profiles", "--json"], None);
        let forget = run(&["profiles", "forget", "CLI test", "--yes", "--json"], None);
        let after = run(&["me", "--json"], None);
        let settings =
            std::fs::read_to_string(data.join(pb2b_core::SETTINGS_FILE)).unwrap_or_default();
        (login, me, profiles, forget, after, settings)
    })
    .await
    .unwrap();
    let (login, me, profiles, forget, after, settings) = out;
    assert_eq!(
        login.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    assert_eq!(json(&login)["profile"]["name"], "CLI test");
    assert_eq!(
        me.status.code(),
        Some(0),
        "me uses the saved profile's key from the keychain"
    );
    assert_eq!(json(&profiles)["active"], "CLI test");
    assert_eq!(forget.status.code(), Some(0));
    assert_ne!(
        after.status.code(),
        Some(0),
        "no active profile after forget"
    );
    assert!(
        !settings.contains(&sb.keys.full),
        "the settings file never holds the key"
    );
    sb.shutdown().await;
}
