//! Tauri commands: one per user action, each a thin wrapper over `pb2b-core`.
//! Errors cross IPC as [`ErrorReport`] only.

pub mod activity;
pub mod background;
pub mod connect;
pub mod destination;
pub mod exports;
pub mod files;
pub mod import;
pub mod overview;
pub mod sync;
pub mod webhooks;

use pb2b_core::diagnostics::Diagnostics;
use pb2b_core::error::Code;
use pb2b_core::error::{codes, ErrorReport};
use tauri::State;

use crate::state::AppState;

/// Runs blocking work (the keychain talks to D-Bus synchronously, SQLite writes to disk) on the
/// blocking pool, never on the IPC thread.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ErrorReport> + Send + 'static,
) -> Result<T, ErrorReport> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("A background task failed: {err}"),
                true,
            )
        })?
}

/// The error every command that needs a connection answers without one.
pub(crate) fn not_connected() -> ErrorReport {
    ErrorReport::local(
        Code::NotConnected,
        "Connect a workspace first (Connect screen).",
        false,
    )
}

/// The user's Downloads folder, or the data folder's `exports/` when the platform has none.
pub(crate) fn downloads_dir(state: &AppState) -> std::path::PathBuf {
    files::default_dir(state)
}

/// Versions, platform, data folder, a real keychain probe and the base URL in use.
#[tauri::command]
pub async fn diagnostics<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Diagnostics, ErrorReport> {
    let version = app.package_info().version.to_string();
    let data_dir = state.data_dir.clone();
    let base_url = match state.connection.lock().await.as_ref() {
        Some(connection) => connection.profile().base_url.clone(),
        None => pb2b_core::DEFAULT_BASE_URL.to_owned(),
    };
    let keychain = state.keychain.clone();
    blocking(move || {
        Ok(pb2b_core::diagnostics::collect(
            &version, &data_dir, &base_url, &keychain,
        ))
    })
    .await
}

/// Asks a running job (sync, import, export polling) to stop. It stops at its next checkpoint
/// and can be resumed; false when no such job runs.
#[tauri::command]
pub fn cancel_job(state: State<'_, AppState>, id: String) -> bool {
    state.jobs.cancel(&id)
}
