//! Profile settings in tauri-plugin-store (`settings.json` in the app's data folder): profile
//! names, base URLs, masked keys, the active profile. Never a key: `Profile` has no field that
//! could hold one, and keys go to the keychain through `pb2b_core::profiles`.

use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::profiles::{ProfileSettings, SettingsBackend, SETTINGS_MEMBER};
use tauri_plugin_store::StoreExt;

/// tauri-plugin-store as the profiles' settings backend.
pub struct StoreSettings<R: tauri::Runtime> {
    app: tauri::AppHandle<R>,
    path: std::path::PathBuf,
}

impl<R: tauri::Runtime> StoreSettings<R> {
    /// Settings of `app` in the store file at `path` (`<data dir>/settings.json`).
    pub fn new(app: tauri::AppHandle<R>, path: std::path::PathBuf) -> Self {
        Self { app, path }
    }

    fn store(&self) -> Result<std::sync::Arc<tauri_plugin_store::Store<R>>, ErrorReport> {
        self.app.store(&self.path).map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("The settings store could not be opened: {err}"),
                true,
            )
        })
    }
}

impl<R: tauri::Runtime> SettingsBackend for StoreSettings<R> {
    fn load(&self) -> Result<ProfileSettings, ErrorReport> {
        match self.store()?.get(SETTINGS_MEMBER) {
            None => Ok(ProfileSettings::default()),
            Some(value) => serde_json::from_value(value).map_err(|err| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!(
                        "The saved profiles could not be read ({err}); forget and add them again."
                    ),
                    false,
                )
            }),
        }
    }

    fn save(&self, settings: &ProfileSettings) -> Result<(), ErrorReport> {
        let store = self.store()?;
        let value = serde_json::to_value(settings)
            .map_err(|err| ErrorReport::local(codes::INTERNAL, err.to_string(), false))?;
        store.set(SETTINGS_MEMBER, value);
        store.save().map_err(|err| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("The settings could not be saved: {err}"),
                true,
            )
        })
    }
}

fn store_at<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: &std::path::Path,
) -> Result<std::sync::Arc<tauri_plugin_store::Store<R>>, ErrorReport> {
    StoreSettings::new(app.clone(), data_dir.join(pb2b_core::SETTINGS_FILE)).store()
}

/// A preference (never a secret) from the settings store.
pub fn preference<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    data_dir: &std::path::Path,
    name: &str,
) -> Option<serde_json::Value> {
    store_at(app, data_dir).ok()?.get(name)
}

/// Saves a preference (never a secret) in the settings store.
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
            format!("The settings could not be saved: {err}"),
            true,
        )
    })
}
