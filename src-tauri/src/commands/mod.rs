//! Tauri commands: one per user action, each a thin wrapper over `pb2b-core`.
//! Errors cross IPC as [`ErrorReport`] only.

use pb2b_core::diagnostics::Diagnostics;
use pb2b_core::error::ErrorReport;
use tauri::State;

use crate::state::AppState;

/// Versions, platform, data folder, a real keychain probe and the base URL in use.
///
/// The keychain probe talks to D-Bus (or the platform service) synchronously, so it runs on the
/// blocking pool, never on the IPC thread.
#[tauri::command]
pub async fn diagnostics<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Diagnostics, ErrorReport> {
    let version = app.package_info().version.to_string();
    let data_dir = state.data_dir.clone();
    let base_url = state.base_url();
    let keychain = state.keychain.clone();
    tauri::async_runtime::spawn_blocking(move || {
        pb2b_core::diagnostics::collect(&version, &data_dir, &base_url, &keychain)
    })
    .await
    .map_err(|err| {
        ErrorReport::local(
            pb2b_core::error::codes::INTERNAL,
            format!("Diagnostics could not be collected: {err}"),
            true,
        )
    })
}
