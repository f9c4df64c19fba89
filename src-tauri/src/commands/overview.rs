//! The Overview screen: one call for its figures (see `pb2b_core::overview` for where each
//! comes from).

use pb2b_core::error::ErrorReport;
use pb2b_core::overview::Overview;
use tauri::State;

use crate::state::AppState;

/// The open workspace's Overview.
#[tauri::command]
pub async fn overview(state: State<'_, AppState>) -> Result<Overview, ErrorReport> {
    state.workspace().await?.overview().await
}
