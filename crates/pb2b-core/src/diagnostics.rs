//! What the Diagnostics screen (and `pb2b diagnostics`) reports: versions, platform, data folder,
//! a real keychain probe, the base URL in use, and how the client reaches it (trust store and
//! proxy, see [`crate::api::network`]).

use serde::Serialize;
use ts_rs::TS;

use crate::secret::{KeychainStatus, OsKeychain};

/// Everything the Diagnostics screen shows.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export_to = "Diagnostics.ts")]
pub struct Diagnostics {
    /// The desktop app's (or CLI's) version.
    pub app_version: String,
    /// The version of `pb2b-core`.
    pub core_version: String,
    /// Operating system and version, e.g. `Debian 12 (bookworm)`.
    pub os: String,
    /// CPU architecture, e.g. `x86_64`.
    pub arch: String,
    /// Where the app keeps its local data (SQLite, settings, logs).
    pub data_dir: String,
    /// The outcome of a real keychain round trip.
    pub keychain: KeychainStatus,
    /// The API base URL requests go to.
    pub base_url: String,
    /// Which certificates TLS trusts (the operating system's trust store).
    pub trust_store: String,
    /// Which proxy requests to the base URL go through, and why (credentials never shown).
    pub proxy: String,
}

/// Collects the diagnostics; the keychain probe really writes, reads and deletes an entry.
pub fn collect(
    app_version: &str,
    data_dir: &std::path::Path,
    base_url: &str,
    keychain: &OsKeychain,
) -> Diagnostics {
    let info = os_info::get();
    let (trust_store, proxy) = crate::api::network::describe(base_url);
    Diagnostics {
        app_version: app_version.to_owned(),
        core_version: crate::CORE_VERSION.to_owned(),
        os: format!("{} {}", info.os_type(), info.version()),
        arch: std::env::consts::ARCH.to_owned(),
        data_dir: data_dir.display().to_string(),
        keychain: keychain.probe(),
        base_url: base_url.to_owned(),
        trust_store,
        proxy,
    }
}
