//! The ProspectB2B Desktop app: managed state, one thin command per user action, and the glue to
//! the OS (keychain, data folder). Every rule lives in `pb2b-core`; a command here only gathers its
//! inputs, calls the core, and maps the result onto the one IPC error shape.

pub mod background;
pub mod clipboard;
pub mod commands;
pub mod instance;
pub mod ipc;
pub mod jobs;
pub mod logging;
pub mod settings;
pub mod state;
pub mod tray;

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
        // Start at login: driven from Rust commands only (no JS permission is granted).
        .plugin(tauri_plugin_autostart::Builder::new().build())
        .on_window_event(|window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event {
                if window.label() == "main" {
                    tray::on_close_requested(window, api);
                }
            }
        })
        .setup(|app| {
            let auto_sandbox = std::env::args().any(|arg| arg == "--sandbox");
            if let Err(refusal) = init(app.handle(), auto_sandbox) {
                // Said where a double-clicking user sees it (stderr has it too), then the app
                // ends: nothing is kept anywhere else.
                use tauri_plugin_dialog::{DialogExt, MessageDialogKind};
                let handle = app.handle().clone();
                app.dialog()
                    .message(refusal.to_string())
                    .title("ProspectB2B Desktop cannot start")
                    .kind(MessageDialogKind::Error)
                    .show(move |_| handle.exit(1));
                return Ok(());
            }
            // Without a tray (a desktop that shows none), closing the window quits as before.
            if let Err(err) = tray::create(app.handle()) {
                tracing::warn!(error = %err, "no tray icon: closing the window will quit");
            }
            Ok(())
        })
        // Every command is listed once, with its signature, in `ipc::commands!`.
        .invoke_handler(ipc::commands!(ipc::invoke_handler))
}

/// Puts the app's state in place and starts the file logs, in the platform's folders. Runs in
/// `setup`, which Tauri calls when the event loop starts. `auto_sandbox` (the `--sandbox`
/// argument) connects the embedded sandbox when no profile is active. Fails, and the app does
/// not start, when the platform names no data folder: keys' profiles, the mirror and the logs
/// never go to a guessable shared place such as /tmp.
pub fn init<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    auto_sandbox: bool,
) -> Result<(), DataFolderMissing> {
    let data_dir = data_dir_or_refuse(app.path().app_data_dir())?;
    let log_dir = app
        .path()
        .app_log_dir()
        .unwrap_or_else(|_| data_dir.join("logs"));
    logging::init(&log_dir);
    init_with(app, data_dir, auto_sandbox);
    commands::sync::spawn_interval_loop(app.clone());
    Ok(())
}

/// The platform named no folder for the app's data (no home folder, `HOME` unset...).
#[derive(Debug, thiserror::Error)]
#[error(
    "ProspectB2B Desktop cannot find a folder for its data ({0}). It needs your user's \
     application-data folder (on Linux $XDG_DATA_HOME or ~/.local/share, on macOS \
     ~/Library/Application Support, on Windows %APPDATA%): make sure your home folder exists and \
     HOME (or %APPDATA%) is set, then start the app again."
)]
pub struct DataFolderMissing(String);

/// The data folder Tauri resolved, or the clear refusal (never a temporary-folder fallback).
pub fn data_dir_or_refuse(
    resolved: tauri::Result<std::path::PathBuf>,
) -> Result<std::path::PathBuf, DataFolderMissing> {
    match resolved {
        Ok(dir) if dir.is_absolute() => Ok(dir),
        Ok(dir) => Err(DataFolderMissing(format!(
            "the platform named {}, which is not an absolute path",
            dir.display()
        ))),
        Err(err) => {
            let refusal = DataFolderMissing(err.to_string());
            eprintln!("{refusal}");
            Err(refusal)
        }
    }
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
        .unwrap_or(commands::sync::DEFAULT_SYNC_INTERVAL_MINUTES);
    let state = state::AppState::new(data_dir, auto_sandbox);
    if let Ok(mut minutes) = state.sync_interval.try_lock() {
        *minutes = interval;
    }
    app.manage(state);
}

/// What the app does on its event loop's events: at exit, it clears the clipboard if it still
/// holds a signing secret the app copied; on macOS, reopening (the Dock icon) shows the window.
pub fn on_run_event<R: tauri::Runtime>(app: &tauri::AppHandle<R>, event: &tauri::RunEvent) {
    // macOS: a click on the Dock icon shows the window that was closed to the tray.
    #[cfg(target_os = "macos")]
    if let tauri::RunEvent::Reopen { .. } = event {
        tray::show_window(app);
    }
    if let tauri::RunEvent::Exit = event {
        if let Some(state) = app.try_state::<state::AppState>() {
            if state.clipboard.clear_if_ours() {
                tracing::info!("cleared the copied signing secret from the clipboard at exit");
            }
        }
    }
}

/// Brings the main window to the front (shown again when it was closed to the tray): another
/// launch on this data folder asked for it.
pub fn bring_to_front<R: tauri::Runtime>(app: &tauri::AppHandle<R>, arguments: usize) {
    tray::show_window(app);
    tracing::info!(
        arguments,
        "another launch on this data folder: brought the window to the front"
    );
}

/// Runs the desktop app: the only one on its data folder (see `instance`); a later launch on the
/// same folder brings this one's window to the front and exits.
pub fn run() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The folder Tauri's `app_data_dir` resolves to, known before Tauri starts.
    let data_dir = dirs::data_dir().map(|d| d.join(APP_IDENTIFIER));
    let primary = match data_dir.as_deref().map(|d| instance::claim(d, &args)) {
        Some(Ok(instance::Claim::First(primary))) => Some(primary),
        Some(Ok(instance::Claim::Running)) => {
            eprintln!("ProspectB2B Desktop is already running on this data folder: its window was brought to the front.");
            return;
        }
        Some(Err(err)) => {
            eprintln!("ProspectB2B Desktop could not check for another running copy ({err}); starting anyway.");
            None
        }
        None => None,
    };
    let app = builder::<tauri::Wry>()
        .build(tauri::generate_context!())
        .expect("error while running ProspectB2B Desktop");
    if let Some(primary) = primary {
        let handle = app.handle().clone();
        primary.serve(move |args| bring_to_front(&handle, args.len()));
    }
    app.run(|app, event| on_run_event(app, &event));
}
