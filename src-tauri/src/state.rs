//! The state the app manages for its commands.

use std::path::PathBuf;
use std::sync::Arc;

use pb2b_core::error::ErrorReport;
use pb2b_core::secret::OsKeychain;
use pb2b_core::store::Store;
use pb2b_core::workspace::{Credentials, DataFolder, Workspace};

use crate::commands::{blocking, not_connected};

/// The active profile: its workspace once `/me` verified the key, or why it could not (revoked,
/// unreachable...) with what is needed to try again.
pub enum Connection {
    /// The open workspace: every job the app runs is scoped to it.
    Open(Workspace),
    /// The profile is active but its key is not verified; the status request tries again.
    Unverified {
        credentials: Credentials,
        error: ErrorReport,
    },
}

impl Connection {
    /// The active profile.
    pub fn profile(&self) -> &pb2b_core::profiles::Profile {
        match self {
            Connection::Open(ws) => ws.profile(),
            Connection::Unverified { credentials, .. } => &credentials.profile,
        }
    }
}

/// Shared by every command: the open workspace, if any, and UI-only state.
pub struct AppState {
    /// Where the app keeps its local data.
    pub data_dir: PathBuf,
    /// The data folder shared with `pb2b`: profiles, keychain entries, the SQLite store.
    pub folder: Arc<DataFolder>,
    /// The OS keychain, one entry per profile under the app identifier.
    pub keychain: OsKeychain,
    /// The active connection.
    pub connection: tokio::sync::Mutex<Option<Connection>>,
    /// The embedded sandbox, while it runs.
    pub sandbox: tokio::sync::Mutex<Option<pb2b_sandbox::Sandbox>>,
    /// Connect the embedded sandbox at start (`--sandbox`).
    pub auto_sandbox: bool,
    /// The automatic sync interval in minutes (0 = off).
    pub sync_interval: tokio::sync::Mutex<u32>,
    /// The automatic sync's countdown (its rules: `pb2b_core::sync::schedule`).
    pub auto_schedule: std::sync::Mutex<pb2b_core::sync::schedule::AutoSchedule>,
    /// The signing secret of the open "shown once" dialog (for Copy and Save to keychain).
    pub shown_secret: tokio::sync::Mutex<Option<pb2b_core::webhooks::OnceShownSecret>>,
    /// The clipboard the signing secret is copied to (kept for the app's life: on X11 the copying
    /// process serves the copy), cleared at exit if it still holds the secret.
    pub clipboard: crate::clipboard::SecretClipboard,
    /// The local webhook test receiver, while it runs.
    pub receiver: tokio::sync::Mutex<Option<pb2b_core::webhooks::TestReceiver>>,
    /// Whether unfinished export jobs were resumed in this run.
    pub exports_resumed: std::sync::atomic::AtomicBool,
    /// Long-running jobs and their cancellation tokens.
    pub jobs: crate::jobs::Jobs,
    /// The files saved for the user in this run: the only ones "Show in folder" reveals.
    pub made_files: pb2b_core::saved_files::MadeFiles,
    /// Serialises restoring the active profile, which the sidebar and the first screen both ask
    /// for at start.
    pub restoring: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State for an app whose data lives in `data_dir`.
    pub fn new(data_dir: PathBuf, auto_sandbox: bool) -> Self {
        let keychain = OsKeychain::new(crate::APP_IDENTIFIER);
        Self {
            folder: Arc::new(DataFolder::new(
                data_dir.clone(),
                Arc::new(keychain.clone()),
            )),
            data_dir,
            keychain,
            connection: tokio::sync::Mutex::new(None),
            sandbox: tokio::sync::Mutex::new(None),
            auto_sandbox,
            restoring: tokio::sync::Mutex::new(()),
            made_files: pb2b_core::saved_files::MadeFiles::new(),
            jobs: crate::jobs::Jobs::default(),
            exports_resumed: std::sync::atomic::AtomicBool::new(false),
            shown_secret: tokio::sync::Mutex::new(None),
            clipboard: crate::clipboard::SecretClipboard::default(),
            receiver: tokio::sync::Mutex::new(None),
            sync_interval: tokio::sync::Mutex::new(0),
            auto_schedule: std::sync::Mutex::new(
                pb2b_core::sync::schedule::AutoSchedule::starting(
                    pb2b_core::sync::schedule::now_ms(),
                )
                // `PB2B_SYNC_EVERY_SECONDS=N`: end-to-end tests run the automatic sync every N
                // seconds (minutes would not show anything in a test).
                .every(
                    std::env::var("PB2B_SYNC_EVERY_SECONDS")
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(std::time::Duration::from_secs),
                ),
            ),
        }
    }
}

impl AppState {
    /// The open workspace; `not_connected` without an active profile, the verification error
    /// (with its remedy) when the active key could not be verified.
    pub async fn workspace(&self) -> Result<Workspace, ErrorReport> {
        match self.connection.lock().await.as_ref() {
            Some(Connection::Open(ws)) => Ok(ws.clone()),
            Some(Connection::Unverified { error, .. }) => Err(ErrorReport {
                code: pb2b_core::error::Code::NotVerified,
                message: format!(
                    "The active key could not be verified ({}): {} See the Connect screen.",
                    error.code, error.message
                ),
                ..error.clone()
            }),
            None => Err(not_connected()),
        }
    }

    /// The local database (opened on the blocking pool on first use).
    pub async fn store(&self) -> Result<Store, ErrorReport> {
        let folder = self.folder.clone();
        blocking(move || folder.store()).await
    }
}
