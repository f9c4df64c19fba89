//! With no Secret Service reachable, the keychain says so with a remedy and nothing is stored in
//! plain text. Its own test binary: it points D-Bus at a socket that does not exist before any
//! keychain call, and no other test shares this process.

use pb2b_core::profiles::{JsonFileSettings, OnExisting, Profiles};
use pb2b_core::secret::{KeyStore, KeychainError, OsKeychain, SecretString};

#[test]
fn no_secret_service_gives_the_clear_error_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var(
        "DBUS_SESSION_BUS_ADDRESS",
        format!("unix:path={}", dir.path().join("no-bus").display()),
    );
    let keychain = OsKeychain::new("com.prospectb2b.desktop.test.unavailable");

    let status = keychain.probe();
    assert!(!status.reachable);
    assert!(status.detail.contains("not available"), "{}", status.detail);
    assert!(
        status.detail.contains("never stores keys in plain text"),
        "{}",
        status.detail
    );

    let key = SecretString::new("pb2b_live_cana_RYunavailable00".into());
    match keychain.set("acct", &key) {
        Err(KeychainError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }

    let settings_path = dir.path().join("profiles.json");
    let settings = JsonFileSettings::new(&settings_path);
    let profiles = Profiles::new(&settings, &keychain);
    let err = profiles
        .save(
            "Acme",
            "https://login.prospectb2b.com/api/public/v1",
            &key,
            false,
            OnExisting::Refuse,
        )
        .unwrap_err();
    assert_eq!(err.code, "keychain_unavailable");
    assert!(err.retryable);
    assert!(
        !settings_path.exists(),
        "nothing may be saved when the key could not be"
    );
}
