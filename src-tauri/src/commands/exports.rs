//! Exports: start one, watch it become ready (polling with backoff, resumed after a restart),
//! download it with a progress bar, notify, open it or show it in its folder.

use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::exports::{ExportJob, ExportRequest, Exports};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_opener::OpenerExt;

use pb2b_core::jobs::Job;
use pb2b_core::workspace::Workspace;

use super::blocking;
use crate::state::AppState;

async fn exports_of_active(
    state: &AppState,
) -> Result<(Exports, pb2b_core::api::Client), ErrorReport> {
    let ws = state.workspace().await?;
    let client = ws.client().clone();
    let exports = blocking(move || ws.exports()).await?;
    Ok((exports, client))
}

/// Polls (and downloads) one job in the background, as the job `export:<job_id>`; a job that
/// is already being polled is left alone.
fn watch<R: Runtime>(app: &AppHandle<R>, ws: &Workspace, job_id: String) {
    let _ = crate::jobs::spawn(app, ws.clone(), Job::Export { id: job_id });
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
        let ws = state.workspace().await?;
        for job in blocking(move || ex.pending()).await? {
            watch(&app, &ws, job.job_id);
        }
    }
    Ok(jobs)
}

/// Starts an export (its Idempotency-Key saved before the request) and polls it in the
/// background; the file goes to the Downloads folder.
///
/// Server exports do not ask where with the save dialog (the app's other files do, see
/// [`super::files`]), for three reasons. The file arrives minutes or hours later, in the
/// background, possibly after a restart or with the window closed to the tray: a modal dialog
/// popping up then would interrupt whatever the user is doing, or wait unanswered while the
/// signed link expires. The download policy (`pb2b_core::exports`, issue 14) names the file
/// itself (the server's name sanitised, the extension forced, never clobbering: `name (1).csv`)
/// because the name comes from the server, whereas the dialog's overwrite confirmation is about a
/// name the user typed. And "Open" only opens a `.csv` directly inside the job's recorded folder
/// (`openable_export`), a check that needs one known folder per job. "Show in folder" takes the
/// user to the file, to move it wherever they like.
#[tauri::command]
pub async fn export_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    updated_after: Option<String>,
    fields: Option<Vec<String>>,
) -> Result<ExportJob, ErrorReport> {
    let (exports, _) = exports_of_active(&state).await?;
    let dest_dir = super::downloads_dir(&state).display().to_string();
    let request = ExportRequest {
        updated_after: updated_after.filter(|s| !s.trim().is_empty()),
        fields: fields.filter(|f| !f.is_empty()),
        dest_dir,
        auto_download: true,
    };
    let ex = exports.clone();
    let job = blocking(move || ex.prepare(&request)).await?;
    watch(&app, &state.workspace().await?, job.job_id.clone());
    Ok(job)
}

/// Starts polling a job again (after "Stop polling", or a failure that may have passed).
#[tauri::command]
pub async fn export_resume<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let ws = state.workspace().await?;
    let exports = ws.exports()?;
    let i = id.clone();
    // Another workspace's job is refused here, before anything is sent.
    blocking(move || exports.get(&i)).await?;
    crate::jobs::spawn(&app, ws, Job::Export { id })
}

/// Stops polling a job (it is not resumed at the next start).
#[tauri::command]
pub async fn export_stop_polling(
    state: State<'_, AppState>,
    id: String,
) -> Result<ExportJob, ErrorReport> {
    state.jobs.cancel(&Job::export_key(&id));
    let (exports, _) = exports_of_active(&state).await?;
    blocking(move || exports.stop_polling(&id)).await
}

/// Removes a job from the list (the downloaded file stays).
#[tauri::command]
pub async fn export_remove(state: State<'_, AppState>, id: String) -> Result<(), ErrorReport> {
    state.jobs.cancel(&Job::export_key(&id));
    let (exports, _) = exports_of_active(&state).await?;
    blocking(move || exports.remove(&id)).await
}

/// Opens a downloaded export with the default app: only a `.csv` this app downloaded, still in
/// the export's folder (`pb2b_core::exports::openable_export`).
#[tauri::command]
pub async fn export_open<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let (exports, _) = exports_of_active(&state).await?;
    let path = blocking(move || pb2b_core::exports::openable_export(&exports.get(&id)?)).await?;
    app.opener()
        .open_path(path.to_string_lossy(), None::<&str>)
        .map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("Could not open {}: {err}", path.display()),
                true,
            )
        })
}

/// Shows a downloaded export in its folder: the same file "Open" accepts, and only that
/// (`pb2b_core::exports::openable_export`: the job's own download, a plain `.csv` file still in
/// the job's folder).
#[tauri::command]
pub async fn export_reveal<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let (exports, _) = exports_of_active(&state).await?;
    let path = blocking(move || pb2b_core::exports::openable_export(&exports.get(&id)?)).await?;
    blocking(move || super::files::reveal(&app, &path)).await
}
