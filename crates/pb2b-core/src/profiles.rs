//! Named connections ("Acme live", "Sandbox"): a name, a base URL and a key kept in the OS
//! keychain. The settings (names, base URLs, the masked key, which one is active) live wherever
//! the front end keeps settings — tauri-plugin-store in the app, a JSON file for the CLI — behind
//! [`SettingsBackend`]; the key itself only ever goes to the [`KeyStore`].
//!
//! Every rule about profiles (valid names, valid base URLs, what forgetting removes) lives here,
//! so the app and the CLI cannot disagree.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::error::{codes, ErrorReport};
use crate::secret::{mask_key, KeyStore, KeychainError, SecretString};

/// One saved connection, as stored in the settings and shown in the UI. No secret in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Profile.ts")]
pub struct Profile {
    /// The user's name for it, unique.
    pub name: String,
    /// The API base URL.
    pub base_url: String,
    /// The masked key, e.g. `pb2b_live_ab12…`, so the user can tell keys apart.
    pub key_hint: String,
    /// Whether this profile talks to the embedded local sandbox (its base URL changes each start).
    #[serde(default)]
    pub sandbox: bool,
}

/// What the settings store holds about profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSettings {
    /// Every saved profile.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// The name of the active one.
    #[serde(default)]
    pub active: Option<String>,
}

/// Where profile settings are kept.
pub trait SettingsBackend: Send + Sync {
    /// The stored settings (empty when none were saved yet).
    fn load(&self) -> Result<ProfileSettings, ErrorReport>;
    /// Replaces the stored settings.
    fn save(&self, settings: &ProfileSettings) -> Result<(), ErrorReport>;
}

/// Settings in a JSON file (the CLI's backend): the same file and shape as the app's
/// tauri-plugin-store file (`settings.json` in the app's data folder, a JSON object whose
/// `profiles` member holds [`ProfileSettings`]), so `pb2b login` and the app share profiles. Other
/// members (the app's preferences) are kept as they are. Writes go to a temporary file renamed
/// over the old one, so a crash never leaves half a file.
#[derive(Debug, Clone)]
pub struct JsonFileSettings {
    path: PathBuf,
}

/// The member of the settings object that holds the profiles.
pub const SETTINGS_MEMBER: &str = "profiles";

impl JsonFileSettings {
    /// Settings kept at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn read_object(&self) -> Result<serde_json::Map<String, serde_json::Value>, ErrorReport> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|err| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!(
                        "The settings file {} is damaged ({err}); move it aside to start afresh.",
                        self.path.display()
                    ),
                    false,
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
            Err(err) => Err(io_error(&self.path, &err)),
        }
    }
}

impl SettingsBackend for JsonFileSettings {
    fn load(&self) -> Result<ProfileSettings, ErrorReport> {
        match self.read_object()?.remove(SETTINGS_MEMBER) {
            None => Ok(ProfileSettings::default()),
            Some(value) => serde_json::from_value(value).map_err(|err| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!(
                        "The saved profiles in {} could not be read: {err}",
                        self.path.display()
                    ),
                    false,
                )
            }),
        }
    }

    fn save(&self, settings: &ProfileSettings) -> Result<(), ErrorReport> {
        let mut object = self.read_object()?;
        let value = serde_json::to_value(settings)
            .map_err(|err| ErrorReport::local(codes::INTERNAL, err.to_string(), false))?;
        object.insert(SETTINGS_MEMBER.to_owned(), value);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| io_error(dir, &err))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&object)
            .map_err(|err| ErrorReport::local(codes::INTERNAL, err.to_string(), false))?;
        std::fs::write(&tmp, bytes).map_err(|err| io_error(&tmp, &err))?;
        std::fs::rename(&tmp, &self.path).map_err(|err| io_error(&self.path, &err))
    }
}

fn io_error(path: &std::path::Path, err: &std::io::Error) -> ErrorReport {
    ErrorReport::local(
        codes::INTERNAL,
        format!("Could not access {}: {err}", path.display()),
        true,
    )
}

/// Error code: the profile named does not exist.
pub const PROFILE_NOT_FOUND: &str = "profile_not_found";
/// Error code: the chosen name is already taken.
pub const PROFILE_EXISTS: &str = "profile_exists";

/// Profiles over a settings backend and a key store.
pub struct Profiles<'a> {
    settings: &'a dyn SettingsBackend,
    keys: &'a dyn KeyStore,
}

impl<'a> Profiles<'a> {
    /// Profiles kept in `settings`, with keys in `keys`.
    pub fn new(settings: &'a dyn SettingsBackend, keys: &'a dyn KeyStore) -> Self {
        Self { settings, keys }
    }

    /// Every profile and the active one's name.
    pub fn load(&self) -> Result<ProfileSettings, ErrorReport> {
        self.settings.load()
    }

    /// The active profile, if any.
    pub fn active(&self) -> Result<Option<Profile>, ErrorReport> {
        let settings = self.settings.load()?;
        Ok(settings
            .active
            .as_ref()
            .and_then(|name| settings.profiles.iter().find(|p| &p.name == name).cloned()))
    }

    /// Saves a profile (new, or replacing the key and base URL of an existing one: key rotation)
    /// and makes it active. The key goes to the keychain first: if that fails nothing is saved.
    pub fn save(
        &self,
        name: &str,
        base_url: &str,
        key: &SecretString,
        sandbox: bool,
    ) -> Result<Profile, ErrorReport> {
        let name = validate_name(name)?;
        let base_url = validate_base_url(base_url)?;
        validate_key(key)?;
        self.keys
            .set(&account(&name), key)
            .map_err(ErrorReport::from)?;
        let profile = Profile {
            name: name.clone(),
            base_url,
            key_hint: mask_key(key),
            sandbox,
        };
        let mut settings = self.settings.load()?;
        match settings.profiles.iter_mut().find(|p| p.name == name) {
            Some(existing) => *existing = profile.clone(),
            None => settings.profiles.push(profile.clone()),
        }
        settings.active = Some(name);
        self.settings.save(&settings)?;
        Ok(profile)
    }

    /// Makes `name` the active profile.
    pub fn set_active(&self, name: &str) -> Result<Profile, ErrorReport> {
        let mut settings = self.settings.load()?;
        let profile = find(&settings, name)?.clone();
        settings.active = Some(profile.name.clone());
        self.settings.save(&settings)?;
        Ok(profile)
    }

    /// Updates the base URL of a profile (the embedded sandbox gets a new port each start).
    pub fn set_base_url(&self, name: &str, base_url: &str) -> Result<Profile, ErrorReport> {
        let base_url = validate_base_url(base_url)?;
        let mut settings = self.settings.load()?;
        find(&settings, name)?;
        let profile = settings
            .profiles
            .iter_mut()
            .find(|p| p.name == name)
            .map(|p| {
                p.base_url = base_url;
                p.clone()
            })
            .ok_or_else(|| not_found(name))?;
        self.settings.save(&settings)?;
        Ok(profile)
    }

    /// Renames a profile, moving its keychain entry.
    pub fn rename(&self, from: &str, to: &str) -> Result<Profile, ErrorReport> {
        let to = validate_name(to)?;
        let mut settings = self.settings.load()?;
        find(&settings, from)?;
        if from == to {
            return find(&settings, from).cloned();
        }
        if settings.profiles.iter().any(|p| p.name == to) {
            return Err(ErrorReport::local(
                PROFILE_EXISTS,
                format!("A profile named “{to}” already exists; choose another name."),
                false,
            ));
        }
        let key = self.key(from)?;
        self.keys
            .set(&account(&to), &key)
            .map_err(ErrorReport::from)?;
        let mut renamed = None;
        for profile in &mut settings.profiles {
            if profile.name == from {
                profile.name = to.clone();
                renamed = Some(profile.clone());
            }
        }
        if settings.active.as_deref() == Some(from) {
            settings.active = Some(to.clone());
        }
        self.settings.save(&settings)?;
        self.keys
            .delete(&account(from))
            .map_err(ErrorReport::from)?;
        renamed.ok_or_else(|| not_found(from))
    }

    /// Forgets a profile: deletes its keychain entry and its settings. If it was active, no
    /// profile is active afterwards.
    pub fn forget(&self, name: &str) -> Result<(), ErrorReport> {
        let mut settings = self.settings.load()?;
        find(&settings, name)?;
        self.keys
            .delete(&account(name))
            .map_err(ErrorReport::from)?;
        settings.profiles.retain(|p| p.name != name);
        if settings.active.as_deref() == Some(name) {
            settings.active = None;
        }
        self.settings.save(&settings)
    }

    /// The key of a profile, read from the keychain.
    pub fn key(&self, name: &str) -> Result<SecretString, ErrorReport> {
        match self.keys.get(&account(name)) {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(ErrorReport::local(
                codes::KEY_NOT_FOUND,
                format!("No API key is stored for “{name}” in the system keychain. Paste the key again on the Connect screen."),
                false,
            )),
            Err(err @ KeychainError::Unavailable { .. }) => Err(err.into()),
            Err(err) => Err(err.into()),
        }
    }
}

/// The keychain account of a profile.
fn account(name: &str) -> String {
    format!("profile:{name}")
}

fn find<'s>(settings: &'s ProfileSettings, name: &str) -> Result<&'s Profile, ErrorReport> {
    settings
        .profiles
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| not_found(name))
}

fn not_found(name: &str) -> ErrorReport {
    ErrorReport::local(
        PROFILE_NOT_FOUND,
        format!("There is no profile named “{name}”."),
        false,
    )
}

/// A profile name: 1 to 64 characters after trimming, no control characters.
pub fn validate_name(name: &str) -> Result<String, ErrorReport> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            "A profile name needs 1 to 64 characters (letters, digits, spaces, punctuation).",
            false,
        ));
    }
    Ok(name.to_owned())
}

/// A base URL: `https://…`, or `http://…` only for a loopback host (the local sandbox), so a key
/// is never sent in clear text over a network. Trailing slashes are dropped.
pub fn validate_base_url(raw: &str) -> Result<String, ErrorReport> {
    let invalid = |why: &str| {
        ErrorReport::local(
            codes::INVALID_INPUT,
            format!(
                "The base URL is not usable: {why}. Example: {}",
                crate::DEFAULT_BASE_URL
            ),
            false,
        )
    };
    let url = url::Url::parse(raw.trim()).map_err(|err| invalid(&err.to_string()))?;
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(invalid("it has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                "plain http is allowed only for this computer (127.0.0.1 or localhost); use https",
            ))
        }
        other => return Err(invalid(&format!("the scheme {other}: is not http(s)"))),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("it must not contain a user name or password"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("it must not contain ? or #"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// An API key as pasted: trimmed by the caller, no white space or control characters inside,
/// between 8 and 512 characters.
pub fn validate_key(key: &SecretString) -> Result<(), ErrorReport> {
    let k = key.expose();
    if k.len() < 8 || k.len() > 512 || k.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            "That does not look like an API key: paste the whole key, e.g. pb2b_live_ab12cd_…, without spaces.",
            false,
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            validate_base_url("https://login.prospectb2b.com/api/public/v1/").unwrap(),
            "https://login.prospectb2b.com/api/public/v1"
        );
        assert!(validate_base_url("http://127.0.0.1:8080/api/public/v1").is_ok());
        assert!(validate_base_url("http://localhost:1/api").is_ok());
        assert!(validate_base_url("http://[::1]:1/api").is_ok());
        for bad in [
            "http://example.com/api",
            "ftp://example.com",
            "not a url",
            "https://user:pw@example.com/api",
            "https://example.com/api?x=1",
        ] {
            let err = validate_base_url(bad).unwrap_err();
            assert_eq!(err.code, codes::INVALID_INPUT, "{bad}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(validate_name("  Acme live ").unwrap(), "Acme live");
        assert!(validate_name("").is_err());
        assert!(validate_name("a\nb").is_err());
        assert!(validate_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn keys() {
        assert!(validate_key(&SecretString::new("pb2b_live_ab12_secret".into())).is_ok());
        assert!(validate_key(&SecretString::new("short".into())).is_err());
        assert!(validate_key(&SecretString::new("pb2b_live ab12_secret".into())).is_err());
    }

    #[test]
    fn json_settings_round_trip_and_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let backend = JsonFileSettings::new(dir.path().join("sub/profiles.json"));
        assert_eq!(backend.load().unwrap(), ProfileSettings::default());
        let settings = ProfileSettings {
            profiles: vec![Profile {
                name: "Acme".into(),
                base_url: "https://x.test/api".into(),
                key_hint: "pb2b_live_ab12…".into(),
                sandbox: false,
            }],
            active: Some("Acme".into()),
        };
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/profiles.json"), br#"{"theme":"dark"}"#).unwrap();
        backend.save(&settings).unwrap();
        assert_eq!(backend.load().unwrap(), settings);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("sub/profiles.json")).unwrap())
                .unwrap();
        assert_eq!(raw["theme"], "dark", "other members of the file are kept");
        std::fs::write(dir.path().join("sub/profiles.json"), b"{broken").unwrap();
        assert_eq!(backend.load().unwrap_err().code, codes::INTERNAL);
    }
}
