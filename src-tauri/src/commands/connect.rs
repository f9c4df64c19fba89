//! Connect a workspace: verify a key, save it as a profile (key to the keychain, the rest to the
//! settings store), switch, rename, forget, and "Try the local sandbox".

use pb2b_core::error::Code;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::profiles::{OnExisting, Profile};
use pb2b_core::secret::SecretString;
use pb2b_core::session::{ConnectionStatus, KeyCheck};
use pb2b_core::workspace::{Credentials, Workspace, SANDBOX_PROFILE};
use tauri::State;

use super::blocking;
use crate::state::{AppState, Connection};

/// Runs `work` with the profiles (the data folder's profiles file + keychain) on the blocking
/// pool.
async fn with_profiles<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&pb2b_core::profiles::Profiles<'_>) -> Result<T, ErrorReport> + Send + 'static,
) -> Result<T, ErrorReport> {
    let folder = state.folder.clone();
    blocking(move || work(&folder.profiles())).await
}

/// Makes `profile` (with `key`) the active connection: the workspace when `/me` verifies it, else
/// the profile with the reason (the status request tries again).
async fn connect(state: &AppState, profile: Profile, key: SecretString) -> Result<(), ErrorReport> {
    let credentials = Credentials { profile, key };
    let name = credentials.profile.name.clone();
    let folder = state.folder.clone();
    let connection = match Workspace::open(&folder, credentials.clone()).await {
        Ok(ws) => {
            tracing::info!(profile = %name, workspace = %ws.id(), base_url = %ws.profile().base_url, key = %ws.profile().key_hint, "connected");
            // Temporary download files (lead data) a crash left behind, at each start.
            let (ws2, downloads) = (ws.clone(), super::downloads_dir(state));
            tauri::async_runtime::spawn_blocking(move || {
                if let Ok(exports) = ws2.exports() {
                    exports.remove_leftover_parts(&[downloads]);
                }
            });
            Connection::Open(ws)
        }
        Err(error) => {
            tracing::warn!(profile = %name, code = %error.code, request_id = ?error.request_id, "key not verified");
            Connection::Unverified { credentials, error }
        }
    };
    *state.connection.lock().await = Some(connection);
    Ok(())
}

/// Starts the embedded sandbox if it is not running; returns its base URL and full-access key.
async fn ensure_sandbox(state: &AppState) -> Result<(String, SecretString), ErrorReport> {
    let mut sandbox = state.sandbox.lock().await;
    if sandbox.is_none() {
        // Keys of this install only: random, created once with the sandbox's data (so the key
        // saved in the keychain still works after a restart), never the published ones a web
        // page could use. The admin token stays in `state.sandbox`, in memory.
        let file = state.data_dir.join("sandbox.sqlite");
        let config = pb2b_sandbox::SandboxConfig {
            data: Some(file.clone()),
            documented_keys: false,
            ..Default::default()
        };
        // The sandbox's database (and its -wal/-shm) is the user's alone, like the app's.
        pb2b_core::private_fs::create_dir_all(&state.data_dir)
            .and_then(|()| pb2b_core::private_fs::ensure_private_database(&file))
            .map_err(|err| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!("Could not prepare {}: {err}", file.display()),
                    true,
                )
            })?;
        let started = pb2b_sandbox::start(config).await.map_err(|err| {
            ErrorReport::local(
                Code::SandboxFailed,
                format!("The local sandbox could not start: {err}"),
                true,
            )
        })?;
        tracing::info!(base_url = %started.base_url, "embedded sandbox started");
        *sandbox = Some(started);
    }
    let running = sandbox
        .as_ref()
        .ok_or_else(|| ErrorReport::local(codes::INTERNAL, "sandbox vanished", true))?;
    Ok((
        running.base_url.clone(),
        SecretString::new(running.keys.full.clone()),
    ))
}

/// Restores the active profile after a start (key from the keychain; the sandbox restarted when
/// the active profile is the sandbox's), or connects the sandbox when the app was started with
/// `--sandbox`. Runs once, on the first status request.
async fn restore(state: &AppState) -> Result<(), ErrorReport> {
    let _one_at_a_time = state.restoring.lock().await;
    if state.connection.lock().await.is_some() {
        return Ok(());
    }
    let active = with_profiles(state, |p| p.active()).await?;
    match active {
        Some(profile) if profile.sandbox => connect_embedded_sandbox(state).await,
        Some(profile) => {
            let name = profile.name.clone();
            let key = with_profiles(state, move |p| p.key(&name)).await?;
            connect(state, profile, key).await
        }
        None if state.auto_sandbox => connect_embedded_sandbox(state).await,
        None => Ok(()),
    }
}

async fn connect_embedded_sandbox(state: &AppState) -> Result<(), ErrorReport> {
    let (base_url, key) = ensure_sandbox(state).await?;
    let stored = key.clone();
    // The embedded sandbox's profile is the app's own: its base URL changes each start, so it is
    // replaced without asking.
    let profile = with_profiles(state, move |p| {
        p.save(
            SANDBOX_PROFILE,
            &base_url,
            &stored,
            true,
            OnExisting::Replace,
        )
    })
    .await?;
    connect(state, profile, key).await
}

/// The status the Connect screen shows. The profiles are read from the file every time, so a
/// profile another process (`pb2b login`) added or forgot shows up at the next request.
async fn status(
    state: &AppState,
    error: Option<ErrorReport>,
) -> Result<ConnectionStatus, ErrorReport> {
    let settings = with_profiles(state, |p| p.load()).await?;
    let mut connection = state.connection.lock().await;
    let mut error = error;
    if let Some(Connection::Unverified { credentials, .. }) = connection.as_ref() {
        let credentials = credentials.clone();
        match Workspace::open(&state.folder, credentials.clone()).await {
            Ok(ws) => *connection = Some(Connection::Open(ws)),
            Err(err) => {
                error = error.or(Some(err.clone()));
                *connection = Some(Connection::Unverified {
                    credentials,
                    error: err,
                });
            }
        }
    }
    Ok(ConnectionStatus {
        profile: connection.as_ref().map(|c| c.profile().clone()),
        check: match connection.as_ref() {
            Some(Connection::Open(ws)) => Some(ws.check().clone()),
            _ => None,
        },
        error,
        profiles: settings.profiles,
    })
}

/// The active profile, what its key may do, and every saved profile.
#[tauri::command]
pub async fn connection_status(
    state: State<'_, AppState>,
) -> Result<ConnectionStatus, ErrorReport> {
    let restored = restore(&state).await.err();
    status(&state, restored).await
}

/// Verifies a key with `/me` without saving anything.
#[tauri::command]
pub async fn verify_key(
    state: State<'_, AppState>,
    base_url: String,
    key: SecretString,
) -> Result<KeyCheck, ErrorReport> {
    let result = state
        .folder
        .verify_key("(not saved)", &base_url, &key)
        .await;
    if let Err(err) = &result {
        tracing::info!(code = %err.code, request_id = ?err.request_id, "key verification failed");
    }
    result
}

/// Verifies the key, then saves the profile (key to the keychain) and makes it active. A name
/// that is taken is refused with `profile_exists` unless `replace` is true: the UI asks first
/// (replacing a profile's key is key rotation).
#[tauri::command]
pub async fn save_profile(
    state: State<'_, AppState>,
    name: String,
    base_url: String,
    key: SecretString,
    replace: bool,
) -> Result<ConnectionStatus, ErrorReport> {
    let existing = if replace {
        OnExisting::Replace
    } else {
        OnExisting::Refuse
    };
    // The keychain talks to D-Bus synchronously: the whole login runs on the blocking pool.
    let folder = state.folder.clone();
    let ws = blocking(move || {
        tauri::async_runtime::block_on(folder.login(&name, &base_url, &key, existing))
    })
    .await?;
    let profile = ws.profile();
    tracing::info!(profile = %profile.name, base_url = %profile.base_url, key = %profile.key_hint, replaced = replace, "profile saved and connected");
    *state.connection.lock().await = Some(Connection::Open(ws));
    status(&state, None).await
}

/// "Try the local sandbox": starts the embedded sandbox with its demo data and connects to it.
#[tauri::command]
pub async fn connect_sandbox(state: State<'_, AppState>) -> Result<ConnectionStatus, ErrorReport> {
    connect_embedded_sandbox(&state).await?;
    status(&state, None).await
}

/// Switches to another saved profile.
#[tauri::command]
pub async fn activate_profile(
    state: State<'_, AppState>,
    name: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let wanted = name.clone();
    let profile = with_profiles(&state, move |p| p.set_active(&wanted)).await?;
    if profile.sandbox {
        connect_embedded_sandbox(&state).await?;
    } else {
        let key = with_profiles(&state, move |p| p.key(&name)).await?;
        connect(&state, profile, key).await?;
    }
    status(&state, None).await
}

/// Renames a profile (its keychain entry moves with it).
#[tauri::command]
pub async fn rename_profile<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    from: String,
    to: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let old = from.clone();
    let renamed = with_profiles(&state, move |p| p.rename(&from, &to)).await?;
    // Its sync destination and that database's keychain password follow the name.
    super::destination::profile_renamed(&app, &state, &old, &renamed.name).await?;
    let active_renamed = state
        .connection
        .lock()
        .await
        .as_ref()
        .is_some_and(|c| c.profile().name == old);
    if active_renamed {
        // Reconnect under the new name: the request log and the mirror label follow it.
        let name = renamed.name.clone();
        let key = with_profiles(&state, move |p| p.key(&name)).await?;
        connect(&state, renamed, key).await?;
    }
    status(&state, None).await
}

/// Forgets a profile: deletes its keychain entries (key, sync destination's password) and its
/// settings; disconnects if it was active.
#[tauri::command]
pub async fn forget_profile<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let forgotten = name.clone();
    with_profiles(&state, move |p| p.forget(&forgotten)).await?;
    tracing::info!(profile = %name, "profile forgotten");
    // Its sync destination and that database's keychain password go with it (the profile is
    // already forgotten: a keychain failure is logged, not answered).
    if let Err(err) = super::destination::profile_forgotten(&app, &state, &name).await {
        tracing::warn!(profile = %name, code = %err.code, "the sync destination's password could not be forgotten");
    }
    let mut connection = state.connection.lock().await;
    if connection
        .as_ref()
        .is_some_and(|c| c.profile().name == name)
    {
        *connection = None;
    }
    drop(connection);
    status(&state, None).await
}
