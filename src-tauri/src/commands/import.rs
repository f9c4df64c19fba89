//! Leads and imports: create one lead safely (one Idempotency-Key per submission, reused by every
//! retry), and import a file dropped on the window: preview and mapping, staging into the
//! journal, delivery with progress, pause/resume/cancel, results files, retry failed rows.

use pb2b_core::api::NewLead;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::import::{self, ImportJob, Mapping, Preview, RunOptions};
use pb2b_core::jobs::Job;
use pb2b_core::leads::{self, CreatedLead, FieldError, LeadSubmission};
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use super::{active_client, blocking};
use crate::state::AppState;

/// Field errors of a lead as typed (the core checks again when it is sent).
#[tauri::command]
pub fn lead_validate(lead: NewLead) -> Vec<FieldError> {
    leads::validate(&lead)
}

/// A new submission: the lead with an Idempotency-Key made once; "Try again" sends the same one.
#[tauri::command]
pub fn lead_submission(lead: NewLead) -> LeadSubmission {
    LeadSubmission::new(lead)
}

/// Sends a submission (POST /leads with its Idempotency-Key); a replay says so.
#[tauri::command]
pub async fn lead_create(
    state: State<'_, AppState>,
    submission: LeadSubmission,
) -> Result<CreatedLead, ErrorReport> {
    let client = active_client(&state).await?;
    leads::create(&client, &submission)
        .await
        .map_err(ErrorReport::from)
}

/// The native file dialog for CSV/TSV/TXT files; null when cancelled.
#[tauri::command]
pub async fn import_pick_file<R: Runtime>(
    app: AppHandle<R>,
) -> Result<Option<String>, ErrorReport> {
    blocking(move || {
        Ok(app
            .dialog()
            .file()
            .add_filter("Spreadsheet text", &["csv", "tsv", "txt"])
            .blocking_pick_file()
            .and_then(|f| f.into_path().ok())
            .map(|p| p.display().to_string()))
    })
    .await
}

/// The preview of a file (its head only, however large): format, mapping with confidence, the
/// first rows as mapped, and the counts. `mapping` null: the remembered or automatic one.
#[tauri::command]
pub async fn import_preview(
    state: State<'_, AppState>,
    path: String,
    mapping: Option<Mapping>,
) -> Result<Preview, ErrorReport> {
    let store = state.store().await?;
    blocking(move || {
        import::preview(
            Some(&store),
            std::path::Path::new(&path),
            mapping.as_ref(),
            20,
        )
    })
    .await
}

/// The open workspace's imports, newest first (unfinished ones can be resumed).
#[tauri::command]
pub async fn imports_list(state: State<'_, AppState>) -> Result<Vec<ImportJob>, ErrorReport> {
    let imports = state.workspace().await?.imports();
    blocking(move || imports.list()).await
}

/// Imports made by an older version that did not record their workspace: the Import screen asks
/// whether each is the open workspace's.
#[tauri::command]
pub async fn imports_unassigned(state: State<'_, AppState>) -> Result<Vec<ImportJob>, ErrorReport> {
    let imports = state.workspace().await?.imports();
    blocking(move || imports.unassigned()).await
}

/// The user says an unassigned import is the open workspace's (its rows that may have reached
/// the server are looked up before any is sent again).
#[tauri::command]
pub async fn import_assign(
    state: State<'_, AppState>,
    id: String,
) -> Result<ImportJob, ErrorReport> {
    let imports = state.workspace().await?.imports();
    blocking(move || imports.assign(&id)).await
}

/// Stages the file into the journal with `mapping` (its import id saved before any request),
/// then delivers it in the background; progress arrives as [`AppEvent::ImportProgress`] events.
#[tauri::command]
pub async fn import_start<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    path: String,
    mapping: Mapping,
) -> Result<ImportJob, ErrorReport> {
    let ws = state.workspace().await?;
    let staging = ws.imports();
    let job = blocking(move || {
        staging.stage(
            std::path::Path::new(&path),
            &mapping,
            &|_| {},
            &tokio_util::sync::CancellationToken::new(),
        )
    })
    .await?;
    crate::jobs::spawn(&app, ws, import_job(&job.id))?;
    Ok(job)
}

/// The job that sends an import's pending rows.
fn import_job(id: &str) -> Job {
    Job::Import {
        id: id.to_owned(),
        options: RunOptions::default(),
    }
}

/// Resumes a paused or interrupted import of the open workspace (rows already sent replay,
/// never duplicate); another workspace's import is refused before anything is sent.
#[tauri::command]
pub async fn import_resume<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<(), ErrorReport> {
    let ws = state.workspace().await?;
    let (check, i) = (ws.imports(), id.clone());
    blocking(move || check.get(&i)).await?;
    crate::jobs::spawn(&app, ws, import_job(&id))
}

/// Pauses an import: no new rows are sent, those in flight finish; resume continues.
#[tauri::command]
pub fn import_pause(state: State<'_, AppState>, id: String) -> bool {
    state.jobs.cancel(&Job::import_key(&id))
}

/// Cancels an import for good (rows not sent are skipped).
#[tauri::command]
pub async fn import_cancel(
    state: State<'_, AppState>,
    id: String,
) -> Result<ImportJob, ErrorReport> {
    let imports = state.workspace().await?.imports();
    imports.get(&id)?;
    state.jobs.cancel(&Job::import_key(&id));
    blocking(move || imports.cancel(&id)).await
}

/// Puts the failed rows back to pending and sends them again.
#[tauri::command]
pub async fn import_retry_failed<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
) -> Result<ImportJob, ErrorReport> {
    let ws = state.workspace().await?;
    let (s, i) = (ws.imports(), id.clone());
    let job = blocking(move || s.retry_failed(&i)).await?;
    crate::jobs::spawn(&app, ws, import_job(&id))?;
    Ok(job)
}

/// Writes the error report (every original column as it was read, so the corrected report
/// imports the same values, plus row_number, error_code, error_message, request_id, which are
/// formula-safe; Excel-ready) or the success file (each row's lead id) to the Downloads folder;
/// returns its path.
#[tauri::command]
pub async fn import_results_file(
    state: State<'_, AppState>,
    id: String,
    kind: String,
) -> Result<String, ErrorReport> {
    let ws = state.workspace().await?;
    let store = ws.store().clone();
    let imports = ws.imports();
    let i = id.clone();
    let job = blocking(move || imports.get(&i)).await?;
    let stem = std::path::Path::new(&job.file_name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("import")
        .to_owned();
    let (suffix, write): (&str, WriteResults) = match kind.as_str() {
        "errors" => ("errors", import::write_error_report),
        "success" => ("created", import::write_success_file),
        _ => {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "kind is errors or success",
                false,
            ))
        }
    };
    let path = super::new_download_path(&state, &format!("{stem}-{suffix}"), "csv")?;
    blocking(move || {
        write(&store, &id, &path)?;
        Ok(path.display().to_string())
    })
    .await
}

/// Writes one of an import's results files.
type WriteResults =
    fn(&pb2b_core::store::Store, &str, &std::path::Path) -> Result<u64, ErrorReport>;
