//! Named connections ("Acme live", "Sandbox"): a name, a base URL and a key kept in the OS
//! keychain. The settings (names, base URLs, the masked key, which one is active) live in one
//! file of the data folder that the app and every `pb2b` process share, read and written only by
//! [`JsonFileSettings`]; the key itself only ever goes to the [`KeyStore`].
//!
//! Every rule about profiles (valid names, valid base URLs, what forgetting removes) lives here,
//! so the app and the CLI cannot disagree.

use crate::error::Code;
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

/// The profiles file (`settings.json` in the data folder), shared by the app and every `pb2b`
/// process: the one implementation that reads and writes it.
///
/// | rule | how |
/// | --- | --- |
/// | no writer loses another's change | every change takes `settings.json.lock` (an OS file lock), re-reads the file, changes it and writes it before letting go ([`Self::update`]) |
/// | a crash never leaves half a file | the new content goes to a temporary file in the same folder, flushed, then renamed over the old one |
/// | a running app sees a `pb2b login` | nothing is cached: every read reads the file |
/// | other members are kept | the file is a JSON object; only its `profiles` member is ours (older versions kept app preferences beside it) |
///
/// A lock that is not free within [`LOCK_TIMEOUT`] fails the change with a message that says so
/// (another process is stuck in the middle of a change).
#[derive(Debug, Clone)]
pub struct JsonFileSettings {
    path: PathBuf,
}

/// The member of the settings object that holds the profiles.
pub const SETTINGS_MEMBER: &str = "profiles";

/// How long a change waits for another process's change of the profiles file.
pub const LOCK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

impl JsonFileSettings {
    /// Settings kept at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    fn read_object(&self) -> Result<serde_json::Map<String, serde_json::Value>, ErrorReport> {
        match std::fs::read(&self.path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(Default::default()),
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

    fn parse(&self, value: Option<serde_json::Value>) -> Result<ProfileSettings, ErrorReport> {
        match value {
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

    /// The stored settings (empty when none were saved yet), read afresh.
    pub fn load(&self) -> Result<ProfileSettings, ErrorReport> {
        self.parse(self.read_object()?.remove(SETTINGS_MEMBER))
    }

    /// Changes the settings under the file lock: re-reads them, lets `change` edit them, and
    /// writes them back atomically unless `change` fails (then nothing is written).
    pub fn update<T>(
        &self,
        change: impl FnOnce(&mut ProfileSettings) -> Result<T, ErrorReport>,
    ) -> Result<T, ErrorReport> {
        let _lock = self.lock()?;
        let mut object = self.read_object()?;
        let mut settings = self.parse(object.remove(SETTINGS_MEMBER))?;
        let out = change(&mut settings)?;
        let value = serde_json::to_value(&settings)
            .map_err(|err| ErrorReport::local(codes::INTERNAL, err.to_string(), false))?;
        object.insert(SETTINGS_MEMBER.to_owned(), value);
        let bytes = serde_json::to_vec_pretty(&object)
            .map_err(|err| ErrorReport::local(codes::INTERNAL, err.to_string(), false))?;
        let tmp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = crate::private_fs::create_file(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        write().map_err(|err| io_error(&tmp, &err))?;
        std::fs::rename(&tmp, &self.path).map_err(|err| {
            let _ = std::fs::remove_file(&tmp);
            io_error(&self.path, &err)
        })?;
        Ok(out)
    }

    /// Takes the file lock (`<file>.lock`), waiting at most [`LOCK_TIMEOUT`].
    fn lock(&self) -> Result<std::fs::File, ErrorReport> {
        if let Some(dir) = self.path.parent() {
            crate::private_fs::create_dir_all(dir).map_err(|err| io_error(dir, &err))?;
        }
        let lock_path = self.path.with_extension("json.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|err| io_error(&lock_path, &err))?;
        let deadline = std::time::Instant::now() + LOCK_TIMEOUT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(file),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(ErrorReport::local(
                        Code::SettingsBusy,
                        format!(
                            "Another program has been changing the profiles in {} for more than {} s; try again, or close the other ProspectB2B app or pb2b command.",
                            self.path.display(),
                            LOCK_TIMEOUT.as_secs()
                        ),
                        true,
                    ))
                }
                Err(std::fs::TryLockError::Error(err)) => return Err(io_error(&lock_path, &err)),
            }
        }
    }
}

/// What [`Profiles::save`] does when the name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Refuse with `profile_exists` (the app then asks; the CLI wants `--replace`).
    Refuse,
    /// Replace that profile's key and base URL (key rotation, confirmed by the user).
    Replace,
}

fn io_error(path: &std::path::Path, err: &std::io::Error) -> ErrorReport {
    ErrorReport::local(
        codes::INTERNAL,
        format!("Could not access {}: {err}", path.display()),
        true,
    )
}

/// Error code: the profile named does not exist.
pub const PROFILE_NOT_FOUND: Code = Code::ProfileNotFound;
/// Error code: the chosen name is already taken.
pub const PROFILE_EXISTS: Code = Code::ProfileExists;

/// Profiles over the profiles file and a key store.
pub struct Profiles<'a> {
    settings: &'a JsonFileSettings,
    keys: &'a dyn KeyStore,
}

impl<'a> Profiles<'a> {
    /// Profiles kept in `settings`, with keys in `keys`.
    pub fn new(settings: &'a JsonFileSettings, keys: &'a dyn KeyStore) -> Self {
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

    /// Saves a profile and makes it active. A taken name is refused unless `existing` is
    /// [`OnExisting::Replace`] (key rotation, after the user confirmed). The key goes to the
    /// keychain first, under the settings lock: if that fails nothing is saved.
    pub fn save(
        &self,
        name: &str,
        base_url: &str,
        key: &SecretString,
        sandbox: bool,
        existing: OnExisting,
    ) -> Result<Profile, ErrorReport> {
        let name = validate_name(name)?;
        let base_url = validate_base_url(base_url)?;
        validate_key(key)?;
        self.settings.update(|settings| {
            let taken = settings.profiles.iter().find(|p| p.name == name);
            if let (Some(taken), OnExisting::Refuse) = (taken, existing) {
                return Err(ErrorReport::local(
                    PROFILE_EXISTS,
                    format!(
                        "A profile named “{name}” already exists (key {}). Replace its key, or choose another name.",
                        taken.key_hint
                    ),
                    false,
                ));
            }
            self.keys
                .set(&account(&name), key)
                .map_err(ErrorReport::from)?;
            let profile = Profile {
                name: name.clone(),
                base_url: base_url.clone(),
                key_hint: mask_key(key),
                sandbox,
            };
            match settings.profiles.iter_mut().find(|p| p.name == name) {
                Some(existing) => *existing = profile.clone(),
                None => settings.profiles.push(profile.clone()),
            }
            settings.active = Some(name.clone());
            Ok(profile)
        })
    }

    /// Makes `name` the active profile.
    pub fn set_active(&self, name: &str) -> Result<Profile, ErrorReport> {
        self.settings.update(|settings| {
            let profile = find(settings, name)?.clone();
            settings.active = Some(profile.name.clone());
            Ok(profile)
        })
    }

    /// Updates the base URL of a profile (the embedded sandbox gets a new port each start).
    pub fn set_base_url(&self, name: &str, base_url: &str) -> Result<Profile, ErrorReport> {
        let base_url = validate_base_url(base_url)?;
        self.settings.update(|settings| {
            settings
                .profiles
                .iter_mut()
                .find(|p| p.name == name)
                .map(|p| {
                    p.base_url = base_url;
                    p.clone()
                })
                .ok_or_else(|| not_found(name))
        })
    }

    /// Renames a profile, moving its keychain entry.
    pub fn rename(&self, from: &str, to: &str) -> Result<Profile, ErrorReport> {
        let to = validate_name(to)?;
        let renamed = self.settings.update(|settings| {
            find(settings, from)?;
            if from == to {
                return find(settings, from).cloned();
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
            renamed.ok_or_else(|| not_found(from))
        })?;
        if from != renamed.name {
            self.keys
                .delete(&account(from))
                .map_err(ErrorReport::from)?;
        }
        Ok(renamed)
    }

    /// Forgets a profile: deletes its keychain entry and its settings. If it was active, no
    /// profile is active afterwards.
    pub fn forget(&self, name: &str) -> Result<(), ErrorReport> {
        self.settings.update(|settings| {
            find(settings, name)?;
            self.keys
                .delete(&account(name))
                .map_err(ErrorReport::from)?;
            settings.profiles.retain(|p| p.name != name);
            if settings.active.as_deref() == Some(name) {
                settings.active = None;
            }
            Ok(())
        })
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
        let save = |settings: &ProfileSettings| {
            backend.update(|s| {
                *s = settings.clone();
                Ok(())
            })
        };
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
        save(&settings).unwrap();
        assert_eq!(backend.load().unwrap(), settings);
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("sub/profiles.json")).unwrap())
                .unwrap();
        assert_eq!(raw["theme"], "dark", "other members of the file are kept");
        std::fs::write(dir.path().join("sub/profiles.json"), b"{broken").unwrap();
        assert_eq!(backend.load().unwrap_err().code, codes::INTERNAL);
    }

    #[test]
    fn concurrent_writers_lose_no_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.json");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let path = path.clone();
                std::thread::spawn(move || {
                    // Each writer has its own handle, as another process would.
                    let backend = JsonFileSettings::new(path);
                    for i in 0..25 {
                        backend
                            .update(|s| {
                                s.profiles.push(Profile {
                                    name: format!("w{w}-{i}"),
                                    base_url: "https://x.test/api".into(),
                                    key_hint: "pb2b_live_ab12…".into(),
                                    sandbox: false,
                                });
                                Ok(())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let settings = JsonFileSettings::new(&path).load().unwrap();
        assert_eq!(settings.profiles.len(), 100);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_failed_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let backend = JsonFileSettings::new(dir.path().join("settings.json"));
        let err = backend
            .update(|s| {
                s.active = Some("x".into());
                Err::<(), _>(not_found("x"))
            })
            .unwrap_err();
        assert_eq!(err.code, PROFILE_NOT_FOUND);
        assert!(!dir.path().join("settings.json").exists());
    }
}
