//! A key used through a full session — verify, save, status, errors, activity, support bundle,
//! diagnostics, rename, forget — is found 0 times in any IPC response, the settings file, the
//! SQLite files (WAL included) and the app's log files. The key is the sandbox's real full-access
//! key, so every call succeeds or fails for real.
//!
//! Needs the OS keychain: scripts/test runs it in a private D-Bus session with gnome-keyring.

mod support;

use serde_json::json;
use support::{app, invoke};

fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_canary_key_is_found_nowhere_after_a_full_session() {
    let keychain = pb2b_core::secret::OsKeychain::new(pb2b_app::APP_IDENTIFIER).probe();
    if !keychain.reachable {
        assert!(
            std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_none(),
            "the test session's keychain is not reachable: {}",
            keychain.detail
        );
        eprintln!(
            "skipped: no Secret Service here ({}); scripts/test provides one",
            keychain.detail
        );
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let data_dir = root.path().join("data");
    let log_dir = root.path().join("logs");
    assert!(
        pb2b_app::logging::init(&log_dir),
        "this process installs the log subscriber"
    );

    let sandbox = tauri::async_runtime::block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let canary = sandbox.keys.full.clone();
    let base = sandbox.base_url.clone();
    let app = app(data_dir.clone());

    let mut responses = Vec::new();
    let mut call = |cmd: &str, body: serde_json::Value| {
        let result = invoke(&app, cmd, body);
        responses.push((cmd.to_owned(), result.clone()));
        result
    };

    let check = call("verify_key", json!({"baseUrl": base, "key": canary})).unwrap();
    assert_eq!(check["me"]["workspace"]["name"], "Sandbox workspace");
    let status = call(
        "save_profile",
        json!({"name": "Canary", "baseUrl": base, "key": canary, "replace": false}),
    )
    .unwrap();
    assert_eq!(status["profile"]["name"], "Canary");
    // Saving under a taken name asks first: refused without `replace`, done with it.
    let taken = call(
        "save_profile",
        json!({"name": "Canary", "baseUrl": base, "key": canary, "replace": false}),
    )
    .unwrap_err();
    assert_eq!(taken["code"], "profile_exists");
    call(
        "save_profile",
        json!({"name": "Canary", "baseUrl": base, "key": canary, "replace": true}),
    )
    .unwrap();
    assert!(status["profile"]["key_hint"]
        .as_str()
        .unwrap()
        .ends_with('…'));
    call("connection_status", json!({})).unwrap();
    let revoked = call(
        "verify_key",
        json!({"baseUrl": base, "key": sandbox.keys.revoked}),
    )
    .unwrap_err();
    assert_eq!(revoked["code"], "api_key_revoked");
    assert!(revoked["request_id"].as_str().is_some());
    let unreachable = call(
        "verify_key",
        json!({"baseUrl": "http://127.0.0.1:9/api/public/v1", "key": canary}),
    )
    .unwrap_err();
    assert_eq!(unreachable["code"], "unreachable");
    let activity = call("activity", json!({"filter": {}})).unwrap();
    let rows = activity.as_array().unwrap();
    assert!(rows.len() >= 4, "every call is logged: {rows:?}");
    let id = rows[0]["id"].clone();
    let bundle = call("support_bundle", json!({"id": id})).unwrap();
    assert!(bundle.as_str().unwrap().contains("request_id"));
    call("diagnostics", json!({})).unwrap();
    call(
        "rename_profile",
        json!({"from": "Canary", "to": "Canary renamed"}),
    )
    .unwrap();
    call("forget_profile", json!({"name": "Canary renamed"})).unwrap();

    for (cmd, response) in &responses {
        let text = match response {
            Ok(value) | Err(value) => value.to_string(),
        };
        assert!(
            !text.contains(&canary),
            "the key crossed IPC in the answer to {cmd}"
        );
    }

    drop(app);
    tauri::async_runtime::block_on(sandbox.shutdown());
    let mut files = Vec::new();
    files_under(root.path(), &mut files);
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(
        names.iter().any(|n| n.ends_with("settings.json")),
        "{names:?}"
    );
    assert!(
        names.iter().any(|n| n.ends_with("pb2b.sqlite")),
        "{names:?}"
    );
    let logs: Vec<_> = files.iter().filter(|f| f.starts_with(&log_dir)).collect();
    assert!(!logs.is_empty(), "the app wrote its log: {names:?}");
    let log_text: String = logs
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    assert!(
        log_text.contains("profile saved and connected") && log_text.contains("api_key_revoked"),
        "the log recorded the session: {log_text}"
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            !contains(&bytes, canary.as_bytes()),
            "the key is in {}",
            file.display()
        );
    }
}
