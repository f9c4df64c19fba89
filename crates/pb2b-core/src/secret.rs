//! Secrets (API keys, webhook signing secrets) and the OS keychain that keeps them.
//!
//! [`Sensitive`] wraps a secret so that it cannot leak by accident: its `Debug` and `Display`
//! print `<redacted>`, and it does not implement `Serialize`, so it cannot be written to the
//! settings store, SQLite, a log line or an IPC response without an explicit [`Sensitive::expose`].
//!
//! [`OsKeychain`] stores secrets in the platform keychain through `keyring` (macOS Keychain,
//! Windows Credential Manager, the Secret Service on Linux). There is no plain-text fallback: when
//! the keychain cannot be reached the caller gets [`KeychainError::Unavailable`] with a remedy.

use serde::{Deserialize, Deserializer, Serialize};
use std::fmt;
use ts_rs::TS;

use crate::error::{codes, ErrorReport};

/// A value that must never be shown, logged or serialized.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    /// Wraps a secret.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Gives access to the secret. Every call site is a place where the secret leaves its
    /// wrapper: keep them few (the HTTP `Authorization` header, the keychain).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secrets arrive from the UI (a pasted key) and the CLI, so they deserialize; they never
/// serialize back.
impl<'de, T: Deserialize<'de>> Deserialize<'de> for Sensitive<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Sensitive)
    }
}

/// A secret string (API key, signing secret).
pub type SecretString = Sensitive<String>;

/// The masked form of an API key that the UI may show: `pb2b_live_ab12…`.
///
/// For a key shaped `pb2b_<env>_<prefix>_<secret>` it keeps the environment and the first four
/// characters of the prefix; for anything else, only its first four characters.
pub fn mask_key(key: &SecretString) -> String {
    let key = key.expose();
    let parts: Vec<&str> = key.splitn(4, '_').collect();
    if parts.len() == 4 && parts[0] == "pb2b" && !parts[1].is_empty() {
        let prefix: String = parts[2].chars().take(4).collect();
        format!("pb2b_{}_{}…", parts[1], prefix)
    } else {
        let head: String = key.chars().take(4).collect();
        format!("{head}…")
    }
}

/// What can go wrong with the keychain. No variant ever carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// The keychain service could not be reached, is locked, or refused access.
    #[error("The system keychain is not available: {detail}. {remedy}")]
    Unavailable {
        /// What the platform said.
        detail: String,
        /// What the user can do about it.
        remedy: &'static str,
    },
    /// Any other keychain failure.
    #[error("The system keychain failed: {0}")]
    Other(String),
}

impl From<KeychainError> for ErrorReport {
    fn from(err: KeychainError) -> Self {
        match &err {
            KeychainError::Unavailable { .. } => {
                ErrorReport::local(codes::KEYCHAIN_UNAVAILABLE, err.to_string(), true)
            }
            KeychainError::Other(_) => ErrorReport::local(codes::INTERNAL, err.to_string(), false),
        }
    }
}

/// Where secrets are kept. The app and the tests use [`OsKeychain`]; the trait exists so that the
/// workflows name what they need, not how the platform provides it.
pub trait KeyStore: Send + Sync {
    /// The secret stored under `account`, if any.
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError>;
    /// Stores (or replaces) the secret under `account`.
    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError>;
    /// Removes the secret under `account`; removing a missing one is not an error.
    fn delete(&self, account: &str) -> Result<(), KeychainError>;
}

/// The platform keychain, one entry per `account` under one service name.
#[derive(Debug, Clone)]
pub struct OsKeychain {
    service: String,
}

/// The result of a real round trip through the keychain, shown in Diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "KeychainStatus.ts")]
pub struct KeychainStatus {
    /// Whether a probe entry could be written, read back and deleted.
    pub reachable: bool,
    /// The platform's keychain, in words (`Secret Service`, `macOS Keychain`, ...).
    pub backend: String,
    /// What happened, with the remedy when it failed.
    pub detail: String,
}

const PROBE_ACCOUNT: &str = "__pb2b_keychain_probe__";

impl OsKeychain {
    /// A keychain whose entries are grouped under `service` (the app uses its identifier).
    pub fn new(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
        }
    }

    /// The service name entries are stored under.
    pub fn service(&self) -> &str {
        &self.service
    }

    fn entry(&self, account: &str) -> Result<keyring::Entry, KeychainError> {
        keyring::Entry::new(&self.service, account).map_err(map_keyring_error)
    }

    /// Writes, reads back and deletes a probe entry: the only honest answer to "does the
    /// keychain work here".
    pub fn probe(&self) -> KeychainStatus {
        let backend = backend_name().to_owned();
        let nonce = format!(
            "probe-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let secret = Sensitive::new(nonce);
        let outcome = self
            .set(PROBE_ACCOUNT, &secret)
            .and_then(|()| self.get(PROBE_ACCOUNT))
            .and_then(|read| {
                self.delete(PROBE_ACCOUNT)?;
                match read {
                    Some(value) if value == secret => Ok(()),
                    Some(_) => Err(KeychainError::Other(
                        "the probe entry read back differs from what was written".into(),
                    )),
                    None => Err(KeychainError::Other(
                        "the probe entry was written but could not be read back".into(),
                    )),
                }
            });
        match outcome {
            Ok(()) => KeychainStatus {
                reachable: true,
                backend,
                detail: "A probe entry was written, read back and deleted.".into(),
            },
            Err(err) => KeychainStatus {
                reachable: false,
                backend,
                detail: err.to_string(),
            },
        }
    }
}

impl KeyStore for OsKeychain {
    fn get(&self, account: &str) -> Result<Option<SecretString>, KeychainError> {
        match self.entry(account)?.get_password() {
            Ok(value) => Ok(Some(Sensitive::new(value))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(map_keyring_error(err)),
        }
    }

    fn set(&self, account: &str, secret: &SecretString) -> Result<(), KeychainError> {
        self.entry(account)?
            .set_password(secret.expose())
            .map_err(map_keyring_error)
    }

    fn delete(&self, account: &str) -> Result<(), KeychainError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(map_keyring_error(err)),
        }
    }
}

fn backend_name() -> &'static str {
    if cfg!(target_os = "macos") {
        "macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "Windows Credential Manager"
    } else {
        "Secret Service (D-Bus)"
    }
}

fn unavailable_remedy() -> &'static str {
    if cfg!(target_os = "linux") {
        "Start and unlock a Secret Service keyring (GNOME Keyring or KWallet) in your desktop session, then try again. The app never stores keys in plain text."
    } else {
        "Unlock your keychain and allow ProspectB2B Desktop to use it, then try again. The app never stores keys in plain text."
    }
}

/// Maps keyring's errors without ever including stored bytes (`BadEncoding` carries them).
fn map_keyring_error(err: keyring::Error) -> KeychainError {
    match err {
        keyring::Error::PlatformFailure(inner) => KeychainError::Unavailable {
            detail: inner.to_string(),
            remedy: unavailable_remedy(),
        },
        keyring::Error::NoStorageAccess(inner) => KeychainError::Unavailable {
            detail: inner.to_string(),
            remedy: unavailable_remedy(),
        },
        keyring::Error::NoEntry => KeychainError::Other("no entry".into()),
        keyring::Error::BadEncoding(_) => {
            KeychainError::Other("a stored entry is not valid UTF-8".into())
        }
        keyring::Error::TooLong(attr, max) => KeychainError::Other(format!(
            "{attr} is longer than the platform's limit of {max}"
        )),
        keyring::Error::Invalid(attr, reason) => {
            KeychainError::Other(format!("{attr} is invalid: {reason}"))
        }
        keyring::Error::Ambiguous(_) => {
            KeychainError::Other("more than one keychain entry matches".into())
        }
        other => KeychainError::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let key = Sensitive::new("pb2b_live_ab12cd_supersecret".to_owned());
        assert_eq!(format!("{key:?}"), "<redacted>");
        assert_eq!(format!("{key}"), "<redacted>");
        let nested = Some(key);
        assert!(!format!("{nested:?}").contains("supersecret"));
    }

    #[test]
    fn deserializes_from_a_plain_string() {
        let key: SecretString = serde_json::from_str("\"pb2b_live_x_y\"").unwrap();
        assert_eq!(key.expose(), "pb2b_live_x_y");
    }

    #[test]
    fn masks_keys() {
        let key = Sensitive::new("pb2b_live_ab12cd_supersecret".to_owned());
        assert_eq!(mask_key(&key), "pb2b_live_ab12…");
        let odd = Sensitive::new("sk-something-else".to_owned());
        assert_eq!(mask_key(&odd), "sk-s…");
        let short = Sensitive::new("ab".to_owned());
        assert_eq!(mask_key(&short), "ab…");
    }
}
