//! The Sync screen's choice of destination and its password's keychain entry
//! (`pb2b_core::sync::chosen`), against the real OS keychain: the test command runs these inside
//! a private D-Bus session with an unlocked gnome-keyring (Secret Service) whose files live in a
//! temporary XDG_DATA_HOME. Outside it (a bare `cargo test` on a machine without a Secret
//! Service) they say so and stop. No PostgreSQL is needed: the rules decide which entry is
//! written, moved or deleted and which target a sync gets; `src-tauri/tests/destination.rs`
//! connects with it.

mod common;

use std::sync::Arc;

use pb2b_core::error::Code;
use pb2b_core::secret::SecretString;
use pb2b_core::sync::chosen::{self, SyncDestination, THIS_COMPUTER};
use pb2b_core::workspace::DataFolder;

/// A data folder whose keychain is the real one, under a service name per test so parallel
/// tests never see each other's entries.
fn folder(test: &str, dir: &std::path::Path) -> Option<DataFolder> {
    let keychain = common::keychain(&format!("chosen.{test}"))?;
    Some(DataFolder::new(dir, Arc::new(keychain)))
}

fn pg(url: &str, schema: &str) -> SyncDestination {
    SyncDestination::Postgres {
        url: url.into(),
        schema: schema.into(),
    }
}

fn secret(s: &str) -> SecretString {
    SecretString::new(s.into())
}

const CRM: &str = "postgres://app@127.0.0.1:5432/crm";
const CRM_ACCOUNT: &str = "postgres:Team:app@127.0.0.1:5432/crm";
const OTHER: &str = "postgres://app@127.0.0.1:5432/other";
const OTHER_ACCOUNT: &str = "postgres:Team:app@127.0.0.1:5432/other";

#[test]
fn choosing_saves_the_password_keeps_it_and_deletes_the_entry_of_the_database_left() {
    let dir = tempfile::tempdir().unwrap();
    let Some(folder) = folder("choose", dir.path()) else {
        return;
    };
    let keys = folder.keychain();
    let none = secret("");

    // This computer: nothing in the keychain, no target.
    let view = chosen::view(keys, "Team", SyncDestination::default()).unwrap();
    assert_eq!(
        (view.password_saved, view.label.as_str()),
        (false, THIS_COMPUTER)
    );
    assert!(chosen::target(keys, "Team", &SyncDestination::ThisComputer)
        .unwrap()
        .is_none());

    // A PostgreSQL database with a password: saved under the profile's and database's account;
    // the choice comes back normalised (trimmed, the default schema).
    let saved = chosen::choose(
        keys,
        "Team",
        &SyncDestination::ThisComputer,
        pg(&format!("  {CRM} "), ""),
        &secret("pw-1"),
    )
    .unwrap();
    assert_eq!(saved, pg(CRM, "pb2b"));
    assert_eq!(keys.get(CRM_ACCOUNT).unwrap(), Some(secret("pw-1")));
    let view = chosen::view(keys, "Team", saved.clone()).unwrap();
    assert!(view.password_saved);
    assert_eq!(
        view.label,
        "postgres://app@127.0.0.1:5432/crm (schema pb2b)"
    );
    // The sync's target carries the saved password; its label never does.
    let target = chosen::target(keys, "Team", &saved).unwrap().unwrap();
    assert!(target.has_password());
    assert!(!target.to_string().contains("pw-1"));
    // Another profile has no password for the same database.
    assert!(
        !chosen::view(keys, "Other", saved.clone())
            .unwrap()
            .password_saved
    );
    assert!(!chosen::target(keys, "Other", &saved)
        .unwrap()
        .unwrap()
        .has_password());

    // The same database, another schema, an empty field: the saved password stays.
    let saved = chosen::choose(keys, "Team", &saved, pg(CRM, "team_b"), &none).unwrap();
    assert_eq!(saved, pg(CRM, "team_b"));
    assert_eq!(keys.get(CRM_ACCOUNT).unwrap(), Some(secret("pw-1")));
    // A new password for it replaces the old one.
    let saved = chosen::choose(keys, "Team", &saved, saved.clone(), &secret("pw-2")).unwrap();
    assert_eq!(keys.get(CRM_ACCOUNT).unwrap(), Some(secret("pw-2")));

    // A connection string holding a password is refused, and nothing changes.
    let err = chosen::choose(
        keys,
        "Team",
        &saved,
        pg("postgres://app:pw-3@127.0.0.1:5432/other", ""),
        &none,
    )
    .unwrap_err();
    assert_eq!(err.code, Code::InvalidInput);
    assert!(err.message.contains("Password field"), "{}", err.message);
    assert!(!err.message.contains("pw-3"));
    assert_eq!(keys.get(CRM_ACCOUNT).unwrap(), Some(secret("pw-2")));
    assert!(keys.get(OTHER_ACCOUNT).unwrap().is_none());

    // Another database: its password is saved, the database left loses its entry.
    let saved = chosen::choose(keys, "Team", &saved, pg(OTHER, "pb2b"), &secret("pw-4")).unwrap();
    assert!(keys.get(CRM_ACCOUNT).unwrap().is_none());
    assert_eq!(keys.get(OTHER_ACCOUNT).unwrap(), Some(secret("pw-4")));

    // Back to this computer: the entry goes.
    let saved = chosen::choose(
        keys,
        "Team",
        &saved,
        SyncDestination::ThisComputer,
        &secret("x"),
    )
    .unwrap();
    assert_eq!(saved, SyncDestination::ThisComputer);
    assert!(keys.get(OTHER_ACCOUNT).unwrap().is_none());
}

#[test]
fn the_password_follows_a_rename_and_goes_with_a_forgotten_profile() {
    let dir = tempfile::tempdir().unwrap();
    let Some(folder) = folder("rename", dir.path()) else {
        return;
    };
    let keys = folder.keychain();
    let saved = chosen::choose(
        keys,
        "Team",
        &SyncDestination::ThisComputer,
        pg(CRM, "pb2b"),
        &secret("pw-r"),
    )
    .unwrap();
    let renamed_account = "postgres:Sales:app@127.0.0.1:5432/crm";

    // A rename that keeps the name (`Profiles::rename` allows it) keeps the password.
    chosen::follow_rename(keys, "Team", "Team", &saved).unwrap();
    assert_eq!(keys.get(CRM_ACCOUNT).unwrap(), Some(secret("pw-r")));
    chosen::follow_rename(keys, "Team", "Sales", &saved).unwrap();
    assert!(keys.get(CRM_ACCOUNT).unwrap().is_none());
    assert_eq!(keys.get(renamed_account).unwrap(), Some(secret("pw-r")));
    assert!(
        chosen::view(keys, "Sales", saved.clone())
            .unwrap()
            .password_saved
    );
    // Nothing saved under the old name any more: a second rename from it changes nothing.
    chosen::follow_rename(keys, "Team", "Sales", &saved).unwrap();
    assert_eq!(keys.get(renamed_account).unwrap(), Some(secret("pw-r")));
    // This computer has no entry to move.
    chosen::follow_rename(keys, "Sales", "Team", &SyncDestination::ThisComputer).unwrap();
    assert_eq!(keys.get(renamed_account).unwrap(), Some(secret("pw-r")));

    chosen::forget(keys, "Sales", &saved).unwrap();
    assert!(keys.get(renamed_account).unwrap().is_none());
    // Forgetting again, or a profile syncing to this computer, is not an error.
    chosen::forget(keys, "Sales", &saved).unwrap();
    chosen::forget(keys, "Sales", &SyncDestination::ThisComputer).unwrap();
}

#[test]
fn test_connection_uses_the_typed_password_or_the_saved_one_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(folder) = folder("form", dir.path()) else {
        return;
    };
    let keys = folder.keychain();
    let form = pg(CRM, " ");

    // Nothing saved, an empty field: the target has no password (the server will say).
    let t = chosen::form_target(keys, Some("Team"), form.clone(), &secret(""))
        .unwrap()
        .unwrap();
    assert!(!t.has_password());
    assert_eq!(t.schema(), "pb2b");
    // A typed password is used, and not saved.
    let t = chosen::form_target(keys, None, form.clone(), &secret("typed"))
        .unwrap()
        .unwrap();
    assert!(t.has_password());
    assert!(keys.get(CRM_ACCOUNT).unwrap().is_none());

    // Saved, an empty field: the saved one; for a profile with none saved, none.
    keys.set(CRM_ACCOUNT, &secret("pw-f")).unwrap();
    let t = chosen::form_target(keys, Some("Team"), form.clone(), &secret(""))
        .unwrap()
        .unwrap();
    assert!(t.has_password());
    let t = chosen::form_target(keys, Some("Other"), form.clone(), &secret(""))
        .unwrap()
        .unwrap();
    assert!(!t.has_password());

    // The form's rules are the choice's: a password in the connection string is refused.
    let err = chosen::form_target(
        keys,
        Some("Team"),
        pg("postgres://app:pw@127.0.0.1/crm", ""),
        &secret("typed"),
    )
    .unwrap_err();
    assert_eq!(err.code, Code::InvalidInput);
    // This computer needs no connection.
    assert!(
        chosen::form_target(keys, None, SyncDestination::ThisComputer, &secret(""))
            .unwrap()
            .is_none()
    );
    keys.delete(CRM_ACCOUNT).unwrap();
}
