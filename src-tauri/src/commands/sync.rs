//! Sync and the local mirror: "Sync now" with progress and cancel, the automatic interval, the
//! Leads table's search, one lead's detail, and exporting the mirror.

use pb2b_core::api::Lead;
use pb2b_core::error::Code;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::sync::{
    self, CsvCells, ExportFormat, LeadPage, LeadQuery, Mirror, SyncOptions, SyncProgress,
    SyncReport, SyncStatus,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use pb2b_core::jobs::JobOutcome;

use super::blocking;
use crate::state::AppState;

/// The mirror of the active connection's workspace (one `Mirror` per workspace, kept in state so
/// its one-run-at-a-time guard is shared), plus the client.
async fn active_mirror(state: &AppState) -> Result<(Mirror, pb2b_core::api::Client), ErrorReport> {
    let ws = state.workspace().await?;
    let client = ws.client().clone();
    let mirror = blocking(move || ws.mirror()).await?;
    Ok((mirror, client))
}

/// Runs one sync of the active workspace into the profile's chosen destination (this computer or
/// PostgreSQL, see [`super::destination`]); progress goes to `on_progress` when given, and the end
/// to every window as [`AppEvent::SyncFinished`].
pub async fn run_sync<R: Runtime>(
    app: &AppHandle<R>,
    options: SyncOptions,
    on_progress: Option<Channel<SyncProgress>>,
) -> Result<SyncReport, ErrorReport> {
    let ws = app.state::<AppState>().workspace().await?;
    let job = super::destination::chosen_job(app, options).await?;
    match crate::jobs::run(app, &ws, &job, on_progress).await? {
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
    run_sync(&app, options, Some(on_progress)).await
}

/// The active workspace's mirror status (last sync, outcome, counts, watermark), or null when
/// not connected.
#[tauri::command]
pub async fn sync_status(state: State<'_, AppState>) -> Result<Option<SyncStatus>, ErrorReport> {
    match active_mirror(&state).await {
        Ok((mirror, _)) => blocking(move || mirror.status().map(Some)).await,
        Err(err) if err.code == Code::NotConnected || err.code == Code::NotVerified => Ok(None),
        Err(err) => Err(err),
    }
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

/// Exports the mirror (what `query` matches) as CSV or JSON Lines to the Downloads folder under a
/// dated name that never overwrites another file.
#[tauri::command]
pub async fn mirror_export(
    state: State<'_, AppState>,
    format: ExportFormat,
    query: LeadQuery,
) -> Result<MirrorExportResult, ErrorReport> {
    let (mirror, _) = active_mirror(&state).await?;
    let stamp = pb2b_core::api::observer::now_utc_ms().replace([':', '.'], "-");
    let ext = match format {
        ExportFormat::Csv => "csv",
        ExportFormat::Jsonl => "jsonl",
    };
    let path = super::new_download_path(&state, &format!("prospectb2b-leads-{stamp}"), ext)?;
    blocking(move || {
        // The app's files are opened in a spreadsheet: formula-safe CSV.
        let count = mirror.export_to_file(format, CsvCells::Spreadsheet, &query, &path, None)?;
        Ok(MirrorExportResult {
            path: path.display().to_string(),
            count,
        })
    })
    .await
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

/// The background loop of the automatic sync: every minute, syncs when the interval has passed
/// since the last run started. Skips quietly when not connected or a sync is running.
/// `PB2B_SYNC_EVERY_SECONDS=N` replaces the chosen interval with N seconds (end-to-end tests run
/// the automatic sync beside `pb2b` processes for a minute; minutes would not show anything).
pub fn spawn_interval_loop<R: Runtime>(app: AppHandle<R>) {
    let every_seconds = std::env::var("PB2B_SYNC_EVERY_SECONDS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|s| *s > 0);
    let tick = std::time::Duration::from_secs(every_seconds.unwrap_or(60).min(60));
    tauri::async_runtime::spawn(async move {
        let mut last = std::time::Instant::now();
        loop {
            tokio::time::sleep(tick).await;
            let state = app.state::<AppState>();
            let interval = match every_seconds {
                Some(s) => s,
                None => u64::from(*state.sync_interval.lock().await) * 60,
            };
            if interval == 0 || last.elapsed() < std::time::Duration::from_secs(interval) {
                continue;
            }
            if state.workspace().await.is_err() || state.jobs.is_running(pb2b_core::jobs::SYNC_KEY)
            {
                continue;
            }
            last = std::time::Instant::now();
            let _ = run_sync(&app, SyncOptions::default(), None).await;
        }
    });
}
