//! When the app's automatic sync runs, and what the app says about the next run. The app's loop
//! asks [`AutoSchedule::due`] on every tick and the Overview shows [`AutoSchedule::next`], so the
//! time a user reads is the time the loop keeps.
//!
//! | rule                | value                                                                          |
//! |---------------------|--------------------------------------------------------------------------------|
//! | the countdown starts| when the app starts, and again when an automatic run starts                   |
//! | due                 | `interval` after the countdown started; never while the interval is off (0)   |
//! | next run shown      | the due time, or none when off; the loop's tick (at most a minute) may start it a little later |
//! | runs the user starts| do not move the countdown (the automatic run still checks in on its own)      |
//! | never synced        | [`first_sync_due`]: the Overview starts the first sync at once, not waiting for the countdown |
//! | a test's override   | [`AutoSchedule::every`] replaces the chosen minutes, except off (end-to-end tests cannot wait minutes) |
//!
//! Times are milliseconds since the Unix epoch, so the rules are tested without a clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use ts_rs::TS;

use super::SyncStatus;
use crate::time::format_timestamp;

/// The automatic sync's countdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoSchedule {
    started_ms: i64,
    every: Option<Duration>,
}

/// What the app shows about its automatic sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "SyncSchedule.ts")]
pub struct SyncSchedule {
    /// The chosen interval in minutes (0 = off).
    pub interval_minutes: u32,
    /// When the next automatic sync is due (UTC), or none when it is off.
    pub next_at: Option<String>,
}

/// Milliseconds since the Unix epoch now.
pub fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn ms(interval: Duration) -> i64 {
    i64::try_from(interval.as_millis()).unwrap_or(i64::MAX)
}

impl AutoSchedule {
    /// A countdown started at `now_ms` (the app's start).
    pub fn starting(now_ms: i64) -> Self {
        AutoSchedule {
            started_ms: now_ms,
            every: None,
        }
    }

    /// The same countdown with a fixed interval in place of the chosen minutes (tests).
    pub fn every(self, interval: Option<Duration>) -> Self {
        AutoSchedule {
            every: interval.filter(|i| !i.is_zero()),
            ..self
        }
    }

    /// The interval in force for a choice of `minutes` (0 = off, which an override keeps off).
    pub fn interval(&self, minutes: u32) -> Duration {
        if minutes == 0 {
            return Duration::ZERO;
        }
        self.every
            .unwrap_or(Duration::from_secs(u64::from(minutes) * 60))
    }

    /// How often the app's loop asks [`AutoSchedule::due`]: every minute, or every overriding
    /// interval when that is shorter.
    pub fn tick(&self) -> Duration {
        const MINUTE: Duration = Duration::from_secs(60);
        self.every.map_or(MINUTE, |every| every.min(MINUTE))
    }

    /// Whether an automatic run is due at `now_ms` for a choice of `minutes`.
    pub fn due(&self, minutes: u32, now_ms: i64) -> bool {
        self.next_ms(self.interval(minutes))
            .is_some_and(|next| now_ms >= next)
    }

    /// An automatic run started at `now_ms`: the countdown starts again.
    pub fn ran(&mut self, now_ms: i64) {
        self.started_ms = now_ms;
    }

    fn next_ms(&self, interval: Duration) -> Option<i64> {
        (!interval.is_zero()).then(|| self.started_ms.saturating_add(ms(interval)))
    }

    /// The next run for an interval of `minutes` (0 = off), as the app shows it.
    pub fn next(&self, minutes: u32) -> SyncSchedule {
        SyncSchedule {
            interval_minutes: minutes,
            next_at: self.next_ms(self.interval(minutes)).map(format_timestamp),
        }
    }
}

/// A mirror that was never synced, with no run going on or left interrupted: its first sync
/// should start now rather than wait for the countdown.
pub fn first_sync_due(status: &SyncStatus) -> bool {
    status.last_finished_at.is_none() && !status.running && !status.interrupted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_an_interval_after_the_start_and_after_each_automatic_run() {
        let mut s = AutoSchedule::starting(1_000_000);
        assert!(!s.due(15, 1_000_000));
        assert!(!s.due(15, 1_000_000 + 15 * 60_000 - 1));
        assert!(s.due(15, 1_000_000 + 15 * 60_000));
        s.ran(2_000_000);
        assert!(
            !s.due(15, 1_000_000 + 15 * 60_000),
            "the countdown started again"
        );
        assert!(s.due(15, 2_000_000 + 15 * 60_000));
    }

    #[test]
    fn off_is_never_due_and_has_no_next_run() {
        let s = AutoSchedule::starting(0);
        assert!(!s.due(0, i64::MAX));
        assert_eq!(
            s.next(0),
            SyncSchedule {
                interval_minutes: 0,
                next_at: None
            }
        );
    }

    #[test]
    fn the_next_run_shown_is_the_time_the_loop_waits_for() {
        let start = 1_796_032_800_000; // 2026-11-30T10:00:00.000Z
        let mut s = AutoSchedule::starting(start);
        assert_eq!(
            s.next(15).next_at.as_deref(),
            Some("2026-11-30T10:15:00.000Z")
        );
        s.ran(start + 20 * 60_000);
        assert_eq!(
            s.next(60).next_at.as_deref(),
            Some("2026-11-30T11:20:00.000Z")
        );
        let due_at = start + 20 * 60_000 + 60 * 60_000;
        assert!(s.due(60, due_at) && !s.due(60, due_at - 1));
    }

    #[test]
    fn a_tests_override_replaces_the_chosen_minutes_but_not_off() {
        let s = AutoSchedule::starting(0).every(Some(Duration::from_secs(2)));
        assert!(s.due(15, 2_000) && !s.due(15, 1_999));
        assert_eq!(
            s.next(15).next_at.as_deref(),
            Some("1970-01-01T00:00:02.000Z")
        );
        let plain = AutoSchedule::starting(0).every(Some(Duration::ZERO));
        assert!(!plain.due(15, 2_000), "a zero override is no override");
        assert!(!s.due(0, i64::MAX), "off stays off");
        assert_eq!(
            s.tick(),
            Duration::from_secs(2),
            "the loop asks often enough"
        );
        assert_eq!(AutoSchedule::starting(0).tick(), Duration::from_secs(60));
    }

    fn status(finished: Option<&str>, running: bool, interrupted: bool) -> SyncStatus {
        SyncStatus {
            interrupted,
            running,
            last_finished_at: finished.map(str::to_owned),
            ..SyncStatus::default()
        }
    }

    #[test]
    fn the_first_sync_is_due_only_for_a_mirror_never_synced_and_idle() {
        assert!(first_sync_due(&status(None, false, false)));
        assert!(!first_sync_due(&status(
            Some("2026-11-30T10:00:00.000Z"),
            false,
            false
        )));
        assert!(
            !first_sync_due(&status(None, true, false)),
            "one is running"
        );
        assert!(
            !first_sync_due(&status(None, false, true)),
            "an interrupted one resumes"
        );
    }
}
