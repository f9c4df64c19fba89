//! The store of export jobs ([`Exports`]): saving a job before anything is sent, submitting it,
//! probing it until it is ready, and resuming every pending job after a restart.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, OptionalExtension, Row};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::api::observer::now_utc_ms;
use crate::api::{Client, ExportDownload};
use crate::leads::random_hex;
use crate::store::Store;
use crate::workspace::Owner;

const COLUMNS: &str = "job_id, profile, idempotency_key, request, export_id, status, row_count,
    byte_size, file_name, server_error, expires_at, dest_dir, local_path, auto_download, polling,
    probe_count, last_probe_at, request_ids, error_code, error_message, error_request_id,
    error_retryable, created_at, updated_at";

fn job_from_row(r: &Row<'_>) -> rusqlite::Result<ExportJob> {
    let request: String = r.get(3)?;
    let req: NewExport = serde_json::from_str(&request).unwrap_or_default();
    let status: String = r.get(5)?;
    let ids: String = r.get(17)?;
    let error_code: Option<String> = r.get(18)?;
    Ok(ExportJob {
        job_id: r.get(0)?,
        profile: r.get(1)?,
        idempotency_key: r.get(2)?,
        updated_after: req.filters.and_then(|f| f.updated_after),
        fields: req.fields,
        export_id: r.get(4)?,
        status: ExportStatus::parse(&status).unwrap_or(ExportStatus::Processing),
        row_count: r.get(6)?,
        byte_size: r.get(7)?,
        file_name: r.get(8)?,
        server_error: r.get(9)?,
        expires_at: r.get(10)?,
        dest_dir: r.get(11)?,
        local_path: r.get(12)?,
        auto_download: r.get::<_, i64>(13)? != 0,
        polling: PollingState::parse(&r.get::<_, String>(14)?),
        probe_count: u32::try_from(r.get::<_, i64>(15)?).unwrap_or(u32::MAX),
        last_probe_at: r.get(16)?,
        request_ids: serde_json::from_str(&ids).unwrap_or_default(),
        error: match error_code {
            Some(code) => Some(ErrorReport {
                code: crate::error::Code::from_wire(&code),
                message: r.get::<_, Option<String>>(19)?.unwrap_or_default(),
                request_id: r.get(20)?,
                retryable: r.get::<_, Option<i64>>(21)?.unwrap_or(0) != 0,
            }),
            None => None,
        },
        created_at: r.get(22)?,
        updated_at: r.get(23)?,
    })
}

/// The export jobs of one workspace, in the local database. Cheap to clone.
///
/// Every job records its workspace and the key prefix that made it; lists show only this
/// workspace's jobs, and a job of another workspace is refused with `wrong_workspace` (naming both)
/// wherever it is named.
#[derive(Debug, Clone)]
pub struct Exports {
    pub(super) store: Store,
    profile: String,
    owner: Owner,
}

impl Exports {
    /// Opens (migrating if needed) the jobs of `owner`'s workspace; `profile` labels the jobs made
    /// here.
    pub fn open(store: Store, owner: Owner, profile: &str) -> Result<Self, ErrorReport> {
        store
            .migrate_module(MODULE, MIGRATIONS)
            .map_err(store_err)?;
        Ok(Exports {
            store,
            profile: profile.to_owned(),
            owner,
        })
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    /// Who the jobs made here belong to.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// Every job of the workspace, newest first.
    pub fn list(&self) -> Result<Vec<ExportJob>, ErrorReport> {
        self.store
            .with_conn(|c| {
                let mut st = c.prepare(&format!(
                    "SELECT {COLUMNS} FROM export_jobs WHERE workspace_id = ?1
                     ORDER BY created_at DESC, rowid DESC"
                ))?;
                let rows = st.query_map([&self.owner.workspace_id], job_from_row)?;
                rows.collect()
            })
            .map_err(store_err)
    }

    /// A job of this workspace by its local id (`job_...`) or its export id (`exp_...`); a job
    /// of another workspace is refused with `wrong_workspace`.
    pub fn find(&self, id: &str) -> Result<Option<ExportJob>, ErrorReport> {
        let found = self
            .store
            .with_conn(|c| {
                c.query_row(
                    &format!(
                        "SELECT {COLUMNS}, workspace_id, workspace_name, key_prefix FROM export_jobs
                         WHERE (job_id = ?1 OR export_id = ?1)
                         ORDER BY workspace_id = ?2 DESC LIMIT 1"
                    ),
                    params![id.trim(), self.owner.workspace_id],
                    |r| {
                        Ok((
                            job_from_row(r)?,
                            r.get::<_, Option<String>>(24)?,
                            r.get::<_, Option<String>>(25)?,
                            r.get::<_, Option<String>>(26)?,
                        ))
                    },
                )
                .optional()
            })
            .map_err(store_err)?;
        match found {
            None => Ok(None),
            Some((job, Some(ws), _, _)) if ws == self.owner.workspace_id => Ok(Some(job)),
            Some((job, Some(ws), name, prefix)) => {
                let recorded = Owner {
                    workspace_name: name.unwrap_or_else(|| ws.clone()),
                    workspace_id: ws,
                    key_prefix: prefix.unwrap_or_default(),
                };
                self.owner
                    .check(&recorded, &format!("Export job {}", job.job_id))?;
                Ok(None)
            }
            // Saved by an older version, its workspace not known yet: not this workspace's
            // until `assign_known` says so.
            Some((_, None, _, _)) => Ok(None),
        }
    }

    /// A job by its local id or export id, or `export_job_not_found`.
    pub fn get(&self, id: &str) -> Result<ExportJob, ErrorReport> {
        self.find(id)?.ok_or_else(|| {
            ErrorReport::local(
                error_codes::JOB_NOT_FOUND,
                format!(
                    "There is no export job “{}” in workspace “{}”.",
                    id.trim(),
                    self.owner.workspace_name
                ),
                false,
            )
        })
    }

    /// Assigns jobs saved by older versions (no workspace recorded) where it can be known: a job
    /// the server knows under this workspace's key (`GET /exports/{id}` answers; another
    /// workspace's export is a 404) is this workspace's, and so is a job of this profile that
    /// never reached the server. The rest stay unlisted. Returns how many were assigned.
    pub async fn assign_known(&self, client: &Client) -> Result<usize, ErrorReport> {
        let legacy: Vec<(String, Option<String>, String)> = self
            .store
            .with_conn(|c| {
                let mut st = c.prepare(
                    "SELECT job_id, export_id, profile FROM export_jobs WHERE workspace_id IS NULL",
                )?;
                let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect()
            })
            .map_err(store_err)?;
        let mut assigned = 0;
        for (job_id, export_id, profile) in legacy {
            let mine = match &export_id {
                Some(export_id) => client.get_export(export_id).await.is_ok(),
                None => profile == self.profile,
            };
            if mine {
                self.store
                    .with_conn(|c| {
                        c.execute(
                            "UPDATE export_jobs SET workspace_id = ?2, workspace_name = ?3, key_prefix = ?4
                             WHERE job_id = ?1 AND workspace_id IS NULL",
                            params![
                                job_id,
                                self.owner.workspace_id,
                                self.owner.workspace_name,
                                ""
                            ],
                        )
                    })
                    .map_err(store_err)?;
                assigned += 1;
            }
        }
        Ok(assigned)
    }

    /// Removes a job from the list (the downloaded file stays on disk; a running poller for it
    /// should be cancelled first). Removing an unknown job is not an error; another workspace's
    /// job is refused.
    pub fn remove(&self, id: &str) -> Result<(), ErrorReport> {
        self.find(id)?;
        self.store
            .with_conn(|c| {
                c.execute(
                    "DELETE FROM export_jobs WHERE workspace_id = ?1 AND (job_id = ?2 OR export_id = ?2)",
                    params![self.owner.workspace_id, id.trim()],
                )
            })
            .map_err(store_err)?;
        Ok(())
    }

    /// The user's "cancel polling": [`Exports::resume_all`] skips the job until [`Exports::wait`]
    /// or [`Exports::run`] is called for it again. Cancel the running call's token as well.
    pub fn stop_polling(&self, id: &str) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        if job.polling == PollingState::Active {
            self.set_polling(&job.job_id, PollingState::Stopped)?;
        }
        self.get(&job.job_id)
    }

    /// Step 1: saves a new job and its Idempotency-Key, before anything is sent.
    pub fn prepare(&self, req: &ExportRequest) -> Result<ExportJob, ErrorReport> {
        req.validate()?;
        let job_id = format!("job_{}", random_hex(10));
        let key = format!("export-{}", random_hex(16));
        let body = serde_json::to_string(&req.to_api()).map_err(|e| {
            ErrorReport::local(codes::INTERNAL, format!("encoding the request: {e}"), false)
        })?;
        let now = now_utc_ms();
        self.store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO export_jobs (job_id, profile, idempotency_key, request, status,
                        dest_dir, auto_download, polling, created_at, updated_at,
                        workspace_id, workspace_name, key_prefix)
                     VALUES (?1, ?2, ?3, ?4, 'creating', ?5, ?6, 'active', ?7, ?7, ?8, ?9, ?10)",
                    params![
                        job_id,
                        self.profile,
                        key,
                        body,
                        req.dest_dir.trim(),
                        req.auto_download,
                        now,
                        self.owner.workspace_id,
                        self.owner.workspace_name,
                        self.owner.key_prefix
                    ],
                )
            })
            .map_err(store_err)?;
        self.get(&job_id)
    }

    /// Adopts an export created elsewhere (the web app, another machine) so it can be polled
    /// and downloaded; returns the existing job when it is already known.
    pub fn track(&self, export_id: &str, dest_dir: &str) -> Result<ExportJob, ErrorReport> {
        let export_id = export_id.trim();
        if export_id.is_empty() || dest_dir.trim().is_empty() {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "An export id and a destination folder are needed.",
                false,
            ));
        }
        if let Some(job) = self.find(export_id)? {
            return Ok(job);
        }
        let job_id = format!("job_{}", random_hex(10));
        let now = now_utc_ms();
        self.store
            .with_conn(|c| {
                c.execute(
                    "INSERT INTO export_jobs (job_id, profile, idempotency_key, request, export_id,
                        status, dest_dir, auto_download, polling, created_at, updated_at,
                        workspace_id, workspace_name, key_prefix)
                     VALUES (?1, ?2, '', '{}', ?3, 'queued', ?4, 1, 'active', ?5, ?5, ?6, ?7, ?8)",
                    params![
                        job_id,
                        self.profile,
                        export_id,
                        dest_dir.trim(),
                        now,
                        self.owner.workspace_id,
                        self.owner.workspace_name,
                        self.owner.key_prefix
                    ],
                )
            })
            .map_err(store_err)?;
        self.get(&job_id)
    }

    /// Changes the folder a job's file goes to (before it is downloaded, or to download again
    /// elsewhere).
    pub fn set_dest_dir(&self, id: &str, dest_dir: &str) -> Result<ExportJob, ErrorReport> {
        if dest_dir.trim().is_empty() {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "Choose a folder for the export file.",
                false,
            ));
        }
        let job = self.get(id)?;
        self.update(&job.job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET dest_dir = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job.job_id, dest_dir.trim(), now],
            )
        })?;
        self.get(&job.job_id)
    }

    pub(super) fn set_polling(&self, job_id: &str, state: PollingState) -> Result<(), ErrorReport> {
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET polling = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job_id, state.as_str(), now],
            )
        })
    }

    pub(super) fn update(
        &self,
        job_id: &str,
        f: impl FnOnce(&rusqlite::Connection, &str) -> rusqlite::Result<usize>,
    ) -> Result<(), ErrorReport> {
        let now = now_utc_ms();
        let n = self.store.with_conn(|c| f(c, &now)).map_err(store_err)?;
        if n == 0 {
            return Err(ErrorReport::local(
                error_codes::JOB_NOT_FOUND,
                format!("The export job {job_id} was removed."),
                false,
            ));
        }
        Ok(())
    }

    pub(super) fn add_request_id(
        &self,
        job_id: &str,
        request_id: Option<&str>,
    ) -> Result<(), ErrorReport> {
        let Some(rid) = request_id.filter(|r| !r.is_empty()) else {
            return Ok(());
        };
        let job = self.get(job_id)?;
        let mut ids = job.request_ids;
        if ids.last().map(String::as_str) == Some(rid) {
            return Ok(());
        }
        ids.push(rid.to_owned());
        if ids.len() > MAX_REQUEST_IDS {
            let extra = ids.len() - MAX_REQUEST_IDS;
            ids.drain(1..=extra);
        }
        let json = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET request_ids = ?2, updated_at = ?3 WHERE job_id = ?1",
                params![job_id, json, now],
            )
        })
    }

    pub(super) fn set_error(
        &self,
        job_id: &str,
        err: Option<&ErrorReport>,
    ) -> Result<(), ErrorReport> {
        self.update(job_id, |c, now| {
            c.execute(
                "UPDATE export_jobs SET error_code = ?2, error_message = ?3, error_request_id = ?4,
                    error_retryable = ?5, updated_at = ?6 WHERE job_id = ?1",
                params![
                    job_id,
                    err.map(|e| e.code.as_str()),
                    err.map(|e| e.message.as_str()),
                    err.and_then(|e| e.request_id.as_deref()),
                    err.map(|e| e.retryable),
                    now
                ],
            )
        })
    }

    /// Records a probe answer on the job.
    pub(super) fn apply_probe(
        &self,
        job_id: &str,
        p: &ExportDownload,
        counted: bool,
    ) -> Result<(), ErrorReport> {
        let status = ExportStatus::parse(&p.status).unwrap_or(ExportStatus::Processing);
        let now = now_utc_ms();
        self.update(job_id, |c, _| {
            c.execute(
                "UPDATE export_jobs SET status = ?2,
                    row_count = COALESCE(?3, row_count), byte_size = COALESCE(?4, byte_size),
                    file_name = COALESCE(?5, file_name), expires_at = ?6,
                    probe_count = probe_count + ?7, last_probe_at = ?8, updated_at = ?8,
                    error_code = NULL, error_message = NULL, error_request_id = NULL,
                    error_retryable = NULL
                 WHERE job_id = ?1",
                params![
                    job_id,
                    status.as_str(),
                    p.row_count,
                    p.byte_size,
                    p.file_name,
                    p.expires_at,
                    i64::from(counted),
                    now
                ],
            )
        })
    }

    /// Step 2: POST /exports with the job's saved Idempotency-Key. Safe to call again after a
    /// crash or a lost answer: the server replays the first answer (same export id). A job that
    /// already has its export id is returned as is.
    pub async fn submit(
        &self,
        client: &Client,
        id: &str,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        if job.export_id.is_some() {
            return Ok(job);
        }
        let body = NewExport {
            format: Some("csv".into()),
            filters: job.updated_after.as_ref().map(|u| ExportFilters {
                updated_after: Some(u.clone()),
            }),
            fields: job.fields.clone(),
        };
        match client.create_export(&body, &job.idempotency_key).await {
            Ok(resp) => {
                let status = ExportStatus::parse(&resp.data.status).unwrap_or(ExportStatus::Queued);
                self.update(&job.job_id, |c, now| {
                    c.execute(
                        "UPDATE export_jobs SET export_id = ?2, status = ?3,
                            row_count = COALESCE(?4, row_count),
                            file_name = COALESCE(?5, file_name), server_error = ?6,
                            error_code = NULL, error_message = NULL, error_request_id = NULL,
                            error_retryable = NULL, updated_at = ?7
                         WHERE job_id = ?1",
                        params![
                            job.job_id,
                            resp.data.id,
                            status.as_str(),
                            resp.data.row_count,
                            resp.data.file_name,
                            resp.data.error_message,
                            now
                        ],
                    )
                })?;
                self.add_request_id(&job.job_id, Some(&resp.request_id))?;
                let job = self.get(&job.job_id)?;
                on_event(ExportEvent::Job {
                    job: Box::new(job.clone()),
                });
                Ok(job)
            }
            Err(err) => {
                let report = ErrorReport::from(&err);
                self.add_request_id(&job.job_id, err.request_id.as_deref())?;
                self.set_error(&job.job_id, Some(&report))?;
                if !err.retryable {
                    // Refused (validation, scope, key): nothing was created; sending the same key
                    // again would only replay the refusal.
                    self.update(&job.job_id, |c, now| {
                        c.execute(
                            "UPDATE export_jobs SET status = 'failed', polling = 'done',
                                updated_at = ?2 WHERE job_id = ?1",
                            params![job.job_id, now],
                        )
                    })?;
                }
                on_event(ExportEvent::Job {
                    job: Box::new(self.get(&job.job_id)?),
                });
                Err(report)
            }
        }
    }

    /// Step 1 and 2: [`Exports::prepare`] then [`Exports::submit`]. On a transient failure the
    /// job stays `creating` with its key and [`Exports::resume_all`] sends it again.
    pub async fn start(
        &self,
        client: &Client,
        req: &ExportRequest,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let job = self.prepare(req)?;
        on_event(ExportEvent::Job {
            job: Box::new(job.clone()),
        });
        self.submit(client, &job.job_id, on_event).await
    }

    /// One probe (the "status" command, a manual refresh): records and returns the job.
    pub async fn refresh(&self, client: &Client, id: &str) -> Result<ExportJob, ErrorReport> {
        let job = self.get(id)?;
        let Some(export_id) = job.export_id.clone() else {
            return Ok(job);
        };
        match client.export_download_probe(&export_id).await {
            Ok(resp) => {
                self.apply_probe(&job.job_id, &resp.data, true)?;
                self.add_request_id(&job.job_id, Some(&resp.request_id))?;
                let job = self.get(&job.job_id)?;
                if job.status == ExportStatus::Failed && job.server_error.is_none() {
                    self.fetch_server_error(client, &job.job_id, &export_id)
                        .await;
                }
                self.get(&job.job_id)
            }
            Err(err) => {
                self.add_request_id(&job.job_id, err.request_id.as_deref())?;
                Err(err.into())
            }
        }
    }

    async fn fetch_server_error(&self, client: &Client, job_id: &str, export_id: &str) {
        if let Ok(resp) = client.get_export(export_id).await {
            let _ = self.add_request_id(job_id, Some(&resp.request_id));
            if let Some(msg) = resp.data.error_message {
                let _ = self.update(job_id, |c, now| {
                    c.execute(
                        "UPDATE export_jobs SET server_error = ?2, updated_at = ?3 WHERE job_id = ?1",
                        params![job_id, msg, now],
                    )
                });
            }
        }
    }

    /// The error a terminal, not-completed job ends with.
    pub(super) fn terminal_error(
        job: &ExportJob,
        request_id: Option<String>,
    ) -> Option<ErrorReport> {
        match job.status {
            ExportStatus::Failed => Some(ErrorReport {
                code: error_codes::EXPORT_FAILED,
                message: format!(
                    "The export failed on the server: {}. Start a new export; if it fails again, contact ProspectB2B support with the request ID.",
                    job.server_error.as_deref().unwrap_or("no reason given")
                ),
                request_id,
                retryable: false,
            }),
            ExportStatus::Expired => Some(ErrorReport {
                code: error_codes::EXPORT_EXPIRED,
                message: "The export file expired before it was downloaded. Start a new export."
                    .into(),
                request_id,
                retryable: false,
            }),
            _ => None,
        }
    }

    /// Step 3: polls until the export is completed (returns the job, and the last probe with its
    /// fresh download URL), failed or expired (`export_failed` / `export_expired` with the
    /// request_id of the probe that saw it). Submits first when the job is still `creating`.
    pub async fn wait_ready(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<(ExportJob, Option<ExportDownload>), ErrorReport> {
        let mut job = self.get(id)?;
        let job_id = job.job_id.clone();
        if job.export_id.is_none() {
            if job.status != ExportStatus::Creating {
                return Err(job.error.clone().unwrap_or_else(|| {
                    ErrorReport::local(codes::INTERNAL, "The export was never created.", false)
                }));
            }
            if cancel.is_cancelled() {
                return Err(cancelled());
            }
            job = tokio::select! {
                r = self.submit(client, &job_id, on_event) => r?,
                _ = cancel.cancelled() => return Err(cancelled()),
            };
        }
        let export_id = job.export_id.clone().unwrap_or_default();
        if job.polling == PollingState::Stopped {
            self.set_polling(&job_id, PollingState::Active)?;
        }
        let mut transient = 0u32;
        let mut last_request_id = job.request_ids.last().cloned();
        let mut probe_answer: Option<ExportDownload> = None;
        // A stored terminal status needs no probe, except `completed` (the URL is needed).
        if !(job.status.is_terminal() && job.status != ExportStatus::Completed) {
            loop {
                if cancel.is_cancelled() {
                    return Err(cancelled());
                }
                let probe_no = self.get(&job_id)?.probe_count + 1;
                let result = tokio::select! {
                    r = client.export_download_probe(&export_id) => r,
                    _ = cancel.cancelled() => return Err(cancelled()),
                };
                let retry_after = match result {
                    Ok(resp) => {
                        transient = 0;
                        self.apply_probe(&job_id, &resp.data, true)?;
                        self.add_request_id(&job_id, Some(&resp.request_id))?;
                        last_request_id = Some(resp.request_id.clone());
                        let status = ExportStatus::parse(&resp.data.status)
                            .unwrap_or(ExportStatus::Processing);
                        on_event(ExportEvent::Probed {
                            job_id: job_id.clone(),
                            probe: probe_no,
                            status,
                            request_id: Some(resp.request_id.clone()),
                            error: None,
                        });
                        let before = job.status;
                        job = self.get(&job_id)?;
                        if before != job.status {
                            on_event(ExportEvent::Job {
                                job: Box::new(job.clone()),
                            });
                        }
                        if status.is_terminal() {
                            probe_answer = Some(resp.data);
                            break;
                        }
                        None
                    }
                    Err(err) => {
                        let report = ErrorReport::from(&err);
                        self.add_request_id(&job_id, err.request_id.as_deref())?;
                        self.update(&job_id, |c, now| {
                            c.execute(
                                "UPDATE export_jobs SET probe_count = probe_count + 1,
                                    last_probe_at = ?2 WHERE job_id = ?1",
                                params![job_id, now],
                            )
                        })?;
                        self.set_error(&job_id, Some(&report))?;
                        on_event(ExportEvent::Probed {
                            job_id: job_id.clone(),
                            probe: probe_no,
                            status: job.status,
                            request_id: err.request_id.clone(),
                            error: Some(report.clone()),
                        });
                        transient += 1;
                        if !err.retryable || transient > opts.max_transient_errors {
                            self.set_polling(&job_id, PollingState::Stopped)?;
                            on_event(ExportEvent::Job {
                                job: Box::new(self.get(&job_id)?),
                            });
                            return Err(report);
                        }
                        err.retry_after.map(|s| Duration::from_secs(u64::from(s)))
                    }
                };
                let delay = opts.schedule.delay(probe_no, fastrand::f64(), retry_after);
                on_event(ExportEvent::Waiting {
                    job_id: job_id.clone(),
                    delay_ms: delay.as_millis() as u64,
                    retry_after: retry_after
                        .is_some_and(|ra| ra.min(opts.schedule.max_retry_after) >= delay),
                });
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => return Err(cancelled()),
                }
            }
        }
        job = self.get(&job_id)?;
        if job.status == ExportStatus::Failed && job.server_error.is_none() {
            self.fetch_server_error(client, &job_id, &export_id).await;
            job = self.get(&job_id)?;
        }
        if let Some(err) = Self::terminal_error(&job, last_request_id) {
            self.set_error(&job_id, Some(&err))?;
            self.set_polling(&job_id, PollingState::Done)?;
            on_event(ExportEvent::Job {
                job: Box::new(self.get(&job_id)?),
            });
            return Err(err);
        }
        Ok((job, probe_answer))
    }

    /// Step 3 without the probe answer: polls until completed (`Ok`), failed or expired (`Err`).
    /// A job the user stopped polling is polled again.
    pub async fn wait(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let (job, _) = self.wait_ready(client, id, opts, cancel, on_event).await?;
        if job.local_path.is_none() && !job.auto_download {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        Ok(job)
    }

    /// Steps 2–4: submits if needed, polls until ready and downloads when the job says so.
    pub async fn run(
        &self,
        client: &Client,
        id: &str,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<ExportJob, ErrorReport> {
        let (job, probe) = self.wait_ready(client, id, opts, cancel, on_event).await?;
        if job
            .local_path
            .as_deref()
            .is_some_and(|p| Path::new(p).exists())
        {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        if !job.auto_download {
            self.set_polling(&job.job_id, PollingState::Done)?;
            return self.get(&job.job_id);
        }
        self.download_with(client, &job.job_id, probe, opts, cancel, on_event)
            .await
    }

    /// The jobs [`Exports::resume_all`] would pick up: polling active and not done.
    pub fn pending(&self) -> Result<Vec<ExportJob>, ErrorReport> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|j| j.polling == PollingState::Active)
            .collect())
    }

    /// After a restart: runs every pending job ([`Exports::run`]) concurrently, from where it
    /// stopped. Returns one result per job (job id, outcome).
    pub async fn resume_all(
        &self,
        client: &Client,
        opts: &PollOptions,
        cancel: &CancellationToken,
        on_event: OnEvent<'_>,
    ) -> Result<Vec<(String, Result<ExportJob, ErrorReport>)>, ErrorReport> {
        let jobs = self.pending()?;
        let runs = jobs.iter().map(|j| async {
            let r = self.run(client, &j.job_id, opts, cancel, on_event).await;
            (j.job_id.clone(), r)
        });
        Ok(futures_util::future::join_all(runs).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(ws: &str) -> Owner {
        Owner {
            workspace_id: format!("ws_{ws}"),
            workspace_name: format!("Workspace {ws}"),
            key_prefix: format!("pb2b_test_{ws}"),
        }
    }

    #[test]
    fn jobs_are_saved_before_sending_and_scoped_per_workspace() {
        let store = Store::open_in_memory().unwrap();
        let a = Exports::open(store.clone(), owner("a"), "a").unwrap();
        let b = Exports::open(store.clone(), owner("b"), "b").unwrap();
        // Another profile of workspace a (a rotated key) sees a's jobs.
        let a2 = Exports::open(store, owner("a"), "a, new key").unwrap();
        let req = ExportRequest {
            updated_after: Some("2026-01-01T00:00:00.000Z".into()),
            fields: Some(vec!["id".into(), "email".into()]),
            dest_dir: "/tmp/x".into(),
            auto_download: true,
        };
        let job = a.prepare(&req).unwrap();
        assert_eq!(job.status, ExportStatus::Creating);
        assert!(job.idempotency_key.starts_with("export-"));
        assert_eq!(
            job.fields.as_deref(),
            Some(&["id".to_owned(), "email".to_owned()][..])
        );
        assert_eq!(job.updated_after, req.updated_after);
        assert_eq!(a.list().unwrap().len(), 1);
        assert_eq!(a2.list().unwrap().len(), 1);
        assert!(b.list().unwrap().is_empty());
        // Named from workspace b, a's job is refused with both workspaces named.
        let refused = b.find(&job.job_id).unwrap_err();
        assert_eq!(refused.code, crate::error::Code::WrongWorkspace);
        for name in ["ws_a", "Workspace a", "ws_b", "Workspace b"] {
            assert!(refused.message.contains(name), "{}", refused.message);
        }
        assert_eq!(
            b.remove(&job.job_id).unwrap_err().code,
            crate::error::Code::WrongWorkspace
        );
        assert_eq!(a.pending().unwrap().len(), 1);
        assert_eq!(
            a.stop_polling(&job.job_id).unwrap().polling,
            PollingState::Stopped
        );
        assert!(a.pending().unwrap().is_empty());
        a.remove(&job.job_id).unwrap();
        assert_eq!(
            a.get(&job.job_id).unwrap_err().code,
            error_codes::JOB_NOT_FOUND
        );
        for bad in [
            ExportRequest {
                dest_dir: " ".into(),
                ..req.clone()
            },
            ExportRequest {
                fields: Some(vec![]),
                ..req.clone()
            },
            ExportRequest {
                updated_after: Some("".into()),
                ..req.clone()
            },
        ] {
            assert_eq!(a.prepare(&bad).unwrap_err().code, codes::INVALID_INPUT);
        }
    }
}
