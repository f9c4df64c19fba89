//! App-only preferences (the automatic sync interval, ...) in tauri-plugin-store, in their own
//! file `preferences.json` in the data folder. Never a secret.
//!
//! Profiles are not here: they live in `settings.json`, which the app and every `pb2b` process
//! share and which only `pb2b_core::profiles::JsonFileSettings` reads and writes (under a file
//! lock, atomically). The store plugin keeps its own in-memory copy of its file and writes it
//! whole, so it must never own a file another process writes; older versions kept preferences
//! beside the profiles in `settings.json`, and a preference missing from `preferences.json` is
//! still read from there.

use pb2b_core::error::{codes, ErrorReport};
use tauri_plugin_store::StoreExt;

/// The preferences file in the data folder.
pub const PREFERENCES_FILE: &str = "preferences.json";

fn store_at<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<tauri_plugin_store::Store<R>>, ErrorReport> {
    // The plugin rewrites the file in place, keeping its mode: created 0600 here first.
    let path = data_dir.join(PREFERENCES_FILE);
    pb2b_core::private_fs::create_dir_all(data_dir)
        .and_then(|()| pb2b_core::private_fs::ensure_private_file(&path, b"{}"))
        .map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!(
                    "The preferences file {} could not be prepared: {err}",
                    path.display()
                ),
                true,
            )
        })?;
    app.store(path).map_err(|err| {
        ErrorReport::local(
            codes::INTERNAL,
            format!("The preferences could not be opened: {err}"),
            true,
        )
    })
}

/// A preference (never a secret).
pub fn preference<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: &std::path::Path,
    name: &str,
) -> Option<serde_json::Value> {
    if let Some(value) = store_at(app, data_dir).ok()?.get(name) {
        return Some(value);
    }
    // Written by an older version beside the profiles: read only, never written back there.
    let legacy = std::fs::read(data_dir.join(pb2b_core::SETTINGS_FILE)).ok()?;
    serde_json::from_slice::<serde_json::Value>(&legacy)
        .ok()?
        .get(name)
        .cloned()
}

/// Saves a preference (never a secret).
pub fn set_preference<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: &std::path::Path,
    name: &str,
    value: serde_json::Value,
) -> Result<(), ErrorReport> {
    let store = store_at(app, data_dir)?;
    store.set(name, value);
    store.save().map_err(|err| {
        ErrorReport::local(
            codes::INTERNAL,
            format!("The preferences could not be saved: {err}"),
            true,
        )
    })
}
