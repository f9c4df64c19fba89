//! `pb2b exports ...`: start, poll, download and resume export jobs (the core's
//! `pb2b_core::exports`; jobs are shared with the desktop app through the data folder's database).

use std::path::PathBuf;

use clap::Subcommand;
use pb2b_core::api::Client;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::exports::{ExportEvent, ExportJob, ExportRequest, Exports, PollOptions};
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::{Cli, Env};

#[derive(Debug, Subcommand)]
pub enum ExportsAction {
    /// Start a CSV export of the workspace's leads.
    Create {
        /// Only leads updated after this RFC 3339 time (exclusive).
        #[arg(long)]
        updated_after: Option<String>,
        /// A column to export (repeat for several, in order); default: the server's set.
        #[arg(long = "field")]
        fields: Vec<String>,
        /// Wait until the export is ready and download it.
        #[arg(long)]
        wait: bool,
        /// The folder for the file (default: the Downloads folder).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Probe an export once and show where it stands (ID: the export id or the local job id).
    Status {
        /// The export id (exp_…) or the local job id.
        id: String,
    },
    /// Poll until the export is ready (completed), failed or expired.
    Wait {
        /// The export id (exp_…) or the local job id.
        id: String,
    },
    /// Download a completed export.
    Download {
        /// The export id (exp_…) or the local job id.
        id: String,
        /// The folder for the file (default: the job's folder, or Downloads).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The export jobs of this profile.
    List,
    /// Finish every job left unfinished (after a crash, a reboot, or Ctrl-C).
    Resume,
    /// Forget a job (a downloaded file stays on disk).
    Remove {
        /// The export id (exp_…) or the local job id.
        id: String,
    },
}

fn default_dir() -> PathBuf {
    pb2b_core::exports::downloads_dir_or(|| {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
    })
}

fn dir_arg(out: &Option<PathBuf>) -> Result<String, ErrorReport> {
    let dir = out.clone().unwrap_or_else(default_dir);
    let dir = if dir.is_absolute() {
        dir
    } else {
        std::env::current_dir()
            .map_err(|e| ErrorReport::local(codes::INTERNAL, e.to_string(), false))?
            .join(dir)
    };
    Ok(dir.to_string_lossy().into_owned())
}

fn print_json(value: &impl serde::Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("error: could not print JSON: {err}"),
    }
}

fn print_job(json: bool, job: &ExportJob) {
    if json {
        return print_json(job);
    }
    println!(
        "{}  {}  {}",
        job.export_id.as_deref().unwrap_or("(not created yet)"),
        job.status.as_str(),
        job.job_id
    );
    if let Some(rows) = job.row_count {
        println!("rows        {rows}");
    }
    if let Some(bytes) = job.byte_size {
        println!("bytes       {bytes}");
    }
    if let Some(name) = &job.file_name {
        println!("file name   {name}");
    }
    match &job.local_path {
        Some(path) => println!("saved to    {path}"),
        None => println!("folder      {}", job.dest_dir),
    }
    if let Some(err) = &job.server_error {
        println!("server said {err}");
    }
    if let Some(id) = job.request_ids.last() {
        println!("request_id  {id}");
    }
}

/// Progress on stderr (never in `--json` output): state changes stay as notes, the download
/// is a bar.
fn progress(bar: &Progress) -> impl Fn(ExportEvent) + Send + Sync + '_ {
    move |event| match event {
        ExportEvent::Job { job } => bar.note(&format!(
            "{}: {}",
            job.export_id.as_deref().unwrap_or(&job.job_id),
            job.status.as_str()
        )),
        ExportEvent::Downloading { bytes, total, .. } => match total {
            Some(t) if t > 0 => bar.set(bytes, Some(t), "bytes downloaded".into()),
            _ => bar.set(bytes, None, format!("{bytes} bytes downloaded")),
        },
        ExportEvent::LinkRefreshed { reason, .. } => bar.note(&format!(
            "download link refused ({}); asking for a fresh one",
            reason.code
        )),
        ExportEvent::Probed { error: Some(e), .. } => {
            bar.note(&format!("probe failed ({}); trying again", e.code))
        }
        _ => {}
    }
}

/// Ctrl-C cancels the running call; the job stays resumable.
fn cancel_on_ctrl_c() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            t.cancel();
        }
    });
    token
}

/// A job by id; an export id unknown locally (created elsewhere) is adopted.
fn job_for(exports: &Exports, id: &str, out: &Option<PathBuf>) -> Result<ExportJob, ErrorReport> {
    match exports.find(id)? {
        Some(job) => Ok(job),
        None if id.trim().starts_with("exp_") => exports.track(id, &dir_arg(out)?),
        None => exports.get(id),
    }
}

pub async fn run(cli: &Cli, env: &Env, action: &ExportsAction) -> Result<(), ErrorReport> {
    let json = cli.json;
    let workspace = env.workspace(cli).await?;
    let exports = workspace.exports()?;
    // Temporary download files (lead data) a crashed or killed run left behind.
    exports.remove_leftover_parts(&[default_dir()]);
    let client: &Client = workspace.client();
    // Jobs saved by an older version join this workspace when the server says they are its.
    exports.assign_known(client).await?;
    let opts = PollOptions::default();
    let bar = Progress::new(json);
    let on = progress(&bar);
    let end_line = || bar.finish();
    match action {
        ExportsAction::Create {
            updated_after,
            fields,
            wait,
            out,
        } => {
            let req = ExportRequest {
                updated_after: updated_after.clone(),
                fields: (!fields.is_empty()).then(|| fields.clone()),
                dest_dir: dir_arg(out)?,
                auto_download: true,
            };
            // Saved before it is sent: a killed process is finished by `pb2b exports resume`.
            let job = exports.prepare(&req)?;
            let job = if *wait {
                let cancel = cancel_on_ctrl_c();
                let r = exports.run(client, &job.job_id, &opts, &cancel, &on).await;
                end_line();
                r?
            } else {
                exports.submit(client, &job.job_id, &on).await?
            };
            print_job(json, &job);
        }
        ExportsAction::Status { id } => {
            let job = job_for(&exports, id, &None)?;
            print_job(json, &exports.refresh(client, &job.job_id).await?);
        }
        ExportsAction::Wait { id } => {
            let job = job_for(&exports, id, &None)?;
            let cancel = cancel_on_ctrl_c();
            let job = exports
                .wait(client, &job.job_id, &opts, &cancel, &on)
                .await?;
            print_job(json, &job);
        }
        ExportsAction::Download { id, out } => {
            let mut job = job_for(&exports, id, out)?;
            if out.is_some() {
                job = exports.set_dest_dir(&job.job_id, &dir_arg(out)?)?;
            }
            let cancel = cancel_on_ctrl_c();
            let r = exports
                .download(client, &job.job_id, &opts, &cancel, &on)
                .await;
            end_line();
            print_job(json, &r?);
        }
        ExportsAction::List => {
            let jobs = exports.list()?;
            if json {
                print_json(&jobs);
            } else {
                for j in &jobs {
                    println!(
                        "{:<26} {:<11} {:>9} {:>11}  {}",
                        j.export_id.as_deref().unwrap_or(&j.job_id),
                        j.status.as_str(),
                        j.row_count.map(|r| r.to_string()).unwrap_or_default(),
                        j.byte_size.map(|b| b.to_string()).unwrap_or_default(),
                        j.local_path.as_deref().unwrap_or(""),
                    );
                }
            }
        }
        ExportsAction::Resume => {
            let cancel = cancel_on_ctrl_c();
            let results = exports.resume_all(client, &opts, &cancel, &on).await?;
            end_line();
            let mut first_err = None;
            let mut jobs = Vec::new();
            for (job_id, r) in results {
                match r {
                    Ok(job) => jobs.push(job),
                    Err(e) => {
                        if let Some(job) = exports.find(&job_id)? {
                            jobs.push(job);
                        }
                        first_err.get_or_insert(e);
                    }
                }
            }
            if json {
                print_json(&jobs);
            } else if jobs.is_empty() {
                println!("Nothing to resume.");
            } else {
                for j in &jobs {
                    print_job(false, j);
                }
            }
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        ExportsAction::Remove { id } => {
            let job = exports.get(id)?;
            exports.remove(&job.job_id)?;
            if json {
                print_json(&serde_json::json!({ "removed": job.job_id }));
            } else {
                println!("Removed {}.", job.job_id);
            }
        }
    }
    Ok(())
}
