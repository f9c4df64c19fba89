//! Leads and imports: create one lead safely (one Idempotency-Key per submission, reused by every
//! retry), and import a file dropped on the window: preview and mapping, staging into the
//! journal, the review against the workspace for a mode, delivery with progress,
//! pause/resume/cancel, results files (and the review as a file), retry failed rows.

use pb2b_core::api::NewLead;
use pb2b_core::error::Code;
use pb2b_core::error::ErrorReport;
use pb2b_core::import::review::ReviewPage;
use pb2b_core::import::{
    self, ImportJob, ImportMode, ImportReview, Mapping, Preview, ReviewClass, RunOptions,
};
use pb2b_core::jobs::Job;
use pb2b_core::leads::{self, CreatedLead, FieldError, LeadSubmission};
use pb2b_core::saved_files::ResultsKind;
use pb2b_core::sync::SyncOptions;
use tauri::{AppHandle, Runtime, State};
use tauri_plugin_dialog::DialogExt;

use super::blocking;
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
    let workspace = state.workspace().await?;
    let mirror = workspace.mirror().ok();
    leads::create(workspace.client(), mirror.as_ref(), &submission)
        .await
        .map_err(ErrorReport::from)
}

/// The native file dialog for CSV/TSV/TXT and Excel (.xlsx) files; null when cancelled.
#[tauri::command]
pub async fn import_pick_file<R: Runtime>(
    app: AppHandle<R>,
) -> Result<Option<String>, ErrorReport> {
    blocking(move || {
        Ok(app
            .dialog()
            .file()
            .add_filter("Spreadsheets", &["csv", "tsv", "txt", "xlsx", "xlsm"])
            .blocking_pick_file()
            .and_then(|f| f.into_path().ok())
            .map(|p| p.display().to_string()))
    })
    .await
}

/// The preview of a file (its head only, however large): format, mapping with confidence, the
/// first rows as mapped, and the counts. `mapping` null: the remembered or automatic one.
/// `sheet`: for an .xlsx workbook, the sheet to read (null: the first); the preview's
/// `format.sheets` lists them for the picker.
#[tauri::command]
pub async fn import_preview(
    state: State<'_, AppState>,
    path: String,
    mapping: Option<Mapping>,
    sheet: Option<String>,
) -> Result<Preview, ErrorReport> {
    let store = state.store().await?;
    blocking(move || {
        import::preview_sheet(
            Some(&store),
            std::path::Path::new(&path),
            sheet.as_deref(),
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

/// Stages the file into the journal with `mapping` (its import id saved before any request);
/// nothing is sent until the import is reviewed ([`import_review`]) and sent
/// ([`import_resume`]).
#[tauri::command]
pub async fn import_stage(
    state: State<'_, AppState>,
    path: String,
    mapping: Mapping,
    sheet: Option<String>,
) -> Result<ImportJob, ErrorReport> {
    let staging = state.workspace().await?.imports();
    blocking(move || {
        staging.stage_sheet(
            std::path::Path::new(&path),
            sheet.as_deref(),
            &mapping,
            &|_| {},
            &tokio_util::sync::CancellationToken::new(),
        )
    })
    .await
}

/// Reviews a staged import for `mode` against the workspace's leads (see
/// `pb2b_core::import::review`): the local mirror is synced first when the core's rule says so
/// (through the app's one sync job, so its progress shows as `sync-progress`; a sync already
/// running elsewhere is not waited for, and the review says how fresh the mirror was). Run it
/// again with another mode until the import is sent.
#[tauri::command]
pub async fn import_review<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    mode: ImportMode,
) -> Result<ImportReview, ErrorReport> {
    let ws = state.workspace().await?;
    let w = ws.clone();
    let stale = blocking(move || w.mirror_stale_for_review()).await?;
    let mut synced_now = false;
    if stale.is_some() {
        let sync = Job::Sync(SyncOptions::default());
        match crate::jobs::run(&app, &ws, &sync, None, crate::background::Origin::ByHand).await {
            Ok(_) => synced_now = true,
            Err(e) if e.code == Code::SyncRunning => {}
            Err(e) => return Err(e),
        }
    }
    blocking(move || {
        let mirror = ws.mirror()?;
        ws.imports().review(
            &mirror,
            &id,
            mode,
            synced_now,
            &tokio_util::sync::CancellationToken::new(),
        )
    })
    .await
}

/// A page of an import's reviewed rows, of one class (`only`) or all, in file order.
#[tauri::command]
pub async fn import_review_rows(
    state: State<'_, AppState>,
    id: String,
    only: Option<ReviewClass>,
    offset: u32,
    limit: u32,
) -> Result<ReviewPage, ErrorReport> {
    let imports = state.workspace().await?.imports();
    blocking(move || imports.review_rows(&id, only, u64::from(offset), limit)).await
}

/// The job that sends an import's pending rows.
fn import_job(id: &str) -> Job {
    Job::Import {
        id: id.to_owned(),
        options: RunOptions::default(),
    }
}

/// Sends a reviewed import, or resumes a paused or interrupted one, of the open workspace (rows
/// already sent replay, never duplicate); another workspace's import is refused before anything
/// is sent. Progress arrives as [`crate::events::AppEvent::ImportProgress`] events.
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
/// formula-safe; Excel-ready) or the success file (each row's lead id) where the user chooses in
/// the native save dialog (Downloads and `<file>-errors.csv` / `-created.csv` proposed); returns
/// its path, or null when the dialog was cancelled (no file).
#[tauri::command]
pub async fn import_results_file<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    id: String,
    kind: ResultsKind,
) -> Result<Option<String>, ErrorReport> {
    let ws = state.workspace().await?;
    let store = ws.store().clone();
    let imports = ws.imports();
    let i = id.clone();
    let job = blocking(move || imports.get(&i)).await?;
    let write: WriteResults = match kind {
        ResultsKind::Errors => import::write_error_report,
        ResultsKind::Success => import::write_success_file,
        ResultsKind::Review => pb2b_core::import::review::write_review,
    };
    let proposal = pb2b_core::saved_files::import_results_proposal(
        super::files::default_dir(&state),
        &job.file_name,
        kind,
    );
    let saved = super::files::save_as(&app, proposal, move |path| write(&store, &id, path)).await?;
    Ok(saved.map(|(path, _)| path.display().to_string()))
}

/// Writes one of an import's results files.
type WriteResults =
    fn(&pb2b_core::store::Store, &str, &std::path::Path) -> Result<u64, ErrorReport>;
