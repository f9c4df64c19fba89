//! The Overview: the figures a RevOps person looks at first, from what this computer already
//! holds, plus one look at the webhook deliveries.
//!
//! | figure                                  | source                                                          |
//! |-----------------------------------------|-----------------------------------------------------------------|
//! | leads, by status and by source          | the workspace's mirror (`sync_leads`)                            |
//! | leads created per week, last [`WEEKS`]  | the mirror's `created_at`; weeks start on Monday, 00:00 UTC; empty weeks count 0 |
//! | the last sync                           | the mirror's sync state ([`crate::sync::SyncStatus`])            |
//! | whether the first sync should start     | [`crate::sync::schedule::first_sync_due`] of that state          |
//! | recent imports and exports              | this workspace's import journal and export jobs, [`RECENT`] newest each |
//! | webhook deliveries, last [`DAYS`] days  | `GET /webhooks`, then each endpoint's deliveries newest first until one is older than the window (at most [`MAX_DELIVERY_PAGES`] pages an endpoint); a failure (no `webhooks.read` scope, offline) is reported in place, never fails the rest |
//!
//! Nothing here writes: opening the Overview never changes a journal, the mirror or the server.

use serde::Serialize;
use ts_rs::TS;

use crate::error::ErrorReport;
use crate::exports::ExportJob;
use crate::import::ImportJob;
use crate::sync::schedule::first_sync_due;
use crate::sync::SyncStatus;
use crate::time::{format_timestamp, parse_timestamp};
use crate::webhooks::WebhookManager;
use crate::workspace::Workspace;

/// Weeks of the "created per week" chart.
pub const WEEKS: usize = 12;
/// Days of the deliveries chart.
pub const DAYS: usize = 7;
/// Recent imports and exports shown.
pub const RECENT: usize = 5;
/// Pages of deliveries read per endpoint at most.
pub const MAX_DELIVERY_PAGES: usize = 10;

const DAY_MS: i64 = 86_400_000;
const WEEK_MS: i64 = 7 * DAY_MS;

/// A value and how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "Tally.ts")]
pub struct Tally {
    pub value: String,
    #[ts(type = "number")]
    pub count: u64,
}

/// Leads created in the week starting `week_start` (a Monday, `YYYY-MM-DD`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "WeekCount.ts")]
pub struct WeekCount {
    pub week_start: String,
    #[ts(type = "number")]
    pub count: u64,
}

/// Deliveries created on `day` (`YYYY-MM-DD`, UTC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "DayDeliveries.ts")]
pub struct DayDeliveries {
    pub day: String,
    pub succeeded: u32,
    pub failed: u32,
    pub pending: u32,
}

/// Webhook deliveries over the last [`DAYS`] days, or why they could not be read.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export_to = "DeliveryStats.ts")]
pub struct DeliveryStats {
    pub endpoints: u32,
    pub days: Vec<DayDeliveries>,
    pub error: Option<ErrorReport>,
}

#[derive(Debug, Clone, Serialize, TS)]
#[ts(export_to = "Overview.ts")]
pub struct Overview {
    pub workspace_name: String,
    #[ts(type = "number")]
    pub leads_total: u64,
    pub by_status: Vec<Tally>,
    pub by_source: Vec<Tally>,
    /// Oldest first, [`WEEKS`] entries ending with the current week.
    pub created_per_week: Vec<WeekCount>,
    pub sync: SyncStatus,
    /// Never synced and idle: the Overview starts the first sync at once
    /// ([`crate::sync::schedule::first_sync_due`]).
    pub first_sync_due: bool,
    pub recent_imports: Vec<ImportJob>,
    pub recent_exports: Vec<ExportJob>,
    pub deliveries: DeliveryStats,
}

/// Monday 00:00 UTC of the week holding `ms` (1970-01-01 was a Thursday).
fn week_start(ms: i64) -> i64 {
    let days = ms.div_euclid(DAY_MS);
    let monday = days - (days + 3).rem_euclid(7);
    monday * DAY_MS
}

fn date_of(ms: i64) -> String {
    format_timestamp(ms)[..10].to_owned()
}

/// Counts per week for the [`WEEKS`] weeks ending with the one holding `now_ms`.
fn weeks(created_ms: impl Iterator<Item = i64>, now_ms: i64) -> Vec<WeekCount> {
    let last = week_start(now_ms);
    let first = last - (WEEKS as i64 - 1) * WEEK_MS;
    let mut counts = vec![0u64; WEEKS];
    for ms in created_ms {
        if ms >= first && ms < last + WEEK_MS {
            counts[((week_start(ms) - first) / WEEK_MS) as usize] += 1;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| WeekCount {
            week_start: date_of(first + i as i64 * WEEK_MS),
            count,
        })
        .collect()
}

/// Deliveries per day for the [`DAYS`] days ending with the one holding `now_ms`.
fn days<'a>(deliveries: impl Iterator<Item = (&'a str, i64)>, now_ms: i64) -> Vec<DayDeliveries> {
    let today = now_ms.div_euclid(DAY_MS) * DAY_MS;
    let first = today - (DAYS as i64 - 1) * DAY_MS;
    let mut out: Vec<DayDeliveries> = (0..DAYS)
        .map(|i| DayDeliveries {
            day: date_of(first + i as i64 * DAY_MS),
            succeeded: 0,
            failed: 0,
            pending: 0,
        })
        .collect();
    for (status, ms) in deliveries {
        if ms < first || ms >= today + DAY_MS {
            continue;
        }
        let day = &mut out[((ms - first) / DAY_MS) as usize];
        match status {
            "succeeded" => day.succeeded += 1,
            "failed" => day.failed += 1,
            _ => day.pending += 1,
        }
    }
    out
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Workspace {
    /// The Overview of this workspace (see the module doc for where each figure comes from).
    pub async fn overview(&self) -> Result<Overview, ErrorReport> {
        let now = now_ms();
        let mirror = self.mirror()?;
        let key = mirror.workspace_id().to_owned();
        let (by_status, by_source, created) = mirror
            .store()
            .with_conn(|c| {
                let tally = |column: &str| -> rusqlite::Result<Vec<Tally>> {
                    let mut st = c.prepare(&format!(
                        "SELECT {column}, count(*) FROM sync_leads WHERE mirror = ?1
                         GROUP BY {column} ORDER BY count(*) DESC, {column}"
                    ))?;
                    let rows = st.query_map([&key], |r| {
                        Ok(Tally {
                            value: r.get(0)?,
                            count: r.get::<_, i64>(1)?.max(0) as u64,
                        })
                    })?;
                    rows.collect()
                };
                let since = format_timestamp(week_start(now) - (WEEKS as i64 - 1) * WEEK_MS);
                let mut st = c.prepare(
                    "SELECT created_at FROM sync_leads WHERE mirror = ?1 AND created_at >= ?2",
                )?;
                let created: Vec<String> = st
                    .query_map(rusqlite::params![key, since], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok((tally("status")?, tally("source")?, created))
            })
            .map_err(ErrorReport::from)?;
        let mut recent_imports = self.imports().list()?;
        recent_imports.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        recent_imports.truncate(RECENT);
        let mut recent_exports = self.exports()?.list()?;
        recent_exports.sort_by(|a, b| b.created_at.cmp(&a.created_at));
        recent_exports.truncate(RECENT);
        let sync = mirror.status()?;
        Ok(Overview {
            workspace_name: self.owner().workspace_name,
            leads_total: by_status.iter().map(|t| t.count).sum(),
            by_status,
            by_source,
            created_per_week: weeks(created.iter().filter_map(|c| parse_timestamp(c)), now),
            first_sync_due: first_sync_due(&sync),
            sync,
            recent_imports,
            recent_exports,
            deliveries: self.delivery_stats(now).await,
        })
    }

    async fn delivery_stats(&self, now: i64) -> DeliveryStats {
        let manager = WebhookManager::new(self.client(), self.is_sandbox(), None);
        let window_start = now.div_euclid(DAY_MS) * DAY_MS - (DAYS as i64 - 1) * DAY_MS;
        let mut seen: Vec<(String, i64)> = Vec::new();
        let result: Result<u32, ErrorReport> = async {
            let endpoints = manager.list().await?;
            for endpoint in &endpoints {
                let mut cursor = None;
                for _ in 0..MAX_DELIVERY_PAGES {
                    let page = manager
                        .deliveries(&endpoint.id, cursor.take(), Some(100))
                        .await?;
                    let mut older = false;
                    for d in &page.deliveries {
                        match parse_timestamp(&d.created_at) {
                            Some(ms) if ms >= window_start => seen.push((d.status.clone(), ms)),
                            _ => older = true,
                        }
                    }
                    if older || !page.has_more || page.next_cursor.is_none() {
                        break;
                    }
                    cursor = page.next_cursor;
                }
            }
            Ok(endpoints.len() as u32)
        }
        .await;
        let (endpoints, error) = match result {
            Ok(n) => (n, None),
            Err(err) => (0, Some(err)),
        };
        DeliveryStats {
            endpoints,
            days: days(seen.iter().map(|(s, ms)| (s.as_str(), *ms)), now),
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        parse_timestamp(s).unwrap()
    }

    #[test]
    fn weeks_start_on_monday_and_empty_weeks_count_zero() {
        // 2026-11-30 is a Monday.
        assert_eq!(
            week_start(ms("2026-12-03T10:00:00Z")),
            ms("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            week_start(ms("2026-11-30T00:00:00Z")),
            ms("2026-11-30T00:00:00Z")
        );
        assert_eq!(
            week_start(ms("2026-11-29T23:59:59Z")),
            ms("2026-11-23T00:00:00Z")
        );
        let now = ms("2026-12-02T12:00:00Z");
        let created = [
            "2026-12-01T09:00:00Z",
            "2026-11-30T00:00:00Z",
            "2026-11-29T23:00:00Z",
            "2026-09-14T00:00:00Z", // the first of the 12 weeks
            "2026-09-13T23:59:59Z", // before it: not counted
            "2027-01-01T00:00:00Z", // in the future: not counted
        ];
        let w = weeks(created.iter().map(|c| ms(c)), now);
        assert_eq!(w.len(), WEEKS);
        assert_eq!(w[0].week_start, "2026-09-14");
        assert_eq!(w[0].count, 1);
        assert_eq!(w[WEEKS - 1].week_start, "2026-11-30");
        assert_eq!(w[WEEKS - 1].count, 2);
        assert_eq!(w[WEEKS - 2].count, 1);
        assert_eq!(w.iter().map(|x| x.count).sum::<u64>(), 4);
    }

    #[test]
    fn deliveries_are_counted_per_day_and_status_within_the_window() {
        let now = ms("2026-11-30T15:00:00Z");
        let rows = [
            ("succeeded", ms("2026-11-30T01:00:00Z")),
            ("failed", ms("2026-11-30T02:00:00Z")),
            ("pending", ms("2026-11-30T03:00:00Z")),
            ("succeeded", ms("2026-11-24T00:00:00Z")), // the first day of 7
            ("succeeded", ms("2026-11-23T23:59:59Z")), // before the window
        ];
        let d = days(rows.iter().map(|(s, m)| (*s, *m)), now);
        assert_eq!(d.len(), DAYS);
        assert_eq!(d[0].day, "2026-11-24");
        assert_eq!((d[0].succeeded, d[0].failed), (1, 0));
        assert_eq!(d[6].day, "2026-11-30");
        assert_eq!((d[6].succeeded, d[6].failed, d[6].pending), (1, 1, 1));
        let total: u32 = d.iter().map(|x| x.succeeded + x.failed + x.pending).sum();
        assert_eq!(total, 4);
    }
}
