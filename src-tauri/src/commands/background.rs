//! Working in the background: what closing the window does (asked once, changeable on the Sync
//! screen) and starting at login. The rules are `crate::background`'s.

use pb2b_core::error::{codes, ErrorReport};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::ManagerExt;

use crate::background::CLOSE_TO_TRAY;
use crate::state::AppState;

/// The background settings as the Sync screen shows them.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export_to = "BackgroundSettings.ts")]
pub struct BackgroundSettings {
    /// Closing the window keeps the app syncing in the tray (true), quits (false), or has not
    /// been chosen yet (null: the app asks at the next close).
    pub close_to_tray: Option<bool>,
    /// The app starts when the user logs in.
    pub start_at_login: bool,
}

fn start_error(err: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        codes::INTERNAL,
        format!("Start at login could not be changed: {err}. Check that your autostart folder (on Linux ~/.config/autostart) can be written, then try again."),
        true,
    )
}

fn settings<R: Runtime>(app: &AppHandle<R>) -> Result<BackgroundSettings, ErrorReport> {
    let start_at_login = app.autolaunch().is_enabled().map_err(start_error)?;
    Ok(BackgroundSettings {
        close_to_tray: crate::tray::close_to_tray(app),
        start_at_login,
    })
}

/// The background settings.
#[tauri::command]
pub async fn background_settings<R: Runtime>(
    app: AppHandle<R>,
) -> Result<BackgroundSettings, ErrorReport> {
    settings(&app)
}

/// Chooses what closing the window does (null: ask again at the next close).
#[tauri::command]
pub async fn set_close_to_tray<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    keep: Option<bool>,
) -> Result<BackgroundSettings, ErrorReport> {
    let value = keep.map_or(serde_json::Value::Null, serde_json::Value::Bool);
    crate::settings::set_preference(&app, &state.data_dir, CLOSE_TO_TRAY, value)?;
    settings(&app)
}

/// The answer to "keep syncing in the tray?" asked when the window was closed: remembered, then
/// applied (the window hides, or the app quits as it always did).
#[tauri::command]
pub async fn answer_close<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    keep: bool,
) -> Result<(), ErrorReport> {
    crate::settings::set_preference(&app, &state.data_dir, CLOSE_TO_TRAY, keep.into())?;
    if keep {
        if let Some(window) = app.get_webview_window("main") {
            let _ = window.hide();
        }
        tracing::info!("window closed: the app keeps syncing in the tray");
    } else {
        tracing::info!("window closed: the app quits");
        app.exit(0);
    }
    Ok(())
}

/// Turns starting at login on or off (the platform's autostart entry).
#[tauri::command]
pub async fn set_start_at_login<R: Runtime>(
    app: AppHandle<R>,
    enabled: bool,
) -> Result<BackgroundSettings, ErrorReport> {
    let manager = app.autolaunch();
    if enabled {
        manager.enable().map_err(start_error)?;
    } else if manager.is_enabled().map_err(start_error)? {
        manager.disable().map_err(start_error)?;
    }
    tracing::info!(enabled, "start at login changed");
    settings(&app)
}
