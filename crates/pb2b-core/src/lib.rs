//! `pb2b-core`: the logic of ProspectB2B Desktop, testable without a window.
//!
//! The Tauri app (`src-tauri/`) and the `pb2b` CLI are thin fronts on this crate. It never depends
//! on Tauri, nor on `pb2b-sandbox` outside its dev-dependencies.

pub mod api;
pub mod diagnostics;
pub mod error;
pub mod profiles;
pub mod scopes;
pub mod secret;

/// The version of this crate, shown in Diagnostics next to the app's.
pub const CORE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The published production base URL of the ProspectB2B Public API.
pub const DEFAULT_BASE_URL: &str = "https://login.prospectb2b.com/api/public/v1";
