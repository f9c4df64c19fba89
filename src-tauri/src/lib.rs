//! The ProspectB2B Desktop app: managed state, one thin command per user action, and the glue to
//! the OS (keychain, data folder). Every rule lives in `pb2b-core`; a command here only gathers its
//! inputs, calls the core, and maps the result onto the one IPC error shape.

pub mod commands;
pub mod state;

use tauri::Manager;

/// The identifier under which the app's keychain entries are stored (also the bundle identifier).
pub const APP_IDENTIFIER: &str = "com.prospectb2b.desktop";

/// Builds the Tauri application with its state and commands, on any runtime (the tests use the
/// mock runtime).
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .plugin(tauri_plugin_store::Builder::default().build())
        .setup(|app| {
            init(app.handle());
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::diagnostics])
}

/// Puts the app's state in place. Runs in `setup`, which Tauri calls when the event loop starts;
/// tests on the mock runtime call it themselves.
pub fn init<R: tauri::Runtime>(app: &tauri::AppHandle<R>) {
    let data_dir = app
        .path()
        .app_data_dir()
        .unwrap_or_else(|_| std::env::temp_dir().join(APP_IDENTIFIER));
    app.manage(state::AppState::new(data_dir));
}

/// Runs the desktop app.
pub fn run() {
    builder::<tauri::Wry>()
        .run(tauri::generate_context!())
        .expect("error while running ProspectB2B Desktop");
}
