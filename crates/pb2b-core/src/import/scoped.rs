//! Imports as one workspace sees them ([`Imports`], from `Workspace::imports()`): the only way
//! the app and the CLI reach the journal.
//!
//! | situation | what happens |
//! | --- | --- |
//! | a new import | staged with the workspace's [`Owner`] (id, name, key prefix) |
//! | resume, retry failed rows, cancel, open one, its reports | refused with `wrong_workspace` (naming both workspaces) when the import is another workspace's; nothing is sent |
//! | list, unfinished, "resume the import of this file" | only this workspace's imports |
//! | review (an import or a file) | against this workspace's mirror only (another's is refused with `wrong_workspace`) |
//! | send a staged import that was never reviewed (nothing sent yet) | refused with `invalid_input`, saying how to review it; nothing is sent |
//! | an import journaled before imports recorded their workspace | refused with `unassigned_job` until the user says it is this workspace's ([`Imports::assign`]) |
//! | the same workspace under another key (rotation), or an import older than [`IDEMPOTENCY_WINDOW`] | before anything is sent, rows that may have reached the server (`in_flight`, `failed`, and the rows of a bulk import job journaled but not answered) are looked up on the server by e-mail among the leads created since the import began; found rows become `created`, the rest are sent with their key (those unanswered jobs are closed, so their rows go in new batches); the import then records the new key. Rows of a bulk import job the server accepted are not looked up: the job is polled and its results read (see `super::bulk`) |
//!
//! Why the lookup: Idempotency-Keys are scoped per API key and kept 24 hours, so the same key
//! sent under a new API key (or after the window) would create the lead a second time.

use crate::error::Code;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::params;
use tokio_util::sync::CancellationToken;

use super::deliver::{ImportProgress, ImportSummary, RunOptions};
use super::journal::{self, state, store_err, ImportJob};
use super::mapping::Mapping;
use super::ReadProgress;
use crate::api::{Client, ListLeadsQuery};
use crate::error::ErrorReport;
use crate::store::Store;
use crate::workspace::Owner;

/// Error code: an import made before imports recorded their workspace; the user must say whose.
pub const UNASSIGNED_JOB: Code = Code::UnassignedJob;

/// How long the server keeps an Idempotency-Key (published: at least 24 hours); an import older
/// than this (less a margin for clocks) looks its rows in flight up before sending them again.
pub const IDEMPOTENCY_WINDOW: std::time::Duration = std::time::Duration::from_secs(23 * 3600);

/// How far before the import began a lead may have been created and still be one of its rows
/// (clock skew between this computer and the server).
const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// The imports of one workspace.
#[derive(Clone)]
pub struct Imports {
    store: Store,
    client: Client,
    owner: Owner,
}

impl Imports {
    /// The imports of `owner`'s workspace, sent with `client` (whose key is `owner`'s).
    pub fn new(store: Store, client: Client, owner: Owner) -> Self {
        Imports {
            store,
            client,
            owner,
        }
    }

    /// Who imports made here belong to.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    fn describe(job: &ImportJob) -> String {
        format!("Import {} ({})", job.id, job.file_name)
    }

    /// Refuses `job` unless it belongs to this workspace.
    fn check(&self, job: &ImportJob) -> Result<(), ErrorReport> {
        match &job.owner {
            Some(recorded) => self.owner.check(recorded, &Self::describe(job)),
            None => Err(ErrorReport::local(
                UNASSIGNED_JOB,
                format!(
                    "{} was made by an older version that did not record its workspace. If it was made in “{}” ({}), assign it to this workspace (the app's Import history, or `pb2b import FILE --resume --assign`); otherwise open its workspace first.",
                    Self::describe(job),
                    self.owner.workspace_name,
                    self.owner.workspace_id
                ),
                false,
            )),
        }
    }

    fn mine(&self, job: &ImportJob) -> bool {
        job.owner
            .as_ref()
            .is_some_and(|o| o.workspace_id == self.owner.workspace_id)
    }

    /// Journals a new import of `path` for this workspace (see [`super::stage`]).
    pub fn stage(
        &self,
        path: &Path,
        mapping: &Mapping,
        progress: &dyn Fn(&ReadProgress),
        cancel: &CancellationToken,
    ) -> Result<ImportJob, ErrorReport> {
        self.stage_sheet(path, None, mapping, progress, cancel)
    }

    /// Journals a new import of one sheet of the workbook at `path` (see [`super::stage_sheet`]).
    pub fn stage_sheet(
        &self,
        path: &Path,
        sheet: Option<&str>,
        mapping: &Mapping,
        progress: &dyn Fn(&ReadProgress),
        cancel: &CancellationToken,
    ) -> Result<ImportJob, ErrorReport> {
        super::stage_sheet(
            &self.store,
            &self.owner,
            path,
            sheet,
            mapping,
            progress,
            cancel,
        )
    }

    /// One of this workspace's imports.
    pub fn get(&self, id: &str) -> Result<ImportJob, ErrorReport> {
        let job = journal::get_import(&self.store, id)?;
        self.check(&job)?;
        Ok(job)
    }

    /// This workspace's imports, newest first.
    pub fn list(&self) -> Result<Vec<ImportJob>, ErrorReport> {
        journal::assign_known_owners(&self.store)?;
        Ok(journal::list_imports(&self.store)?
            .into_iter()
            .filter(|j| self.mine(j))
            .collect())
    }

    /// This workspace's imports that stopped before the end (offer "Resume").
    pub fn unfinished(&self) -> Result<Vec<ImportJob>, ErrorReport> {
        journal::assign_known_owners(&self.store)?;
        Ok(journal::unfinished_imports(&self.store)?
            .into_iter()
            .filter(|j| self.mine(j))
            .collect())
    }

    /// Imports no workspace is recorded for (made by an older version): the user is asked
    /// whether they are this workspace's.
    pub fn unassigned(&self) -> Result<Vec<ImportJob>, ErrorReport> {
        journal::assign_known_owners(&self.store)?;
        Ok(journal::list_imports(&self.store)?
            .into_iter()
            .filter(|j| j.owner.is_none())
            .collect())
    }

    /// The user says the unassigned import `id` is this workspace's. Its rows that may have
    /// reached the server are looked up before any is sent again (the key that sent them is not
    /// known).
    pub fn assign(&self, id: &str) -> Result<ImportJob, ErrorReport> {
        let job = journal::get_import(&self.store, id)?;
        if let Some(recorded) = &job.owner {
            self.owner.check(recorded, &Self::describe(&job))?;
            return Ok(job);
        }
        journal::set_owner(
            &self.store,
            id,
            &Owner {
                // An unknown key prefix: the next run looks rows in flight up first.
                key_prefix: String::new(),
                ..self.owner.clone()
            },
        )?;
        journal::get_import(&self.store, id)
    }

    /// The unfinished import of the file at `path` (for a workbook: of `sheet`, the first sheet
    /// when `None`; another sheet is another import) to resume: this workspace's; an error
    /// naming both workspaces when only another workspace has one.
    pub fn unfinished_for_file(
        &self,
        path: &Path,
        sheet: Option<&str>,
    ) -> Result<ImportJob, ErrorReport> {
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
        let sheet = match (sheet, super::xlsx::kind(path)) {
            (Some(s), _) => Some(s.to_owned()),
            (None, super::xlsx::Kind::Workbook) => {
                super::xlsx::sheet_names(path)?.into_iter().next()
            }
            (None, _) => None,
        };
        journal::assign_known_owners(&self.store)?;
        let of_file: Vec<ImportJob> = journal::unfinished_imports(&self.store)?
            .into_iter()
            .filter(|j| Path::new(&j.file_path) == abs)
            .filter(|j| match (&sheet, &j.format.sheet) {
                (Some(want), Some(have)) => want.eq_ignore_ascii_case(have),
                (want, have) => want.is_none() && have.is_none(),
            })
            .collect();
        if let Some(job) = of_file.iter().find(|j| self.mine(j)) {
            return Ok(job.clone());
        }
        match of_file.first() {
            Some(other) => {
                self.check(other)?;
                Ok(other.clone())
            }
            None => Err(ErrorReport::local(
                Code::NotFound,
                format!(
                    "No unfinished import of {} to resume in “{}”.",
                    path.display(),
                    self.owner.workspace_name
                ),
                false,
            )),
        }
    }

    /// Sends the import's pending rows (see [`super::run`]), after checking that it is this
    /// workspace's and, under a rotated key or past the idempotency window, looking its rows in
    /// flight up on the server.
    pub async fn run(
        &self,
        id: &str,
        options: &RunOptions,
        progress: &(dyn Fn(&ImportProgress) + Send + Sync),
        cancel: &CancellationToken,
    ) -> Result<ImportSummary, ErrorReport> {
        let job = self.get(id)?;
        if needs_review(&self.store, &job)? {
            return Err(ErrorReport::local(
                Code::InvalidInput,
                format!(
                    "{} has not been reviewed against the workspace, so nothing was sent. Review it first: the Import screen's Review step, or `pb2b import {} --resume --mode create|upsert|update`.",
                    Self::describe(&job),
                    job.file_path
                ),
                false,
            ));
        }
        if needs_lookup(&job, &self.owner) {
            reconcile(&self.client, &self.store, &job, cancel).await?;
            journal::set_owner(&self.store, id, &self.owner)?;
        }
        super::run(&self.client, &self.store, id, options, progress, cancel).await
    }

    /// The mirror `mirror`, refused unless it is this workspace's.
    fn own_mirror<'m>(&self, mirror: &'m crate::sync::Mirror) -> Result<&'m str, ErrorReport> {
        if mirror.workspace_id() != self.owner.workspace_id {
            return Err(ErrorReport::local(
                Code::WrongWorkspace,
                format!(
                    "The mirror of workspace {} cannot review an import of “{}” ({}).",
                    mirror.workspace_id(),
                    self.owner.workspace_name,
                    self.owner.workspace_id
                ),
                false,
            ));
        }
        Ok(mirror.workspace_id())
    }

    /// Reviews one of this workspace's staged imports for `mode` against `mirror` (see
    /// [`super::review`]); `synced_now` says the caller synced the mirror for it.
    pub fn review(
        &self,
        mirror: &crate::sync::Mirror,
        id: &str,
        mode: super::ImportMode,
        synced_now: bool,
        cancel: &CancellationToken,
    ) -> Result<super::ImportReview, ErrorReport> {
        self.get(id)?;
        let key = self.own_mirror(mirror)?;
        let fresh = super::review::freshness(&mirror.status()?, synced_now);
        super::review::review_import(&self.store, key, id, mode, fresh, cancel)
    }

    /// The last review of one of this workspace's imports.
    pub fn stored_review(&self, id: &str) -> Result<Option<super::ImportReview>, ErrorReport> {
        self.get(id)?;
        super::review::stored_review(&self.store, id)
    }

    /// A page of an import's reviewed rows (of one class, or all).
    pub fn review_rows(
        &self,
        id: &str,
        class: Option<super::ReviewClass>,
        offset: u64,
        limit: u32,
    ) -> Result<super::review::ReviewPage, ErrorReport> {
        self.get(id)?;
        super::review::review_rows(&self.store, id, class, offset, limit)
    }

    /// Saves an import's review as a CSV at `dest` (see [`super::review::write_review`]).
    pub fn write_review(&self, id: &str, dest: &Path) -> Result<u64, ErrorReport> {
        self.get(id)?;
        super::review::write_review(&self.store, id, dest)
    }

    /// The review of a file without staging it (`--dry-run`, see [`super::review::review_file`]).
    #[allow(clippy::too_many_arguments)]
    pub fn review_file(
        &self,
        mirror: &crate::sync::Mirror,
        path: &Path,
        sheet: Option<&str>,
        mapping: &Mapping,
        mode: super::ImportMode,
        synced_now: bool,
        progress: &dyn Fn(&ReadProgress),
        cancel: &CancellationToken,
    ) -> Result<super::ImportReview, ErrorReport> {
        let key = self.own_mirror(mirror)?;
        let fresh = super::review::freshness(&mirror.status()?, synced_now);
        super::review::review_file(
            &self.store,
            key,
            path,
            sheet,
            mapping,
            mode,
            fresh,
            progress,
            cancel,
        )
    }

    /// Cancels one of this workspace's imports for good (see [`super::cancel_import`]).
    pub fn cancel(&self, id: &str) -> Result<ImportJob, ErrorReport> {
        self.get(id)?;
        super::cancel_import(&self.store, id)
    }

    /// "Retry failed rows" of one of this workspace's imports (see [`super::retry_failed`]).
    pub fn retry_failed(&self, id: &str) -> Result<ImportJob, ErrorReport> {
        self.get(id)?;
        super::retry_failed(&self.store, id)
    }
}

/// Whether an import must be reviewed before it sends: staged, nothing sent yet, and no review
/// stored (a resumed or retried import keeps the review it was sent with; one journalled by an
/// older version that had sent rows goes on as it began).
pub(crate) fn needs_review(store: &Store, job: &ImportJob) -> Result<bool, ErrorReport> {
    let c = &job.counts;
    let untouched = job.status == super::journal::status::READY
        && c.created + c.updated + c.unchanged + c.failed + c.in_flight == 0;
    Ok(untouched && super::review::stored_review(store, &job.id)?.is_none())
}

/// Whether rows that may have reached the server must be looked up before they are sent again.
fn needs_lookup(job: &ImportJob, owner: &Owner) -> bool {
    let recorded = job.owner.as_ref().map(|o| o.key_prefix.as_str());
    if recorded != Some(owner.key_prefix.as_str()) {
        return true;
    }
    let created = crate::sync::parse_timestamp(&job.created_at).unwrap_or(0);
    let now = crate::sync::parse_timestamp(&crate::api::observer::now_utc_ms()).unwrap_or(0);
    now - created > IDEMPOTENCY_WINDOW.as_millis() as i64
}

/// Looks the import's `in_flight` and `failed` rows, and the rows of bulk import jobs journaled
/// but never answered (`open` batches: their rows are `pending` in their range), up among the
/// leads created on the server since the import began (by e-mail, case-insensitive); found rows
/// become `created` with that lead's id, rows left `in_flight` become `pending` again, and the
/// unanswered batches are closed (`void`), so their rows left go in new batches under new keys.
/// Rows of a bulk import job the server accepted (its id is journaled) are `pending` and not
/// looked up: the job is the workspace's, so [`super::bulk`] polls it and reads its results
/// under any key.
async fn reconcile(
    client: &Client,
    store: &Store,
    job: &ImportJob,
    cancel: &CancellationToken,
) -> Result<u64, ErrorReport> {
    let candidates: Vec<(i64, String)> = store
        .with_conn(|c| {
            let mut out: Vec<(i64, String)> = Vec::new();
            let mut s = c.prepare(
                "SELECT r.row_number, d.payload FROM import_rows r
                 JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                 WHERE r.import_id = ?1 AND r.state IN ('in_flight', 'failed') AND d.payload IS NOT NULL",
            )?;
            for row in s.query_map([&job.id], |r| Ok((r.get(0)?, r.get(1)?)))? {
                out.push(row?);
            }
            // The unanswered jobs' rows, range by range (a handful of batches at most).
            let mut s = c.prepare(
                "SELECT r.row_number, d.payload FROM import_batches b
                 JOIN import_rows r ON r.import_id = b.import_id AND r.row_number BETWEEN b.first_row AND b.last_row
                 JOIN import_row_data d ON d.import_id = r.import_id AND d.row_number = r.row_number
                 WHERE b.import_id = ?1 AND b.state = 'open' AND +r.state = 'pending' AND d.payload IS NOT NULL",
            )?;
            for row in s.query_map([&job.id], |r| Ok((r.get(0)?, r.get(1)?)))? {
                out.push(row?);
            }
            Ok(out)
        })
        .map_err(store_err)?
        .into_iter()
        .filter_map(|(row, payload)| {
            let email = serde_json::from_str::<serde_json::Value>(&payload)
                .ok()?
                .get("email")?
                .as_str()?
                .trim()
                .to_lowercase();
            Some((row, email))
        })
        .collect();
    if candidates.is_empty() {
        return Ok(0);
    }
    let began = crate::sync::parse_timestamp(&job.created_at).unwrap_or(0) - CLOCK_SKEW_MS;
    let wanted: HashMap<&str, i64> = candidates.iter().map(|(r, e)| (e.as_str(), *r)).collect();
    let mut found: Vec<(i64, String, String)> = Vec::new();
    let mut query = ListLeadsQuery {
        limit: Some(100),
        updated_after: Some(crate::sync::format_timestamp(began)),
        cursor: None,
    };
    loop {
        if cancel.is_cancelled() {
            return Err(ErrorReport::local(
                Code::Cancelled,
                "The import was paused while its rows in flight were being looked up; nothing was sent.",
                true,
            ));
        }
        let page = client.list_leads(&query).await.map_err(ErrorReport::from)?;
        for lead in &page.data {
            let created = crate::sync::parse_timestamp(&lead.created_at).unwrap_or(i64::MIN);
            if created < began {
                continue;
            }
            if let Some(row) = wanted.get(lead.email.trim().to_lowercase().as_str()) {
                found.push((*row, lead.id.clone(), page.request_id.clone()));
            }
        }
        match (page.has_more, page.next_cursor) {
            (true, Some(cursor)) => query.cursor = Some(cursor),
            _ => break,
        }
    }
    let n = found.len() as u64;
    store
        .with_conn(|c| {
            let tx = c.transaction()?;
            {
                let mut ok = tx.prepare(
                    "UPDATE import_rows SET state = 'created', lead_id = ?3, request_id = ?4, replayed = 1,
                         error_code = NULL, error_message = NULL
                     WHERE import_id = ?1 AND row_number = ?2",
                )?;
                for (row, lead_id, request_id) in &found {
                    ok.execute(params![job.id, row, lead_id, request_id])?;
                }
            }
            tx.execute(
                "UPDATE import_rows SET state = ?2 WHERE import_id = ?1 AND state = ?3",
                params![job.id, state::PENDING, state::IN_FLIGHT],
            )?;
            tx.execute(
                "UPDATE import_batches SET state = 'void', updated_at = ?2 WHERE import_id = ?1 AND state = 'open'",
                params![job.id, crate::api::observer::now_utc_ms()],
            )?;
            tx.commit()
        })
        .map_err(store_err)?;
    tracing::info!(import = %job.id, looked_up = candidates.len(), found = n, "rows in flight looked up before resending under another key");
    Ok(n)
}
