//! The once-shown signing secret on the clipboard (issue 14, item 6). The dialog's Copy button
//! asks Rust (`webhook_copy_secret`), which takes the secret from app state: it never travels
//! from the webview for this.
//!
//! | rule | how |
//! |------|-----|
//! | the copy is marked concealed, kept out of clipboard history | `arboard` with `exclude_from_history`: on Linux the `x-kde-passwordManagerHint` target answers `secret` (Klipper, GNOME and other managers skip it); on Windows `ExcludeClipboardContentFromMonitorProcessing`, `CanIncludeInClipboardHistory = 0` and `CanUploadToCloudClipboard = 0`; on macOS `org.nspasteboard.ConcealedType` |
//! | the app remembers what it copied | only its SHA-256, never the text |
//! | the clipboard is cleared | 60 s after the copy, and when the app exits, if it still holds what we copied (same hash): what the user copied since is left alone |
//! | the copy stays pasteable | on X11 the copying process serves the selection, so the `arboard::Clipboard` lives in app state for the life of the app; it is cleared before it is dropped at exit, so it is never handed to a clipboard manager |

use std::sync::Mutex;

use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::secret::SecretString;
use sha2::{Digest, Sha256};

/// How long a copied secret stays on the clipboard.
pub const CLIPBOARD_SECONDS: u64 = 60;

/// The app's clipboard for secrets: the OS clipboard handle (made on the first copy) and the
/// hash of the secret last copied.
#[derive(Default)]
pub struct SecretClipboard {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    clipboard: Option<arboard::Clipboard>,
    copied: Option<[u8; 32]>,
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn unusable(err: arboard::Error) -> ErrorReport {
    ErrorReport::local(
        codes::INTERNAL,
        format!(
            "The clipboard could not be used ({err}). Select the secret in the dialog and copy it by hand, or save it to the keychain."
        ),
        true,
    )
}

impl SecretClipboard {
    /// Puts `secret` on the clipboard, marked concealed and excluded from history.
    pub fn copy(&self, secret: &SecretString) -> Result<(), ErrorReport> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.clipboard.is_none() {
            inner.clipboard = Some(arboard::Clipboard::new().map_err(unusable)?);
        }
        let clipboard = inner.clipboard.as_mut().expect("made above");
        let set = clipboard.set();
        #[cfg(all(
            unix,
            not(any(target_os = "macos", target_os = "android", target_os = "emscripten"))
        ))]
        let set = {
            use arboard::SetExtLinux;
            set.exclude_from_history()
        };
        #[cfg(windows)]
        let set = {
            use arboard::SetExtWindows;
            set.exclude_from_history()
                .exclude_from_cloud()
                .exclude_from_monitoring()
        };
        #[cfg(target_os = "macos")]
        let set = {
            use arboard::SetExtApple;
            set.exclude_from_history()
        };
        set.text(secret.expose().as_str()).map_err(unusable)?;
        inner.copied = Some(digest(secret.expose()));
        Ok(())
    }

    /// Clears the clipboard if it still holds the secret this app copied; true when it did.
    /// Anything the user copied since is left alone.
    pub fn clear_if_ours(&self) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Some(copied) = inner.copied else {
            return false;
        };
        let Some(clipboard) = inner.clipboard.as_mut() else {
            return false;
        };
        let ours = clipboard
            .get_text()
            .is_ok_and(|text| digest(&text) == copied);
        let cleared = ours && clipboard.clear().is_ok();
        if cleared || !ours {
            inner.copied = None;
        }
        cleared
    }
}
