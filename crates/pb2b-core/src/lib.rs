//! `pb2b-core`: the logic of ProspectB2B Desktop, testable without a window.
//!
//! The Tauri app (`src-tauri/`) and the `pb2b` CLI are thin fronts on this crate. It never depends
//! on Tauri, nor on `pb2b-sandbox` outside its dev-dependencies.

pub mod api;
pub mod diagnostics;
pub mod error;
pub mod exports;
pub mod import;
pub mod jobs;
pub mod leads;
pub mod overview;
pub mod presence;
pub mod private_fs;
pub mod profiles;
pub mod saved_files;
pub mod scopes;
pub mod secret;
pub mod session;
pub mod store;
pub mod sync;
pub mod time;
pub mod webhooks;
pub mod workspace;

/// The version of this crate, shown in Diagnostics next to the app's.
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The published production base URL of the ProspectB2B Public API.
pub const DEFAULT_BASE_URL: &str = "https://login.prospectb2b.com/api/public/v1";

/// The app's identifier: the keychain service name, and the name of the data folder
/// (`$XDG_DATA_HOME/com.prospectb2b.desktop` on Linux) that the app and the CLI share.
pub const APP_IDENTIFIER: &str = "com.prospectb2b.desktop";

/// The settings file in the data folder (tauri-plugin-store's file in the app; read and written
/// by the CLI through `profiles::JsonFileSettings`).
pub const SETTINGS_FILE: &str = "settings.json";

/// The local SQLite database in the data folder (request log, journals, mirror).
pub const DATABASE_FILE: &str = "pb2b.sqlite";
