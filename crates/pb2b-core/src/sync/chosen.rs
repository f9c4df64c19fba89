//! Where a profile's sync writes, as chosen on the Sync screen: this computer's SQLite mirror, or
//! a schema of the team's PostgreSQL ([`super::postgres`]). The rules of the choice and of its
//! password live here; the app keeps the choice in its preferences (`sync_destinations`: profile
//! name to [`SyncDestination`]) and runs these functions off the async runtime (the keychain
//! blocks).
//!
//! | rule | one place |
//! | --- | --- |
//! | the choice | a [`SyncDestination`]: the connection string without a password, and the schema; never a secret. [`SyncDestination::normalised`]: an empty schema is [`DEFAULT_SCHEMA`], the connection string is trimmed, one holding a password is refused ([`saved_target`]) |
//! | the password | typed in its own field, kept in the OS keychain under [`PgTarget::keychain_account`] (one entry per profile and database); the webview only ever learns [`SyncDestinationView::password_saved`] |
//! | choosing | [`choose`]: a non-empty password is saved for the chosen database (an empty one keeps the saved one); choosing "This computer" or another database deletes the entry of the database left |
//! | rename, forget | [`follow_rename`] moves the entry to the new profile name; [`forget`] deletes it |
//! | the sync's target | [`target`]: the saved choice with its saved password (none saved: connect without one, the server says if it needs one) |
//! | test connection | [`form_target`]: the form's values (its password, or the saved one when the field is empty), without saving them |
//! | in words | [`SyncDestination::label`]: "This computer", or the target's `Display` (never the password) |

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::postgres::{PgTarget, DEFAULT_SCHEMA};
use crate::error::{Code, ErrorReport};
use crate::secret::{KeyStore, SecretString};

/// The label of [`SyncDestination::ThisComputer`].
pub const THIS_COMPUTER: &str = "This computer";

/// Where a profile's sync writes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "SyncDestination.ts")]
pub enum SyncDestination {
    /// The SQLite mirror in the data folder (with search, the Leads screen).
    #[default]
    ThisComputer,
    /// A schema of a PostgreSQL database.
    Postgres {
        /// `postgres://user@host:5432/database`, without a password.
        url: String,
        /// The schema (one workspace per schema).
        schema: String,
    },
}

/// The saved destination as the Sync screen shows it.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export_to = "SyncDestinationView.ts")]
pub struct SyncDestinationView {
    pub destination: SyncDestination,
    /// A password for this database is in the keychain (the password itself never crosses IPC).
    pub password_saved: bool,
    /// In words: "This computer" or `postgres://user@host:5432/db (schema pb2b)`.
    pub label: String,
}

/// The target of a PostgreSQL destination as saved, without a password: its connection string
/// must hold none (the password goes to the keychain, never to settings).
pub fn saved_target(url: &str, schema: &str) -> Result<PgTarget, ErrorReport> {
    let target = PgTarget::parse(url, Some(schema.trim()), None)?;
    if target.has_password() {
        return Err(ErrorReport::local(
            Code::InvalidInput,
            "Remove the password from the connection string and type it in the Password field: the app keeps it in the system keychain, never in its settings.",
            false,
        ));
    }
    Ok(target)
}

impl SyncDestination {
    /// The choice as it is saved: for PostgreSQL, the schema defaults to [`DEFAULT_SCHEMA`], the
    /// connection string is trimmed, and it is refused when it does not parse or holds a
    /// password.
    pub fn normalised(self) -> Result<SyncDestination, ErrorReport> {
        match self {
            SyncDestination::ThisComputer => Ok(SyncDestination::ThisComputer),
            SyncDestination::Postgres { url, schema } => {
                let schema = match schema.trim() {
                    "" => DEFAULT_SCHEMA.to_owned(),
                    s => s.to_owned(),
                };
                saved_target(&url, &schema)?;
                Ok(SyncDestination::Postgres {
                    url: url.trim().to_owned(),
                    schema,
                })
            }
        }
    }

    /// The PostgreSQL target without its password (`None`: this computer).
    pub fn saved_target(&self) -> Result<Option<PgTarget>, ErrorReport> {
        match self {
            SyncDestination::ThisComputer => Ok(None),
            SyncDestination::Postgres { url, schema } => saved_target(url, schema).map(Some),
        }
    }

    /// The keychain account of `profile`'s password for this database (`None`: this computer,
    /// or a saved choice that no longer parses, which has no entry).
    pub fn keychain_account(&self, profile: &str) -> Option<String> {
        self.saved_target()
            .ok()
            .flatten()
            .map(|t| t.keychain_account(profile))
    }

    /// In words: "This computer", or `postgres://user@host:5432/db (schema pb2b)`.
    pub fn label(&self) -> Result<String, ErrorReport> {
        Ok(match self.saved_target()? {
            None => THIS_COMPUTER.to_owned(),
            Some(target) => target.to_string(),
        })
    }
}

/// `profile`'s saved destination as the Sync screen shows it: whether a password is saved for
/// its database, and its label.
pub fn view(
    keys: &dyn KeyStore,
    profile: &str,
    destination: SyncDestination,
) -> Result<SyncDestinationView, ErrorReport> {
    let (password_saved, label) = match destination.saved_target()? {
        None => (false, THIS_COMPUTER.to_owned()),
        Some(target) => (
            keys.get(&target.keychain_account(profile))?.is_some(),
            target.to_string(),
        ),
    };
    Ok(SyncDestinationView {
        destination,
        password_saved,
        label,
    })
}

/// `profile` chooses `chosen` instead of `old`: the choice is [normalised](SyncDestination::normalised)
/// (and refused as it says), a non-empty `password` is saved for the chosen database (an empty
/// one keeps the saved one), and the entry of the database left, if any, is deleted. Returns the
/// choice to save.
pub fn choose(
    keys: &dyn KeyStore,
    profile: &str,
    old: &SyncDestination,
    chosen: SyncDestination,
    password: &SecretString,
) -> Result<SyncDestination, ErrorReport> {
    let chosen = chosen.normalised()?;
    let new = chosen.keychain_account(profile);
    if let (Some(account), false) = (&new, password.expose().is_empty()) {
        keys.set(account, password)?;
    }
    if let Some(old) = old
        .keychain_account(profile)
        .filter(|o| Some(o) != new.as_ref())
    {
        keys.delete(&old)?;
    }
    Ok(chosen)
}

/// A profile was renamed `from` → `to`: the password of its destination's database follows the
/// name (nothing to do when none is saved, or when the name did not change: moving an entry onto
/// itself would delete it).
pub fn follow_rename(
    keys: &dyn KeyStore,
    from: &str,
    to: &str,
    destination: &SyncDestination,
) -> Result<(), ErrorReport> {
    let (Some(old), Some(new)) = (
        destination.keychain_account(from),
        destination.keychain_account(to),
    ) else {
        return Ok(());
    };
    if old == new {
        return Ok(());
    }
    if let Some(password) = keys.get(&old)? {
        keys.set(&new, &password)?;
        keys.delete(&old)?;
    }
    Ok(())
}

/// A profile was forgotten: the password of its destination's database goes with it.
pub fn forget(
    keys: &dyn KeyStore,
    profile: &str,
    destination: &SyncDestination,
) -> Result<(), ErrorReport> {
    match destination.keychain_account(profile) {
        Some(account) => Ok(keys.delete(&account)?),
        None => Ok(()),
    }
}

/// The target `profile`'s sync writes to, with the password saved for it (none saved: connect
/// without one, the server says if it needs one); `None`: this computer.
pub fn target(
    keys: &dyn KeyStore,
    profile: &str,
    destination: &SyncDestination,
) -> Result<Option<PgTarget>, ErrorReport> {
    let SyncDestination::Postgres { url, schema } = destination else {
        return Ok(None);
    };
    let target = saved_target(url, schema)?;
    let password = keys.get(&target.keychain_account(profile))?;
    PgTarget::parse(
        url,
        Some(schema.trim()),
        password.as_ref().map(|p| p.expose().as_str()),
    )
    .map(Some)
}

/// "Test connection": the target of the form's values, nothing saved. The choice is
/// [normalised](SyncDestination::normalised); a non-empty `password` is used as typed, an empty
/// one stands for the password saved for `profile` (`None`: none saved). `None`: this computer,
/// which needs no connection.
pub fn form_target(
    keys: &dyn KeyStore,
    profile: Option<&str>,
    destination: SyncDestination,
    password: &SecretString,
) -> Result<Option<PgTarget>, ErrorReport> {
    let destination = destination.normalised()?;
    let SyncDestination::Postgres { url, schema } = &destination else {
        return Ok(None);
    };
    if !password.expose().is_empty() {
        return PgTarget::parse(url, Some(schema), Some(password.expose())).map(Some);
    }
    match profile {
        Some(profile) => target(keys, profile, &destination),
        None => saved_target(url, schema).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pg(url: &str, schema: &str) -> SyncDestination {
        SyncDestination::Postgres {
            url: url.into(),
            schema: schema.into(),
        }
    }

    #[test]
    fn the_choice_keeps_its_serde_and_typescript_shape() {
        use ts_rs::{Config, TS};
        assert_eq!(
            serde_json::to_value(SyncDestination::ThisComputer).unwrap(),
            serde_json::json!({"kind": "this_computer"})
        );
        assert_eq!(
            serde_json::to_value(pg("postgres://u@h/db", "s")).unwrap(),
            serde_json::json!({"kind": "postgres", "url": "postgres://u@h/db", "schema": "s"})
        );
        assert_eq!(
            SyncDestination::output_path().unwrap(),
            std::path::Path::new("SyncDestination.ts")
        );
        assert_eq!(
            SyncDestinationView::output_path().unwrap(),
            std::path::Path::new("SyncDestinationView.ts")
        );
        for s in [
            SyncDestination::export_to_string(&Config::new()).unwrap(),
            SyncDestinationView::export_to_string(&Config::new()).unwrap(),
        ] {
            assert!(!s.contains("bigint"), "{s}");
        }
    }

    #[test]
    fn a_choice_is_trimmed_given_the_default_schema_and_refused_with_a_password() {
        assert_eq!(
            pg("  postgres://u@h:5432/db \n", "  ")
                .normalised()
                .unwrap(),
            pg("postgres://u@h:5432/db", DEFAULT_SCHEMA)
        );
        assert_eq!(
            pg("postgres://u@h/db", " team ").normalised().unwrap(),
            pg("postgres://u@h/db", "team")
        );
        assert_eq!(
            SyncDestination::ThisComputer.normalised().unwrap(),
            SyncDestination::ThisComputer
        );
        let err = pg("postgres://u:hunter2@h/db", "")
            .normalised()
            .unwrap_err();
        assert_eq!(err.code, Code::InvalidInput);
        assert_eq!(
            err.message,
            "Remove the password from the connection string and type it in the Password field: the app keeps it in the system keychain, never in its settings."
        );
        // Not a connection string, a bad schema: refused by the target's own rules.
        assert_eq!(
            pg("not a url", "").normalised().unwrap_err().code,
            Code::InvalidInput
        );
        assert_eq!(
            pg("postgres://u@h/db", "Bad-Name")
                .normalised()
                .unwrap_err()
                .code,
            Code::InvalidInput
        );
    }

    #[test]
    fn the_label_and_account_name_the_database_never_a_password() {
        assert_eq!(
            SyncDestination::ThisComputer.label().unwrap(),
            THIS_COMPUTER
        );
        assert_eq!(SyncDestination::ThisComputer.keychain_account("Team"), None);
        let d = pg("postgres://u@db.example:5433/crm", "pb2b");
        assert_eq!(
            d.label().unwrap(),
            "postgres://u@db.example:5433/crm (schema pb2b)"
        );
        assert_eq!(
            d.keychain_account("Team").as_deref(),
            Some("postgres:Team:u@db.example:5433/crm")
        );
        // A saved choice that no longer parses has no entry, and no label.
        assert_eq!(pg("not a url", "pb2b").keychain_account("Team"), None);
        assert!(pg("not a url", "pb2b").label().is_err());
    }
}
