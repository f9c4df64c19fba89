//! Connect a workspace: verify a key, save it as a profile (key to the keychain, the rest to the
//! settings store), switch, rename, forget, and "Try the local sandbox".

use std::sync::Arc;

use pb2b_core::api::RequestObserver;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::profiles::{Profile, Profiles};
use pb2b_core::secret::SecretString;
use pb2b_core::session::{self, ConnectionStatus, KeyCheck};
use pb2b_core::store::{RequestLog, Store};
use tauri::{AppHandle, Runtime, State};

use super::blocking;
use crate::settings::StoreSettings;
use crate::state::{AppState, Connection};

/// The profile name of the embedded sandbox.
pub const SANDBOX_PROFILE: &str = "Local sandbox";
/// How many API calls the request log keeps.
pub const LOG_RETENTION: usize = 10_000;

/// The local database, opened on first use.
pub(crate) async fn store(state: &AppState) -> Result<Store, ErrorReport> {
    let path = state.data_dir.join(pb2b_core::DATABASE_FILE);
    state
        .store
        .get_or_try_init(|| async move {
            blocking(move || {
                Store::open(&path).map_err(|err| {
                    ErrorReport::local(
                        codes::INTERNAL,
                        format!(
                            "The local database {} could not be opened: {err}",
                            path.display()
                        ),
                        true,
                    )
                })
            })
            .await
        })
        .await
        .cloned()
}

async fn observer(
    state: &AppState,
    profile: &str,
) -> Result<Arc<dyn RequestObserver>, ErrorReport> {
    Ok(Arc::new(RequestLog::new(
        store(state).await?,
        profile,
        LOG_RETENTION,
    )))
}

/// Runs `work` with the profiles (settings store + keychain) on the blocking pool.
async fn with_profiles<R: Runtime, T: Send + 'static>(
    app: &AppHandle<R>,
    state: &AppState,
    work: impl FnOnce(&Profiles<'_>) -> Result<T, ErrorReport> + Send + 'static,
) -> Result<T, ErrorReport> {
    let settings = StoreSettings::new(app.clone(), state.data_dir.join(pb2b_core::SETTINGS_FILE));
    let keychain = state.keychain.clone();
    blocking(move || work(&Profiles::new(&settings, &keychain))).await
}

/// Makes `profile` (with `key`) the active connection and verifies it with `/me`.
async fn connect(state: &AppState, profile: Profile, key: SecretString) -> Result<(), ErrorReport> {
    let client = session::client(
        &profile.base_url,
        key.clone(),
        observer(state, &profile.name).await?,
    )?;
    let check = match session::verify(&client, &key).await {
        Ok(check) => Some(check),
        Err(err) => {
            tracing::warn!(profile = %profile.name, code = %err.code, request_id = ?err.request_id, "key not verified");
            None
        }
    };
    tracing::info!(profile = %profile.name, base_url = %profile.base_url, key = %profile.key_hint, "connected");
    *state.connection.lock().await = Some(Connection {
        profile,
        key,
        client,
        check,
    });
    Ok(())
}

/// Starts the embedded sandbox if it is not running; returns its base URL and full-access key.
async fn ensure_sandbox(state: &AppState) -> Result<(String, SecretString), ErrorReport> {
    let mut sandbox = state.sandbox.lock().await;
    if sandbox.is_none() {
        let config = pb2b_sandbox::SandboxConfig {
            data: Some(state.data_dir.join("sandbox.sqlite")),
            ..Default::default()
        };
        std::fs::create_dir_all(&state.data_dir).map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("Could not create {}: {err}", state.data_dir.display()),
                true,
            )
        })?;
        let started = pb2b_sandbox::start(config).await.map_err(|err| {
            ErrorReport::local(
                "sandbox_failed",
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
async fn restore<R: Runtime>(app: &AppHandle<R>, state: &AppState) -> Result<(), ErrorReport> {
    let _one_at_a_time = state.restoring.lock().await;
    if state.connection.lock().await.is_some() {
        return Ok(());
    }
    let active = with_profiles(app, state, |p| p.active()).await?;
    match active {
        Some(profile) if profile.sandbox => connect_embedded_sandbox(app, state).await,
        Some(profile) => {
            let name = profile.name.clone();
            let key = with_profiles(app, state, move |p| p.key(&name)).await?;
            connect(state, profile, key).await
        }
        None if state.auto_sandbox => connect_embedded_sandbox(app, state).await,
        None => Ok(()),
    }
}

async fn connect_embedded_sandbox<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
) -> Result<(), ErrorReport> {
    let (base_url, key) = ensure_sandbox(state).await?;
    let stored = key.clone();
    let profile = with_profiles(app, state, move |p| {
        p.save(SANDBOX_PROFILE, &base_url, &stored, true)
    })
    .await?;
    connect(state, profile, key).await
}

async fn status<R: Runtime>(
    app: &AppHandle<R>,
    state: &AppState,
    error: Option<ErrorReport>,
) -> Result<ConnectionStatus, ErrorReport> {
    let settings = with_profiles(app, state, |p| p.load()).await?;
    let mut connection = state.connection.lock().await;
    let mut error = error;
    if let Some(conn) = connection.as_mut() {
        if conn.check.is_none() {
            match session::verify(&conn.client, &conn.key).await {
                Ok(check) => conn.check = Some(check),
                Err(err) => error = error.or(Some(err)),
            }
        }
    }
    Ok(ConnectionStatus {
        profile: connection.as_ref().map(|c| c.profile.clone()),
        check: connection.as_ref().and_then(|c| c.check.clone()),
        error,
        profiles: settings.profiles,
    })
}

/// The active profile, what its key may do, and every saved profile.
#[tauri::command]
pub async fn connection_status<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<ConnectionStatus, ErrorReport> {
    let restored = restore(&app, &state).await.err();
    status(&app, &state, restored).await
}

/// Verifies a key with `/me` without saving anything.
#[tauri::command]
pub async fn verify_key(
    state: State<'_, AppState>,
    base_url: String,
    key: SecretString,
) -> Result<KeyCheck, ErrorReport> {
    let client = session::client(
        &base_url,
        key.clone(),
        observer(&state, "(not saved)").await?,
    )?;
    let result = session::verify(&client, &key).await;
    if let Err(err) = &result {
        tracing::info!(code = %err.code, request_id = ?err.request_id, "key verification failed");
    }
    result
}

/// Verifies the key, then saves the profile (key to the keychain) and makes it active. Saving an
/// existing name replaces its key: that is key rotation.
#[tauri::command]
pub async fn save_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
    base_url: String,
    key: SecretString,
) -> Result<ConnectionStatus, ErrorReport> {
    let client = session::client(&base_url, key.clone(), observer(&state, &name).await?)?;
    let check = session::verify(&client, &key).await?;
    let stored = key.clone();
    let profile = with_profiles(&app, &state, move |p| {
        p.save(&name, &base_url, &stored, false)
    })
    .await?;
    tracing::info!(profile = %profile.name, base_url = %profile.base_url, key = %profile.key_hint, "profile saved and connected");
    let client = session::client(
        &profile.base_url,
        key.clone(),
        observer(&state, &profile.name).await?,
    )?;
    *state.connection.lock().await = Some(Connection {
        profile,
        key,
        client,
        check: Some(check),
    });
    status(&app, &state, None).await
}

/// "Try the local sandbox": starts the embedded sandbox with its demo data and connects to it.
#[tauri::command]
pub async fn connect_sandbox<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<ConnectionStatus, ErrorReport> {
    connect_embedded_sandbox(&app, &state).await?;
    status(&app, &state, None).await
}

/// Switches to another saved profile.
#[tauri::command]
pub async fn activate_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let wanted = name.clone();
    let profile = with_profiles(&app, &state, move |p| p.set_active(&wanted)).await?;
    if profile.sandbox {
        connect_embedded_sandbox(&app, &state).await?;
    } else {
        let key = with_profiles(&app, &state, move |p| p.key(&name)).await?;
        connect(&state, profile, key).await?;
    }
    status(&app, &state, None).await
}

/// Renames a profile (its keychain entry moves with it).
#[tauri::command]
pub async fn rename_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    from: String,
    to: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let old = from.clone();
    let renamed = with_profiles(&app, &state, move |p| p.rename(&from, &to)).await?;
    if let Some(conn) = state.connection.lock().await.as_mut() {
        if conn.profile.name == old {
            // The request log goes on under the new name from the next connection on.
            conn.profile = renamed;
        }
    }
    status(&app, &state, None).await
}

/// Forgets a profile: deletes its keychain entry and its settings; disconnects if it was active.
#[tauri::command]
pub async fn forget_profile<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    name: String,
) -> Result<ConnectionStatus, ErrorReport> {
    let forgotten = name.clone();
    with_profiles(&app, &state, move |p| p.forget(&forgotten)).await?;
    tracing::info!(profile = %name, "profile forgotten");
    let mut connection = state.connection.lock().await;
    if connection.as_ref().is_some_and(|c| c.profile.name == name) {
        *connection = None;
    }
    drop(connection);
    status(&app, &state, None).await
}
