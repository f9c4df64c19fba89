//! Delivery: sends the journal's pending rows with bounded concurrency that adapts to the rate
//! limit, and records each answer in the journal.
//!
//! Concurrency starts at [`RunOptions::concurrency`] and grows by one after as many successes
//! as requests in flight (up to [`RunOptions::max_concurrency`]); it drops to
//! `X-RateLimit-Remaining` when that is lower, halves on a 429, and every sender waits out
//! `Retry-After` (or `X-RateLimit-Reset` when nothing remains) before the next request, so the
//! limit is used, not hammered. A 429 never fails a row: the row waits and goes again.
//! Transient failures (5xx, dropped or timed-out connections, `idempotency_key_in_use`) are
//! retried with the same key up to [`RunOptions::max_attempts`] times (on top of the client's
//! own retries); auth failures stop the run (every row would fail the same way).
//!
//! | path | when |
//! | --- | --- |
//! | per row (this loop): create → POST `/leads`, upsert → POST `/leads/upsert`, update → PATCH `/leads/{id}` | the key lacks `leads.import` ([`RunOptions::bulk`] off), or the mode is `update`, or a killed per-row run left rows in flight |
//! | bulk import jobs of up to 1,000 rows ([`super::bulk`]) | [`RunOptions::bulk`] and mode `create` or `upsert`, or a batch still holds rows in flight |

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use rusqlite::params;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use super::journal::{self, counts, get_import, status, store_err, RowCounts};
use super::review::{self, disagreement, ImportMode, ReviewClass};
use crate::api::{
    ApiError, ApiErrorKind, Client, LeadPatch, NewLead, Patch, RateLimit, UpsertResult,
};
use crate::error::ErrorReport;
use crate::store::Store;

/// How a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOptions {
    /// Requests in flight at the start.
    pub concurrency: u32,
    /// The most requests in flight.
    pub max_concurrency: u32,
    /// Attempts per row (each with the client's own retries) before a transient failure is
    /// final (the row is `failed`; "Retry failed rows" tries again).
    pub max_attempts: u32,
    /// How often `progress` is called.
    pub progress_interval: Duration,
    /// Send rows as bulk import jobs (see [`super::bulk`]) when the mode allows: set by the job
    /// layer when the key has `leads.import`. Off: every row goes on its own.
    pub bulk: bool,
    /// Rows per bulk import job (at most 1,000, the contract's limit).
    pub bulk_batch_rows: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            concurrency: 8,
            max_concurrency: 32,
            max_attempts: 10,
            progress_interval: Duration::from_millis(250),
            bulk: false,
            bulk_batch_rows: 1000,
        }
    }
}

/// Progress of a run, for the progress bar.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ImportProgress.ts")]
pub struct ImportProgress {
    pub import_id: String,
    pub counts: RowCounts,
    /// Rows finished (created or failed) per second over the last seconds.
    pub rows_per_sec: f64,
    /// Seconds to the end at the current pace, capped by the rate limit when one is known;
    /// `null` before there is a pace.
    pub eta_seconds: Option<f64>,
    /// Requests in flight allowed now.
    pub concurrency: u32,
    /// The server's per-minute limit, when it sent one.
    pub rate_limit_per_minute: Option<u32>,
    /// Seconds all senders wait for the rate limit (0 when sending).
    pub waiting_seconds: f64,
}

/// The end of a run.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ImportSummary.ts")]
pub struct ImportSummary {
    pub import_id: String,
    /// `completed`, or `paused` when the token was cancelled (run again to resume).
    pub status: String,
    pub counts: RowCounts,
    #[ts(type = "number")]
    pub elapsed_ms: u64,
    /// Rows created or failed per second in this run.
    pub rows_per_sec: f64,
    /// 429 answers met in this run (none of them fails a row).
    #[ts(type = "number")]
    pub rate_limited: u64,
    /// Rows whose answer was a replay (already created by an earlier, interrupted attempt).
    #[ts(type = "number")]
    pub replayed: u64,
}

struct Job {
    row: i64,
    key: String,
    payload: String,
    /// The review's class, and the workspace's lead it matched (id, `updated_at` then).
    review: Option<ReviewClass>,
    match_id: Option<String>,
    match_updated_at: Option<String>,
    attempts: u32,
    not_before: Option<Instant>,
}

enum Update {
    Created {
        row: i64,
        lead_id: String,
        request_id: String,
        replayed: bool,
        result: UpsertResult,
        note: Option<&'static str>,
    },
    Failed {
        row: i64,
        code: String,
        message: String,
        request_id: Option<String>,
        attempts: u32,
    },
}

fn flush(store: &Store, id: &str, updates: &mut Vec<Update>) -> Result<(), ErrorReport> {
    if updates.is_empty() {
        return Ok(());
    }
    store
        .with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut ok = tx.prepare_cached(
                    "UPDATE import_rows SET state = 'created', lead_id = ?3, request_id = ?4, replayed = ?5, error_code = NULL, error_message = NULL,
                         result = ?6, note = ?7
                     WHERE import_id = ?1 AND row_number = ?2",
                )?;
                let mut bad = tx.prepare_cached(
                    "UPDATE import_rows SET state = 'failed', error_code = ?3, error_message = ?4, request_id = ?5, attempts = ?6
                     WHERE import_id = ?1 AND row_number = ?2",
                )?;
                for u in updates.drain(..) {
                    match u {
                        Update::Created {
                            row,
                            lead_id,
                            request_id,
                            replayed,
                            result,
                            note,
                        } => {
                            ok.execute(params![
                                id,
                                row,
                                lead_id,
                                request_id,
                                replayed,
                                result.as_str(),
                                note
                            ])?;
                        }
                        Update::Failed {
                            row,
                            code,
                            message,
                            request_id,
                            attempts,
                        } => {
                            bad.execute(params![id, row, code, message, request_id, attempts])?;
                        }
                    }
                }
            }
            tx.commit()
        })
        .map_err(store_err)
}

/// The result of a journal write run on a blocking thread.
fn joined(r: Result<Result<(), ErrorReport>, tokio::task::JoinError>) -> Result<(), ErrorReport> {
    r.unwrap_or_else(|e| {
        Err(ErrorReport::local(
            crate::error::Code::Internal,
            format!("writing the import's journal stopped: {e}"),
            true,
        ))
    })
}

/// Claims the next `n` rows to send after row `after` (marks them `in_flight` first), and says
/// whether rows may follow. Rows the review does not send that it passes on the way are settled
/// in the same transaction ([`review::settle`]), at most [`review::SETTLE_ROWS`] of them: it
/// may then claim fewer than `n` (even none) with more to follow.
fn fetch(store: &Store, id: &str, after: i64, n: usize) -> Result<(Vec<Job>, bool), ErrorReport> {
    store
        .with_conn(|c| {
            let tx = c.transaction()?;
            let mut jobs: Vec<Job> = Vec::with_capacity(n);
            let mut skipped = Vec::new();
            let mut after = after;
            let more;
            {
                let mut s = tx.prepare_cached(
                    "SELECT r.row_number, r.idempotency_key, d.payload, v.class, v.match_id, v.match_updated_at
                     FROM import_rows r LEFT JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                     LEFT JOIN import_row_reviews v ON v.import_id = r.import_id AND v.row_number = r.row_number
                     WHERE r.import_id = ?1 AND r.state IN ('pending', 'in_flight') AND r.row_number > ?2
                     ORDER BY r.row_number LIMIT ?3",
                )?;
                more = loop {
                    let want = n - jobs.len();
                    let mut seen = 0;
                    let mut q = s.query(params![id, after, want as i64])?;
                    while let Some(r) = q.next()? {
                        seen += 1;
                        let row: i64 = r.get(0)?;
                        after = row;
                        let payload = r.get::<_, Option<String>>(2)?;
                        let class = review::class_at(r, 3)?;
                        if let Some((code, why)) = review::not_sent(class, payload.as_deref()) {
                            skipped.push((row, code, why));
                            if skipped.len() >= review::SETTLE_ROWS {
                                break;
                            }
                            continue;
                        }
                        jobs.push(Job {
                            row,
                            key: r.get(1)?,
                            payload: payload.unwrap_or_default(),
                            review: class,
                            match_id: r.get(4)?,
                            match_updated_at: r.get(5)?,
                            attempts: 0,
                            not_before: None,
                        });
                    }
                    if jobs.len() >= n || skipped.len() >= review::SETTLE_ROWS {
                        break true;
                    }
                    if seen < want {
                        break false;
                    }
                };
            }
            review::settle(&tx, id, &skipped)?;
            if let (Some(first), Some(last)) = (jobs.first(), jobs.last()) {
                tx.execute(
                    "UPDATE import_rows SET state = 'in_flight' WHERE import_id = ?1 AND state = 'pending' AND row_number BETWEEN ?2 AND ?3",
                    params![id, first.row, last.row],
                )?;
            }
            tx.commit()?;
            Ok((jobs, more))
        })
        .map_err(store_err)
}

pub(super) fn is_auth(kind: ApiErrorKind) -> bool {
    matches!(
        kind,
        ApiErrorKind::Unauthorized
            | ApiErrorKind::Revoked
            | ApiErrorKind::Expired
            | ApiErrorKind::MalformedKey
            | ApiErrorKind::Forbidden
            | ApiErrorKind::InsufficientScope
            | ApiErrorKind::ReadOnly
    )
}

pub(super) fn is_transient(e: &ApiError) -> bool {
    e.retryable
        || matches!(
            e.kind,
            ApiErrorKind::ConnectionLost | ApiErrorKind::Timeout | ApiErrorKind::Unreachable
        )
}

/// How a run begins.
pub(super) enum Start {
    /// Completed or cancelled already: its summary as it stands.
    Finished(ImportSummary),
    /// Marked `running`; the import as it was read (before a restage).
    Running(Box<super::journal::ImportJob>),
}

/// The start both paths share (this loop and [`super::bulk::run`]): a staging cut short is
/// finished, a finished import answers its summary, any other is marked `running`.
pub(super) fn begin(
    store: &Store,
    import_id: &str,
    cancel: &CancellationToken,
) -> Result<Start, ErrorReport> {
    let job = get_import(store, import_id)?;
    if job.status == status::STAGING {
        super::restage(store, import_id, &|_| {}, cancel)?;
    }
    if job.status == status::CANCELLED || job.status == status::COMPLETED {
        return Ok(Start::Finished(ImportSummary {
            import_id: import_id.to_owned(),
            status: job.status,
            counts: counts(store, import_id)?,
            elapsed_ms: 0,
            rows_per_sec: 0.0,
            rate_limited: 0,
            replayed: 0,
        }));
    }
    journal::set_status(store, import_id, status::RUNNING)?;
    Ok(Start::Running(Box::new(job)))
}

/// Sends one row the way the import's mode says (see [`super::review`]): the lead's id and
/// what the server did with it.
async fn send_row(
    client: &Client,
    mode: ImportMode,
    job: &Job,
) -> Result<crate::api::ApiResponse<(String, UpsertResult)>, ApiError> {
    // Create and upsert send the journaled lead as it was written (see `create_lead_id`);
    // only an update reads it, to build its PATCH. The syntax check does not allocate.
    let unreadable = |e: serde_json::Error| {
        ApiError::local(
            ApiErrorKind::InvalidRequest,
            "invalid_request",
            format!("the journaled row could not be read ({e})"),
        )
    };
    let json: &serde_json::value::RawValue =
        serde_json::from_str(&job.payload).map_err(unreadable)?;
    match (mode, &job.match_id) {
        (ImportMode::Upsert, _) => client.upsert_lead_id(json, &job.key).await,
        (ImportMode::Update, Some(id)) => {
            let lead: NewLead = serde_json::from_str(json.get()).map_err(unreadable)?;
            let resp = client.update_lead(id, &patch_of(lead)).await?;
            let result = if job.match_updated_at.as_deref() == Some(resp.data.updated_at.as_str()) {
                UpsertResult::Unchanged
            } else {
                UpsertResult::Updated
            };
            Ok(resp.map(|l| (l.id, result)))
        }
        (ImportMode::Update, None) => Err(ApiError::local(
            ApiErrorKind::InvalidRequest,
            "invalid_request",
            "the row has no matched lead to update (review the import again)".to_owned(),
        )),
        (ImportMode::Create, _) => client
            .create_lead_id(json, &job.key)
            .await
            .map(|r| r.map(|id| (id, UpsertResult::Created))),
    }
}

/// The PATCH of "update existing only": the fields the row has (never the e-mail, which is how
/// it was matched).
fn patch_of(lead: NewLead) -> LeadPatch {
    let set = |v: Option<String>| v.map_or(Patch::Keep, Patch::Set);
    LeadPatch {
        email: None,
        full_name: set(lead.full_name),
        first_name: set(lead.first_name),
        last_name: set(lead.last_name),
        phone: set(lead.phone),
        job_title: set(lead.job_title),
        company_name: set(lead.company_name),
        company_domain: set(lead.company_domain),
        linkedin_url: set(lead.linkedin_url),
        status: lead.status,
        source: lead.source,
        custom_fields: lead.custom_fields,
    }
}

/// Sends the pending rows of a staged import (see the module docs), or hands it to
/// [`super::bulk`] when that applies. Cancelling `cancel` pauses: no new request starts, those
/// in flight finish and are recorded, the import is `paused`.
pub async fn run(
    client: &Client,
    store: &Store,
    import_id: &str,
    options: &RunOptions,
    progress: &(dyn Fn(&ImportProgress) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<ImportSummary, ErrorReport> {
    if super::bulk::applies(store, import_id, options)? {
        return super::bulk::run(client, store, import_id, options, progress, cancel).await;
    }
    journal::migrate(store)?;
    let job = match begin(store, import_id, cancel)? {
        Start::Running(job) => job,
        Start::Finished(summary) => return Ok(summary),
    };
    let started = Instant::now();
    let mode = job.mode;
    let base = counts(store, import_id)?;
    // `created` counts every row the server accepted; `updated` and `unchanged` are the part of
    // them an upsert or update did not create (the counts show them apart).
    let base_ok = base.created + base.updated + base.unchanged;
    let mut created = base_ok;
    let mut updated = base.updated;
    let mut unchanged = base.unchanged;
    let mut failed = base.failed;
    let mut created_now: u64 = 0;
    let mut failed_now: u64 = 0;
    let mut replayed: u64 = 0;
    let mut rate_limited: u64 = 0;

    let max_c = options.max_concurrency.max(1);
    let mut limit = options.concurrency.clamp(1, max_c);
    let mut successes = 0u32;
    let mut gate: Option<Instant> = None;
    let mut rate: Option<RateLimit> = None;

    let mut queue: VecDeque<Job> = VecDeque::new();
    let mut retry: Vec<Job> = Vec::new();
    let mut last_row: i64 = -1;
    let mut fetched_all = false;
    let mut stopping = false;
    let mut fatal: Option<ErrorReport> = None;
    let mut updates: Vec<Update> = Vec::new();
    let mut last_flush = Instant::now();
    let mut writing: Option<tokio::task::JoinHandle<Result<(), ErrorReport>>> = None;
    let mut last_progress = Instant::now();
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::new();
    samples.push_back((started, 0));

    let mut inflight = FuturesUnordered::new();

    let report = |created: u64,
                  (updated, unchanged): (u64, u64),
                  failed: u64,
                  inflight_n: usize,
                  limit: u32,
                  gate: Option<Instant>,
                  rate: Option<RateLimit>,
                  samples: &mut VecDeque<(Instant, u64)>| {
        let now = Instant::now();
        let done = created + failed - base_ok - base.failed;
        samples.push_back((now, done));
        while samples.len() > 2
            && samples
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) > Duration::from_secs(10))
        {
            samples.pop_front();
        }
        let (t0, d0) = samples.front().copied().unwrap_or((started, 0));
        let dt = now.duration_since(t0).as_secs_f64();
        let rows_per_sec = if dt > 0.0 {
            (done - d0) as f64 / dt
        } else {
            0.0
        };
        let remaining = base.total - base.skipped - created - failed;
        let waiting = gate
            .map(|g| g.saturating_duration_since(now).as_secs_f64())
            .unwrap_or(0.0);
        let cap = rate.map(|r| r.limit as f64 / 60.0);
        let pace = match (rows_per_sec > 0.0, cap) {
            (true, Some(c)) => Some(rows_per_sec.min(c)),
            (true, None) => Some(rows_per_sec),
            (false, Some(c)) => Some(c),
            (false, None) => None,
        };
        let eta_seconds = if remaining == 0 {
            Some(0.0)
        } else {
            pace.filter(|p| *p > 0.0)
                .map(|p| remaining as f64 / p + waiting)
        };
        ImportProgress {
            import_id: import_id.to_owned(),
            counts: RowCounts {
                total: base.total,
                pending: remaining.saturating_sub(inflight_n as u64),
                in_flight: inflight_n as u64,
                created: created - updated - unchanged,
                updated,
                unchanged,
                failed,
                skipped: base.skipped,
                blank_lines: base.blank_lines,
                ragged_rows: base.ragged_rows,
                with_dropped_fields: base.with_dropped_fields,
            },
            rows_per_sec,
            eta_seconds,
            concurrency: limit,
            rate_limit_per_minute: rate.map(|r| r.limit),
            waiting_seconds: waiting,
        }
    };

    loop {
        let now = Instant::now();
        if gate.is_some_and(|g| g <= now) {
            gate = None;
        }
        if !stopping && cancel.is_cancelled() {
            stopping = true;
        }
        // Start requests while allowed.
        while !stopping && gate.is_none() && inflight.len() < limit as usize {
            let ready = retry
                .iter()
                .position(|j| j.not_before.is_none_or(|t| t <= now));
            let job = if let Some(i) = ready {
                retry.swap_remove(i)
            } else {
                while queue.is_empty() && !fetched_all {
                    let (batch, more) = fetch(store, import_id, last_row, 512)?;
                    fetched_all = !more;
                    if let Some(l) = batch.last() {
                        last_row = l.row;
                    }
                    queue.extend(batch);
                }
                match queue.pop_front() {
                    Some(j) => j,
                    None => break,
                }
            };
            let client = client.clone();
            inflight.push(async move {
                let res = send_row(&client, mode, &job).await;
                (job, res)
            });
        }
        if inflight.is_empty()
            && (stopping || (queue.is_empty() && retry.is_empty() && fetched_all))
        {
            break;
        }
        // Wait for an answer, the gate, a retry's time, the next progress tick or cancel.
        let mut wake = options.progress_interval;
        if let Some(g) = gate {
            wake = wake.min(g.saturating_duration_since(now));
        }
        if let Some(t) = retry.iter().filter_map(|j| j.not_before).min() {
            wake = wake.min(t.saturating_duration_since(now));
        }
        let wake = wake.max(Duration::from_millis(1));
        tokio::select! {
            Some((mut job, res)) = inflight.next(), if !inflight.is_empty() => {
                match res {
                    Ok(resp) => {
                        if let Some(rl) = resp.rate_limit {
                            rate = Some(rl);
                            if rl.remaining == 0 {
                                gate = Some(Instant::now() + Duration::from_secs(rl.reset.max(1)));
                            } else if rl.remaining < limit {
                                limit = rl.remaining.max(1);
                            }
                        }
                        successes += 1;
                        if successes >= limit {
                            successes = 0;
                            let cap = rate.map(|r| r.remaining.max(1)).unwrap_or(max_c).min(max_c);
                            if limit < cap {
                                limit += 1;
                            }
                        }
                        if resp.replayed {
                            replayed += 1;
                        }
                        created += 1;
                        created_now += 1;
                        let (lead_id, result) = resp.data;
                        match result {
                            UpsertResult::Updated => updated += 1,
                            UpsertResult::Unchanged => unchanged += 1,
                            UpsertResult::Created => {}
                        }
                        updates.push(Update::Created {
                            row: job.row,
                            lead_id,
                            request_id: resp.request_id,
                            replayed: resp.replayed,
                            result,
                            note: disagreement(job.review, result),
                        });
                    }
                    Err(e) if e.kind == ApiErrorKind::RateLimited => {
                        rate_limited += 1;
                        let wait = Duration::from_secs(u64::from(e.retry_after.unwrap_or(1).max(1)));
                        let until = Instant::now() + wait;
                        gate = Some(gate.map_or(until, |g| g.max(until)));
                        limit = (limit / 2).max(1);
                        successes = 0;
                        job.not_before = None;
                        retry.push(job);
                    }
                    Err(e) if is_auth(e.kind) => {
                        stopping = true;
                        fatal = Some(ErrorReport::from(e));
                        // Stays in_flight in the journal: sent again on resume.
                    }
                    Err(e) if is_transient(&e) && job.attempts + 1 < options.max_attempts.max(1) => {
                        job.attempts += 1;
                        let ceiling = 250u64.saturating_mul(1 << job.attempts.min(7)).min(30_000);
                        let wait = e
                            .retry_after
                            .map(|s| u64::from(s) * 1000)
                            .unwrap_or_else(|| fastrand::u64(ceiling / 2..=ceiling));
                        job.not_before = Some(Instant::now() + Duration::from_millis(wait));
                        retry.push(job);
                    }
                    Err(e) => {
                        let message = {
                            let fields = e.field_errors();
                            if mode == ImportMode::Update && e.kind == ApiErrorKind::NotFound {
                                "the lead the review matched is gone from the server (deleted after the review); nothing was created".to_owned()
                            } else if fields.is_empty() { e.user_message() } else { fields.join("; ") }
                        };
                        failed += 1;
                        failed_now += 1;
                        updates.push(Update::Failed {
                            row: job.row,
                            code: e.code.clone(),
                            message,
                            request_id: e.request_id.clone(),
                            attempts: job.attempts + 1,
                        });
                    }
                }
            }
            _ = tokio::time::sleep(wake) => {}
            _ = cancel.cancelled(), if !stopping => { stopping = true; }
        }
        // The answers are journaled on a blocking thread while this loop goes on sending and
        // receiving (one write at a time, in order): written here, each batch of 256 stopped
        // every request's answer for the length of a transaction.
        if (updates.len() >= 256 || last_flush.elapsed() >= Duration::from_millis(200))
            && writing.as_ref().is_none_or(|w| w.is_finished())
        {
            if let Some(w) = writing.take() {
                joined(w.await)?;
            }
            if !updates.is_empty() {
                let (store, id, mut batch) = (
                    store.clone(),
                    import_id.to_owned(),
                    std::mem::take(&mut updates),
                );
                writing = Some(tokio::task::spawn_blocking(move || {
                    flush(&store, &id, &mut batch)
                }));
            }
            last_flush = Instant::now();
        }
        if last_progress.elapsed() >= options.progress_interval {
            last_progress = Instant::now();
            progress(&report(
                created,
                (updated, unchanged),
                failed,
                inflight.len(),
                limit,
                gate,
                rate,
                &mut samples,
            ));
        }
    }
    if let Some(w) = writing.take() {
        joined(w.await)?;
    }
    flush(store, import_id, &mut updates)?;
    // Rows claimed but not sent go back to pending (rows sent and unanswered stay in_flight
    // only after a crash, and are sent again with the same key on resume).
    store
        .with_conn(|c| {
            c.execute(
                "UPDATE import_rows SET state = 'pending' WHERE import_id = ?1 AND state = 'in_flight'",
                [import_id],
            )
        })
        .map_err(store_err)?;
    let done = !stopping;
    journal::set_status(
        store,
        import_id,
        if done {
            status::COMPLETED
        } else {
            status::PAUSED
        },
    )?;
    progress(&report(
        created,
        (updated, unchanged),
        failed,
        0,
        limit,
        None,
        rate,
        &mut samples,
    ));
    if let Some(f) = fatal {
        return Err(f);
    }
    let elapsed = started.elapsed();
    Ok(ImportSummary {
        import_id: import_id.to_owned(),
        status: if done {
            status::COMPLETED
        } else {
            status::PAUSED
        }
        .to_owned(),
        counts: counts(store, import_id)?,
        elapsed_ms: elapsed.as_millis() as u64,
        rows_per_sec: (created_now + failed_now) as f64 / elapsed.as_secs_f64().max(1e-9),
        rate_limited,
        replayed,
    })
}
