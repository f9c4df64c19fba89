//! Sync and the local mirror: "Sync now" with progress and cancel, the automatic interval, the
//! Leads table's search, one lead's detail, and exporting the mirror.

use pb2b_core::api::Lead;
use pb2b_core::error::Code;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::leads::{self, EditOutcome, FieldError, LeadEdit};
use pb2b_core::sync::schedule::{now_ms, AutoSchedule, SyncSchedule};
use pb2b_core::sync::{
    self, CsvCells, ExportFormat, LeadPage, LeadQuery, Mirror, SyncOptions, SyncProgress,
    SyncReport, SyncStatus,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use pb2b_core::jobs::JobOutcome;

use super::blocking;
use crate::background::Origin;
use crate::state::AppState;

/// The mirror of the active connection's workspace (one `Mirror` per workspace, kept in state so
/// its one-run-at-a-time guard is shared), plus the client.
async fn active_mirror(state: &AppState) -> Result<(Mirror, pb2b_core::api::Client), ErrorReport> {
    let ws = state.workspace().await?;
    let client = ws.client().clone();
    let mirror = blocking(move || ws.mirror()).await?;
    Ok((mirror, client))
}

/// Runs one sync of the active workspace (the window's and the tray's Sync now, and the automatic
/// sync: one path) into the profile's chosen destination (this computer or
/// PostgreSQL, see [`super::destination`]); progress goes to `on_progress` when given, and the end
/// to every window as [`AppEvent::SyncFinished`].
pub async fn run_sync<R: Runtime>(
    app: &AppHandle<R>,
    options: SyncOptions,
    on_progress: Option<Channel<SyncProgress>>,
    origin: Origin,
) -> Result<SyncReport, ErrorReport> {
    let ws = app.state::<AppState>().workspace().await?;
    let job = super::destination::chosen_job(app, options).await?;
    match crate::jobs::run(app, &ws, &job, on_progress, origin).await? {
        JobOutcome::Sync(report) => Ok(report),
        _ => Err(ErrorReport::local(
            Code::Internal,
            "A sync ended with another job's outcome.",
            false,
        )),
    }
}

/// "Sync now" (or a full resync, or "re-sync from date") with progress; cancel with
/// `cancel_job("sync")`.
#[tauri::command]
pub async fn sync_now<R: Runtime>(
    app: AppHandle<R>,
    options: SyncOptions,
    on_progress: Channel<SyncProgress>,
) -> Result<SyncReport, ErrorReport> {
    run_sync(&app, options, Some(on_progress), Origin::ByHand).await
}

/// The active workspace's mirror status (last sync, outcome, counts, watermark), or null when
/// not connected.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<Option<SyncStatus>, ErrorReport> {
    current_status(&state).await
}

/// [`sync_status`], for the tray too.
pub(crate) async fn current_status(state: &AppState) -> Result<Option<SyncStatus>, ErrorReport> {
    match active_mirror(state).await {
        Ok((mirror, _)) => blocking(move || mirror.status().map(Some)).await,
        Err(err) if err.code == Code::NotConnected || err.code == Code::NotVerified => Ok(None),
        Err(err) => Err(err),
    }
}

/// Whether this app runs a sync (or a verify) of the active workspace now, whatever started it:
/// a screen that finds one running follows its `sync-progress` and `sync-finished` events.
#[tauri::command]
pub fn sync_running(state: State<'_, AppState>) -> bool {
    state.jobs.is_running(pb2b_core::jobs::SYNC_KEY)
}

/// A page of the mirror for the Leads table.
#[tauri::command]
pub async fn leads_search(
    state: State<'_, AppState>,
    query: LeadQuery,
) -> Result<LeadPage, ErrorReport> {
    let (mirror, _) = active_mirror(&state).await?;
    blocking(move || mirror.search(&query)).await
}

/// The changed fields' problems as the user types (the create form's rules, from the core).
#[tauri::command]
pub fn lead_edit_validate(edit: LeadEdit) -> Vec<FieldError> {
    leads::validate_edit(&edit)
}

/// Saves a lead edit (PATCH, changed fields only); the mirror's row takes the server's answer.
/// A change made meanwhile on the server comes back as the outcome's `conflict` (nothing sent).
#[tauri::command]
pub async fn lead_edit(
    state: State<'_, AppState>,
    edit: LeadEdit,
) -> Result<EditOutcome, ErrorReport> {
    let (mirror, client) = active_mirror(&state).await?;
    EditOutcome::from_result(leads::edit(&client, Some(&mirror), &edit).await)
}

/// One lead of the mirror.
#[tauri::command]
pub async fn lead_detail(
    state: State<'_, AppState>,
    id: String,
) -> Result<Option<Lead>, ErrorReport> {
    let (mirror, _) = active_mirror(&state).await?;
    blocking(move || mirror.get(&id)).await
}

/// Where an export of the mirror was written.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[ts(export_to = "MirrorExportResult.ts")]
pub struct MirrorExportResult {
    /// The file written.
    pub path: String,
    /// Leads in it.
    #[ts(type = "number")]
    pub count: u64,
}

/// Exports the mirror (what `query` matches) as CSV or JSON Lines where the user chooses in the
/// native save dialog (Downloads and `prospectb2b-leads-<date>.<ext>` proposed); null when the
/// dialog was cancelled (no file). The file is written whole or not at all.
#[tauri::command]
pub async fn mirror_export<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    format: ExportFormat,
    query: LeadQuery,
) -> Result<Option<MirrorExportResult>, ErrorReport> {
    let (mirror, _) = active_mirror(&state).await?;
    let proposal = pb2b_core::saved_files::mirror_export_proposal(
        super::files::default_dir(&state),
        format,
        &pb2b_core::api::observer::now_utc_ms(),
    );
    let saved = super::files::save_as(&app, proposal, move |path| {
        // The app's files are opened in a spreadsheet: formula-safe CSV.
        mirror.export_to_file(format, CsvCells::Spreadsheet, &query, path, None)
    })
    .await?;
    Ok(saved.map(|(path, count)| MirrorExportResult {
        path: path.display().to_string(),
        count,
    }))
}

/// The automatic sync interval until the user chooses one: a new user's mirror stays fresh
/// without finding the Sync screen (the first sync runs at once, from the Overview).
pub const DEFAULT_SYNC_INTERVAL_MINUTES: u32 = 15;

/// Sets the automatic sync interval (0 = off, or 5, 15, 60 minutes); kept in the settings store.
#[tauri::command]
pub async fn set_sync_interval<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    minutes: u32,
) -> Result<u32, ErrorReport> {
    if !sync::SYNC_INTERVALS_MINUTES.contains(&minutes) {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            "The interval is off, 5, 15 or 60 minutes.",
            false,
        ));
    }
    crate::settings::set_preference(
        &app,
        &state.data_dir,
        "sync_interval_minutes",
        minutes.into(),
    )?;
    *state.sync_interval.lock().await = minutes;
    Ok(minutes)
}

/// The automatic sync interval in minutes (0 = off).
#[tauri::command]
pub async fn sync_interval(state: State<'_, AppState>) -> Result<u32, ErrorReport> {
    Ok(*state.sync_interval.lock().await)
}

/// The automatic sync's interval and when it runs next (what the loop below waits for).
#[tauri::command]
pub async fn sync_schedule(state: State<'_, AppState>) -> Result<SyncSchedule, ErrorReport> {
    let minutes = *state.sync_interval.lock().await;
    Ok(lock_schedule(&state).next(minutes))
}

fn lock_schedule(state: &AppState) -> std::sync::MutexGuard<'_, AutoSchedule> {
    // The schedule is two plain fields: a panic elsewhere cannot leave it half-changed.
    state
        .auto_schedule
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The background loop of the automatic sync: ticks as `pb2b_core::sync::schedule` says (every
/// minute, more often under `PB2B_SYNC_EVERY_SECONDS=N`, which end-to-end tests set: see
/// `AppState::new`) and syncs when the schedule says a run is due. Skips quietly when not
/// connected or a sync is running.
pub fn spawn_interval_loop<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let tick = lock_schedule(&app.state::<AppState>()).tick();
            tokio::time::sleep(tick).await;
            let state = app.state::<AppState>();
            let minutes = *state.sync_interval.lock().await;
            if !lock_schedule(&state).due(minutes, now_ms()) {
                continue;
            }
            if state.workspace().await.is_err() || state.jobs.is_running(pb2b_core::jobs::SYNC_KEY)
            {
                continue;
            }
            lock_schedule(&state).ran(now_ms());
            let _ = run_sync(&app, SyncOptions::default(), None, Origin::Automatic).await;
        }
    });
}
