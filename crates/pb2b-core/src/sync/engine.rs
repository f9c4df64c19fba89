//! The run ([`sync`]): a fetcher task reads pages ahead while the writer upserts them and commits
//! each group of pages with its checkpoint (see the module docs of `sync`).

use crate::error::Code;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rusqlite::{params, Transaction};

use super::destination::{crash_now, group_watermark, Destination, PageBatch, PageCounts, RunPlan};
use super::mirror::lead_values;
use super::state::{plan_run, record_end, watermark_of};
use super::{
    format_timestamp, local_err, parse_timestamp, CancellationToken, Mirror, SyncOptions,
    SyncOutcome, SyncProgress, SyncReport, Watermark, CRASH_HOOK_ENV, LEAD_FIELDS, PAGE_SIZE,
};
use crate::api::{Client, Lead, ListLeadsQuery};
use crate::error::{codes, ErrorReport};
use crate::store::{Store, StoreError};

fn crash_hook_page() -> Option<u64> {
    std::env::var(CRASH_HOOK_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// The upsert of `rows` leads in one statement, their values bound as parameters (`?1` the
/// mirror, then the [`LEAD_FIELDS`] of each row): an unchanged lead (same `updated_at`) is not
/// rewritten. One statement for many rows rather than one per lead because every statement that
/// fires the FTS5 triggers opens a savepoint, and FTS5 flushes its pending terms as a new
/// segment at each one: per lead, that flushing and the merges it causes were most of the cost
/// of a first sync. Parameters rather than one JSON array read through `json_each`: no JSON to
/// write, parse and take apart again per value.
fn upsert_sql(rows: usize) -> String {
    let cols = LEAD_FIELDS.join(", ");
    let n = LEAD_FIELDS.len();
    let values = (0..rows)
        .map(|r| {
            let cells = (0..n)
                .map(|i| format!("?{}", 2 + r * n + i))
                .collect::<Vec<_>>()
                .join(", ");
            format!("(?1, {cells})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    let set = LEAD_FIELDS[1..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let old_row = LEAD_FIELDS[1..]
        .iter()
        .map(|c| format!("sync_leads.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let new_row = LEAD_FIELDS[1..]
        .iter()
        .map(|c| format!("excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    // A row with the same `updated_at` (a tie the overlap window re-reads) is rewritten only if
    // its content differs, so re-reading is idempotent and a tie with new content is still
    // followed.
    format!(
        "INSERT INTO sync_leads (mirror, {cols}) VALUES {values}
         ON CONFLICT (mirror, id) DO UPDATE SET {set}
         WHERE sync_leads.updated_at IS NOT excluded.updated_at
            OR ({old_row}) IS NOT ({new_row})"
    )
}

/// [`upsert_sql`] for a full statement of [`ROWS_PER_STATEMENT`] rows (built once).
static UPSERT_FULL_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql(ROWS_PER_STATEMENT));

/// [`upsert_sql`] for one page's worth of rows ([`PAGE_SIZE`], built once).
static UPSERT_PAGE_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| upsert_sql(PAGE_SIZE as usize));

/// Upserts `leads` (distinct ids) into mirror `key`, [`ROWS_PER_STATEMENT`] per statement;
/// returns the rows written.
pub(super) fn upsert_rows(
    tx: &Transaction<'_>,
    key: &str,
    leads: &[&Lead],
) -> rusqlite::Result<u64> {
    let mut changed = 0u64;
    // Full statements, then the rest in whole pages, then what is left (a run's last, short
    // page): every statement but the last kind is prepared once per connection. Preparing a
    // statement of hundreds of rows costs about as much as running it, and a group's size is
    // whatever the fetcher had ready (often 1-9 pages), so preparing each remainder anew was
    // 7% of a first sync's CPU time.
    let full = leads.len() - leads.len() % ROWS_PER_STATEMENT;
    let page = PAGE_SIZE as usize;
    let paged = full + (leads.len() - full) / page * page;
    let chunks = leads[..full]
        .chunks(ROWS_PER_STATEMENT)
        .chain(leads[full..paged].chunks(page))
        .chain(std::iter::once(&leads[paged..]).filter(|r| !r.is_empty()));
    for rows in chunks {
        let values: Vec<_> = rows.iter().map(|l| lead_values(l)).collect();
        let args = std::iter::once(Some(std::borrow::Cow::Borrowed(key)))
            .chain(values.iter().flat_map(|v| v.iter().cloned()));
        let args = rusqlite::params_from_iter(args);
        // The full and page sizes are cached; the rest is prepared for once (a cache of
        // statements of every size up to 1,000 rows would hold megabytes).
        changed += if rows.len() == ROWS_PER_STATEMENT {
            tx.prepare_cached(&UPSERT_FULL_SQL)?.execute(args)?
        } else if rows.len() == page {
            tx.prepare_cached(&UPSERT_PAGE_SQL)?.execute(args)?
        } else {
            tx.prepare(&upsert_sql(rows.len()))?.execute(args)?
        } as u64;
    }
    Ok(changed)
}

/// Upserts a group of consecutive pages by id with one statement; returns its counts, the same
/// as upserting the pages one by one would give (a lead whose stored `updated_at` equals the
/// incoming one is unchanged and not rewritten; a lead edited while the run paged comes again in
/// a later page, newer, and each change counts as an update).
///
/// One statement per group rather than per page: FTS5 flushes its pending terms as a new index
/// segment at the end of every statement that fires its triggers, so a first sync of 1,000 pages
/// wrote 1,000 small segments and spent its time merging them; a group of up to [`MAX_GROUP`]
/// pages is one segment per [`ROWS_PER_STATEMENT`] rows.
fn upsert_group(
    tx: &Transaction<'_>,
    key: &str,
    pages: &[Vec<Lead>],
) -> rusqlite::Result<PageCounts> {
    let ids = serde_json::Value::from(
        pages
            .iter()
            .flatten()
            .map(|l| l.id.as_str())
            .collect::<Vec<_>>(),
    );
    let mut current: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    {
        let mut st = tx.prepare_cached(
            "SELECT id, updated_at FROM sync_leads
             WHERE mirror = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )?;
        let rows = st.query_map(params![key, ids.to_string()], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        for row in rows {
            let (id, updated_at) = row?;
            current.insert(id, updated_at);
        }
    }
    let stored = current.clone();
    let mut counts = PageCounts::default();
    // The last copy of each id in the group (pages are in order, so it is the newest).
    let mut last: std::collections::HashMap<&str, &Lead> = std::collections::HashMap::new();
    let mut order: Vec<&str> = Vec::new();
    for lead in pages.iter().flatten() {
        match current.get(&lead.id) {
            // A tie: written (and counted) only if its content differs, decided by the upsert.
            Some(at) if *at == lead.updated_at => {}
            Some(_) => counts.updated += 1,
            None => counts.new += 1,
        }
        current.insert(lead.id.clone(), lead.updated_at.clone());
        if last.insert(lead.id.as_str(), lead).is_none() {
            order.push(lead.id.as_str());
        }
    }
    let write: Vec<&Lead> = order.iter().map(|id| last[id]).collect();
    if !write.is_empty() {
        // Rows the statement must write whatever their content; any more it wrote were ties
        // whose content differed.
        let expected = write
            .iter()
            .filter(|l| stored.get(&l.id) != Some(&l.updated_at))
            .count() as u64;
        // At most ROWS_PER_STATEMENT rows per statement: one statement holds its rows' values
        // and its statement journal in memory at once.
        let changed = upsert_rows(tx, key, &write)?;
        counts.updated += changed.saturating_sub(expected);
    }
    Ok(counts)
}

/// Rows one upsert statement writes, at most (a group of pages is one statement up to this):
/// 15 parameters a row, under SQLite's limit of 32,766 per statement.
const ROWS_PER_STATEMENT: usize = 1_000;

/// Pages fetched but not yet written, at most; also the most pages one transaction holds.
const MAX_GROUP: usize = 32;

/// Writes one or more consecutive pages and the checkpoint after the last in one transaction;
/// the run's last page also closes the run. Returns the group's counts and the watermark after it.
fn write_pages(
    store: &Store,
    key: &str,
    pages: &[Vec<Lead>],
    next_cursor: Option<&str>,
    last_page: bool,
    crash_at: Option<u64>,
    finished_at: &str,
) -> Result<(PageCounts, Option<Watermark>), StoreError> {
    // The last page may build what a first sync's bulk load set aside (see `bulk`).
    let write = |c: &mut rusqlite::Connection| {
        let tx = c.transaction()?;
        let counts = upsert_group(&tx, key, pages)?;
        let best = group_watermark(pages);
        let n_pages = pages.len() as i64;
        let n_leads: i64 = pages.iter().map(|p| p.len() as i64).sum();
        // The crash test hook: die after the N-th page's upserts, before its checkpoint and commit.
        if crash_at.is_some() {
            let done: i64 = tx.query_row(
                "SELECT run_pages FROM sync_state WHERE mirror = ?1",
                [key],
                |r| r.get(0),
            )?;
            if crash_now(crash_at, done, pages.len()) {
                std::process::abort();
            }
        }
        if let Some((ms, lead)) = best {
            let current = watermark_of(&tx, key)?;
            if current.is_none_or(|(cm, w)| (ms, lead.id.as_str()) > (cm, w.id.as_str())) {
                tx.execute(
                    "UPDATE sync_state SET watermark_ms = ?2, watermark_updated_at = ?3,
                            watermark_id = ?4 WHERE mirror = ?1",
                    params![key, ms, lead.updated_at, lead.id],
                )?;
            }
        }
        tx.execute(
            "UPDATE sync_state SET run_cursor = ?2, run_pages = run_pages + ?3,
                    run_leads = run_leads + ?4, run_new = run_new + ?5,
                    run_updated = run_updated + ?6
                 WHERE mirror = ?1",
            params![
                key,
                next_cursor,
                n_pages,
                n_leads,
                counts.new as i64,
                counts.updated as i64
            ],
        )?;
        if last_page {
            tx.execute(
                "UPDATE sync_state SET run_active = 0, run_cursor = NULL,
                        last_finished_at = ?2, last_outcome = 'completed', last_mode = run_mode,
                        last_error = NULL, last_pages = run_pages, last_leads = run_leads,
                        last_new = run_new, last_updated = run_updated
                     WHERE mirror = ?1",
                params![key, finished_at],
            )?;
            // A first sync's bulk load ends with the run: indexes and search complete.
            super::bulk::finish(&tx)?;
        }
        let wm = watermark_of(&tx, key)?.map(|(_, w)| w);
        tx.commit()?;
        Ok((counts, wm))
    };
    store.with_conn(|c| {
        if last_page {
            super::bulk::with_file_temp_store(c, write)
        } else {
            write(c)
        }
    })
}

/// Clears the mirror's "a run is going on in this process" flag when the run ends.
pub struct RunningGuard(Arc<AtomicBool>);

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// What the fetcher hands the writer.
enum Fetched {
    /// A page and the cursor after it (`None` on the run's last page).
    Page(Vec<Lead>, Option<String>),
    Failed(ErrorReport),
}

/// Aborts the fetcher when the run ends, however it ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the run's pages in order into `pages` until the last page, an error, or the writer
/// hanging up. A resumed cursor the server no longer accepts restarts the run's query once.
async fn fetch_pages(
    client: Client,
    query: impl Fn(Option<String>) -> ListLeadsQuery,
    mut cursor: Option<String>,
    requests: Arc<std::sync::atomic::AtomicU64>,
    pages: tokio::sync::mpsc::Sender<Fetched>,
) {
    let mut cursor_retried = false;
    loop {
        requests.fetch_add(1, Ordering::SeqCst);
        let page = match client.list_leads(&query(cursor.clone())).await {
            Ok(p) => p,
            Err(e)
                if e.code == Code::InvalidCursor.as_str()
                    && cursor.is_some()
                    && !cursor_retried =>
            {
                cursor_retried = true;
                cursor = None;
                continue;
            }
            Err(e) => {
                let _ = pages.send(Fetched::Failed(e.into())).await;
                return;
            }
        };
        let next = if page.has_more {
            match page.next_cursor {
                Some(c) if Some(&c) != cursor.as_ref() => Some(c),
                _ => {
                    let e = ErrorReport::local(
                        Code::InvalidResponse,
                        "The server said more leads follow but gave no new cursor.",
                        true,
                    );
                    let _ = pages.send(Fetched::Failed(e)).await;
                    return;
                }
            }
        } else {
            None
        };
        let last = next.is_none();
        if pages
            .send(Fetched::Page(page.data, next.clone()))
            .await
            .is_err()
            || last
        {
            return;
        }
        cursor = next;
    }
}

fn join_error(e: tokio::task::JoinError) -> ErrorReport {
    ErrorReport::local(codes::INTERNAL, format!("a sync task failed: {e}"), true)
}

/// How long a sync waits for another process's sync of the same mirror before it gives up.
const WAIT_FOR_OTHER_SYNC: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Waits (cancellably, at most [`WAIT_FOR_OTHER_SYNC`]) until no other process syncs this mirror,
/// and holds that until dropped. Nothing to wait for with an in-memory store.
async fn one_process_at_a_time(
    store: &crate::store::Store,
    mirror: &str,
    cancel: &CancellationToken,
) -> Result<Option<crate::presence::NamedLock>, ErrorReport> {
    let Some(path) = store.path().map(ToOwned::to_owned) else {
        return Ok(None);
    };
    let name = format!("sync-{mirror}");
    let io = |e: std::io::Error| {
        ErrorReport::local(
            Code::IoError,
            format!("Could not coordinate with other syncs: {e}"),
            true,
        )
    };
    if let Some(lock) = crate::presence::NamedLock::try_take(&path, &name).map_err(io)? {
        return Ok(Some(lock));
    }
    let waiting = crate::presence::NamedLock::take(&path, &name).map_err(io)?;
    tokio::select! {
        lock = waiting => lock.map(Some).map_err(|_| io(std::io::Error::other("the lock could not be taken"))),
        _ = cancel.cancelled() => Err(ErrorReport::local(
            Code::Cancelled,
            "The sync was cancelled while it waited for another program's sync.",
            true,
        )),
        _ = tokio::time::sleep(WAIT_FOR_OTHER_SYNC) => {
            let others: Vec<String> = crate::presence::Presence::others(&path)
                .iter()
                .map(ToString::to_string)
                .collect();
            Err(ErrorReport::local(
                Code::SyncRunning,
                format!(
                    "Another program has been syncing this workspace for more than {} minutes ({}); try again when it has finished.",
                    WAIT_FOR_OTHER_SYNC.as_secs() / 60,
                    others.join(", ")
                ),
                true,
            ))
        }
    }
}

/// Runs one sync of `mirror` (see the module docs): [`sync_to`] with the SQLite mirror as the
/// destination. Errors: any API error as an [`ErrorReport`], `invalid_input` for a bad `since`,
/// `sync_running` when this mirror is already syncing in this process.
pub async fn sync(
    client: &Client,
    mirror: &Mirror,
    options: &SyncOptions,
    cancel: &CancellationToken,
    progress: impl FnMut(&SyncProgress) + Send,
) -> Result<SyncReport, ErrorReport> {
    sync_to(client, mirror, options, cancel, progress).await
}

impl Destination for Mirror {
    type Guard = (RunningGuard, Option<crate::presence::NamedLock>);

    async fn lock(&self, cancel: &CancellationToken) -> Result<Self::Guard, ErrorReport> {
        if self
            .running
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return Err(ErrorReport::local(
                Code::SyncRunning,
                "A sync of this workspace is already running.",
                true,
            ));
        }
        let guard = RunningGuard(self.running.clone());
        // One sync of a mirror at a time across processes too (the app's interval and a cron
        // job's `pb2b sync`): the second waits for the first, then reads what changed since.
        let lock = one_process_at_a_time(&self.store, &self.key, cancel).await?;
        Ok((guard, lock))
    }

    async fn plan_run(
        &self,
        options: &SyncOptions,
        started_at: &str,
    ) -> Result<RunPlan, ErrorReport> {
        let (store, key, options, started_at) = (
            self.store.clone(),
            self.key.clone(),
            options.clone(),
            started_at.to_owned(),
        );
        tokio::task::spawn_blocking(move || {
            let plan = plan_run(&store, &key, &options, &started_at)?;
            // A first sync into an empty table loads without indexes and search triggers.
            super::bulk::enter(&store, &key).map_err(local_err)?;
            Ok(plan)
        })
        .await
        .map_err(join_error)?
    }

    async fn write_pages(
        &self,
        batch: PageBatch,
    ) -> Result<(PageCounts, Option<Watermark>), ErrorReport> {
        let (store, key) = (self.store.clone(), self.key.clone());
        tokio::task::spawn_blocking(move || {
            write_pages(
                &store,
                &key,
                &batch.pages,
                batch.next_cursor.as_deref(),
                batch.last_page,
                batch.crash_at,
                &batch.at,
            )
        })
        .await
        .map_err(join_error)?
        .map_err(local_err)
    }

    async fn record_end(
        &self,
        outcome: SyncOutcome,
        error: Option<&ErrorReport>,
        finished_at: &str,
    ) {
        record_end(&self.store, &self.key, outcome, error, finished_at);
        // A run that ends before its last page leaves a searchable mirror all the same.
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || super::bulk::finish_now(&store)).await;
    }

    async fn versions(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
    ) -> Result<Vec<(String, i64)>, ErrorReport> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let (from, to) = (from_ms.map(format_timestamp), to_ms.map(format_timestamp));
        let rows: Vec<(String, String)> = tokio::task::spawn_blocking(move || {
            store.with_conn(|c| {
                let mut st = c.prepare_cached(
                    "SELECT id, updated_at FROM sync_leads WHERE mirror = ?1
                     AND (?2 IS NULL OR updated_at >= ?2) AND (?3 IS NULL OR updated_at < ?3)",
                )?;
                let rows = st.query_map(params![key, from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            })
        })
        .await
        .map_err(join_error)?
        .map_err(local_err)?;
        Ok(rows
            .into_iter()
            .map(|(id, at)| {
                let ms = parse_timestamp(&at).unwrap_or(i64::MIN);
                (id, ms)
            })
            .collect())
    }

    async fn replace_range(
        &self,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        leads: Vec<Lead>,
    ) -> Result<(), ErrorReport> {
        let (store, key) = (self.store.clone(), self.key.clone());
        let (from, to) = (from_ms.map(format_timestamp), to_ms.map(format_timestamp));
        tokio::task::spawn_blocking(move || {
            store.with_conn(|c| {
                let tx = c.transaction()?;
                let ids = serde_json::Value::from(
                    leads.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
                )
                .to_string();
                tx.execute(
                    "DELETE FROM sync_leads WHERE mirror = ?1
                     AND (?2 IS NULL OR updated_at >= ?2) AND (?3 IS NULL OR updated_at < ?3)
                     AND id NOT IN (SELECT value FROM json_each(?4))",
                    params![key, from, to, ids],
                )?;
                // The upsert rewrites a row whenever anything differs, updated_at included.
                let rows: Vec<&Lead> = leads.iter().collect();
                upsert_rows(&tx, &key, &rows)?;
                tx.commit()
            })
        })
        .await
        .map_err(join_error)?
        .map_err(local_err)
    }
}

/// Runs one sync into `dest` (see the module docs). `progress` is called after every committed
/// group of pages. Returns the run's report (`outcome` `completed` or `cancelled`), or the error
/// that stopped it (the destination's status then says `failed` and the next run resumes).
pub async fn sync_to<D: Destination>(
    client: &Client,
    dest: &D,
    options: &SyncOptions,
    cancel: &CancellationToken,
    mut progress: impl FnMut(&SyncProgress) + Send,
) -> Result<SyncReport, ErrorReport> {
    let _guard = dest.lock(cancel).await?;
    let page_size = options.page_size.clamp(1, PAGE_SIZE);
    let started_at = crate::api::observer::now_utc_ms();
    let plan = dest.plan_run(options, &started_at).await?;
    let crash_at = crash_hook_page();
    let mut state = plan.progress;
    let requests = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sent = |r: &Arc<std::sync::atomic::AtomicU64>| r.load(Ordering::SeqCst);
    let finish = |outcome: SyncOutcome, state: SyncProgress, requests: u64| SyncReport {
        outcome,
        mode: plan.mode.clone(),
        progress: state,
        requests,
        started_at: started_at.clone(),
        finished_at: crate::api::observer::now_utc_ms(),
    };

    // The fetcher reads pages ahead while the writer commits them, so the network and the
    // destination overlap. When the writer falls behind, the pages waiting (at most MAX_GROUP)
    // are committed together in one transaction with the checkpoint after the last of them: each
    // page still commits atomically with a checkpoint that covers it, and a busy destination pays
    // one commit per group instead of per page.
    let (page_tx, mut page_rx) = tokio::sync::mpsc::channel(MAX_GROUP);
    let updated_after = plan.updated_after.clone();
    let _fetcher = AbortOnDrop(tokio::spawn(fetch_pages(
        client.clone(),
        move |cursor| ListLeadsQuery {
            limit: Some(page_size),
            updated_after: updated_after.clone(),
            cursor,
        },
        plan.cursor.clone(),
        requests.clone(),
        page_tx,
    )));
    let failure = loop {
        let first = tokio::select! {
            biased;
            _ = cancel.cancelled() => break None,
            m = page_rx.recv() => m,
        };
        let mut group = Vec::new();
        let mut next_cursor = None;
        let mut last_page = false;
        let mut failure = None;
        let mut message = first;
        loop {
            match message {
                Some(Fetched::Page(leads, next)) => {
                    last_page = next.is_none();
                    next_cursor = next;
                    group.push(leads);
                }
                Some(Fetched::Failed(e)) => failure = Some(e),
                None if group.is_empty() => {
                    failure = Some(ErrorReport::local(
                        codes::INTERNAL,
                        "The sync stopped reading pages before the last one.",
                        true,
                    ))
                }
                None => {}
            }
            if last_page || failure.is_some() || group.len() >= MAX_GROUP {
                break;
            }
            match page_rx.try_recv() {
                Ok(m) => message = Some(m),
                Err(_) => break,
            }
        }
        if !group.is_empty() {
            let n_pages = group.len() as u64;
            let n_leads: u64 = group.iter().map(|p| p.len() as u64).sum();
            let batch = PageBatch {
                pages: group,
                next_cursor,
                last_page,
                crash_at,
                at: crate::api::observer::now_utc_ms(),
            };
            let (counts, wm) = match dest.write_pages(batch).await {
                Ok(v) => v,
                Err(e) => break Some(e),
            };
            state.pages += n_pages;
            state.leads += n_leads;
            state.new += counts.new;
            state.updated += counts.updated;
            state.watermark = wm;
            progress(&state);
        }
        if last_page {
            return Ok(finish(SyncOutcome::Completed, state, sent(&requests)));
        }
        if failure.is_some() {
            break failure;
        }
        if cancel.is_cancelled() {
            // Cancelled while pages were written: their checkpoint is committed.
            break None;
        }
    };
    let at = crate::api::observer::now_utc_ms();
    match failure {
        Some(err) => {
            dest.record_end(SyncOutcome::Failed, Some(&err), &at).await;
            Err(err)
        }
        None => {
            let report = finish(SyncOutcome::Cancelled, state, sent(&requests));
            dest.record_end(SyncOutcome::Cancelled, None, &report.finished_at)
                .await;
            Ok(report)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::LeadQuery;

    fn lead(id: &str, updated_at: &str, title: &str) -> Lead {
        serde_json::from_value(serde_json::json!({
            "id": id, "email": format!("{id}@example.com"), "full_name": "Ada Lovelace",
            "first_name": null, "last_name": null, "phone": null, "job_title": title,
            "company_name": "Analytical Engines", "company_domain": null, "linkedin_url": null,
            "status": "new", "source": "api", "custom_fields": {"tier": 1},
            "created_at": "2026-03-10T12:00:00.000Z", "updated_at": updated_at,
        }))
        .unwrap()
    }

    #[test]
    fn a_group_of_pages_commits_like_its_pages_one_by_one() {
        let store = Store::open_in_memory().unwrap();
        let mirror = Mirror::open(store.clone(), "ws_1", "p").unwrap();
        let t0 = "2026-03-10T12:00:00.000Z";
        let t1 = "2026-03-10T12:00:05.000Z";
        // lead_a is edited while the run pages: it comes again, newer, in the next page.
        let pages = vec![
            vec![
                lead("lead_a", t0, "Analyst"),
                lead("lead_b", t0, "Engineer"),
            ],
            vec![lead("lead_a", t1, "Countess")],
        ];
        let (counts, wm) =
            write_pages(&store, &mirror.key, &pages, Some("c3"), false, None, t1).unwrap();
        assert_eq!((counts.new, counts.updated), (2, 1));
        let wm = wm.unwrap();
        assert_eq!((wm.updated_at.as_str(), wm.id.as_str()), (t1, "lead_a"));
        let a = mirror.get("lead_a").unwrap().unwrap();
        assert_eq!(a.job_title.as_deref(), Some("Countess"));
        assert_eq!(a.custom_fields["tier"], 1);
        let (pages_done, leads_done, cursor): (i64, i64, Option<String>) = store
            .with_conn(|c| {
                c.query_row(
                    "SELECT run_pages, run_leads, run_cursor FROM sync_state WHERE mirror = 'ws_1'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
            })
            .unwrap();
        assert_eq!(
            (pages_done, leads_done, cursor.as_deref()),
            (2, 3, Some("c3"))
        );
        // Read again unchanged: nothing is rewritten; the search index matches the new title.
        let again = vec![vec![
            lead("lead_a", t1, "Countess"),
            lead("lead_b", t0, "Engineer"),
        ]];
        let (counts, _) = write_pages(&store, &mirror.key, &again, None, true, None, t1).unwrap();
        assert_eq!((counts.new, counts.updated), (0, 0));
        let q = |text: &str| {
            mirror
                .search(&LeadQuery {
                    query: text.into(),
                    ..LeadQuery::default()
                })
                .unwrap()
                .total
        };
        assert_eq!((q("countess"), q("analyst"), q("engineer")), (1, 0, 1));
        assert_eq!(mirror.count().unwrap(), 2);
        // A stored lead read again unchanged, then edited later in the same group: one update,
        // as page by page (the group is one statement, written once per id).
        let t2 = "2026-03-10T12:00:09.000Z";
        let pages = vec![
            vec![lead("lead_b", t0, "Engineer")],
            vec![lead("lead_b", t2, "Architect")],
            vec![lead("lead_c", t2, "Analyst"), lead("lead_c", t2, "Analyst")],
        ];
        let (counts, _) = write_pages(&store, &mirror.key, &pages, None, true, None, t2).unwrap();
        assert_eq!((counts.new, counts.updated), (1, 1));
        assert_eq!((q("architect"), q("engineer"), q("analyst")), (1, 0, 1));
        assert_eq!(mirror.count().unwrap(), 3);
    }
}
