//! Commands called through Tauri's IPC on the mock runtime, as the webview would call them.

use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_context, noop_assets, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::WebviewWindowBuilder;

fn app() -> tauri::App<MockRuntime> {
    let app = pb2b_app::builder::<MockRuntime>()
        .build(mock_context(noop_assets()))
        .expect("the app builds on the mock runtime");
    // `setup` runs when the event loop starts, which the mock runtime never does here.
    pb2b_app::init(app.handle(), false);
    app
}

fn invoke(
    app: &tauri::App<MockRuntime>,
    cmd: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    let webview = WebviewWindowBuilder::new(app, "main", Default::default())
        .build()
        .expect("a webview on the mock runtime");
    get_ipc_response(
        &webview,
        InvokeRequest {
            cmd: cmd.into(),
            callback: CallbackFn(0),
            error: CallbackFn(1),
            url: "tauri://localhost".parse().unwrap(),
            body: InvokeBody::Json(body),
            headers: Default::default(),
            invoke_key: app.invoke_key().to_string(),
        },
    )
    .map(|response| response.deserialize::<serde_json::Value>().unwrap())
}

#[test]
fn diagnostics_reports_versions_and_a_real_keychain_probe() {
    let app = app();
    let report = invoke(&app, "diagnostics", serde_json::json!({})).expect("diagnostics succeeds");
    assert_eq!(report["core_version"], pb2b_core::CORE_VERSION);
    assert_eq!(report["app_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["base_url"], pb2b_core::DEFAULT_BASE_URL);
    assert_eq!(report["arch"], std::env::consts::ARCH);
    assert!(report["os"].as_str().is_some_and(|os| !os.is_empty()));
    assert!(report["data_dir"].as_str().is_some_and(|d| !d.is_empty()));
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
    let app = app();
    let err = invoke(&app, "no_such_command", serde_json::json!({})).unwrap_err();
    assert!(err.to_string().contains("no_such_command"), "{err}");
}
