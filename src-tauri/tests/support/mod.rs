//! Calling commands through Tauri's IPC on the mock runtime, as the webview would.

use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{get_ipc_response, mock_context, noop_assets, MockRuntime};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindowBuilder};

/// The app on the mock runtime with its state in `data_dir`.
pub fn app(data_dir: std::path::PathBuf) -> tauri::App<MockRuntime> {
    let app = pb2b_app::builder::<MockRuntime>()
        .build(mock_context(noop_assets()))
        .expect("the app builds on the mock runtime");
    // `setup` runs when the event loop starts, which the mock runtime never does here.
    pb2b_app::init_with(app.handle(), data_dir, false);
    app
}

/// Invokes `cmd` with a JSON body; Ok is the command's value, Err its error value.
pub fn invoke(
    app: &tauri::App<MockRuntime>,
    cmd: &str,
    body: serde_json::Value,
) -> Result<serde_json::Value, serde_json::Value> {
    let webview = match app.get_webview_window("main") {
        Some(webview) => webview,
        None => WebviewWindowBuilder::new(app, "main", Default::default())
            .build()
            .expect("a webview on the mock runtime"),
    };
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
