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
