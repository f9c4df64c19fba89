//! Commands called through Tauri's IPC on the mock runtime, as the webview would call them.

use crate::support::{app, invoke};

#[test]
fn diagnostics_reports_versions_and_a_real_keychain_probe() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    let report = invoke(&app, "diagnostics", serde_json::json!({})).expect("diagnostics succeeds");
    assert_eq!(report["core_version"], pb2b_core::CORE_VERSION);
    assert_eq!(report["app_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["base_url"], pb2b_core::DEFAULT_BASE_URL);
    assert_eq!(report["arch"], std::env::consts::ARCH);
    assert_eq!(report["data_dir"], dir.path().display().to_string());
    assert!(report["os"].as_str().is_some_and(|os| !os.is_empty()));
    assert_eq!(report["trust_store"], pb2b_core::api::network::TRUST_STORE);
    assert_eq!(
        report["proxy"],
        pb2b_core::api::network::describe(pb2b_core::DEFAULT_BASE_URL).1
    );
    // The test command runs inside a private D-Bus session with an unlocked gnome-keyring, so the
    // probe must succeed there; elsewhere (a bare `cargo test`) it must say why it failed.
    let keychain = &report["keychain"];
    if std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_some() {
        assert_eq!(keychain["reachable"], true, "keychain: {keychain}");
    } else if keychain["reachable"] == false {
        assert!(keychain["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

#[test]
fn an_unknown_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    let err = invoke(&app, "no_such_command", serde_json::json!({})).unwrap_err();
    assert!(err.to_string().contains("no_such_command"), "{err}");
}

#[test]
fn errors_cross_ipc_in_the_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    // Refused before anything is sent: plain http to a non-loopback host.
    let err = invoke(
        &app,
        "verify_key",
        serde_json::json!({"baseUrl": "http://example.com/api", "key": "pb2b_live_ab12cd_secret"}),
    )
    .unwrap_err();
    let keys: Vec<&str> = err
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "message", "request_id", "retryable"]);
    assert_eq!(err["code"], "invalid_input");
    assert!(err["message"].as_str().unwrap().contains("https"));
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// preferences.json (written in place by tauri-plugin-store) and the log folder are the user's
/// alone, whatever the umask gave them (issue 14, item 7).
#[cfg(unix)]
#[test]
fn preferences_and_logs_are_the_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = app(data.clone());
    // Until the user chooses, the automatic sync runs every 15 minutes.
    assert_eq!(
        invoke(&app, "sync_interval", serde_json::json!({})).unwrap(),
        15
    );
    invoke(
        &app,
        "set_sync_interval",
        serde_json::json!({ "minutes": 60 }),
    )
    .expect("saved");
    let prefs = data.join(pb2b_app::settings::PREFERENCES_FILE);
    assert_eq!(mode(&prefs), 0o600);
    assert_eq!(mode(&data), 0o700);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&prefs).unwrap()).unwrap();
    assert_eq!(saved["sync_interval_minutes"], 60);
    assert_eq!(
        invoke(&app, "sync_interval", serde_json::json!({})).unwrap(),
        60
    );

    // A log folder and file an older version left readable by everyone.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let old = logs.join("prospectb2b-desktop.2024-01-01.log");
    std::fs::write(&old, "{}\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(pb2b_app::logging::private_log_dir(&logs));
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&old), 0o600);
    let fresh = dir.path().join("new/logs");
    assert!(pb2b_app::logging::private_log_dir(&fresh));
    assert_eq!(mode(&fresh), 0o700);
}

/// No data folder: a clear refusal naming the remedy, never a guessable folder under /tmp.
#[test]
fn a_missing_data_folder_is_refused_not_replaced_by_tmp() {
    let err = pb2b_app::data_dir_or_refuse(Err(tauri::Error::UnknownPath)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cannot find a folder for its data"),
        "{message}"
    );
    assert!(message.contains("HOME"), "{message}");
    let relative = pb2b_app::data_dir_or_refuse(Ok("relative/dir".into())).unwrap_err();
    assert!(relative.to_string().contains("not an absolute path"));
    let home = std::env::temp_dir().join("abs");
    assert_eq!(
        pb2b_app::data_dir_or_refuse(Ok(home.clone())).unwrap(),
        home
    );
}

/// Issue 14, item 5: the create form sends one submission (one Idempotency-Key) again after a
/// lost answer; the sandbox replays the first answer, so there is one endpoint and its once-shown
/// secret is in the second answer too.
#[test]
fn webhook_create_sent_twice_with_one_submission_makes_one_endpoint_and_shows_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = tauri::async_runtime::block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let app = app(dir.path().to_owned());
    invoke(
        &app,
        "save_profile",
        serde_json::json!({"name": "Sandbox", "baseUrl": sandbox.base_url, "key": sandbox.keys.full, "replace": false}),
    )
    .expect("connected to the sandbox");
    let draft = serde_json::json!({"url": "https://hooks.example.com/pb2b", "events": ["lead.created"], "description": null, "enabled": true});
    let submission = invoke(
        &app,
        "webhook_submission",
        serde_json::json!({"draft": draft}),
    )
    .unwrap();
    let key = submission["idempotency_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("webhook-create-"), "{key}");
    let again = invoke(
        &app,
        "webhook_submission",
        serde_json::json!({"draft": draft}),
    )
    .unwrap();
    assert_ne!(
        again["idempotency_key"], submission["idempotency_key"],
        "a new submission has a new key"
    );

    let first = invoke(
        &app,
        "webhook_create",
        serde_json::json!({"submission": submission}),
    )
    .unwrap();
    let second = invoke(
        &app,
        "webhook_create",
        serde_json::json!({"submission": submission}),
    )
    .unwrap();
    let secret = first["secret"]["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{first}");
    assert_eq!(
        second["secret"]["webhook_id"],
        first["secret"]["webhook_id"]
    );
    assert_eq!(
        second["secret"]["secret"], first["secret"]["secret"],
        "the replay shows the secret"
    );

    let endpoints = invoke(&app, "webhooks_list", serde_json::json!({})).unwrap();
    let endpoints = endpoints.as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "one endpoint: {endpoints:?}");
    assert_eq!(endpoints[0]["id"], first["secret"]["webhook_id"]);
    let requests = invoke(&app, "activity", serde_json::json!({"filter": {}})).unwrap();
    let keys: Vec<&serde_json::Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/webhooks"))
        })
        .map(|r| &r["idempotency_key"])
        .collect();
    assert_eq!(
        keys,
        [&serde_json::json!(key), &serde_json::json!(key)],
        "both sends carried the submission's key"
    );
    drop(app);
    tauri::async_runtime::block_on(sandbox.shutdown());
}
