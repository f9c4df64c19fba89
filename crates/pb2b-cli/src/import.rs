//! `pb2b leads create` and `pb2b import FILE`: the core's `leads` and `import` modules from the
//! command line (imports are journaled in the data folder's database, shared with the app).

use pb2b_core::error::Code;
use pb2b_core::jobs::{Job, JobEvent, JobOutcome};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use pb2b_core::api::NewLead;
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::import::{
    self, ImportMode, ImportProgress, ImportReview, Mapping, ReadProgress, ReviewClass, RunOptions,
};
use pb2b_core::jobs::Freshened;
use pb2b_core::leads::{self, LeadSubmission};
use tokio_util::sync::CancellationToken;

use crate::progress::Progress;
use crate::{Cli, Env};

/// `pb2b leads ...`: `create` here; other actions (`T`) come from other modules.
#[derive(Debug, Subcommand)]
pub enum LeadsCommand<T: Subcommand> {
    /// Create one lead (POST /leads with one Idempotency-Key for this submission and its retries).
    Create(CreateArgs),
    /// Edit one lead (PATCH /leads/{id}): only the fields given and changed are sent, checked
    /// with the same rules as `create`; the local mirror's row takes the server's answer.
    Update(UpdateArgs),
    #[command(flatten)]
    Other(T),
}

/// No other `leads` actions.
#[derive(Debug, Subcommand)]
pub enum NoLeadsActions {}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The lead's full name (or give first_name/last_name with --field).
    #[arg(long)]
    pub full_name: Option<String>,
    /// The lead's e-mail address (required).
    #[arg(long)]
    pub email: String,
    /// The lead's company.
    #[arg(long)]
    pub company_name: Option<String>,
    /// Another field, KEY=VALUE (first_name, last_name, phone, job_title, company_domain,
    /// linkedin_url, status, source; any other key, or custom_fields.KEY, is a custom field).
    #[arg(long = "field", value_name = "KEY=VALUE")]
    pub fields: Vec<String>,
    /// Reuse the key of an earlier attempt (printed by it) to retry it without a duplicate.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// The lead's id (`lead_...`).
    pub id: String,
    /// A field to change, KEY=VALUE (email, full_name, first_name, last_name, phone, job_title,
    /// company_name, company_domain, linkedin_url, status, source; any other key, or
    /// custom_fields.KEY, is a custom field). An empty VALUE clears an optional field.
    #[arg(long = "field", value_name = "KEY=VALUE", required = true)]
    pub fields: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The .csv, .tsv, .txt or .xlsx file (cells read as the sheet shows them; .xls and .ods
    /// are refused: save them as .xlsx).
    pub file: PathBuf,
    /// For an .xlsx workbook: the sheet to import (default: the first). Another sheet of the
    /// same file is another import.
    #[arg(long, value_name = "NAME")]
    pub sheet: Option<String>,
    /// A JSON mapping: the `Mapping` the app saves ({"columns": [...]}) or a plain object
    /// {"Header": "email" | "custom:NAME" | "ignore", ...}. Default: remembered or automatic.
    #[arg(long)]
    pub mapping: Option<PathBuf>,
    /// What to do with e-mails the workspace already has. Every row is reviewed against the
    /// workspace's leads first (the local mirror, synced first when empty or older than five
    /// minutes) and the counts per class are printed before anything is sent.
    #[arg(long, value_enum, default_value_t = ModeArg::Create)]
    pub mode: ModeArg,
    /// Validate and review every row and print the counts per class; send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Resume the unfinished import of this file (after a crash, Ctrl-C or kill).
    #[arg(long)]
    pub resume: bool,
    /// With --resume: an import made by an older version that did not record its workspace
    /// belongs to the open workspace; assign it and resume (rows that may have reached the
    /// server are looked up first).
    #[arg(long, requires = "resume")]
    pub assign: bool,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 32)]
    pub concurrency: u32,
}

/// `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModeArg {
    /// Create new leads only: rows whose e-mail the workspace has are skipped (a re-import
    /// never duplicates).
    Create,
    /// Create new leads and update existing ones (fields in the file overwrite the lead's).
    Upsert,
    /// Update existing leads only: rows whose e-mail the workspace lacks are skipped.
    Update,
}

impl From<ModeArg> for ImportMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Create => ImportMode::Create,
            ModeArg::Upsert => ImportMode::Upsert,
            ModeArg::Update => ImportMode::Update,
        }
    }
}

/// Syncs the mirror first when the review needs it (the core's rule), saying so on a terminal;
/// true when it was synced now.
async fn freshen(
    cli: &Cli,
    workspace: &pb2b_core::workspace::Workspace,
    cancel: &CancellationToken,
) -> Result<bool, ErrorReport> {
    let bar = Progress::new(cli.json);
    let on_event = |event: JobEvent| {
        if let JobEvent::Sync(p) = event {
            bar.set(p.leads, None, "leads synced for the review".to_owned());
        }
    };
    let done = workspace.freshen_mirror_for_review(cancel, &on_event).await;
    bar.finish();
    match done? {
        Freshened::AsItWas => Ok(false),
        Freshened::Synced(why) => {
            if !cli.json {
                eprintln!("synced the local mirror first ({why})");
            }
            Ok(true)
        }
        Freshened::SyncedElsewhere(why) => {
            if !cli.json {
                eprintln!("the local mirror needs a sync ({why}), but another process is syncing it: reviewing against it as it is");
            }
            Ok(false)
        }
    }
}

/// The review's counts per class, and how fresh the mirror was.
fn print_review(review: &ImportReview) {
    let m = &review.mirror;
    println!(
        "review ({} mode) against the workspace's {} leads as last synced {}{}:",
        review.mode.as_str(),
        m.leads,
        m.synced_at.as_deref().unwrap_or("never"),
        if m.synced_now { " (just now)" } else { "" }
    );
    for class in ReviewClass::ALL {
        let n = review.counts.get(class);
        if n > 0 || class.is_sent() {
            println!("  {:<40} {n}", class.label());
        }
    }
    println!("  {:<40} {}", "to send", review.counts.to_send());
}

fn print_json(v: &impl serde::Serialize) {
    match serde_json::to_string_pretty(v) {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("error: could not print JSON: {e}"),
    }
}

/// `pb2b leads create`; another `leads` action is handed back for its own module to run.
pub async fn run_leads<'a, T: Subcommand>(
    cli: &Cli,
    env: &Env,
    command: &'a LeadsCommand<T>,
) -> Result<Option<&'a T>, ErrorReport> {
    let args = match command {
        LeadsCommand::Create(args) => args,
        LeadsCommand::Update(args) => return run_update(cli, env, args).await.map(|_| None),
        LeadsCommand::Other(t) => return Ok(Some(t)),
    };
    let mut lead = NewLead {
        email: args.email.clone(),
        full_name: args.full_name.clone(),
        company_name: args.company_name.clone(),
        ..Default::default()
    };
    for f in &args.fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                format!("--field takes KEY=VALUE, not “{f}”."),
                false,
            ));
        };
        leads::set_field(&mut lead, k.trim(), v);
    }
    let mut submission = LeadSubmission::new(lead);
    if let Some(k) = &args.idempotency_key {
        submission.idempotency_key = k.clone();
    }
    // The workspace (not only a client): the created lead goes into its mirror, so an import
    // reviewed before the next sync does not create it again.
    let workspace =
        pb2b_core::workspace::Workspace::open(&env.folder, env.credentials(cli)?).await?;
    let mirror = workspace.mirror().ok();
    match leads::create(workspace.client(), mirror.as_ref(), &submission).await {
        Ok(created) => {
            if cli.json {
                print_json(&created);
            } else {
                println!(
                    "{} lead {} ({})",
                    if created.replayed {
                        "already created:"
                    } else {
                        "created"
                    },
                    created.lead.id,
                    created.lead.email
                );
                println!("request_id       {}", created.request_id);
                println!("idempotency_key  {}", submission.idempotency_key);
            }
            Ok(None)
        }
        Err(e) => {
            if !cli.json {
                for f in &e.fields {
                    eprintln!("  {}: {}", f.field, f.message);
                }
                eprintln!(
                    "  (to retry this submission: --idempotency-key {})",
                    submission.idempotency_key
                );
            }
            Err(e.error)
        }
    }
}

/// `pb2b leads update ID --field k=v ...`: reads the lead, then saves the changed fields (a
/// conflict cannot arise between the two but is reported like the app's if it does).
async fn run_update(cli: &Cli, env: &Env, args: &UpdateArgs) -> Result<(), ErrorReport> {
    let mut values = std::collections::BTreeMap::new();
    for f in &args.fields {
        let Some((k, v)) = f.split_once('=') else {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                format!("--field takes KEY=VALUE, not “{f}”."),
                false,
            ));
        };
        values.insert(k.trim().to_owned(), v.to_owned());
    }
    let workspace =
        pb2b_core::workspace::Workspace::open(&env.folder, env.credentials(cli)?).await?;
    let client = workspace.client();
    let mirror = workspace.mirror().ok();
    let loaded = match client.get_lead(&args.id).await {
        Ok(r) => r.data,
        Err(e) => {
            let mut e = ErrorReport::from(e);
            if e.code == Code::NotFound {
                e.message = format!(
                    "There is no lead {} in this workspace: it was deleted, or the id is mistyped. Find it with `pb2b leads list --local --search …`.",
                    args.id
                );
            }
            return Err(e);
        }
    };
    let edit = leads::LeadEdit { loaded, values };
    match leads::edit(client, mirror.as_ref(), &edit).await {
        Ok(done) => {
            if cli.json {
                print_json(&done);
            } else if done.changed.is_empty() {
                println!("unchanged: lead {} already has these values", done.lead.id);
            } else {
                println!("updated lead {} ({})", done.lead.id, done.lead.email);
                for c in &done.changed {
                    println!(
                        "  {}: {} → {}",
                        c.field,
                        c.old.as_deref().unwrap_or("(empty)"),
                        c.new.as_deref().unwrap_or("(empty)")
                    );
                }
                if let Some(r) = &done.request_id {
                    println!("request_id  {r}");
                }
            }
            Ok(())
        }
        Err(e) => {
            if !cli.json {
                for f in &e.fields {
                    eprintln!("  {}: {}", f.field, f.message);
                }
            }
            Err(e.error)
        }
    }
}

fn read_mapping(path: &Path, headers: &[String]) -> Result<Mapping, ErrorReport> {
    let bad = |m: String| ErrorReport::local(codes::INVALID_INPUT, m, false);
    let text = std::fs::read_to_string(path)
        .map_err(|e| bad(format!("Could not read {}: {e}", path.display())))?;
    if let Ok(m) = serde_json::from_str::<Mapping>(&text) {
        return Ok(m);
    }
    let plain: std::collections::BTreeMap<String, String> = serde_json::from_str(&text)
        .map_err(|e| bad(format!("{} is not a mapping: {e}", path.display())))?;
    let mut m = import::auto_map(headers, false);
    for c in &mut m.columns {
        c.target = match plain.get(&c.header).map(String::as_str) {
            None | Some("ignore") => import::ColumnTarget::Ignore,
            Some(t) => match t.strip_prefix("custom:") {
                Some(name) => import::ColumnTarget::Custom { name: name.into() },
                None => import::ColumnTarget::Field { field: t.into() },
            },
        };
        c.confidence = 100;
    }
    Ok(m)
}

fn sibling(file: &Path, suffix: &str) -> PathBuf {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "import".into());
    file.with_file_name(format!("{stem}.{suffix}.csv"))
}

/// `pb2b import FILE`.
/// Runs `pb2b import`; true when Ctrl-C paused it (the caller exits 130).
pub async fn run_import(cli: &Cli, env: &Env, args: &ImportArgs) -> Result<bool, ErrorReport> {
    let file = &args.file;
    let cancel = CancellationToken::new();
    if args.dry_run {
        let sheet = args.sheet.as_deref();
        let pv = import::preview_sheet(None, file, sheet, None, 0)?;
        let mapping = match &args.mapping {
            Some(p) => read_mapping(p, &pv.headers)?,
            None => match env.store() {
                Ok(store) => import::suggest_mapping(Some(&store), &pv.headers)?.0,
                Err(_) => pv.mapping,
            },
        };
        let summary =
            import::validate_sheet(file, sheet, &mapping, &|_: &ReadProgress| {}, &cancel)?;
        // The review needs the workspace's mirror; without a connection the validation stands
        // alone and says how to get the review.
        let review = match env.workspace(cli).await {
            Ok(workspace) => {
                let synced_now = freshen(cli, &workspace, &cancel).await?;
                let mirror = workspace.mirror()?;
                Some(workspace.imports().review_file(
                    &mirror,
                    file,
                    sheet,
                    &mapping,
                    args.mode.into(),
                    synced_now,
                    &|_: &ReadProgress| {},
                    &cancel,
                )?)
            }
            Err(e) if e.code == Code::NotConnected => None,
            Err(e) => return Err(e),
        };
        if cli.json {
            print_json(
                &serde_json::json!({ "mapping": mapping, "validation": summary, "review": review }),
            );
        } else {
            print_mapping(&mapping);
            let c = &summary.counts;
            println!(
                "{} rows: {} will be created, {} invalid, {} duplicate e-mails ({} blank lines, {} ragged rows)",
                c.rows, c.will_create, c.invalid, c.duplicate, c.blank_lines, c.ragged_rows
            );
            if c.with_dropped_fields > 0 {
                println!(
                    "{} rows will be sent without an optional value the API would refuse (listed below and in the result files' dropped_fields column)",
                    c.with_dropped_fields
                );
            }
            for i in &summary.issues {
                println!("  row {}: {} ({})", i.row_number, i.message, i.code);
            }
            match &review {
                Some(r) => print_review(r),
                None => println!("not connected: connect a workspace (`pb2b login`) to review the rows against its leads"),
            }
        }
        return Ok(false);
    }
    let workspace = env.workspace(cli).await?;
    let imports = workspace.imports();
    let job = if args.resume && args.assign {
        let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let unassigned = imports
            .unassigned()?
            .into_iter()
            .find(|j| {
                Path::new(&j.file_path) == abs
                    && j.counts.pending + j.counts.in_flight + j.counts.failed > 0
            })
            .ok_or_else(|| {
                ErrorReport::local(
                    Code::NotFound,
                    format!("No unassigned import of {} to resume.", file.display()),
                    false,
                )
            })?;
        imports.assign(&unassigned.id)?
    } else if args.resume {
        imports.unfinished_for_file(file, args.sheet.as_deref())?
    } else {
        let sheet = args.sheet.as_deref();
        let pv = import::preview_sheet(Some(workspace.store()), file, sheet, None, 0)?;
        let mapping = match &args.mapping {
            Some(p) => read_mapping(p, &pv.headers)?,
            None => pv.mapping,
        };
        imports.stage_sheet(file, sheet, &mapping, &|_: &ReadProgress| {}, &cancel)?
    };
    // A new import is reviewed before anything is sent; a resumed one keeps its review (one
    // staged but never reviewed, e.g. by the app, is reviewed now).
    let review = if args.resume && !import::needs_review(workspace.store(), &job)? {
        None
    } else {
        let synced_now = freshen(cli, &workspace, &cancel).await?;
        let mirror = workspace.mirror()?;
        let review = imports.review(&mirror, &job.id, args.mode.into(), synced_now, &cancel)?;
        if !cli.json {
            print_review(&review);
        }
        Some(review)
    };
    let job = imports.get(&job.id)?;
    if !cli.json {
        eprintln!(
            "import {} of {}: {} rows ({} to send, {} skipped)",
            job.id,
            job.file_name,
            job.counts.total,
            job.counts.pending + job.counts.in_flight,
            job.counts.skipped
        );
        if job.counts.with_dropped_fields > 0 {
            eprintln!(
                "{} rows go without an optional value the API would refuse; the result files list each in dropped_fields",
                job.counts.with_dropped_fields
            );
        }
    }
    let ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            ctrl_c.cancel();
        }
    });
    let bar = Progress::new(cli.json);
    let progress = |p: &ImportProgress| {
        let c = &p.counts;
        let to_go = c.pending + c.in_flight;
        bar.set(
            c.total.saturating_sub(to_go),
            Some(c.total),
            format!(
                "rows · {} created, {} updated, {} failed · {:.0} rows/s{}{}",
                c.created,
                c.updated + c.unchanged,
                c.failed,
                p.rows_per_sec,
                p.eta_seconds
                    .map(|e| format!(" · ETA {e:.0} s"))
                    .unwrap_or_default(),
                if p.waiting_seconds > 0.0 {
                    format!(" · waiting {:.0} s for the rate limit", p.waiting_seconds)
                } else {
                    String::new()
                }
            ),
        );
    };
    let opts = RunOptions {
        max_concurrency: args.concurrency.max(1),
        ..RunOptions::default()
    };
    let on_event = |event: JobEvent| {
        if let JobEvent::Import(p) = event {
            progress(&p);
        }
    };
    let outcome = workspace
        .run_job(
            &Job::Import {
                id: job.id.clone(),
                options: opts,
            },
            &cancel,
            &on_event,
        )
        .await;
    bar.finish();
    let summary = match outcome? {
        JobOutcome::Import(summary) => summary,
        _ => {
            return Err(ErrorReport::local(
                Code::Internal,
                "An import ended with another job's outcome.",
                false,
            ))
        }
    };
    let c = &summary.counts;
    let errors = if c.failed + c.skipped > 0 {
        let p = sibling(file, "errors");
        import::write_error_report(workspace.store(), &job.id, &p)?;
        Some(p)
    } else {
        None
    };
    let created = if c.created + c.updated + c.unchanged > 0 {
        let p = sibling(file, "created");
        import::write_success_file(workspace.store(), &job.id, &p)?;
        Some(p)
    } else {
        None
    };
    if cli.json {
        print_json(&serde_json::json!({
            "review": review,
            "summary": summary,
            "error_report": errors,
            "success_file": created,
        }));
    } else {
        println!(
            "{}: {} created, {} updated, {} unchanged, {} failed, {} skipped of {} rows in {:.1} s",
            summary.status,
            c.created,
            c.updated,
            c.unchanged,
            c.failed,
            c.skipped,
            c.total,
            summary.elapsed_ms as f64 / 1000.0
        );
        if c.with_dropped_fields > 0 {
            println!(
                "{} rows were sent without an optional value the API would refuse (dropped_fields in the result files)",
                c.with_dropped_fields
            );
        }
        if summary.status == "paused" {
            println!("resume with: pb2b import {} --resume", args.file.display());
        }
        if let Some(p) = errors {
            println!("error report: {}", p.display());
        }
        if let Some(p) = created {
            println!("success file: {}", p.display());
        }
    }
    Ok(summary.status == "paused")
}

fn print_mapping(m: &Mapping) {
    for c in &m.columns {
        let target = match &c.target {
            import::ColumnTarget::Field { field } => field.clone(),
            import::ColumnTarget::Custom { name } => format!("custom_fields.{name}"),
            import::ColumnTarget::Ignore => "(ignored)".into(),
        };
        println!("  {:<30} → {target} ({}%)", c.header, c.confidence);
    }
}
