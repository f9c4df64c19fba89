//! Verification of a destination against the server ([`verify`]): counts, and a checksum over
//! `(id, updated_at)` in ranges of `updated_at`; `repair` re-reads only the ranges that differ.
//!
//! | step | how |
//! | --- | --- |
//! | the server's side | one pass over `GET /leads?limit=100` (ordered by `(updated_at, id)`), keeping only `(id, updated_at)` |
//! | ranges | consecutive runs of [`RANGE_LEADS`] server leads, cut at `updated_at` values (a timestamp is never split): `[from, to)`, the first open below, the last open above, so every destination row falls in one |
//! | the destination's side | [`Destination::versions`] of each range: its `(id, updated_at)` |
//! | checksum | SHA-256 of the range's `id\tupdated_at_ms\n` lines sorted by id (first 16 hex digits shown) |
//! | repair | for each differing range: `GET /leads?updated_after=from−1ms` until `updated_at ≥ to`, then [`Destination::replace_range`]: in one transaction, rows of the range the server does not have there are deleted and the server's leads are written whatever the stored `updated_at` |
//! | progress | a [`VerifyProgress`] after every server page, every range compared and every range repaired |
//! | cancel | the token is checked before every request and every range: a cancelled verify ends with `cancelled`; it wrote nothing, or (repairing) whole ranges only, each in its own transaction, so running it again finishes the job |
//!
//! The API has no range filter but `updated_after`, and lists in `(updated_at, id)` order, so a
//! range of `updated_at` is the one cheap thing to re-read.

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use super::{format_timestamp, parse_timestamp, Destination, PAGE_SIZE};
use crate::api::{Client, Lead, ListLeadsQuery};
use crate::error::{Code, ErrorReport};

/// Server leads per range.
pub const RANGE_LEADS: usize = 1_000;

/// One range of `updated_at` and both sides' counts and checksums.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "VerifyRange.ts")]
pub struct VerifyRange {
    /// Inclusive lower bound (`None`: open).
    pub from: Option<String>,
    /// Exclusive upper bound (`None`: open).
    pub to: Option<String>,
    #[ts(type = "number")]
    pub server_leads: u64,
    #[ts(type = "number")]
    pub destination_leads: u64,
    pub server_checksum: String,
    pub destination_checksum: String,
}

/// What [`verify`] found (and repaired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "VerifyReport.ts")]
pub struct VerifyReport {
    #[ts(type = "number")]
    pub server_leads: u64,
    #[ts(type = "number")]
    pub destination_leads: u64,
    /// Ranges compared.
    #[ts(type = "number")]
    pub ranges: u64,
    /// The ranges that differ, in `updated_at` order (the first is the first that differs).
    pub differing: Vec<VerifyRange>,
    /// Ranges repaired (with `repair`); after a repair they are compared again.
    #[ts(type = "number")]
    pub repaired: u64,
    /// The destination equals the server (after the repair, when asked).
    pub equal: bool,
}

/// What a running [`verify`] is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "VerifyPhase.ts")]
pub enum VerifyPhase {
    /// Reading the server's `(id, updated_at)` list: `done` leads so far, no total.
    Reading,
    /// Comparing range checksums: `done` of `total` ranges.
    Comparing,
    /// Re-reading and rewriting the ranges that differ: `done` of `total`.
    Repairing,
}

/// Progress of a running [`verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "VerifyProgress.ts")]
pub struct VerifyProgress {
    pub phase: VerifyPhase,
    #[ts(type = "number")]
    pub done: u64,
    #[ts(type = "number | null")]
    pub total: Option<u64>,
}

fn cancelled(cancel: &CancellationToken, repairing: bool) -> Result<(), ErrorReport> {
    if !cancel.is_cancelled() {
        return Ok(());
    }
    Err(ErrorReport::local(
        Code::Cancelled,
        if repairing {
            "Repair was cancelled. The ranges it finished are repaired; verify again to see what is left."
        } else {
            "Verify was cancelled; nothing was changed."
        },
        true,
    ))
}

fn checksum(rows: &mut [(String, i64)]) -> String {
    rows.sort();
    let mut h = Sha256::new();
    for (id, ms) in rows.iter() {
        h.update(id.as_bytes());
        h.update(b"\t");
        h.update(ms.to_string().as_bytes());
        h.update(b"\n");
    }
    hex::encode(&h.finalize()[..8])
}

/// The server's `(id, updated_at ms)` of every lead, in `(updated_at, id)` order.
async fn server_versions(
    client: &Client,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(VerifyProgress) + Send + Sync),
) -> Result<Vec<(String, i64)>, ErrorReport> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        cancelled(cancel, false)?;
        let page = client
            .list_leads(&ListLeadsQuery {
                limit: Some(PAGE_SIZE),
                updated_after: None,
                cursor,
            })
            .await
            .map_err(ErrorReport::from)?;
        for l in page.data {
            let ms = parse_timestamp(&l.updated_at).ok_or_else(|| {
                ErrorReport::local(
                    Code::InvalidResponse,
                    format!(
                        "The server sent lead {} with updated_at “{}”, not a timestamp.",
                        l.id, l.updated_at
                    ),
                    false,
                )
            })?;
            out.push((l.id, ms));
        }
        on_progress(VerifyProgress {
            phase: VerifyPhase::Reading,
            done: out.len() as u64,
            total: None,
        });
        if !page.has_more {
            return Ok(out);
        }
        cursor = page.next_cursor;
    }
}

/// Range bounds (ms): `bounds[i]..bounds[i+1]`, `None` at both open ends. A bound is an
/// `updated_at` value and a range is `[from, to)`, so the leads sharing a timestamp are never split.
fn cut(server: &[(String, i64)]) -> Vec<Option<i64>> {
    let mut bounds = vec![None];
    for i in (RANGE_LEADS..server.len()).step_by(RANGE_LEADS) {
        let at = Some(server[i].1);
        if bounds.last() != Some(&at) {
            bounds.push(at);
        }
    }
    bounds.push(None);
    bounds
}

fn in_range(ms: i64, from: Option<i64>, to: Option<i64>) -> bool {
    from.is_none_or(|f| ms >= f) && to.is_none_or(|t| ms < t)
}

/// The server's leads with `from <= updated_at < to`, read from `updated_after = from − 1 ms`.
async fn server_range(
    client: &Client,
    from: Option<i64>,
    to: Option<i64>,
    cancel: &CancellationToken,
) -> Result<Vec<Lead>, ErrorReport> {
    let mut out = Vec::new();
    let mut cursor = None;
    let updated_after = from.map(|f| format_timestamp(f.saturating_sub(1)));
    loop {
        cancelled(cancel, true)?;
        let page = client
            .list_leads(&ListLeadsQuery {
                limit: Some(PAGE_SIZE),
                updated_after: updated_after.clone(),
                cursor,
            })
            .await
            .map_err(ErrorReport::from)?;
        let mut past = false;
        for l in page.data {
            match parse_timestamp(&l.updated_at) {
                Some(ms) if in_range(ms, from, to) => out.push(l),
                Some(ms) if to.is_some_and(|t| ms >= t) => past = true,
                _ => {}
            }
        }
        if past || !page.has_more {
            return Ok(out);
        }
        cursor = page.next_cursor;
    }
}

async fn compare<D: Destination>(
    dest: &D,
    server: &[(String, i64)],
    from: Option<i64>,
    to: Option<i64>,
) -> Result<VerifyRange, ErrorReport> {
    let mut theirs: Vec<(String, i64)> = server
        .iter()
        .filter(|(_, ms)| in_range(*ms, from, to))
        .cloned()
        .collect();
    let mut ours = dest.versions(from, to).await?;
    Ok(VerifyRange {
        from: from.map(format_timestamp),
        to: to.map(format_timestamp),
        server_leads: theirs.len() as u64,
        destination_leads: ours.len() as u64,
        server_checksum: checksum(&mut theirs),
        destination_checksum: checksum(&mut ours),
    })
}

/// Compares `dest` with the server (see the module docs); with `repair`, rewrites the ranges
/// that differ from the server and compares them again. Reports its progress to `on_progress`;
/// ends with `cancelled` when `cancel` is (see the module docs for what that leaves).
pub async fn verify<D: Destination>(
    client: &Client,
    dest: &D,
    repair: bool,
    cancel: &CancellationToken,
    on_progress: &(dyn Fn(VerifyProgress) + Send + Sync),
) -> Result<VerifyReport, ErrorReport> {
    let server = server_versions(client, cancel, on_progress).await?;
    let bounds = cut(&server);
    let ranges = (bounds.len() - 1) as u64;
    let mut differing = Vec::new();
    let mut destination_leads = 0;
    let mut to_repair = Vec::new();
    for (i, w) in bounds.windows(2).enumerate() {
        cancelled(cancel, false)?;
        let r = compare(dest, &server, w[0], w[1]).await?;
        destination_leads += r.destination_leads;
        if r.server_checksum != r.destination_checksum {
            to_repair.push((w[0], w[1]));
            differing.push(r);
        }
        on_progress(VerifyProgress {
            phase: VerifyPhase::Comparing,
            done: i as u64 + 1,
            total: Some(ranges),
        });
    }
    let mut repaired = 0;
    let mut equal = differing.is_empty();
    if repair && !differing.is_empty() {
        for (from, to) in &to_repair {
            let leads = server_range(client, *from, *to, cancel).await?;
            // Checked again after the reads: a range is written whole or not at all.
            cancelled(cancel, true)?;
            dest.replace_range(*from, *to, leads).await?;
            repaired += 1;
            on_progress(VerifyProgress {
                phase: VerifyPhase::Repairing,
                done: repaired,
                total: Some(to_repair.len() as u64),
            });
        }
        equal = true;
        for (from, to) in &to_repair {
            let r = compare(dest, &server, *from, *to).await?;
            equal &= r.server_checksum == r.destination_checksum;
        }
        if equal {
            destination_leads = server.len() as u64;
        }
    }
    Ok(VerifyReport {
        server_leads: server.len() as u64,
        destination_leads,
        ranges,
        differing,
        repaired,
        equal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_and_never_split_a_timestamp() {
        let server: Vec<(String, i64)> = (0..3500)
            .map(|i| {
                (
                    format!("l{i:05}"),
                    if (900..1300).contains(&i) { 900 } else { i },
                )
            })
            .collect();
        let b = cut(&server);
        assert_eq!(b.first(), Some(&None));
        assert_eq!(b.last(), Some(&None));
        assert_eq!(b.len(), 5, "{b:?}"); // 1000 and 1100 both cut at 900: one bound
                                         // Every lead is in exactly one range, and the run of 900s in one.
        for (_, ms) in &server {
            let n = b.windows(2).filter(|w| in_range(*ms, w[0], w[1])).count();
            assert_eq!(n, 1);
        }
        let holding_900 = b.windows(2).filter(|w| in_range(900, w[0], w[1])).count();
        assert_eq!(holding_900, 1);
        assert_eq!(cut(&[]), vec![None, None]);
    }
}
