//! The OS keychain for real: the test command runs these inside a private D-Bus session with an
//! unlocked gnome-keyring (Secret Service) whose files live in a temporary XDG_DATA_HOME.
//! Outside it (a bare `cargo test` on a machine without a Secret Service) they say so and stop.

mod common;

use pb2b_core::profiles::{
    JsonFileSettings, OnExisting, Profiles, PROFILE_EXISTS, PROFILE_NOT_FOUND,
};
use pb2b_core::secret::{KeyStore, OsKeychain, SecretString};

fn keychain(test: &str) -> Option<OsKeychain> {
    common::keychain(test)
}

#[test]
fn round_trip_through_the_secret_service() {
    let Some(keychain) = keychain("round_trip") else {
        return;
    };
    let secret = SecretString::new("pb2b_test_abcd_0123456789".into());
    assert!(keychain.get("acct").unwrap().is_none());
    keychain.set("acct", &secret).unwrap();
    assert_eq!(keychain.get("acct").unwrap(), Some(secret.clone()));
    let rotated = SecretString::new("pb2b_test_abcd_rotated9876".into());
    keychain.set("acct", &rotated).unwrap();
    assert_eq!(keychain.get("acct").unwrap(), Some(rotated));
    keychain.delete("acct").unwrap();
    assert!(keychain.get("acct").unwrap().is_none());
    // Deleting what is not there is not an error.
    keychain.delete("acct").unwrap();
}

#[test]
fn profiles_keep_keys_in_the_keychain_and_only_a_hint_in_settings() {
    let Some(keychain) = keychain("profiles") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings_path = dir.path().join("profiles.json");
    let settings = JsonFileSettings::new(&settings_path);
    let profiles = Profiles::new(&settings, &keychain);
    let canary = "pb2b_live_cana_RY0123456789secret";
    let key = SecretString::new(canary.into());

    let saved = profiles
        .save(
            "Acme live",
            "https://login.prospectb2b.com/api/public/v1",
            &key,
            false,
            OnExisting::Refuse,
        )
        .unwrap();
    assert_eq!(saved.key_hint, "pb2b_live_cana…");
    assert_eq!(profiles.active().unwrap().unwrap().name, "Acme live");
    assert_eq!(profiles.key("Acme live").unwrap(), key);
    let on_disk = std::fs::read_to_string(&settings_path).unwrap();
    assert!(
        !on_disk.contains(canary),
        "the settings file must never hold the key"
    );

    // Saving under a taken name is refused and changes nothing ...
    let rotated = SecretString::new("pb2b_live_cana_ROTATED000000".into());
    let refused = profiles
        .save(
            "Acme live",
            "https://login.prospectb2b.com/api/public/v1",
            &rotated,
            false,
            OnExisting::Refuse,
        )
        .unwrap_err();
    assert_eq!(refused.code, PROFILE_EXISTS);
    assert!(
        refused.message.contains("pb2b_live_cana…"),
        "{}",
        refused.message
    );
    assert_eq!(profiles.key("Acme live").unwrap(), key);
    // ... and, confirmed, replaces the key in place (rotation).
    profiles
        .save(
            "Acme live",
            "https://login.prospectb2b.com/api/public/v1",
            &rotated,
            false,
            OnExisting::Replace,
        )
        .unwrap();
    assert_eq!(profiles.key("Acme live").unwrap(), rotated);

    // Rename moves the keychain entry.
    profiles.rename("Acme live", "Acme").unwrap();
    assert_eq!(profiles.key("Acme").unwrap(), rotated);
    assert_eq!(profiles.key("Acme live").unwrap_err().code, "key_not_found");
    assert_eq!(profiles.active().unwrap().unwrap().name, "Acme");

    // Forget deletes the keychain entry and the settings.
    profiles.forget("Acme").unwrap();
    assert_eq!(profiles.key("Acme").unwrap_err().code, "key_not_found");
    assert!(profiles.active().unwrap().is_none());
    assert_eq!(profiles.forget("Acme").unwrap_err().code, PROFILE_NOT_FOUND);
}
