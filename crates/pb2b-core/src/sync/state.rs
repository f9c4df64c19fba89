//! The `sync_state` row of a mirror: the run's plan (resume or new) and start, its end, the
//! watermark, and the status the Sync screen shows.

use std::sync::atomic::Ordering;

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;

use super::destination::{decide, since_ms, ActiveRun, RunPlan};
use super::{local_err, Mirror, SyncOptions, SyncOutcome, SyncProgress, SyncStatus, Watermark};
use crate::error::ErrorReport;
use crate::store::Store;

impl SyncOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            SyncOutcome::Completed => "completed",
            SyncOutcome::Cancelled => "cancelled",
            SyncOutcome::Failed => "failed",
        }
    }
    pub(super) fn parse(s: &str) -> Option<Self> {
        match s {
            "completed" => Some(SyncOutcome::Completed),
            "cancelled" => Some(SyncOutcome::Cancelled),
            "failed" => Some(SyncOutcome::Failed),
            _ => None,
        }
    }
}

impl Mirror {
    /// The Sync screen's status.
    pub fn status(&self) -> Result<SyncStatus, ErrorReport> {
        let total = self.count()?;
        let running = self.running.load(Ordering::SeqCst);
        self.store
            .with_conn(|c| {
                c.query_row(
                    "SELECT profile, watermark_updated_at, watermark_id, run_active,
                        last_started_at, last_finished_at, last_outcome, last_mode, last_error,
                        last_pages, last_leads, last_new, last_updated,
                        run_pages, run_leads, run_new, run_updated
                     FROM sync_state WHERE mirror = ?1",
                    [&self.key],
                    |r| {
                        let wm_at: Option<String> = r.get(1)?;
                        let wm_id: Option<String> = r.get(2)?;
                        let interrupted = r.get::<_, i64>(3)? != 0;
                        let outcome: Option<String> = r.get(6)?;
                        let error: Option<String> = r.get(8)?;
                        let n = |i: usize| -> rusqlite::Result<u64> {
                            Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
                        };
                        let last = if interrupted {
                            Some(SyncProgress {
                                pages: n(13)?,
                                leads: n(14)?,
                                new: n(15)?,
                                updated: n(16)?,
                                watermark: None,
                                resumed: false,
                            })
                        } else if r.get::<_, Option<i64>>(9)?.is_some() {
                            Some(SyncProgress {
                                pages: n(9)?,
                                leads: n(10)?,
                                new: n(11)?,
                                updated: n(12)?,
                                watermark: None,
                                resumed: false,
                            })
                        } else {
                            None
                        };
                        Ok(SyncStatus {
                            mirror: self.key.clone(),
                            profile: r.get(0)?,
                            total_leads: total,
                            watermark: wm_at
                                .zip(wm_id)
                                .map(|(updated_at, id)| Watermark { updated_at, id }),
                            interrupted,
                            running,
                            last_started_at: r.get(4)?,
                            last_finished_at: r.get(5)?,
                            last_outcome: outcome.as_deref().and_then(SyncOutcome::parse),
                            last_mode: r.get(7)?,
                            last_error: error.as_deref().and_then(parse_error),
                            last,
                        })
                    },
                )
            })
            .map_err(local_err)
    }
}

pub(super) fn parse_error(s: &str) -> Option<ErrorReport> {
    let v: Value = serde_json::from_str(s).ok()?;
    Some(ErrorReport {
        code: crate::error::Code::from_wire(v.get("code")?.as_str()?),
        message: v.get("message")?.as_str()?.to_owned(),
        request_id: v
            .get("request_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        retryable: v.get("retryable").and_then(Value::as_bool).unwrap_or(false),
    })
}

pub(super) fn watermark_of(
    c: &Connection,
    key: &str,
) -> rusqlite::Result<Option<(i64, Watermark)>> {
    c.query_row(
        "SELECT watermark_ms, watermark_updated_at, watermark_id FROM sync_state
         WHERE mirror = ?1 AND watermark_ms IS NOT NULL",
        [key],
        |r| {
            Ok((
                r.get(0)?,
                Watermark {
                    updated_at: r.get(1)?,
                    id: r.get(2)?,
                },
            ))
        },
    )
    .optional()
}

/// Decides the run (resume or new) and persists its start, in one transaction.
pub(super) fn plan_run(
    store: &Store,
    key: &str,
    options: &SyncOptions,
    started_at: &str,
) -> Result<RunPlan, ErrorReport> {
    let since_ms = since_ms(options)?;
    store
        .with_conn(|c| {
            let tx = c.transaction()?;
            let active: Option<ActiveRun> = tx
                .query_row(
                    "SELECT run_mode, run_updated_after, run_cursor,
                        run_pages, run_leads, run_new, run_updated
                     FROM sync_state WHERE mirror = ?1 AND run_active = 1",
                    [key],
                    |r| {
                        Ok((
                            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                            r.get(1)?,
                            r.get(2)?,
                            [r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?],
                        ))
                    },
                )
                .optional()?;
            let wm = watermark_of(&tx, key)?;
            let (plan, reset_watermark) = decide(options, since_ms, active, wm);
            if reset_watermark {
                tx.execute(
                    "UPDATE sync_state SET watermark_ms = NULL,
                        watermark_updated_at = NULL, watermark_id = NULL
                     WHERE mirror = ?1",
                    [key],
                )?;
            }
            if !plan.progress.resumed {
                tx.execute(
                    "UPDATE sync_state SET run_active = 1, run_mode = ?2,
                        run_updated_after = ?3, run_cursor = NULL, run_started_at = ?4,
                        run_pages = 0, run_leads = 0, run_new = 0, run_updated = 0
                     WHERE mirror = ?1",
                    params![key, plan.mode, plan.updated_after, started_at],
                )?;
            }
            tx.execute(
                "UPDATE sync_state SET last_started_at = ?2 WHERE mirror = ?1",
                params![key, started_at],
            )?;
            tx.commit()?;
            Ok(plan)
        })
        .map_err(local_err)
}

pub(super) fn record_end(
    store: &Store,
    key: &str,
    outcome: SyncOutcome,
    error: Option<&ErrorReport>,
    finished_at: &str,
) {
    let error = error.and_then(|e| serde_json::to_string(e).ok());
    let _ = store.with_conn(|c| {
        c.execute(
            "UPDATE sync_state SET last_finished_at = ?2, last_outcome = ?3, last_mode = run_mode,
                last_error = ?4, last_pages = run_pages, last_leads = run_leads,
                last_new = run_new, last_updated = run_updated
             WHERE mirror = ?1",
            params![key, finished_at, outcome.as_str(), error],
        )
    });
}
