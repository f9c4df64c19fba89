//! `pb2b sync` and `pb2b leads list|export`: keep a local mirror of the workspace's leads from a
//! cron job, and read it offline (the core's `pb2b_core::sync`).
//!
//! The mirror lives in the data folder's database (shared with the app) unless `--db FILE` names
//! another. It is keyed by the workspace id from `/me`, so `pb2b sync` sends one `/me` and then
//! the pages. Ctrl-C cancels between pages; the next `pb2b sync` resumes where it stopped.

use pb2b_core::error::Code;
use pb2b_core::jobs::{Job, JobEvent, JobOutcome};
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use pb2b_core::api::ListLeadsQuery;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::sync::postgres::{PgTarget, Postgres};
use pb2b_core::sync::{
    self, CancellationToken, CsvCells, ExportFormat, LeadFilter, LeadPage, LeadQuery, LeadSort,
    LeadSortField, Mirror, SyncMode, SyncOptions, SyncOutcome, SyncReport, SyncStatus,
};
use pb2b_core::workspace::{DataFolder, Workspace};

use crate::progress::Progress;
use crate::{Cli, Env};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SyncArgs {
    #[command(subcommand)]
    action: Option<SyncAction>,
    /// Re-read every lead from the start.
    #[arg(long)]
    full: bool,
    /// Re-read every lead updated at or after this time (2026-03-10 or 2026-03-10T12:00:00Z).
    #[arg(long, conflicts_with = "full")]
    since: Option<String>,
    /// The SQLite file of the mirror (default: the data folder's database).
    #[arg(long)]
    db: Option<PathBuf>,
    /// How far before the watermark an incremental sync starts, in milliseconds.
    #[arg(long, default_value_t = sync::DEFAULT_OVERLAP_MS)]
    overlap_ms: u64,
    /// Mirror into this PostgreSQL database instead of the local one:
    /// postgres://user@host:5432/database (the password from PGPASSWORD, or in the URL).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    to: Option<String>,
    /// The PostgreSQL schema to mirror into (with --to); one workspace per schema.
    #[arg(long, value_name = "NAME", requires = "to")]
    schema: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SyncAction {
    /// Compare the mirror with the server: counts, and a checksum over (id, updated_at) in ranges
    /// of updated_at; names the first range that differs. Exit 1 when they differ.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Re-read the ranges that differ from the server and rewrite them in the mirror.
    #[arg(long)]
    repair: bool,
    /// The SQLite file of the mirror (default: the data folder's database).
    #[arg(long, conflicts_with = "to")]
    db: Option<PathBuf>,
    /// Verify the mirror in this PostgreSQL database (see `pb2b sync --to`).
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// The PostgreSQL schema (with --to).
    #[arg(long, value_name = "NAME", requires = "to")]
    schema: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LeadsAction {
    /// List leads: from the local mirror with --local (search, filter, sort, page), else one
    /// page from the server.
    List(ListArgs),
    /// Write the local mirror (or the leads matching --search/--status) to CSV or JSON Lines.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SortArg {
    UpdatedAt,
    CreatedAt,
    Email,
    FullName,
    CompanyName,
    Status,
}

#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// The SQLite file of the mirror (default: the data folder's database).
    #[arg(long)]
    db: Option<PathBuf>,
    /// The workspace whose mirror to read (default: the one synced under this profile).
    #[arg(long)]
    workspace: Option<String>,
    /// Words to search for (prefix of a word in email, names, phone, title, company, domain).
    #[arg(long)]
    search: Option<String>,
    /// Only leads with this status.
    #[arg(long)]
    status: Option<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Read the local mirror (no network).
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    mirror: MirrorArgs,
    /// The column to sort by.
    #[arg(long, value_enum, default_value = "updated-at")]
    sort: SortArg,
    /// Sort descending.
    #[arg(long)]
    desc: bool,
    /// How many rows (1..=1000).
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Rows to skip.
    #[arg(long, default_value_t = 0)]
    offset: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Csv,
    Jsonl,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export the local mirror (the only source supported).
    #[arg(long)]
    local: bool,
    #[command(flatten)]
    mirror: MirrorArgs,
    /// csv (neutralised for spreadsheets) or jsonl (one JSON object per line).
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// Write CSV values exactly as they are, for a program to read. Without it, cells a
    /// spreadsheet would run as a formula (`=…`, `+44…`, `-…`, `@…`) get a leading `'`. JSON
    /// Lines is always written as is.
    #[arg(long)]
    raw: bool,
    /// The file to write.
    #[arg(long)]
    out: PathBuf,
}

/// The data folder, with the database `--db` names when given.
fn folder(env: &Env, db: &Option<PathBuf>) -> Option<DataFolder> {
    db.as_ref().map(|path| env.folder.with_database(path))
}

/// The profile label the mirror is filed under (without reading the keychain).
fn profile_label(cli: &Cli, env: &Env) -> String {
    env.folder.profile_label(cli.profile.as_deref())
}

fn find_mirror(cli: &Cli, env: &Env, args: &MirrorArgs) -> Result<Mirror, ErrorReport> {
    let other = folder(env, &args.db);
    other
        .as_ref()
        .unwrap_or(&env.folder)
        .offline_mirror(&profile_label(cli, env), args.workspace.as_deref())
}

fn query_of(args: &MirrorArgs) -> LeadQuery {
    LeadQuery {
        query: args.search.clone().unwrap_or_default(),
        filter: LeadFilter {
            status: args.status.clone(),
            ..LeadFilter::default()
        },
        ..LeadQuery::default()
    }
}

/// The PostgreSQL target of `--to`, with the password from `PGPASSWORD` when the URL has none.
fn pg_target(url: &str, schema: Option<&str>) -> Result<PgTarget, ErrorReport> {
    let password = std::env::var("PGPASSWORD").ok();
    PgTarget::parse(url, schema, password.as_deref())
}

/// A token Ctrl-C cancels, and the watcher to abort when the work is done.
fn cancel_on_ctrl_c() -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let cancel = CancellationToken::new();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                cancel.cancel();
            }
        })
    };
    (cancel, watcher)
}

async fn run_verify(cli: &Cli, env: &Env, args: &VerifyArgs) -> Result<bool, ErrorReport> {
    let other = folder(env, &args.db);
    let folder = other.as_ref().unwrap_or(&env.folder);
    let target = args
        .to
        .as_deref()
        .map(|url| pg_target(url, args.schema.as_deref()))
        .transpose()?;
    let workspace = Workspace::open(folder, env.credentials(cli)?).await?;
    // Ctrl-C stops it between requests and ranges (exit 130); a repair keeps the ranges it
    // finished, each written in its own transaction.
    let (cancel, on_ctrl_c) = cancel_on_ctrl_c();
    let bar = Progress::new(cli.json);
    let show = |p: sync::VerifyProgress| {
        let message = match p.phase {
            sync::VerifyPhase::Reading => format!("reading the server's list: {} leads", p.done),
            sync::VerifyPhase::Comparing => format!(
                "comparing ranges: {} of {}",
                p.done,
                p.total.unwrap_or_default()
            ),
            sync::VerifyPhase::Repairing => format!(
                "repairing ranges: {} of {}",
                p.done,
                p.total.unwrap_or_default()
            ),
        };
        bar.set(p.done, p.total, message);
    };
    let result = match &target {
        Some(target) => {
            let pg = Postgres::open(target, workspace.id()).await?;
            sync::verify(workspace.client(), &pg, args.repair, &cancel, &show).await
        }
        None => {
            let mirror = workspace.mirror()?;
            sync::verify(workspace.client(), &mirror, args.repair, &cancel, &show).await
        }
    };
    on_ctrl_c.abort();
    bar.finish();
    let report = result?;
    if cli.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        println!(
            "server {} leads, mirror {} leads, {} ranges compared, {} differ{}",
            report.server_leads,
            report.destination_leads,
            report.ranges,
            report.differing.len(),
            if args.repair {
                format!(", {} repaired", report.repaired)
            } else {
                String::new()
            }
        );
        for r in &report.differing {
            println!(
                "differs     updated_at {} .. {}: server {} leads ({}), mirror {} ({})",
                r.from.as_deref().unwrap_or("(start)"),
                r.to.as_deref().unwrap_or("(end)"),
                r.server_leads,
                r.server_checksum,
                r.destination_leads,
                r.destination_checksum
            );
        }
    }
    if !report.equal {
        let first = &report.differing[0];
        eprintln!(
            "The mirror differs from the server, first in updated_at {} .. {}; run `pb2b sync verify --repair` to re-read the ranges that differ.",
            first.from.as_deref().unwrap_or("(start)"),
            first.to.as_deref().unwrap_or("(end)")
        );
    }
    Ok(report.equal)
}

/// `pb2b sync` and `pb2b sync verify`: `Ok(false)` when verify found a difference (exit 1, the
/// answer rather than an error: the report is the output, as `webhooks verify` does).
pub async fn run_sync(cli: &Cli, env: &Env, args: &SyncArgs) -> Result<bool, ErrorReport> {
    if let Some(SyncAction::Verify(v)) = &args.action {
        return run_verify(cli, env, v).await;
    }
    let other = folder(env, &args.db);
    let folder = other.as_ref().unwrap_or(&env.folder);
    // A bad connection string is refused before the key is read or anything is sent.
    let target = args
        .to
        .as_deref()
        .map(|url| pg_target(url, args.schema.as_deref()))
        .transpose()?;
    let workspace = Workspace::open(folder, env.credentials(cli)?).await?;
    let mode = match (&args.since, args.full) {
        (Some(since), _) => SyncMode::Since {
            since: since.clone(),
        },
        (None, true) => SyncMode::Full,
        (None, false) => SyncMode::Incremental,
    };
    let options = SyncOptions {
        mode,
        overlap_ms: args.overlap_ms,
        ..SyncOptions::default()
    };
    let (cancel, on_ctrl_c) = cancel_on_ctrl_c();
    let bar = Progress::new(cli.json);
    let show = |p: &sync::SyncProgress| {
        bar.set(
            p.leads,
            None,
            format!(
                "{} pages, {} leads ({} new, {} updated)",
                p.pages, p.leads, p.new, p.updated
            ),
        );
    };
    let (result, status) = match &target {
        Some(target) => {
            let pg = Postgres::open(target, workspace.id()).await?;
            let result = sync::sync_to(workspace.client(), &pg, &options, &cancel, show).await;
            (result, pg.status().await)
        }
        None => {
            let mirror = workspace.mirror()?;
            let on_event = |event: JobEvent| {
                if let JobEvent::Sync(p) = event {
                    show(&p);
                }
            };
            let result = workspace
                .run_job(&Job::Sync(options), &cancel, &on_event)
                .await
                .and_then(|outcome| match outcome {
                    JobOutcome::Sync(report) => Ok(report),
                    _ => Err(ErrorReport::local(
                        Code::Internal,
                        "A sync ended with another job's outcome.",
                        false,
                    )),
                });
            (result, mirror.status())
        }
    };
    on_ctrl_c.abort();
    bar.finish();
    let report = result?;
    let status = status?;
    // With --json, stdout holds one document: the report, or (cancelled) the error.
    if !(cli.json && report.outcome == SyncOutcome::Cancelled) {
        print_sync(cli.json, &report, &status);
        if let (Some(t), false) = (&target, cli.json) {
            println!("destination {t}");
        }
    }
    if report.outcome == SyncOutcome::Cancelled {
        return Err(ErrorReport::local(
            Code::Cancelled,
            "The sync was cancelled; run `pb2b sync` again to resume it.",
            true,
        ));
    }
    Ok(true)
}

fn print_sync(json: bool, report: &SyncReport, status: &SyncStatus) {
    if json {
        let v = serde_json::json!({ "report": report, "status": status });
        println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        return;
    }
    let p = &report.progress;
    println!(
        "{} {} sync{}: {} leads read in {} pages, {} new, {} updated",
        match report.outcome {
            SyncOutcome::Completed => "completed",
            SyncOutcome::Cancelled => "cancelled",
            SyncOutcome::Failed => "failed",
        },
        report.mode,
        if p.resumed { " (resumed)" } else { "" },
        p.leads,
        p.pages,
        p.new,
        p.updated
    );
    println!("workspace   {}", status.mirror);
    println!("mirror      {} leads", status.total_leads);
    if let Some(w) = &status.watermark {
        println!("watermark   {} {}", w.updated_at, w.id);
    }
}

pub async fn run_leads(cli: &Cli, env: &Env, action: &LeadsAction) -> Result<(), ErrorReport> {
    match action {
        LeadsAction::List(args) if args.local => {
            let mirror = find_mirror(cli, env, &args.mirror)?;
            let q = LeadQuery {
                sort: LeadSort {
                    field: match args.sort {
                        SortArg::UpdatedAt => LeadSortField::UpdatedAt,
                        SortArg::CreatedAt => LeadSortField::CreatedAt,
                        SortArg::Email => LeadSortField::Email,
                        SortArg::FullName => LeadSortField::FullName,
                        SortArg::CompanyName => LeadSortField::CompanyName,
                        SortArg::Status => LeadSortField::Status,
                    },
                    descending: args.desc,
                },
                offset: args.offset,
                limit: args.limit,
                ..query_of(&args.mirror)
            };
            print_page(cli.json, &mirror.search(&q)?);
        }
        LeadsAction::List(args) => {
            let client = env.folder.client(&env.credentials(cli)?)?;
            let page = client
                .list_leads(&ListLeadsQuery {
                    limit: Some(args.limit.clamp(1, 100)),
                    ..ListLeadsQuery::default()
                })
                .await
                .map_err(ErrorReport::from)?;
            let total = page.data.len() as u64;
            print_page(
                cli.json,
                &LeadPage {
                    rows: page.data,
                    total,
                    offset: 0,
                },
            );
        }
        LeadsAction::Export(args) => {
            if !args.local {
                return Err(ErrorReport::local(
                    codes::INVALID_INPUT,
                    "`pb2b leads export` writes the local mirror: add --local (server-side exports are `pb2b exports create`).",
                    false,
                ));
            }
            let mirror = find_mirror(cli, env, &args.mirror)?;
            let format = match args.format {
                FormatArg::Csv => ExportFormat::Csv,
                FormatArg::Jsonl => ExportFormat::Jsonl,
            };
            let cells = if args.raw {
                CsvCells::Raw
            } else {
                CsvCells::Spreadsheet
            };
            let n =
                mirror.export_to_file(format, cells, &query_of(&args.mirror), &args.out, None)?;
            if cli.json {
                let v = serde_json::json!({ "file": args.out, "leads": n });
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("{n} leads written to {}", args.out.display());
            }
        }
    }
    Ok(())
}

fn print_page(json: bool, page: &LeadPage) {
    if json {
        println!("{}", serde_json::to_string_pretty(page).unwrap_or_default());
        return;
    }
    for l in &page.rows {
        println!(
            "{:<26} {:<36} {:<24} {:<24} {:<11} {}",
            l.id,
            l.email,
            l.full_name.as_deref().unwrap_or(""),
            l.company_name.as_deref().unwrap_or(""),
            l.status,
            l.updated_at
        );
    }
    println!(
        "{}–{} of {}",
        if page.rows.is_empty() {
            page.offset
        } else {
            page.offset + 1
        },
        page.offset + page.rows.len() as u64,
        page.total
    );
}
