//! The state the app manages for its commands.

use std::path::PathBuf;
use std::sync::RwLock;

use pb2b_core::secret::OsKeychain;

/// Shared by every command.
#[derive(Debug)]
pub struct AppState {
    /// Where the app keeps its local data.
    pub data_dir: PathBuf,
    /// The OS keychain, one entry per profile under the app identifier.
    pub keychain: OsKeychain,
    /// The API base URL requests go to.
    pub base_url: RwLock<String>,
}

impl AppState {
    /// State for an app whose data lives in `data_dir`.
    pub fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            keychain: OsKeychain::new(crate::APP_IDENTIFIER),
            base_url: RwLock::new(pb2b_core::DEFAULT_BASE_URL.to_owned()),
        }
    }

    /// The base URL in use now.
    pub fn base_url(&self) -> String {
        self.base_url
            .read()
            .map(|url| url.clone())
            .unwrap_or_else(|poisoned| poisoned.into_inner().clone())
    }
}
