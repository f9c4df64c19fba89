//! Where "Sync now" (and the automatic sync) writes, as the Sync screen chose it per profile: the
//! app's front of [`pb2b_core::sync::chosen`], which holds the rules (the choice and its
//! normalisation, the password's keychain entry on choose, rename and forget, the sync's target,
//! the label). This file keeps what is the app's own:
//!
//! | concern | how |
//! | --- | --- |
//! | where the choice is kept | the app's preferences, `sync_destinations` ([`DESTINATIONS_PREFERENCE`]): profile name to [`SyncDestination`]; never a secret |
//! | the keychain off the async runtime | every rule that reads or writes the keychain runs in `blocking` |
//! | one sync | a sync to either destination is the job `sync`; Verify (and its repair) holds the same key, so they never overlap; the destination cannot change while a sync runs |

use pb2b_core::error::{Code, ErrorReport};
use pb2b_core::jobs::{Job, SYNC_KEY};
use pb2b_core::secret::SecretString;
use pb2b_core::sync::chosen;
use pb2b_core::sync::chosen::{SyncDestination, SyncDestinationView};
use pb2b_core::sync::postgres;
use pb2b_core::sync::{SyncOptions, SyncStatus, VerifyProgress, VerifyReport};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use super::{blocking, not_connected};
use crate::state::AppState;

/// The preference holding each profile's destination.
pub const DESTINATIONS_PREFERENCE: &str = "sync_destinations";

/// The active profile's name (`not_connected` without one).
async fn profile_name(state: &AppState) -> Result<String, ErrorReport> {
    match state.connection.lock().await.as_ref() {
        Some(c) => Ok(c.profile().name.clone()),
        None => Err(not_connected()),
    }
}

fn saved_all<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
) -> serde_json::Map<String, serde_json::Value> {
    crate::settings::preference(app, &state.data_dir, DESTINATIONS_PREFERENCE)
        .and_then(|v| match v {
            serde_json::Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_default()
}

/// The destination saved for `profile` (this computer until one is chosen).
fn saved<R: Runtime>(app: &AppHandle<R>, state: &AppState, profile: &str) -> SyncDestination {
    saved_all(app, state)
        .get(profile)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default()
}

fn save_all<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    all: serde_json::Map<String, serde_json::Value>,
) -> Result<(), ErrorReport> {
    crate::settings::set_preference(
        app,
        &state.data_dir,
        DESTINATIONS_PREFERENCE,
        serde_json::Value::Object(all),
    )
}

async fn view<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    profile: &str,
) -> Result<SyncDestinationView, ErrorReport> {
    let destination = saved(app, state, profile);
    let (folder, profile) = (state.folder.clone(), profile.to_owned());
    blocking(move || chosen::view(folder.keychain(), &profile, destination)).await
}

/// The sync job of the active profile's chosen destination (the password from the keychain).
pub async fn chosen_job<R: Runtime>(
    app: &AppHandle<R>,
    options: SyncOptions,
) -> Result<Job, ErrorReport> {
    let state = app.state::<AppState>();
    let profile = profile_name(&state).await?;
    let destination = saved(app, &state, &profile);
    let folder = state.folder.clone();
    let target =
        blocking(move || chosen::target(folder.keychain(), &profile, &destination)).await?;
    Ok(match target {
        None => Job::Sync(options),
        Some(target) => Job::SyncTo {
            options,
            target: Box::new(target),
        },
    })
}

/// The active profile's sync destination.
#[tauri::command]
pub async fn sync_destination<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<SyncDestinationView, ErrorReport> {
    let profile = profile_name(&state).await?;
    view(&app, &state, &profile).await
}

/// The status of the chosen PostgreSQL destination (its leads, last sync, outcome, watermark),
/// read from its sync state row, for the Sync screen's card; null while syncs go to this
/// computer (whose mirror's status is `sync_status`).
#[tauri::command]
pub async fn sync_destination_status<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<Option<SyncStatus>, ErrorReport> {
    let ws = state.workspace().await?;
    match chosen_job(&app, SyncOptions::default()).await? {
        Job::SyncTo { target, .. } => {
            let pg = postgres::Postgres::open(&target, ws.id()).await?;
            let mut status = pg.status().await?;
            // This app's sync of it runs under the sync key, whichever value holds the connection.
            status.running = state.jobs.is_running(SYNC_KEY);
            Ok(Some(status))
        }
        _ => Ok(None),
    }
}

/// Chooses the active profile's sync destination. For PostgreSQL, a non-empty `password` is
/// kept in the keychain (an empty one keeps the saved password of the same database).
#[tauri::command]
pub async fn set_sync_destination<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    destination: SyncDestination,
    password: SecretString,
) -> Result<SyncDestinationView, ErrorReport> {
    if state.jobs.is_running(SYNC_KEY) {
        return Err(ErrorReport::local(
            Code::SyncRunning,
            "A sync is running: cancel it or wait for it to end, then change the destination.",
            true,
        ));
    }
    let profile = profile_name(&state).await?;
    let old = saved(&app, &state, &profile);
    let folder = state.folder.clone();
    let destination = blocking({
        let profile = profile.clone();
        move || chosen::choose(folder.keychain(), &profile, &old, destination, &password)
    })
    .await?;
    let postgres = destination != SyncDestination::ThisComputer;
    let mut all = saved_all(&app, &state);
    all.insert(
        profile.clone(),
        serde_json::to_value(&destination).unwrap_or_default(),
    );
    save_all(&app, &state, all)?;
    tracing::info!(profile = %profile, postgres, "sync destination chosen");
    view(&app, &state, &profile).await
}

/// "Test connection": connects with the form's values (its password, or the saved one when the
/// field is empty) and answers the server's version; nothing is saved.
#[tauri::command]
pub async fn test_sync_destination(
    state: State<'_, AppState>,
    destination: SyncDestination,
    password: SecretString,
) -> Result<String, ErrorReport> {
    // An empty field stands for the saved password: only then is a profile needed.
    let profile = if password.expose().is_empty() {
        Some(profile_name(&state).await?)
    } else {
        None
    };
    let folder = state.folder.clone();
    let target = blocking(move || {
        chosen::form_target(
            folder.keychain(),
            profile.as_deref(),
            destination,
            &password,
        )
    })
    .await?;
    let Some(target) = target else {
        return Ok("This computer's mirror needs no connection.".to_owned());
    };
    postgres::test_connection(&target).await
}

/// "Verify" (and "Repair"): compares the chosen destination with the server (counts, and
/// checksums in ranges of `updated_at`); with `repair`, re-reads the ranges that differ. Its
/// progress goes to `on_progress`. It holds the sync's key, so no sync runs meanwhile, and
/// `cancel_job("sync")` stops it (ending with `cancelled`).
#[tauri::command]
pub async fn sync_verify<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    repair: bool,
    on_progress: Channel<VerifyProgress>,
) -> Result<VerifyReport, ErrorReport> {
    let ws = state.workspace().await?;
    let job = chosen_job(&app, SyncOptions::default()).await?;
    let guard = state.jobs.start(SYNC_KEY).ok_or_else(|| {
        ErrorReport::local(
            Code::SyncRunning,
            "A sync is running: wait for it to end, then verify.",
            true,
        )
    })?;
    let progress = move |p: VerifyProgress| {
        let _ = on_progress.send(p);
    };
    let result = match job {
        Job::SyncTo { target, .. } => {
            let pg = postgres::Postgres::open(&target, ws.id()).await?;
            pb2b_core::sync::verify(ws.client(), &pg, repair, &guard.token, &progress).await
        }
        _ => {
            let mirror = blocking({
                let ws = ws.clone();
                move || ws.mirror()
            })
            .await?;
            pb2b_core::sync::verify(ws.client(), &mirror, repair, &guard.token, &progress).await
        }
    };
    match &result {
        Ok(report) => tracing::info!(
            equal = report.equal,
            differing = report.differing.len(),
            repaired = report.repaired,
            "sync verify ended"
        ),
        Err(err) => {
            tracing::warn!(code = %err.code, request_id = ?err.request_id, "sync verify failed")
        }
    }
    result
}

/// A profile was renamed: its destination and the password of its database follow the name.
pub async fn profile_renamed<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    from: &str,
    to: &str,
) -> Result<(), ErrorReport> {
    let mut all = saved_all(app, state);
    let Some(value) = all.remove(from) else {
        return Ok(());
    };
    if let Ok(destination) = serde_json::from_value::<SyncDestination>(value.clone()) {
        let (folder, old, new) = (state.folder.clone(), from.to_owned(), to.to_owned());
        blocking(move || chosen::follow_rename(folder.keychain(), &old, &new, &destination))
            .await?;
    }
    all.insert(to.to_owned(), value);
    save_all(app, state, all)
}

/// A profile was forgotten: its destination and the password of its database go with it.
pub async fn profile_forgotten<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    name: &str,
) -> Result<(), ErrorReport> {
    let mut all = saved_all(app, state);
    let Some(value) = all.remove(name) else {
        return Ok(());
    };
    if let Ok(destination) = serde_json::from_value::<SyncDestination>(value) {
        let (folder, name) = (state.folder.clone(), name.to_owned());
        blocking(move || chosen::forget(folder.keychain(), &name, &destination)).await?;
    }
    save_all(app, state, all)
}
