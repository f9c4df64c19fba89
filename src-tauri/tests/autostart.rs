//! Start at login through the app's commands on the mock runtime: turning it on writes the
//! platform's autostart entry (on Linux an XDG autostart `.desktop` file), turning it off removes
//! it. Its own process: it points HOME (and XDG_CONFIG_HOME) at a temporary folder.

mod support;

use support::{app, invoke};

#[test]
#[cfg(target_os = "linux")]
fn start_at_login_writes_the_autostart_entry_and_off_removes_it() {
    let home = tempfile::tempdir().unwrap();
    // The autostart plugin (auto-launch) writes under $HOME/.config/autostart; XDG_CONFIG_HOME
    // is pointed at the same place so that nothing of this test reaches the real one.
    std::env::set_var("HOME", home.path());
    std::env::set_var("XDG_CONFIG_HOME", home.path().join(".config"));
    let data = tempfile::tempdir().unwrap();
    let app = app(data.path().to_owned());
    let autostart = home.path().join(".config").join("autostart");

    let settings = invoke(&app, "background_settings", serde_json::json!({})).unwrap();
    assert_eq!(
        settings,
        serde_json::json!({"close_to_tray": null, "start_at_login": false}),
        "off by default, and closing asks"
    );
    assert!(!autostart.exists());

    let on = invoke(
        &app,
        "set_start_at_login",
        serde_json::json!({"enabled": true}),
    )
    .unwrap();
    assert_eq!(on["start_at_login"], true);
    let entries: Vec<_> = std::fs::read_dir(&autostart)
        .expect("the autostart folder was made")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0].extension().and_then(|e| e.to_str()),
        Some("desktop")
    );
    let entry = std::fs::read_to_string(&entries[0]).unwrap();
    assert!(entry.contains("[Desktop Entry]"), "{entry}");
    let exe = std::env::current_exe().unwrap();
    assert!(
        entry.contains(&format!("Exec={}", exe.display())),
        "it starts this program: {entry}"
    );

    let off = invoke(
        &app,
        "set_start_at_login",
        serde_json::json!({"enabled": false}),
    )
    .unwrap();
    assert_eq!(off["start_at_login"], false);
    assert!(!entries[0].exists(), "turning it off removes the entry");
    // Off when already off is not an error.
    let again = invoke(
        &app,
        "set_start_at_login",
        serde_json::json!({"enabled": false}),
    )
    .unwrap();
    assert_eq!(again["start_at_login"], false);
}
