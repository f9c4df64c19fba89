//! The tray (menu bar) icon: a status line, Sync now, Open and Quit; and what closing the main
//! window does. The decisions are `background`'s; this module only reads the facts (the mirror's
//! status, the running jobs, the preference) and applies the answers to Tauri.

use pb2b_core::error::Code;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::background::{self, CloseAction, Origin, TrayStatus};
use crate::state::AppState;

const TRAY_ID: &str = "main";

/// The status item of the tray's menu, kept to update its text.
struct TrayMenu<R: Runtime> {
    status: MenuItem<R>,
}

/// Puts the icon in the tray (at start, from `setup`). Where the desktop has no tray, the app
/// still runs; the window simply always quits on close (see [`on_close_requested`]).
pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let status = MenuItem::with_id(app, "status", "Not connected", false, None::<&str>)?;
    let sync = MenuItem::with_id(app, "sync_now", "Sync now", true, None::<&str>)?;
    let open = MenuItem::with_id(app, "open", "Open ProspectB2B Desktop", true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &sync,
            &open,
            &PredefinedMenuItem::separator(app)?,
            &quit,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("ProspectB2B Desktop")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| match event.id.as_ref() {
            "sync_now" => {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    // The same path as the window's Sync now and the automatic sync.
                    let result = crate::commands::sync::run_sync(
                        &app,
                        Default::default(),
                        None,
                        Origin::ByHand,
                    )
                    .await;
                    if let Err(err) = result {
                        tracing::info!(code = %err.code, "tray Sync now did not run");
                    }
                    refresh(&app).await;
                });
            }
            "open" => show_window(app),
            "quit" => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    app.manage(TrayMenu { status });
    // Between syncs (which refresh it as they start and end): "5 min ago" stays true, and a
    // connection made or restored shows within seconds.
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            refresh(&app).await;
            tokio::time::sleep(REFRESH_EVERY).await;
        }
    });
    Ok(())
}

/// How often the tray's status line is refreshed between syncs.
const REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(15);

/// Shows, unminimizes and focuses the main window.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}

/// What the tray should say now.
pub async fn status<R: Runtime>(app: &AppHandle<R>) -> TrayStatus {
    let state = app.state::<AppState>();
    if state.jobs.is_running(pb2b_core::jobs::SYNC_KEY) {
        return TrayStatus::Syncing;
    }
    match crate::commands::sync::current_status(&state).await {
        Ok(Some(status)) => match status.last_error {
            Some(err) if err.code != Code::Cancelled => TrayStatus::Failed(err.message),
            _ => TrayStatus::Synced {
                finished_ms: status
                    .last_finished_at
                    .as_deref()
                    .and_then(pb2b_core::time::parse_timestamp),
                leads: status.total_leads,
            },
        },
        Ok(None) => TrayStatus::NotConnected,
        Err(err) => TrayStatus::Failed(err.message),
    }
}

/// Updates the tray's tooltip and status line (when a sync starts or ends, and every 15 s).
pub async fn refresh<R: Runtime>(app: &AppHandle<R>) {
    if app.try_state::<TrayMenu<R>>().is_none() {
        return;
    }
    let now = pb2b_core::time::parse_timestamp(&pb2b_core::time::now_utc_ms()).unwrap_or(0);
    let text = background::status_text(&status(app).await, now);
    if let Some(menu) = app.try_state::<TrayMenu<R>>() {
        let _ = menu.status.set_text(&text);
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(format!("ProspectB2B Desktop: {text}")));
    }
}

/// Whether closing the window should keep the app in the tray: the remembered answer.
pub fn close_to_tray<R: Runtime>(app: &AppHandle<R>) -> Option<bool> {
    let state = app.state::<AppState>();
    crate::settings::preference(app, &state.data_dir, background::CLOSE_TO_TRAY)
        .and_then(|v| v.as_bool())
}

/// The main window was asked to close: hide it, let it close (the app quits), or keep it and ask
/// the user (the UI shows the question on `close-requested`). Without a tray, closing quits.
pub fn on_close_requested<R: Runtime>(window: &tauri::Window<R>, api: &tauri::CloseRequestApi) {
    let app = window.app_handle();
    let has_tray = app.try_state::<TrayMenu<R>>().is_some();
    let action = if has_tray {
        background::on_close(close_to_tray(app))
    } else {
        CloseAction::Quit
    };
    match action {
        CloseAction::Quit => {}
        CloseAction::Hide => {
            api.prevent_close();
            let _ = window.hide();
            tracing::info!("window closed: the app keeps syncing in the tray");
        }
        CloseAction::Ask => {
            api.prevent_close();
            let _ = crate::ipc::AppEvent::CloseRequested(&()).emit(app);
        }
    }
}
