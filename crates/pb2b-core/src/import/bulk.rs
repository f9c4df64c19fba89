//! Bulk delivery: the journal's pending rows go as import jobs (`POST /imports`) of up to
//! [`RunOptions::bulk_batch_rows`] rows (1,000, the contract's limit, by default), when the key
//! has `leads.import` ([`RunOptions::bulk`]) and the import's mode is `create` or `upsert`.
//! [`super::deliver::run`] dispatches here ([`applies`]).
//!
//! | situation | what happens |
//! | --- | --- |
//! | which path | bulk when [`RunOptions::bulk`] (the job layer sets it from the key's scopes) and the mode is `create` or `upsert`; `update` always goes per row (PATCH by id); an import with a batch still holding rows in flight always finishes here (only the batch's key can settle them); an import whose per-row run was killed with rows in flight goes on per row (only their own keys can settle them) |
//! | a batch | the next pending rows in row order, at most [`BATCH_ROWS`] and [`BATCH_BYTES`] of payload, never reaching into the range of a batch still in flight; journaled in `import_batches` (its range `first_row`–`last_row`, `row_count`, and its Idempotency-Key `imp-<import>-b<seq>-<first row>-<last row>-<hash of the rows' keys>`) in one transaction before it is sent. The rows themselves are not written: while the batch is `open` or `accepted`, its range's `pending` rows are its rows, in flight ([`super::journal`]'s counts say so). Nothing makes a row of that range `pending` meanwhile (retrying failed rows passes over open ranges; a review needs nothing in flight), and a rebuilt batch is checked against its `row_count` and key |
//! | crash or kill | on resume each batch still holding rows in flight is sent again with its journaled key, mode and rows (the same body): the server answers the same job (a replay), never a second one; a job whose id was journaled is polled, not sent |
//! | the rows' results | each row is written once, `pending` → `created`/`failed` with `batch = seq`: a claim that also marked every row `in_flight` wrote each journal row twice, and that second write held the bulk ratio at ~5× (issue 12, eighth round) |
//! | 5xx, dropped or timed-out connections, `idempotency_key_in_use` | retried with the same key (the client's retries, then up to [`RunOptions::max_attempts`] here); still failing: the run stops with the error and the batch stays in flight for resume |
//! | 429 | never fails a row: every batch waits out `Retry-After` (or `X-RateLimit-Reset` when nothing remains) before its next request |
//! | auth failures | stop the run; the batch stays in flight (a retry with a good key replays it) |
//! | another refusal of the whole batch (400, 409 `idempotency_key_reused`, 413, 422) | its rows fail with that error ("Retry failed rows" sends them in a new batch) |
//! | the job ends `completed` | every page of `/results` is written to the journal, one transaction per page: created/updated/unchanged rows become `created` with `result` and the review's [`disagreement`] note, failed rows `failed` with the error a single create or upsert would have given |
//! | the job ends `failed` | its rows go back to `pending` (not failed): the run ends `paused` and resuming sends them in a new batch with a new key |
//! | cancel (pause) | no new batch starts; batches in flight are polled to the end and recorded; the import is `paused` |
//!
//! Up to [`BATCHES_IN_FLIGHT`] batches are in flight at once; each polls its job with a delay
//! that grows from 10 ms to 1 s.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_util::stream::{FuturesUnordered, StreamExt};
use rusqlite::{params, OptionalExtension};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use super::deliver::{is_auth, is_transient, ImportProgress, ImportSummary, RunOptions};
use super::journal::{self, counts, status, store_err, RowCounts};
use super::review::{self, disagreement, ImportMode, ReviewClass};
use crate::api::{
    ApiError, ApiErrorKind, BulkRowError, Client, NewBulkImport, PageQuery, RateLimit, UpsertResult,
};
use crate::error::ErrorReport;
use crate::store::Store;

/// The most rows in one import job (the contract's limit).
pub const BATCH_ROWS: usize = 1000;
/// The most payload bytes in one import job (the contract refuses bodies over 1 MiB).
pub const BATCH_BYTES: usize = 900 * 1024;
/// Import jobs in flight at once.
pub const BATCHES_IN_FLIGHT: usize = 4;

/// Batch states in `import_batches`.
mod batch_state {
    /// Journaled (maybe sent), no job id yet.
    pub const OPEN: &str = "open";
    /// The server answered with its job id.
    pub const ACCEPTED: &str = "accepted";
    pub const DONE: &str = "done";
    pub const FAILED: &str = "failed";
    /// Its rows were settled another way (cancelled, looked up under a rotated key).
    pub const VOID: &str = "void";
}

/// Whether [`super::deliver::run`] sends this import in bulk (see the module docs).
pub(super) fn applies(
    store: &Store,
    import_id: &str,
    options: &RunOptions,
) -> Result<bool, ErrorReport> {
    journal::migrate(store)?;
    store
        .with_conn(|c| {
            let Some(mode) = c
                .query_row(
                    "SELECT mode FROM import_jobs WHERE id = ?1",
                    [import_id],
                    |r| r.get::<_, String>(0),
                )
                .optional()?
            else {
                return Ok(false);
            };
            let open: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM import_batches b WHERE b.import_id = ?1 AND b.state IN ('open', 'accepted')
                   AND EXISTS (SELECT 1 FROM import_rows r WHERE r.import_id = b.import_id AND +r.state = 'pending'
                               AND r.row_number BETWEEN b.first_row AND b.last_row))",
                [import_id],
                |r| r.get(0),
            )?;
            if open {
                return Ok(true);
            }
            let orphans: bool = c.query_row(
                "SELECT EXISTS (SELECT 1 FROM import_rows WHERE import_id = ?1 AND state = 'in_flight')",
                [import_id],
                |r| r.get(0),
            )?;
            let mode = ImportMode::parse(&mode).unwrap_or_default();
            Ok(options.bulk && mode != ImportMode::Update && !orphans)
        })
        .map_err(store_err)
}

struct Batch {
    seq: i64,
    key: String,
    mode: String,
    /// Row numbers in the job's order, with the review's class.
    rows: Vec<(i64, Option<ReviewClass>)>,
    /// The rows' payloads in that order, as a JSON array ([`Leads`]).
    leads: Leads,
    server_id: Option<String>,
    request_id: Option<String>,
    replayed: bool,
}

impl Batch {
    /// The first and last row numbers of the batch. A batch's rows are a contiguous run of the
    /// journal's pending rows, so every statement that settles them names this range as well as
    /// `batch = seq`: the range is what lets SQLite seek the primary key instead of walking all
    /// of the import's rows (with no statistics it picks the primary key on `import_id` alone,
    /// and a 100,000-row import then cost a scan of every row per batch).
    fn span(&self) -> (i64, i64) {
        (
            self.rows.first().map_or(0, |r| r.0),
            self.rows.last().map_or(-1, |r| r.0),
        )
    }
}

/// A batch's payloads joined into one JSON array as they are read from the journal: one
/// buffer, where a `RawValue` per row cost a `String` and a box per row, a copy into the body,
/// and glibc's `malloc_consolidate` when the thousand were freed. A payload that is not JSON
/// (never written so) is sent as `{}`, which the server refuses for that row alone.
#[derive(Default)]
struct Leads(String);

impl Leads {
    fn push(&mut self, payload: Option<&str>) {
        let payload = payload
            .filter(|p| serde_json::from_str::<&RawValue>(p).is_ok())
            .unwrap_or("{}");
        self.0.push(if self.0.is_empty() { '[' } else { ',' });
        self.0.push_str(payload);
    }

    fn into_raw(mut self) -> Box<RawValue> {
        if self.0.is_empty() {
            self.0.push('[');
        }
        self.0.push(']');
        RawValue::from_string(self.0).expect("an array of JSON values")
    }
}

/// Journals the next batch of pending rows after `after`, settling the rows the review does not
/// send that it passes ([`review::settle`]). The batch stays below the next of the `open`
/// ranges (batches still in flight that this run resumes, by first row), whose pending rows are
/// theirs; with nothing before one, it goes on after it.
///
/// The query walks the primary key from `after` (`+state`): the rows after the last claim are
/// nearly all pending. A run that resumes past many settled rows reads them once, as `after`
/// only moves forward. The rows are not written (see the module docs).
fn claim(
    store: &Store,
    import_id: &str,
    mode: &str,
    after: i64,
    max_rows: usize,
    open: &[(i64, i64)],
) -> Result<Option<Batch>, ErrorReport> {
    store
        .with_conn(|c| loop {
            let tx = c.transaction()?;
            let mut rows = Vec::new();
            let mut leads = Leads::default();
            let mut hash = Sha256::new();
            let mut skipped = Vec::new();
            let mut capped = false;
            {
                let mut s = tx.prepare_cached(
                    "SELECT r.row_number, r.idempotency_key, d.payload, v.class
                     FROM import_rows r LEFT JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                     LEFT JOIN import_row_reviews v ON v.import_id = r.import_id AND v.row_number = r.row_number
                     WHERE r.import_id = ?1 AND +r.state = 'pending' AND r.row_number > ?2 AND r.row_number < ?3
                     ORDER BY r.row_number LIMIT ?4",
                )?;
                let max_rows = max_rows.clamp(1, BATCH_ROWS);
                let mut after = after;
                let mut bytes = 0usize;
                'pages: loop {
                    // Never from inside a range in flight, never into the next one.
                    if let Some(&(_, last)) = open.iter().find(|(f, l)| (*f..=*l).contains(&after)) {
                        after = last;
                    }
                    let next_open = open.iter().find(|(f, _)| *f > after).copied();
                    let bound = next_open.map_or(i64::MAX, |(f, _)| f);
                    let want = max_rows - rows.len();
                    let mut seen = 0;
                    let mut q = s.query(params![import_id, after, bound, want as i64])?;
                    while let Some(r) = q.next()? {
                        seen += 1;
                        let row: i64 = r.get(0)?;
                        let payload: Option<&str> = r.get_ref(2)?.as_str_or_null()?;
                        let class = review::class_at(r, 3)?;
                        if let Some((code, why)) = review::not_sent(class, payload) {
                            skipped.push((row, code, why));
                            after = row;
                            if skipped.len() >= review::SETTLE_ROWS {
                                capped = true;
                                break 'pages;
                            }
                            continue;
                        }
                        let len = payload.map_or(2, str::len);
                        if !rows.is_empty() && bytes + len > BATCH_BYTES {
                            break 'pages;
                        }
                        after = row;
                        bytes += len + 1;
                        hash.update(r.get_ref(1)?.as_str()?.as_bytes());
                        hash.update([0]);
                        rows.push((row, class));
                        leads.push(payload);
                    }
                    if rows.len() >= max_rows {
                        break;
                    }
                    if seen < want {
                        match next_open {
                            // Nothing to send before the range in flight: on after it.
                            Some((_, last)) if rows.is_empty() => after = last,
                            _ => break,
                        }
                    }
                }
            }
            // Rows the review does not send, passed on the way (see `super::review`), at most
            // `SETTLE_ROWS` a transaction: with none to send among them, the next transaction
            // goes on from there.
            review::settle(&tx, import_id, &skipped)?;
            let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0))
            else {
                tx.commit()?;
                if capped {
                    continue;
                }
                return Ok(None);
            };
            let seq: i64 = tx.query_row(
                "SELECT coalesce(max(seq), 0) + 1 FROM import_batches WHERE import_id = ?1",
                [import_id],
                |r| r.get(0),
            )?;
            let key = format!(
                "imp-{import_id}-b{seq}-{first}-{last}-{}",
                hex::encode(&hash.finalize()[..8])
            );
            let now = crate::api::observer::now_utc_ms();
            tx.execute(
                "INSERT INTO import_batches (import_id, seq, first_row, last_row, row_count, mode, idempotency_key, state, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                params![import_id, seq, first, last, rows.len() as i64, mode, key, batch_state::OPEN, now],
            )?;
            tx.commit()?;
            return Ok(Some(Batch {
                seq,
                key,
                mode: mode.to_owned(),
                rows,
                leads,
                server_id: None,
                request_id: None,
                replayed: false,
            }));
        })
        .map_err(store_err)
}

/// Batches a killed or stopped run left with rows in flight, rebuilt exactly as they were
/// journaled (same rows, mode and key); batches whose rows were settled otherwise become `void`.
///
/// A batch's rows are those of its range still `pending` and those it settled already
/// (`batch = seq`; the results' indexes count them). The rebuilt rows must be as many as were
/// journaled and hash to the key's suffix: otherwise something made another row of the range
/// pending, and the run stops rather than send a different body under the key or record the
/// results on the wrong rows.
fn unfinished(store: &Store, import_id: &str) -> Result<Vec<Batch>, ErrorReport> {
    let out = store
        .with_conn(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE import_batches SET state = ?2 WHERE import_id = ?1 AND state IN ('open', 'accepted')
                   AND NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.import_id = import_batches.import_id
                     AND +r.state = 'pending'
                     AND r.row_number BETWEEN import_batches.first_row AND import_batches.last_row)",
                params![import_id, batch_state::VOID],
            )?;
            let mut out: Vec<(Batch, i64, i64, i64, String)> = {
                let mut s = tx.prepare(
                    "SELECT seq, first_row, last_row, mode, idempotency_key, server_import_id, request_id, replayed, row_count
                     FROM import_batches WHERE import_id = ?1 AND state IN ('open', 'accepted') ORDER BY seq",
                )?;
                let v = s
                    .query_map([import_id], |r| {
                        Ok((
                            Batch {
                                seq: r.get(0)?,
                                mode: r.get(3)?,
                                key: r.get(4)?,
                                rows: Vec::new(),
                                leads: Leads::default(),
                                server_id: r.get(5)?,
                                request_id: r.get(6)?,
                                replayed: r.get(7)?,
                            },
                            r.get(1)?,
                            r.get(2)?,
                            r.get(8)?,
                            String::new(),
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                v
            };
            for (b, first, last, _, hash) in &mut out {
                let mut s = tx.prepare_cached(
                    "SELECT r.row_number, d.payload, v.class, r.idempotency_key
                     FROM import_rows r LEFT JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                     LEFT JOIN import_row_reviews v ON v.import_id = r.import_id AND v.row_number = r.row_number
                     WHERE r.import_id = ?1 AND r.row_number BETWEEN ?3 AND ?4 AND (+r.state = 'pending' OR r.batch = ?2)
                     ORDER BY r.row_number",
                )?;
                let mut q = s.query(params![import_id, b.seq, *first, *last])?;
                let mut h = Sha256::new();
                while let Some(r) = q.next()? {
                    b.rows.push((
                        r.get::<_, i64>(0)?,
                        review::class_at(r, 2)?,
                    ));
                    b.leads.push(r.get_ref(1)?.as_str_or_null()?);
                    h.update(r.get_ref(3)?.as_str()?.as_bytes());
                    h.update([0]);
                }
                *hash = hex::encode(&h.finalize()[..8]);
            }
            tx.commit()?;
            Ok(out)
        })
        .map_err(store_err)?;
    out.into_iter()
        .map(|(b, _, _, journaled, hash)| {
            if b.rows.len() as i64 == journaled && b.key.rsplit('-').next() == Some(hash.as_str()) {
                Ok(b)
            } else {
                Err(ErrorReport::local(
                    crate::error::Code::StoreError,
                    format!(
                        "The import's batch {} no longer matches the rows it was sent with ({} rows journaled, {} found), so it was not sent again. Cancel this import and import the file again: the review finds the leads this import created, and \"Create new leads only\" skips them.",
                        b.seq,
                        journaled,
                        b.rows.len()
                    ),
                    false,
                ))
            }
        })
        .collect()
}

/// What the batches share: the rate-limit gate and the counts of this run.
#[derive(Default)]
struct Shared {
    gate: Mutex<Option<Instant>>,
    rate: Mutex<Option<RateLimit>>,
    rate_limited: AtomicU64,
    created: AtomicU64,
    updated: AtomicU64,
    unchanged: AtomicU64,
    failed: AtomicU64,
    replayed: AtomicU64,
    in_flight: AtomicU64,
}

impl Shared {
    fn gate_wait(&self) -> Option<Duration> {
        let g = *self.gate.lock().unwrap_or_else(|e| e.into_inner());
        g.map(|g| g.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }

    async fn wait_gate(&self) {
        while let Some(d) = self.gate_wait() {
            tokio::time::sleep(d).await;
        }
    }

    fn close_gate_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut g = self.gate.lock().unwrap_or_else(|e| e.into_inner());
        *g = Some(g.map_or(until, |g| g.max(until)));
    }

    fn note_rate(&self, rl: Option<RateLimit>) {
        if let Some(rl) = rl {
            *self.rate.lock().unwrap_or_else(|e| e.into_inner()) = Some(rl);
            if rl.remaining == 0 {
                self.close_gate_for(Duration::from_secs(rl.reset.max(1)));
            }
        }
    }

    fn rate(&self) -> Option<RateLimit> {
        *self.rate.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One request with the bulk path's retries: 429 waits (never counts), transient failures are
/// retried up to `max_attempts` times, anything else is returned.
async fn call<T, F, Fut>(
    shared: &Shared,
    max_attempts: u32,
    rate_of: impl Fn(&T) -> Option<RateLimit>,
    mut f: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut attempts = 0u32;
    loop {
        shared.wait_gate().await;
        match f().await {
            Ok(v) => {
                shared.note_rate(rate_of(&v));
                return Ok(v);
            }
            Err(e) if e.kind == ApiErrorKind::RateLimited => {
                shared.rate_limited.fetch_add(1, Ordering::Relaxed);
                shared.close_gate_for(Duration::from_secs(u64::from(
                    e.retry_after.unwrap_or(1).max(1),
                )));
            }
            Err(e) if is_transient(&e) && attempts + 1 < max_attempts.max(1) => {
                attempts += 1;
                let ceiling = 250u64.saturating_mul(1 << attempts.min(7)).min(30_000);
                let wait = e
                    .retry_after
                    .map(|s| u64::from(s) * 1000)
                    .unwrap_or_else(|| fastrand::u64(ceiling / 2..=ceiling));
                tokio::time::sleep(Duration::from_millis(wait)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// How a batch ended.
enum Outcome {
    /// Every row recorded (created or failed).
    Done,
    /// The job failed: its rows are pending again.
    JobFailed,
    /// The run must stop; the batch stays in flight for resume.
    Stop(ApiError),
}

fn set_batch(
    store: &Store,
    import_id: &str,
    seq: i64,
    state: &str,
    b: Option<&Batch>,
) -> Result<(), ErrorReport> {
    store
        .with_conn(|c| match b {
            Some(b) => c.execute(
                "UPDATE import_batches SET state = ?3, server_import_id = ?4, request_id = ?5, replayed = ?6, updated_at = ?7
                 WHERE import_id = ?1 AND seq = ?2",
                params![import_id, seq, state, b.server_id, b.request_id, b.replayed, crate::api::observer::now_utc_ms()],
            ),
            None => c.execute(
                "UPDATE import_batches SET state = ?3, updated_at = ?4 WHERE import_id = ?1 AND seq = ?2",
                params![import_id, seq, state, crate::api::observer::now_utc_ms()],
            ),
        })
        .map_err(store_err)?;
    Ok(())
}

/// The `(code, message)` a failed row is journaled with: the same as the per-row path gives for
/// the error a single create or upsert answered.
fn row_error(e: &BulkRowError) -> (String, String) {
    let status = match e.code.as_str() {
        "validation_error" => 422,
        "ambiguous_match" | "idempotency_key_reused" | "idempotency_key_in_use" => 409,
        "not_found" => 404,
        "rate_limited" => 429,
        "internal_error" => 500,
        _ => 400,
    };
    let body = serde_json::json!({ "error": e });
    let err = ApiError::from_response(status, Some(&body), None, None, true);
    let fields = err.field_errors();
    let message = if fields.is_empty() {
        err.user_message()
    } else {
        fields.join("; ")
    };
    (e.code.clone(), message)
}

/// Sends (or replays), polls and records one batch.
async fn drive(
    client: &Client,
    store: &Store,
    import_id: &str,
    mut batch: Batch,
    shared: &Shared,
    options: &RunOptions,
) -> Result<Outcome, ErrorReport> {
    let attempts = options.max_attempts;
    let server_id = match batch.server_id.clone() {
        Some(id) => id,
        None => {
            let body = NewBulkImport {
                mode: batch.mode.clone(),
                leads: std::mem::take(&mut batch.leads).into_raw(),
                client_reference: Some(format!("{import_id}#{}", batch.seq)),
            };
            let sent = call(
                shared,
                attempts,
                |r: &crate::api::ApiResponse<_>| r.rate_limit,
                || client.create_import(&body, &batch.key),
            )
            .await;
            match sent {
                Ok(resp) => {
                    batch.server_id = Some(resp.data.id.clone());
                    batch.request_id = Some(resp.request_id);
                    batch.replayed = resp.replayed;
                    if resp.replayed {
                        shared
                            .replayed
                            .fetch_add(batch.rows.len() as u64, Ordering::Relaxed);
                    }
                    set_batch(
                        store,
                        import_id,
                        batch.seq,
                        batch_state::ACCEPTED,
                        Some(&batch),
                    )?;
                    resp.data.id
                }
                Err(e) if is_auth(e.kind) || is_transient(&e) => return Ok(Outcome::Stop(e)),
                Err(e) => {
                    // The whole batch was refused (nothing was created): its rows fail with it.
                    let code = e.code.clone();
                    let fields = e.field_errors();
                    let message = if fields.is_empty() {
                        e.user_message()
                    } else {
                        fields.join("; ")
                    };
                    let (first, last) = batch.span();
                    let n = store
                        .with_conn(|c| {
                            c.execute(
                                "UPDATE import_rows SET state = 'failed', error_code = ?3, error_message = ?4, request_id = ?5, attempts = attempts + 1, batch = ?2
                                 WHERE import_id = ?1 AND row_number BETWEEN ?6 AND ?7 AND +state = 'pending'",
                                params![import_id, batch.seq, code, message, e.request_id, first, last],
                            )
                        })
                        .map_err(store_err)?;
                    shared.failed.fetch_add(n as u64, Ordering::Relaxed);
                    set_batch(store, import_id, batch.seq, batch_state::DONE, None)?;
                    return Ok(Outcome::Done);
                }
            }
        }
    };
    // Poll until the job ends.
    let mut delay = Duration::from_millis(10);
    let job = loop {
        let got = call(
            shared,
            attempts,
            |r: &crate::api::ApiResponse<_>| r.rate_limit,
            || client.get_import(&server_id),
        )
        .await;
        match got {
            Ok(r) if r.data.status == "completed" || r.data.status == "failed" => break r.data,
            Ok(_) => {
                tokio::time::sleep(delay).await;
                delay = (delay * 3 / 2).min(Duration::from_secs(1));
            }
            Err(e) => return Ok(Outcome::Stop(e)),
        }
    };
    if job.status == "failed" {
        // Its rows are `pending` already: closing the batch is what takes them out of flight.
        set_batch(store, import_id, batch.seq, batch_state::FAILED, None)?;
        return Ok(Outcome::JobFailed);
    }
    // Every page of results, one transaction each.
    let request_id = batch.request_id.clone().unwrap_or_default();
    let mut query = PageQuery {
        limit: Some(BATCH_ROWS as u32),
        cursor: None,
    };
    loop {
        let got = call(
            shared,
            attempts,
            |p: &crate::api::ApiPage<_>| p.rate_limit,
            || client.list_import_results(&server_id, &query),
        )
        .await;
        let page = match got {
            Ok(p) => p,
            Err(e) => return Ok(Outcome::Stop(e)),
        };
        let (mut created, mut updated, mut unchanged, mut failed) = (0u64, 0u64, 0u64, 0u64);
        store
            .with_conn(|c| {
                let tx = c.transaction()?;
                {
                    let mut ok = tx.prepare_cached(
                        "UPDATE import_rows SET state = 'created', lead_id = ?3, request_id = ?4, replayed = ?5, error_code = NULL, error_message = NULL,
                             result = ?6, note = ?7, batch = ?8
                         WHERE import_id = ?1 AND row_number = ?2 AND state = 'pending'",
                    )?;
                    let mut bad = tx.prepare_cached(
                        "UPDATE import_rows SET state = 'failed', error_code = ?3, error_message = ?4, request_id = ?5, attempts = attempts + 1, batch = ?6
                         WHERE import_id = ?1 AND row_number = ?2 AND state = 'pending'",
                    )?;
                    for r in &page.data {
                        let Some(&(row, review)) = batch.rows.get(r.index as usize) else {
                            continue;
                        };
                        let result = match r.result.as_str() {
                            "created" => Some(UpsertResult::Created),
                            "updated" => Some(UpsertResult::Updated),
                            "unchanged" => Some(UpsertResult::Unchanged),
                            _ => None,
                        };
                        match (result, &r.lead_id) {
                            (Some(result), Some(lead_id)) => {
                                let n = ok.execute(params![
                                    import_id,
                                    row,
                                    lead_id,
                                    request_id,
                                    batch.replayed,
                                    result.as_str(),
                                    disagreement(review, result),
                                    batch.seq
                                ])? as u64;
                                match result {
                                    UpsertResult::Created => created += n,
                                    UpsertResult::Updated => updated += n,
                                    UpsertResult::Unchanged => unchanged += n,
                                }
                            }
                            _ => {
                                let (code, message) = match &r.error {
                                    Some(e) => row_error(e),
                                    None => (
                                        crate::api::error::client_codes::INVALID_RESPONSE.to_owned(),
                                        format!("the import job answered `{}` for this row without a lead or an error", r.result),
                                    ),
                                };
                                failed += bad.execute(params![
                                    import_id, row, code, message, request_id, batch.seq
                                ])? as u64;
                            }
                        }
                    }
                }
                tx.commit()
            })
            .map_err(store_err)?;
        shared.created.fetch_add(created, Ordering::Relaxed);
        shared.updated.fetch_add(updated, Ordering::Relaxed);
        shared.unchanged.fetch_add(unchanged, Ordering::Relaxed);
        shared.failed.fetch_add(failed, Ordering::Relaxed);
        shared.in_flight.fetch_sub(
            (created + updated + unchanged + failed).min(shared.in_flight.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        match (page.has_more, page.next_cursor) {
            (true, Some(c)) => query.cursor = Some(c),
            _ => break,
        }
    }
    // A row the results did not list (never, by the contract) fails rather than staying in
    // flight for ever.
    let (first, last) = batch.span();
    let missing = store
        .with_conn(|c| {
            let tx = c.transaction()?;
            let n = tx.execute(
                "UPDATE import_rows SET state = 'failed', error_code = ?3, error_message = ?4, request_id = ?5, batch = ?2
                 WHERE import_id = ?1 AND row_number BETWEEN ?6 AND ?7 AND +state = 'pending'",
                params![
                    import_id,
                    batch.seq,
                    crate::api::error::client_codes::INVALID_RESPONSE,
                    "the import job's results did not list this row",
                    request_id,
                    first,
                    last
                ],
            )?;
            tx.execute(
                "UPDATE import_batches SET state = ?3, updated_at = ?4 WHERE import_id = ?1 AND seq = ?2",
                params![import_id, batch.seq, batch_state::DONE, crate::api::observer::now_utc_ms()],
            )?;
            tx.commit()?;
            Ok(n as u64)
        })
        .map_err(store_err)?;
    shared.failed.fetch_add(missing, Ordering::Relaxed);
    Ok(Outcome::Done)
}

/// Sends the import's pending rows as import jobs (see the module docs); the counterpart of the
/// per-row loop in [`super::deliver::run`], with the same summary and progress.
pub(super) async fn run(
    client: &Client,
    store: &Store,
    import_id: &str,
    options: &RunOptions,
    progress: &(dyn Fn(&ImportProgress) + Send + Sync),
    cancel: &CancellationToken,
) -> Result<ImportSummary, ErrorReport> {
    let job = match super::deliver::begin(store, import_id, cancel)? {
        super::deliver::Start::Running(job) => job,
        super::deliver::Start::Finished(summary) => return Ok(summary),
    };
    let started = Instant::now();
    let mode = job.mode.as_str().to_owned();
    // Counting reads every row of the import: once here (again only after a restage).
    let base = if job.status == status::STAGING {
        counts(store, import_id)?
    } else {
        job.counts
    };
    let shared = Shared::default();
    let mut resumed: VecDeque<Batch> = unfinished(store, import_id)?.into();
    // Their ranges, which no new batch reaches into.
    let mut open: Vec<(i64, i64)> = resumed.iter().map(Batch::span).collect();
    open.sort_unstable();
    let mut after: i64 = -1;
    let mut claimed_all = false;
    let mut stopping = false;
    let mut fatal: Option<ErrorReport> = None;
    let mut jobs_failed = 0u64;
    let mut inflight = FuturesUnordered::new();
    let mut samples: VecDeque<(Instant, u64)> = VecDeque::from([(started, 0)]);
    let mut last_progress = Instant::now();

    let report = |shared: &Shared, batches: usize, samples: &mut VecDeque<(Instant, u64)>| {
        let now = Instant::now();
        let created = shared.created.load(Ordering::Relaxed);
        let updated = shared.updated.load(Ordering::Relaxed);
        let unchanged = shared.unchanged.load(Ordering::Relaxed);
        let failed = shared.failed.load(Ordering::Relaxed);
        let in_flight = shared.in_flight.load(Ordering::Relaxed);
        let done = created + updated + unchanged + failed;
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
        let remaining = (base.pending + base.in_flight).saturating_sub(done);
        let waiting = shared.gate_wait().map_or(0.0, |d| d.as_secs_f64());
        let rate = shared.rate();
        ImportProgress {
            import_id: import_id.to_owned(),
            counts: RowCounts {
                pending: remaining.saturating_sub(in_flight),
                in_flight,
                created: base.created + created,
                updated: base.updated + updated,
                unchanged: base.unchanged + unchanged,
                failed: base.failed + failed,
                ..base
            },
            rows_per_sec,
            eta_seconds: if remaining == 0 {
                Some(0.0)
            } else if rows_per_sec > 0.0 {
                Some(remaining as f64 / rows_per_sec + waiting)
            } else {
                None
            },
            concurrency: batches as u32,
            rate_limit_per_minute: rate.map(|r| r.limit),
            waiting_seconds: waiting,
        }
    };

    loop {
        if !stopping && cancel.is_cancelled() {
            stopping = true;
        }
        while !stopping && inflight.len() < BATCHES_IN_FLIGHT {
            let batch = match resumed.pop_front() {
                Some(b) => b,
                None if claimed_all => break,
                None => match claim(
                    store,
                    import_id,
                    &mode,
                    after,
                    options.bulk_batch_rows,
                    &open,
                )? {
                    Some(b) => {
                        after = b.rows.last().map_or(after, |r| r.0);
                        b
                    }
                    None => {
                        claimed_all = true;
                        break;
                    }
                },
            };
            shared
                .in_flight
                .fetch_add(batch.rows.len() as u64, Ordering::Relaxed);
            let shared = &shared;
            inflight.push(async move {
                let n = batch.rows.len() as u64;
                (
                    drive(client, store, import_id, batch, shared, options).await,
                    n,
                )
            });
        }
        if inflight.is_empty() {
            break;
        }
        tokio::select! {
            Some((outcome, n)) = inflight.next() => {
                match outcome {
                    Ok(Outcome::Done) => {}
                    Ok(Outcome::JobFailed) => {
                        jobs_failed += 1;
                        shared.in_flight.fetch_sub(n.min(shared.in_flight.load(Ordering::Relaxed)), Ordering::Relaxed);
                    }
                    Ok(Outcome::Stop(e)) => {
                        stopping = true;
                        fatal.get_or_insert(ErrorReport::from(e));
                    }
                    Err(e) => {
                        stopping = true;
                        fatal.get_or_insert(e);
                    }
                }
            }
            _ = tokio::time::sleep(options.progress_interval) => {}
            _ = cancel.cancelled(), if !stopping => { stopping = true; }
        }
        if last_progress.elapsed() >= options.progress_interval {
            last_progress = Instant::now();
            progress(&report(&shared, inflight.len(), &mut samples));
        }
    }
    drop(inflight);
    let end = counts(store, import_id)?;
    let done = !stopping && fatal.is_none() && end.pending == 0 && end.in_flight == 0;
    let final_status = if done {
        status::COMPLETED
    } else {
        status::PAUSED
    };
    journal::set_status(store, import_id, final_status)?;
    shared.in_flight.store(0, Ordering::Relaxed);
    progress(&report(&shared, 0, &mut samples));
    if jobs_failed > 0 {
        tracing::warn!(import = %import_id, jobs_failed, "import jobs failed on the server; their rows are pending again (resume to send them)");
    }
    if let Some(f) = fatal {
        return Err(f);
    }
    let elapsed = started.elapsed();
    let finished = shared.created.load(Ordering::Relaxed)
        + shared.updated.load(Ordering::Relaxed)
        + shared.unchanged.load(Ordering::Relaxed)
        + shared.failed.load(Ordering::Relaxed);
    Ok(ImportSummary {
        import_id: import_id.to_owned(),
        status: final_status.to_owned(),
        counts: end,
        elapsed_ms: elapsed.as_millis() as u64,
        rows_per_sec: finished as f64 / elapsed.as_secs_f64().max(1e-9),
        rate_limited: shared.rate_limited.load(Ordering::Relaxed),
        replayed: shared.replayed.load(Ordering::Relaxed),
    })
}
