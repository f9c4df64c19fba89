//! Structured app logs: JSON lines in the platform's log folder (`app_log_dir`, e.g.
//! `~/.local/share/com.prospectb2b.desktop/logs` on Linux), rotated daily, the last 7 files kept.
//! Nothing secret is ever logged: keys and signing secrets are `Sensitive` and print `<redacted>`,
//! and log lines name profiles, paths, codes and request_ids only.

use std::path::Path;

/// Makes the log folder the user's alone: `0700` (new or left by an older version), so every
/// log file in it, the ones the daily rotation creates later included, is out of other users'
/// reach; the files already there are made `0600`.
pub fn private_log_dir(log_dir: &Path) -> bool {
    if pb2b_core::private_fs::create_dir_all(log_dir).is_err()
        || pb2b_core::private_fs::restrict_dir(log_dir).is_err()
    {
        return false;
    }
    if let Ok(entries) = std::fs::read_dir(log_dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_file()) {
                let _ = pb2b_core::private_fs::restrict(&entry.path());
            }
        }
    }
    true
}

/// Installs the global subscriber writing to `log_dir`. Returns false when a subscriber was
/// already installed (tests) or the folder cannot be used; the app then runs without file logs.
pub fn init(log_dir: &Path) -> bool {
    if !private_log_dir(log_dir) {
        return false;
    }
    let Ok(appender) = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("prospectb2b-desktop")
        .filename_suffix("log")
        .max_log_files(7)
        .build(log_dir)
    else {
        return false;
    };
    // The file the appender just opened (with the umask's mode).
    private_log_dir(log_dir);
    let filter = tracing_subscriber::EnvFilter::try_from_env("PB2B_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(appender)
        .try_init()
        .is_ok()
}
