//! Where a run writes: the [`Destination`] interface the engine ([`super::sync_to`]) drives, and
//! the rules every destination shares.
//!
//! | concern | one place |
//! | --- | --- |
//! | which run (resume, or new from the watermark minus the overlap, full, since) | [`decide`] |
//! | which lead of a group is the watermark | [`group_watermark`] |
//! | the crash test hook (`PB2B_SYNC_CRASH_AFTER_PAGES`) | [`crash_now`] |
//! | one run at a time | [`Destination::lock`]: the SQLite mirror's in-process flag and named lock, PostgreSQL's advisory lock keyed by the schema |
//! | a group of pages and its checkpoint in one transaction | [`Destination::write_pages`] |
//!
//! Two destinations implement it: the app's SQLite mirror ([`super::Mirror`]) and a schema of a
//! PostgreSQL database ([`super::postgres::Postgres`]). Both are driven by the same engine, so the
//! cursor, `updated_after` and overlap window are the same code.

use std::future::Future;

use super::{
    format_timestamp, invalid, parse_timestamp, CancellationToken, SyncMode, SyncOptions,
    SyncOutcome, SyncProgress, Watermark,
};
use crate::api::Lead;
use crate::error::ErrorReport;

/// The run a destination starts or resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlan {
    /// `incremental`, `full` or `since`.
    pub mode: String,
    /// The `updated_after` of every page request of the run.
    pub updated_after: Option<String>,
    /// The cursor to resume from (`None`: the run's first page).
    pub cursor: Option<String>,
    /// The counts so far (a resumed run's), and the watermark.
    pub progress: SyncProgress,
}

/// A run a destination recorded as started and not finished: mode, updated_after, cursor, and
/// pages/leads/new/updated so far.
pub type ActiveRun = (String, Option<String>, Option<String>, [i64; 4]);

/// Consecutive pages to write with the checkpoint after the last of them, in one transaction.
#[derive(Debug, Clone)]
pub struct PageBatch {
    pub pages: Vec<Vec<Lead>>,
    /// The cursor after the last page (`None` on the run's last page).
    pub next_cursor: Option<String>,
    /// The batch ends the run: the run is closed in the same transaction.
    pub last_page: bool,
    /// The crash test hook's page, if set (see [`crash_now`]).
    pub crash_at: Option<u64>,
    /// When the batch was written (the run's end time when `last_page`).
    pub at: String,
}

/// What a batch changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PageCounts {
    pub new: u64,
    pub updated: u64,
}

/// A place a sync run writes to (see the module docs). The futures are `Send` so a run can be
/// spawned.
pub trait Destination: Send + Sync {
    /// Held for the whole run: while it lives, no other run writes this destination.
    type Guard: Send;

    /// Waits (cancellably, bounded) until no other run writes this destination, and holds that.
    /// Errors `sync_running` when another run of this process holds it, or when the wait ends.
    fn lock(
        &self,
        cancel: &CancellationToken,
    ) -> impl Future<Output = Result<Self::Guard, ErrorReport>> + Send;

    /// Reads the interrupted run and the watermark, decides the run with [`decide`] and records
    /// its start, in one transaction.
    fn plan_run(
        &self,
        options: &SyncOptions,
        started_at: &str,
    ) -> impl Future<Output = Result<RunPlan, ErrorReport>> + Send;

    /// Upserts the batch's leads by id (a lead is rewritten only when it changed), moves the
    /// watermark forward, adds the counts and stores the next cursor, in one transaction; the
    /// last batch also closes the run. Returns the counts and the watermark after it.
    fn write_pages(
        &self,
        batch: PageBatch,
    ) -> impl Future<Output = Result<(PageCounts, Option<Watermark>), ErrorReport>> + Send;

    /// `(id, updated_at in ms)` of the leads with `from_ms <= updated_at < to_ms` (either bound
    /// open), for [`super::verify`].
    fn versions(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> impl Future<Output = Result<Vec<(String, i64)>, ErrorReport>> + Send;

    /// Makes the range `from_ms <= updated_at < to_ms` hold exactly `leads` (the server's), in
    /// one transaction: the range's rows whose id is not among them are deleted, and they are
    /// written whatever the stored `updated_at` (a repair follows the server).
    fn replace_range(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        leads: Vec<Lead>,
    ) -> impl Future<Output = Result<(), ErrorReport>> + Send;

    /// Records how the run ended (best effort: the run's own state is already committed).
    fn record_end(
        &self,
        outcome: SyncOutcome,
        error: Option<&ErrorReport>,
        finished_at: &str,
    ) -> impl Future<Output = ()> + Send;
}

pub(super) fn mode_name(mode: &SyncMode) -> &'static str {
    match mode {
        SyncMode::Incremental => "incremental",
        SyncMode::Full => "full",
        SyncMode::Since { .. } => "since",
    }
}

/// `since` of a [`SyncMode::Since`] in milliseconds (`invalid_input` when it is not a date).
pub(super) fn since_ms(options: &SyncOptions) -> Result<Option<i64>, ErrorReport> {
    match &options.mode {
        SyncMode::Since { since } => Ok(Some(parse_timestamp(since).ok_or_else(|| {
            invalid(format!(
                "“{since}” is not a date (2026-03-10) or a timestamp (2026-03-10T12:00:00.000Z)"
            ))
        })?)),
        _ => Ok(None),
    }
}

/// The run to make, from the options, the interrupted run and the watermark (in ms). The second
/// value says whether the destination must reset its watermark (a full run). A new run starts
/// from scratch (`full`), at `since − 1 ms` (`updated_after` is exclusive), or at the watermark
/// minus the overlap (at least 1 ms); an incremental run resumes an interrupted run instead.
pub fn decide(
    options: &SyncOptions,
    since_ms: Option<i64>,
    active: Option<ActiveRun>,
    wm: Option<(i64, Watermark)>,
) -> (RunPlan, bool) {
    match (&options.mode, active) {
        (SyncMode::Incremental, Some((mode, updated_after, cursor, n))) => (
            RunPlan {
                mode,
                updated_after,
                cursor,
                progress: SyncProgress {
                    pages: n[0].max(0) as u64,
                    leads: n[1].max(0) as u64,
                    new: n[2].max(0) as u64,
                    updated: n[3].max(0) as u64,
                    watermark: wm.map(|(_, w)| w),
                    resumed: true,
                },
            },
            false,
        ),
        (mode, _) => {
            let updated_after = match mode {
                SyncMode::Full => None,
                SyncMode::Since { .. } => since_ms.map(|ms| format_timestamp(ms.saturating_sub(1))),
                SyncMode::Incremental => wm.as_ref().map(|(ms, _)| {
                    let overlap = options.overlap_ms.clamp(1, i64::MAX as u64) as i64;
                    format_timestamp(ms.saturating_sub(overlap))
                }),
            };
            let full = matches!(mode, SyncMode::Full);
            (
                RunPlan {
                    mode: mode_name(mode).to_owned(),
                    updated_after,
                    cursor: None,
                    progress: SyncProgress {
                        watermark: if full { None } else { wm.map(|(_, w)| w) },
                        ..SyncProgress::default()
                    },
                },
                full,
            )
        }
    }
}

/// The largest `(updated_at, id)` of a group of pages, with `updated_at` in ms.
pub fn group_watermark(pages: &[Vec<Lead>]) -> Option<(i64, &Lead)> {
    let mut best: Option<(i64, &Lead)> = None;
    for lead in pages.iter().flatten() {
        if let Some(ms) = parse_timestamp(&lead.updated_at) {
            if best.is_none_or(|(b, l)| (ms, lead.id.as_str()) > (b, l.id.as_str())) {
                best = Some((ms, lead));
            }
        }
    }
    best
}

/// The crash test hook: whether the process must die now, inside the transaction holding the
/// batch's upserts and before its checkpoint, given the run's pages already committed.
pub fn crash_now(crash_at: Option<u64>, pages_done: i64, batch_pages: usize) -> bool {
    crash_at.is_some_and(|n| (pages_done + batch_pages as i64).max(0) as u64 >= n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wm(ms: i64) -> Option<(i64, Watermark)> {
        Some((
            ms,
            Watermark {
                updated_at: format_timestamp(ms),
                id: "lead_1".into(),
            },
        ))
    }

    #[test]
    fn an_incremental_run_starts_the_overlap_before_the_watermark_or_resumes() {
        let o = SyncOptions::default();
        let (plan, reset) = decide(&o, None, None, wm(10_000));
        assert_eq!(
            plan.updated_after.as_deref(),
            Some(format_timestamp(10_000 - 5_000).as_str())
        );
        assert!(!reset && !plan.progress.resumed);
        let active = (
            "full".to_owned(),
            None,
            Some("c9".to_owned()),
            [3, 300, 300, 0],
        );
        let (plan, reset) = decide(&o, None, Some(active), wm(10_000));
        assert_eq!(
            (plan.mode.as_str(), plan.cursor.as_deref()),
            ("full", Some("c9"))
        );
        assert!(plan.progress.resumed && !reset);
        assert_eq!(plan.progress.leads, 300);
        let full = SyncOptions {
            mode: SyncMode::Full,
            ..o
        };
        let (plan, reset) = decide(&full, None, None, wm(10_000));
        assert!(reset && plan.updated_after.is_none() && plan.progress.watermark.is_none());
    }
}
