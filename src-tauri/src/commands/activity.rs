//! The Activity screen: the request log, filtered, and a redacted support bundle of one exchange.

use pb2b_core::error::Code;
use pb2b_core::error::ErrorReport;
use pb2b_core::store::{LogFilter, LoggedRequest, RequestLog, DEFAULT_RETENTION};
use tauri::{AppHandle, Runtime, State};

use super::blocking;
use crate::state::AppState;

fn store_error(err: impl std::fmt::Display) -> ErrorReport {
    ErrorReport::local(
        Code::StoreError,
        format!("The request log could not be read: {err}"),
        true,
    )
}

/// The logged API calls matching `filter`, newest first.
#[tauri::command]
pub async fn activity(
    state: State<'_, AppState>,
    filter: LogFilter,
) -> Result<Vec<LoggedRequest>, ErrorReport> {
    let log = RequestLog::new(state.store().await?, "", DEFAULT_RETENTION);
    blocking(move || log.query(&filter).map_err(store_error)).await
}

/// A redacted JSON of one exchange (request line, headers without secrets, status, response
/// excerpt, request_id, time, app version) for the clipboard.
#[tauri::command]
pub async fn support_bundle<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
) -> Result<String, ErrorReport> {
    let log = RequestLog::new(state.store().await?, "", DEFAULT_RETENTION);
    let version = app.package_info().version.to_string();
    blocking(move || {
        let bundle = log.support_bundle(id, &version).map_err(store_error)?;
        serde_json::to_string_pretty(&bundle).map_err(store_error)
    })
    .await
}

/// Saves one exchange's support bundle (the same redacted JSON as the copy) where the user
/// chooses in the native save dialog (Downloads and `support-bundle-<request_id>.json`
/// proposed); returns its path, or null when the dialog was cancelled (no file).
#[tauri::command]
pub async fn support_bundle_save<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: i64,
) -> Result<Option<String>, ErrorReport> {
    let log = RequestLog::new(state.store().await?, "", DEFAULT_RETENTION);
    let version = app.package_info().version.to_string();
    let (bundle, request_id) = blocking(move || {
        let row = log.get(id).map_err(store_error)?;
        let bundle = log.support_bundle(id, &version).map_err(store_error)?;
        Ok((bundle, row.request_id))
    })
    .await?;
    let proposal = pb2b_core::saved_files::support_bundle_proposal(
        super::files::default_dir(&state),
        request_id.as_deref(),
        id,
    );
    let saved = super::files::save_as(&app, proposal, move |path| {
        pb2b_core::saved_files::write_atomically(path, |out| {
            serde_json::to_writer_pretty(&mut *out, &bundle).map_err(store_error)?;
            std::io::Write::write_all(out, b"\n").map_err(store_error)
        })
    })
    .await?;
    Ok(saved.map(|(path, _)| path.display().to_string()))
}
