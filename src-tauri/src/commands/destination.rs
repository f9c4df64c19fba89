//! Where "Sync now" (and the automatic sync) writes: this computer's SQLite mirror, or a schema of
//! the team's PostgreSQL (`pb2b_core::sync::postgres`), chosen per profile on the Sync screen.
//!
//! | rule | how |
//! | --- | --- |
//! | the choice | per profile in the app's preferences (`sync_destinations`: profile name to [`SyncDestination`]): the connection string without a password, and the schema; never a secret |
//! | the password | typed in its own field, kept in the OS keychain under `PgTarget::keychain_account` (one entry per profile and database); a connection string holding a password is refused; the webview only ever learns `password_saved` |
//! | forgetting | choosing "This computer" or another database deletes the entry of the database left |
//! | one sync | a sync to either destination is the job `sync`; Verify (and its repair) holds the same key, so they never overlap |
//! | test connection | the form's values (its password, or the saved one when the field is empty), without saving them |

use pb2b_core::error::{Code, ErrorReport};
use pb2b_core::jobs::{Job, SYNC_KEY};
use pb2b_core::secret::SecretString;
use pb2b_core::sync::postgres::{self, PgTarget};
use pb2b_core::sync::{SyncOptions, SyncStatus, VerifyProgress, VerifyReport};
use pb2b_core::workspace::DataFolder;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};
use ts_rs::TS;

use super::{blocking, not_connected};
use crate::state::AppState;

/// The preference holding each profile's destination.
pub const DESTINATIONS_PREFERENCE: &str = "sync_destinations";

/// Where a profile's sync writes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "SyncDestination.ts")]
pub enum SyncDestination {
    /// The SQLite mirror in the data folder (with search, the Leads screen).
    #[default]
    ThisComputer,
    /// A schema of a PostgreSQL database.
    Postgres {
        /// `postgres://user@host:5432/database`, without a password.
        url: String,
        /// The schema (one workspace per schema).
        schema: String,
    },
}

/// The saved destination as the Sync screen shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export_to = "SyncDestinationView.ts")]
pub struct SyncDestinationView {
    pub destination: SyncDestination,
    /// A password for this database is in the keychain (the password itself never crosses IPC).
    pub password_saved: bool,
    /// In words: "This computer" or `postgres://user@host:5432/db (schema pb2b)`.
    pub label: String,
}

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

/// The target of a PostgreSQL destination as saved: its connection string must hold no password.
fn saved_target(url: &str, schema: &str) -> Result<PgTarget, ErrorReport> {
    let target = PgTarget::parse(url, Some(schema.trim()), None)?;
    if target.has_password() {
        return Err(ErrorReport::local(
            Code::InvalidInput,
            "Remove the password from the connection string and type it in the Password field: the app keeps it in the system keychain, never in its settings.",
            false,
        ));
    }
    Ok(target)
}

fn keychain_get(
    folder: &Arc<DataFolder>,
    account: String,
) -> Result<Option<SecretString>, ErrorReport> {
    folder.keychain().get(&account).map_err(ErrorReport::from)
}

/// The target with its saved password (none saved: connect without one, the server says if it
/// needs one).
async fn with_saved_password(
    state: &AppState,
    profile: &str,
    url: &str,
    schema: &str,
) -> Result<PgTarget, ErrorReport> {
    let target = saved_target(url, schema)?;
    let folder = state.folder.clone();
    let account = target.keychain_account(profile);
    let password = blocking(move || keychain_get(&folder, account)).await?;
    PgTarget::parse(
        url,
        Some(schema.trim()),
        password.as_ref().map(|p| p.expose().as_str()),
    )
}

async fn view<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    profile: &str,
) -> Result<SyncDestinationView, ErrorReport> {
    let destination = saved(app, state, profile);
    let (password_saved, label) = match &destination {
        SyncDestination::ThisComputer => (false, "This computer".to_owned()),
        SyncDestination::Postgres { url, schema } => {
            let target = saved_target(url, schema)?;
            let folder = state.folder.clone();
            let account = target.keychain_account(profile);
            let saved = blocking(move || keychain_get(&folder, account)).await?;
            (saved.is_some(), target.to_string())
        }
    };
    Ok(SyncDestinationView {
        destination,
        password_saved,
        label,
    })
}

/// The sync job of the active profile's chosen destination (the password from the keychain).
pub async fn chosen_job<R: Runtime>(
    app: &AppHandle<R>,
    options: SyncOptions,
) -> Result<Job, ErrorReport> {
    let state = app.state::<AppState>();
    let profile = profile_name(&state).await?;
    Ok(match saved(app, &state, &profile) {
        SyncDestination::ThisComputer => Job::Sync(options),
        SyncDestination::Postgres { url, schema } => Job::SyncTo {
            options,
            target: Box::new(with_saved_password(&state, &profile, &url, &schema).await?),
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
    let destination = match destination {
        SyncDestination::ThisComputer => SyncDestination::ThisComputer,
        SyncDestination::Postgres { url, schema } => {
            let schema = match schema.trim() {
                "" => postgres::DEFAULT_SCHEMA.to_owned(),
                s => s.to_owned(),
            };
            saved_target(&url, &schema)?;
            SyncDestination::Postgres {
                url: url.trim().to_owned(),
                schema,
            }
        }
    };
    let account_of = |d: &SyncDestination| match d {
        SyncDestination::Postgres { url, schema } => saved_target(url, schema)
            .ok()
            .map(|t| t.keychain_account(&profile)),
        SyncDestination::ThisComputer => None,
    };
    let old = account_of(&saved(&app, &state, &profile));
    let new = account_of(&destination);
    let folder = state.folder.clone();
    let keep = new.clone();
    blocking(move || {
        let keys = folder.keychain();
        if let (Some(account), false) = (&keep, password.expose().is_empty()) {
            keys.set(account, &password)?;
        }
        if let Some(old) = old.filter(|o| Some(o) != keep.as_ref()) {
            keys.delete(&old)?;
        }
        Ok(())
    })
    .await?;
    let mut all = saved_all(&app, &state);
    all.insert(
        profile.clone(),
        serde_json::to_value(&destination).unwrap_or_default(),
    );
    crate::settings::set_preference(
        &app,
        &state.data_dir,
        DESTINATIONS_PREFERENCE,
        serde_json::Value::Object(all),
    )?;
    tracing::info!(profile = %profile, postgres = new.is_some(), "sync destination chosen");
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
    let SyncDestination::Postgres { url, schema } = destination else {
        return Ok("This computer's mirror needs no connection.".to_owned());
    };
    let schema = match schema.trim() {
        "" => postgres::DEFAULT_SCHEMA,
        s => s,
    };
    let target = if password.expose().is_empty() {
        let profile = profile_name(&state).await?;
        with_saved_password(&state, &profile, &url, schema).await?
    } else {
        saved_target(&url, schema)?;
        PgTarget::parse(&url, Some(schema), Some(password.expose()))?
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
    if let Ok(SyncDestination::Postgres { url, schema }) = serde_json::from_value(value.clone()) {
        if let Ok(target) = saved_target(&url, &schema) {
            let (old, new) = (target.keychain_account(from), target.keychain_account(to));
            let folder = state.folder.clone();
            blocking(move || {
                let keys = folder.keychain();
                if let Some(password) = keys.get(&old)? {
                    keys.set(&new, &password)?;
                    keys.delete(&old)?;
                }
                Ok(())
            })
            .await?;
        }
    }
    all.insert(to.to_owned(), value);
    crate::settings::set_preference(
        app,
        &state.data_dir,
        DESTINATIONS_PREFERENCE,
        serde_json::Value::Object(all),
    )
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
    if let Ok(SyncDestination::Postgres { url, schema }) = serde_json::from_value(value) {
        if let Ok(target) = saved_target(&url, &schema) {
            let account = target.keychain_account(name);
            let folder = state.folder.clone();
            blocking(move || {
                folder
                    .keychain()
                    .delete(&account)
                    .map_err(ErrorReport::from)
            })
            .await?;
        }
    }
    crate::settings::set_preference(
        app,
        &state.data_dir,
        DESTINATIONS_PREFERENCE,
        serde_json::Value::Object(all),
    )
}
