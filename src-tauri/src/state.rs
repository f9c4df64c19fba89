//! The state the app manages for its commands.

use std::path::PathBuf;

use pb2b_core::api::Client;
use pb2b_core::profiles::Profile;
use pb2b_core::secret::{OsKeychain, SecretString};
use pb2b_core::session::KeyCheck;
use pb2b_core::store::Store;

/// The active connection: a profile, its key (from the keychain, never sent to the webview) and a
/// client whose every exchange lands in the request log.
pub struct Connection {
    /// The profile.
    pub profile: Profile,
    /// Its key, only for describing it (masking); the client holds its own copy.
    pub key: SecretString,
    /// The client.
    pub client: Client,
    /// What `/me` said, once verified.
    pub check: Option<KeyCheck>,
}

/// Shared by every command.
pub struct AppState {
    /// Where the app keeps its local data.
    pub data_dir: PathBuf,
    /// The OS keychain, one entry per profile under the app identifier.
    pub keychain: OsKeychain,
    /// The local SQLite database (request log, ...), opened lazily on first use.
    pub store: tokio::sync::OnceCell<Store>,
    /// The active connection.
    pub connection: tokio::sync::Mutex<Option<Connection>>,
    /// The embedded sandbox, while it runs.
    pub sandbox: tokio::sync::Mutex<Option<pb2b_sandbox::Sandbox>>,
    /// Connect the embedded sandbox at start (`--sandbox`).
    pub auto_sandbox: bool,
    /// The local mirrors, one per workspace id (shared so one sync runs at a time per workspace).
    pub mirrors: tokio::sync::Mutex<std::collections::HashMap<String, pb2b_core::sync::Mirror>>,
    /// The automatic sync interval in minutes (0 = off).
    pub sync_interval: tokio::sync::Mutex<u32>,
    /// The signing secret of the open "shown once" dialog (for Copy and Save to keychain).
    pub shown_secret: tokio::sync::Mutex<Option<pb2b_core::webhooks::OnceShownSecret>>,
    /// The local webhook test receiver, while it runs.
    pub receiver: tokio::sync::Mutex<Option<pb2b_core::webhooks::TestReceiver>>,
    /// Whether unfinished export jobs were resumed in this run.
    pub exports_resumed: std::sync::atomic::AtomicBool,
    /// Long-running jobs and their cancellation tokens.
    pub jobs: crate::jobs::Jobs,
    /// Serialises restoring the active profile, which the sidebar and the first screen both ask
    /// for at start.
    pub restoring: tokio::sync::Mutex<()>,
}

impl AppState {
    /// State for an app whose data lives in `data_dir`.
    pub fn new(data_dir: PathBuf, auto_sandbox: bool) -> Self {
        Self {
            data_dir,
            keychain: OsKeychain::new(crate::APP_IDENTIFIER),
            store: tokio::sync::OnceCell::new(),
            connection: tokio::sync::Mutex::new(None),
            sandbox: tokio::sync::Mutex::new(None),
            auto_sandbox,
            restoring: tokio::sync::Mutex::new(()),
            jobs: crate::jobs::Jobs::default(),
            exports_resumed: std::sync::atomic::AtomicBool::new(false),
            shown_secret: tokio::sync::Mutex::new(None),
            receiver: tokio::sync::Mutex::new(None),
            mirrors: Default::default(),
            sync_interval: tokio::sync::Mutex::new(0),
        }
    }
}
