//! Working in the background (issue 15, item 4): what the tray says, what closing the window
//! does, and which job endings send a notification. Nothing here knows Tauri: `tray.rs`,
//! `jobs.rs` and `lib.rs` gather the facts, ask these functions, and do what they answer.
//!
//! | rule | how |
//! |------|-----|
//! | tray status | not connected / "Syncing…" while a sync runs / "Sync failed: <reason>" when the last run failed / "Last sync 5 min ago · 12,345 leads" / "Not synced yet" ([`status_text`]) |
//! | closing the window | preference `close_to_tray`: absent = ask once (the app's own dialog), `true` = hide the window and keep syncing in the tray, `false` = quit ([`on_close`]) |
//! | quitting | the tray's Quit, or closing with `close_to_tray = false`: the app exits as it always did (running jobs stop at their checkpoint and resume next time) |
//! | notifications | a failed sync started automatically (or by hand while the window is hidden); an export that finished (its file is ready) or failed; an import that completed while the window was not in front ([`notification`]) |
//! | start at login | preference-free: the platform's entry (an XDG autostart file, a LaunchAgent, the Run key) *is* the setting; off until the user turns it on |

/// The preference that remembers the answer to "keep syncing in the tray?".
pub const CLOSE_TO_TRAY: &str = "close_to_tray";

/// What closing the main window does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseAction {
    /// Not chosen yet: keep the window and ask (once).
    Ask,
    /// Hide the window; the tray and the automatic sync go on.
    Hide,
    /// End the app.
    Quit,
}

/// What closing the window does, given the remembered answer (None: never asked).
pub fn on_close(close_to_tray: Option<bool>) -> CloseAction {
    match close_to_tray {
        None => CloseAction::Ask,
        Some(true) => CloseAction::Hide,
        Some(false) => CloseAction::Quit,
    }
}

/// Who started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user (a button in the window or the tray).
    ByHand,
    /// The app on its own (the automatic sync interval, resuming exports at start).
    Automatic,
}

/// What the tray knows about the open workspace's sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayStatus {
    /// No workspace is open.
    NotConnected,
    /// A sync runs now.
    Syncing,
    /// The last run failed, with the reason shown to the user.
    Failed(String),
    /// The last run finished at `finished_ms` (ms since the epoch) with `leads` in the mirror;
    /// None when there never was one.
    Synced {
        finished_ms: Option<i64>,
        leads: u64,
    },
}

/// The tray's tooltip and first (disabled) menu item.
pub fn status_text(status: &TrayStatus, now_ms: i64) -> String {
    match status {
        TrayStatus::NotConnected => "Not connected".to_owned(),
        TrayStatus::Syncing => "Syncing…".to_owned(),
        TrayStatus::Failed(reason) => format!("Sync failed: {}", one_line(reason, 80)),
        TrayStatus::Synced {
            finished_ms: None, ..
        } => "Not synced yet".to_owned(),
        TrayStatus::Synced {
            finished_ms: Some(at),
            leads,
        } => format!(
            "Last sync {} · {} {}",
            ago(now_ms.saturating_sub(*at)),
            thousands(*leads),
            if *leads == 1 { "lead" } else { "leads" }
        ),
    }
}

/// "just now", "1 min ago", "3 h ago", "2 days ago".
pub fn ago(elapsed_ms: i64) -> String {
    let minutes = elapsed_ms.max(0) / 60_000;
    match minutes {
        0 => "just now".to_owned(),
        1..=59 => format!("{minutes} min ago"),
        60..=1439 => format!("{} h ago", minutes / 60),
        _ => {
            let days = minutes / 1440;
            format!("{days} {} ago", if days == 1 { "day" } else { "days" })
        }
    }
}

/// 12345 as "12,345".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The first line of `text`, at most `max` characters (a menu item is one line).
fn one_line(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= max {
        return line.to_owned();
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// How a job ended, as far as notifying goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending<'a> {
    /// A sync failed (a cancelled or completed sync is not a failure) with this message.
    SyncFailed { origin: Origin, message: &'a str },
    /// An export's file was downloaded.
    ExportReady {
        file_name: &'a str,
        rows: u64,
        path: &'a str,
    },
    /// An export failed (not cancelled).
    ExportFailed { message: &'a str },
    /// An import run completed.
    ImportCompleted {
        created: u64,
        updated: u64,
        failed: u64,
    },
}

/// A notification's title and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

/// Whether `ending` sends a notification, and which. `window_in_front`: the main window is shown
/// and focused (the user sees the screen that reports it).
pub fn notification(ending: &Ending<'_>, window_in_front: bool) -> Option<Notice> {
    let notice = |title: &str, body: String| {
        Some(Notice {
            title: title.to_owned(),
            body,
        })
    };
    match ending {
        Ending::SyncFailed { origin, message } => {
            if *origin == Origin::Automatic || !window_in_front {
                notice("Sync failed", one_line(message, 200))
            } else {
                None
            }
        }
        Ending::ExportReady {
            file_name,
            rows,
            path,
        } => notice(
            "Export ready",
            format!("{file_name} ({} rows) is in {path}", thousands(*rows)),
        ),
        Ending::ExportFailed { message } => notice("Export failed", one_line(message, 200)),
        Ending::ImportCompleted {
            created,
            updated,
            failed,
        } => {
            if window_in_front {
                None
            } else {
                let updated = if *updated > 0 {
                    format!("{} updated, ", thousands(*updated))
                } else {
                    String::new()
                };
                notice(
                    "Import finished",
                    format!(
                        "{} leads created, {updated}{} failed",
                        thousands(*created),
                        thousands(*failed)
                    ),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn closing_asks_once_then_follows_the_answer() {
        assert_eq!(on_close(None), CloseAction::Ask);
        assert_eq!(on_close(Some(true)), CloseAction::Hide);
        assert_eq!(on_close(Some(false)), CloseAction::Quit);
    }

    #[test]
    fn the_status_line_says_what_the_sync_is_doing() {
        let now = 1_800_000_000_000;
        assert_eq!(
            status_text(
                &TrayStatus::Synced {
                    finished_ms: Some(now - 5 * MIN - 10_000),
                    leads: 12_345
                },
                now
            ),
            "Last sync 5 min ago · 12,345 leads"
        );
        assert_eq!(
            status_text(
                &TrayStatus::Synced {
                    finished_ms: Some(now - 20_000),
                    leads: 1
                },
                now
            ),
            "Last sync just now · 1 lead"
        );
        assert_eq!(
            status_text(
                &TrayStatus::Synced {
                    finished_ms: None,
                    leads: 0
                },
                now
            ),
            "Not synced yet"
        );
        assert_eq!(status_text(&TrayStatus::Syncing, now), "Syncing…");
        assert_eq!(status_text(&TrayStatus::NotConnected, now), "Not connected");
        assert_eq!(
            status_text(
                &TrayStatus::Failed("The server is unreachable.\nDetails follow".into()),
                now
            ),
            "Sync failed: The server is unreachable."
        );
        let long = "x".repeat(200);
        let text = status_text(&TrayStatus::Failed(long), now);
        assert!(text.ends_with('…'));
        assert_eq!(text.chars().count(), "Sync failed: ".len() + 80);
    }

    #[test]
    fn elapsed_time_and_counts_read_naturally() {
        assert_eq!(ago(-5 * MIN), "just now", "a clock that went back");
        assert_eq!(ago(59_999), "just now");
        assert_eq!(ago(MIN), "1 min ago");
        assert_eq!(ago(59 * MIN), "59 min ago");
        assert_eq!(ago(60 * MIN), "1 h ago");
        assert_eq!(ago(23 * 60 * MIN + 59 * MIN), "23 h ago");
        assert_eq!(ago(24 * 60 * MIN), "1 day ago");
        assert_eq!(ago(3 * 24 * 60 * MIN), "3 days ago");
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345), "12,345");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn a_failed_background_sync_notifies_a_failed_sync_in_front_does_not() {
        let failed = |origin| Ending::SyncFailed {
            origin,
            message: "The key was revoked.",
        };
        let notice = notification(&failed(Origin::Automatic), true).expect("notified");
        assert_eq!(notice.title, "Sync failed");
        assert_eq!(notice.body, "The key was revoked.");
        assert!(notification(&failed(Origin::Automatic), false).is_some());
        // By hand with the window in front: the Sync screen shows the error.
        assert_eq!(notification(&failed(Origin::ByHand), true), None);
        // By hand from the tray with the window hidden: nobody sees the screen.
        assert!(notification(&failed(Origin::ByHand), false).is_some());
    }

    #[test]
    fn a_finished_export_always_notifies_an_import_only_when_the_window_is_away() {
        let ready = Ending::ExportReady {
            file_name: "leads.csv",
            rows: 1_200,
            path: "/home/u/Downloads/leads.csv",
        };
        for in_front in [true, false] {
            assert_eq!(
                notification(&ready, in_front),
                Some(Notice {
                    title: "Export ready".into(),
                    body: "leads.csv (1,200 rows) is in /home/u/Downloads/leads.csv".into()
                })
            );
            assert_eq!(
                notification(&Ending::ExportFailed { message: "Expired" }, in_front)
                    .map(|n| n.title),
                Some("Export failed".into())
            );
        }
        let import = Ending::ImportCompleted {
            created: 3,
            updated: 0,
            failed: 1,
        };
        assert_eq!(notification(&import, true), None);
        assert_eq!(
            notification(&import, false).map(|n| n.body),
            Some("3 leads created, 1 failed".into())
        );
        let upsert = Ending::ImportCompleted {
            created: 3,
            updated: 2,
            failed: 0,
        };
        assert_eq!(
            notification(&upsert, false).map(|n| n.body),
            Some("3 leads created, 2 updated, 0 failed".into())
        );
    }
}
