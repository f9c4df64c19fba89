//! The ProspectB2B Desktop app: managed state, one thin command per user action, and the glue to
//! the OS (keychain, data folder). Every rule lives in `pb2b-core`; a command here only gathers its
//! inputs, calls the core, and maps the result onto the one IPC error shape.

pub mod commands;
pub mod jobs;
pub mod logging;
pub mod settings;
pub mod state;

use tauri::Manager;

/// The identifier under which the app's keychain entries are stored (also the bundle identifier).
pub use pb2b_core::APP_IDENTIFIER;

/// Builds the Tauri application with its state and commands, on any runtime (the tests use the
/// mock runtime).
pub fn builder<R: tauri::Runtime>() -> tauri::Builder<R> {
    tauri::Builder::<R>::new()
        .plugin(tauri_plugin_store::Builder::default().build())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .setup(|app| {
            let auto_sandbox = std::env::args().any(|arg| arg == "--sandbox");
            init(app.handle(), auto_sandbox);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::diagnostics,
            commands::cancel_job,
            commands::connect::connection_status,
            commands::connect::verify_key,
            commands::connect::save_profile,
            commands::connect::connect_sandbox,
            commands::connect::activate_profile,
            commands::connect::rename_profile,
            commands::connect::forget_profile,
            commands::activity::activity,
            commands::activity::support_bundle,
            commands::sync::sync_now,
            commands::sync::sync_status,
            commands::sync::leads_search,
            commands::sync::lead_detail,
            commands::sync::mirror_export,
            commands::sync::set_sync_interval,
            commands::sync::sync_interval,
            commands::exports::exports_list,
            commands::exports::export_start,
            commands::exports::export_resume,
            commands::exports::export_stop_polling,
            commands::exports::export_remove,
            commands::exports::export_open,
            commands::exports::export_reveal,
            commands::webhooks::webhook_events,
            commands::webhooks::webhook_check_url,
            commands::webhooks::webhooks_list,
            commands::webhooks::webhook_create,
            commands::webhooks::webhook_rotate,
            commands::webhooks::webhook_save_secret,
            commands::webhooks::webhook_copy_secret,
            commands::webhooks::webhook_dismiss_secret,
            commands::webhooks::webhook_update,
            commands::webhooks::webhook_delete,
            commands::webhooks::webhook_deliveries,
            commands::webhooks::webhook_retry_delivery,
            commands::webhooks::webhook_check_signature,
            commands::webhooks::receiver_start,
            commands::webhooks::receiver_stop,
            commands::webhooks::receiver_available,
            commands::import::lead_validate,
            commands::import::lead_submission,
            commands::import::lead_create,
            commands::import::import_pick_file,
            commands::import::import_preview,
            commands::import::imports_list,
            commands::import::imports_unassigned,
            commands::import::import_assign,
            commands::import::import_start,
            commands::import::import_resume,
            commands::import::import_pause,
            commands::import::import_cancel,
            commands::import::import_retry_failed,
            commands::import::import_results_file,
        ])
}

/// Puts the app's state in place and starts the file logs, in the platform's folders. Runs in
/// `setup`, which Tauri calls when the event loop starts. `auto_sandbox` (the `--sandbox`
/// argument) connects the embedded sandbox when no profile is active.
pub fn init<R: tauri::Runtime>(app: &tauri::AppHandle<R>, auto_sandbox: bool) {
    let data_dir = app
        .path()
        .app_data_dir()
        .unwrap_or_else(|_| std::env::temp_dir().join(APP_IDENTIFIER));
    let log_dir = app
        .path()
        .app_log_dir()
        .unwrap_or_else(|_| data_dir.join("logs"));
    logging::init(&log_dir);
    init_with(app, data_dir, auto_sandbox);
    commands::sync::spawn_interval_loop(app.clone());
}

/// Puts the app's state in place with its data (settings, SQLite, the sandbox's file) in
/// `data_dir`. Tests on the mock runtime call this with a temporary folder.
pub fn init_with<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: std::path::PathBuf,
    auto_sandbox: bool,
) {
    tracing::info!(data_dir = %data_dir.display(), "ProspectB2B Desktop starting");
    let interval = settings::preference(app, &data_dir, "sync_interval_minutes")
        .and_then(|v| v.as_u64())
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(0);
    let state = state::AppState::new(data_dir, auto_sandbox);
    if let Ok(mut minutes) = state.sync_interval.try_lock() {
        *minutes = interval;
    }
    app.manage(state);
}

/// Runs the desktop app.
pub fn run() {
    builder::<tauri::Wry>()
        .run(tauri::generate_context!())
        .expect("error while running ProspectB2B Desktop");
}
