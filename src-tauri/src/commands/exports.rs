//! Exports: start one, watch it become ready (polling with backoff, resumed after a restart),
//! download it with a progress bar, notify, open it or show it in its folder.

use pb2b_core::error::Code;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::exports::{ExportEvent, ExportJob, ExportRequest, Exports, PollOptions};
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_notification::NotificationExt;
use tauri_plugin_opener::OpenerExt;

use super::blocking;
use crate::ipc::AppEvent;
use crate::state::AppState;

async fn exports_of_active(
    state: &AppState,
) -> Result<(Exports, pb2b_core::api::Client), ErrorReport> {
    let ws = state.workspace().await?;
    let client = ws.client().clone();
    let exports = blocking(move || ws.exports()).await?;
    Ok((exports, client))
}

/// Polls (and downloads) one job on a background task, as a cancellable job `export:<job_id>`.
fn spawn_run<R: Runtime>(
    app: AppHandle<R>,
    exports: Exports,
    client: pb2b_core::api::Client,
    job_id: String,
) {
    tauri::async_runtime::spawn(async move {
        let state = app.state::<AppState>();
        let Some(job) = state.jobs.start(&format!("export:{job_id}")) else {
            return;
        };
        let emitter = app.clone();
        let on_event = move |event: ExportEvent| {
            let _ = AppEvent::Export(&event).emit(&emitter);
        };
        let result = exports
            .run(
                &client,
                &job_id,
                &PollOptions::default(),
                &job.token,
                &on_event,
            )
            .await;
        drop(job);
        match result {
            Ok(done) => {
                tracing::info!(job = %done.job_id, export = ?done.export_id, status = done.status.as_str(), "export finished");
                if let Some(path) = &done.local_path {
                    let _ = app
                        .notification()
                        .builder()
                        .title("Export ready")
                        .body(format!(
                            "{} ({} rows) is in {}",
                            done.file_name.clone().unwrap_or_default(),
                            done.row_count.unwrap_or_default(),
                            path
                        ))
                        .show();
                }
            }
            Err(err) if err.code == Code::Cancelled => {}
            Err(err) => {
                tracing::warn!(job = %job_id, code = %err.code, request_id = ?err.request_id, "export failed");
                let _ = app
                    .notification()
                    .builder()
                    .title("Export failed")
                    .body(err.message.clone())
                    .show();
            }
        }
        if let Ok(job) = exports.get(&job_id) {
            let _ = AppEvent::Export(&ExportEvent::Job { job: Box::new(job) }).emit(&app);
        }
    });
}

/// The open workspace's export jobs, newest first. The first call after a start resumes polling
/// of every job that was still being polled when the app stopped.
#[tauri::command]
pub async fn exports_list<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Vec<ExportJob>, ErrorReport> {
    let (exports, client) = exports_of_active(&state).await?;
    // Jobs saved by an older version join this workspace when the server says they are its.
    exports.assign_known(&client).await?;
    let ex = exports.clone();
    let jobs = blocking(move || ex.list()).await?;
    if !state
        .exports_resumed
        .swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        let ex = exports.clone();
        for job in blocking(move || ex.pending()).await? {
            if !state.jobs.is_running(&format!("export:{}", job.job_id)) {
                spawn_run(app.clone(), exports.clone(), client.clone(), job.job_id);
            }
        }
    }
    Ok(jobs)
}

/// Starts an export (its Idempotency-Key saved before the request) and polls it in the
/// background; the file goes to the Downloads folder.
#[tauri::command]
pub async fn export_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    updated_after: Option<String>,
    fields: Option<Vec<String>>,
) -> Result<ExportJob, ErrorReport> {
    let (exports, client) = exports_of_active(&state).await?;
    let dest_dir = super::downloads_dir(&state).display().to_string();
    let request = ExportRequest {
        updated_after: updated_after.filter(|s| !s.trim().is_empty()),
        fields: fields.filter(|f| !f.is_empty()),
        dest_dir,
        auto_download: true,
    };
    let ex = exports.clone();
    let job = blocking(move || ex.prepare(&request)).await?;
    spawn_run(app, exports, client, job.job_id.clone());
    Ok(job)
}

/// Starts polling a job again (after "Stop polling", or a failure that may have passed).
#[tauri::command]
pub async fn export_resume<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let (exports, client) = exports_of_active(&state).await?;
    spawn_run(app, exports, client, id);
    Ok(())
}

/// Stops polling a job (it is not resumed at the next start).
#[tauri::command]
pub async fn export_stop_polling(
    state: State<'_, AppState>,
    id: String,
) -> Result<ExportJob, ErrorReport> {
    state.jobs.cancel(&format!("export:{id}"));
    let (exports, _) = exports_of_active(&state).await?;
    blocking(move || exports.stop_polling(&id)).await
}

/// Removes a job from the list (the downloaded file stays).
#[tauri::command]
pub async fn export_remove(state: State<'_, AppState>, id: String) -> Result<(), ErrorReport> {
    state.jobs.cancel(&format!("export:{id}"));
    let (exports, _) = exports_of_active(&state).await?;
    blocking(move || exports.remove(&id)).await
}

async fn downloaded_path(state: &AppState, id: String) -> Result<String, ErrorReport> {
    let (exports, _) = exports_of_active(state).await?;
    let job = blocking(move || exports.get(&id)).await?;
    job.local_path.ok_or_else(|| {
        ErrorReport::local(
            codes::INVALID_INPUT,
            "This export has not been downloaded yet.",
            false,
        )
    })
}

/// Opens a downloaded export with the default app (only files this app downloaded).
#[tauri::command]
pub async fn export_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let path = downloaded_path(&state, id).await?;
    app.opener().open_path(&path, None::<&str>).map_err(|err| {
        ErrorReport::local(
            codes::INTERNAL,
            format!("Could not open {path}: {err}"),
            true,
        )
    })
}

/// Shows a downloaded export in its folder.
#[tauri::command]
pub async fn export_reveal<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let path = downloaded_path(&state, id).await?;
    app.opener().reveal_item_in_dir(&path).map_err(|err| {
        ErrorReport::local(
            codes::INTERNAL,
            format!("Could not show {path}: {err}"),
            true,
        )
    })
}
