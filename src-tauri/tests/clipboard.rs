//! The copied signing secret on a real X11 clipboard (issue 14, item 6): offered with the
//! `x-kde-passwordManagerHint: secret` mark that keeps it out of clipboard history, and cleared
//! when the app exits if it still holds the secret (what the user copied since is left alone).
//! Read from outside the app with xclip, as a clipboard manager would. Its own process: it may
//! start its own Xvfb and set DISPLAY.
#![cfg(all(unix, not(target_os = "macos")))]

#[path = "support/mod.rs"]
#[allow(dead_code)]
mod support;

use std::process::{Child, Command};

use pb2b_core::secret::SecretString;
use tauri::Manager;

/// Xvfb on a free display when the test runs without one; ended (by its PID) on drop.
struct Display(Option<Child>);

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn display() -> Display {
    if std::env::var_os("DISPLAY").is_some() {
        return Display(None);
    }
    for n in 90..140 {
        if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
            continue;
        }
        let server = Display(Some(
            Command::new("Xvfb")
                .args([format!(":{n}"), "-nolisten".into(), "tcp".into()])
                .spawn()
                .expect("Xvfb runs (scripts/lib.sh TEST_PACKAGES: xvfb)"),
        ));
        for _ in 0..100 {
            if std::path::Path::new(&format!("/tmp/.X11-unix/X{n}")).exists() {
                std::env::set_var("DISPLAY", format!(":{n}"));
                return server;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("Xvfb :{n} did not start");
    }
    panic!("no free X display number");
}

/// What the clipboard offers for `target`, as another program reads it; None when nothing is
/// on the clipboard for it.
fn xclip(target: &str) -> Option<String> {
    let out = Command::new("xclip")
        .args(["-selection", "clipboard", "-t", target, "-o"])
        .output()
        .expect("xclip runs (scripts/lib.sh TEST_PACKAGES: xclip)");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_copied_secret_is_marked_concealed_and_cleared_at_exit_if_still_there() {
    let _display = display();
    let dir = tempfile::tempdir().unwrap();
    let app = support::app(dir.path().to_owned());
    let state = app.state::<pb2b_app::state::AppState>();
    let secret = SecretString::new("whsec_clipboardtest0123456789".to_owned());

    state.clipboard.copy(&secret).unwrap();
    let targets = xclip("TARGETS").expect("the clipboard has content");
    assert!(
        targets.lines().any(|t| t == "x-kde-passwordManagerHint"),
        "{targets}"
    );
    assert_eq!(
        xclip("x-kde-passwordManagerHint").as_deref(),
        Some("secret")
    );
    assert_eq!(
        xclip("UTF8_STRING").as_deref(),
        Some(secret.expose().as_str())
    );

    // The user copies something else: exit leaves it alone.
    arboard::Clipboard::new()
        .unwrap()
        .set_text("the user's own text")
        .unwrap();
    pb2b_app::on_run_event(app.handle(), &tauri::RunEvent::Exit);
    assert_eq!(xclip("UTF8_STRING").as_deref(), Some("the user's own text"));

    // Still the secret at exit: cleared.
    state.clipboard.copy(&secret).unwrap();
    assert_eq!(
        xclip("UTF8_STRING").as_deref(),
        Some(secret.expose().as_str())
    );
    pb2b_app::on_run_event(app.handle(), &tauri::RunEvent::Exit);
    let after = xclip("UTF8_STRING");
    assert!(
        after.as_deref().is_none_or(str::is_empty),
        "the secret is gone from the clipboard: {after:?}"
    );
    assert!(!xclip("TARGETS").unwrap_or_default().contains("x-kde"));
}
