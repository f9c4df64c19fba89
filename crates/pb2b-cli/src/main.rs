//! `pb2b`: a thin command-line front on `pb2b-core`, for scripts, cron jobs and CI.
//! Argument parsing and printing only; every rule lives in the core.
//!
//! Profiles are shared with the desktop app (the same `settings.json` and keychain entries in the
//! app's data folder). `PB2B_API_KEY` and `PB2B_BASE_URL` override the profile, for CI.

mod confirm;
mod exports;
mod help;
mod import;
mod output;
mod progress;
mod sync;
mod webhooks;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{FromArgMatches, Parser, Subcommand};
use pb2b_core::error::{codes, Code, ErrorClass, ErrorReport};
use pb2b_core::profiles::{OnExisting, Profiles};
use pb2b_core::secret::{OsKeychain, SecretString};
use pb2b_core::store::{LogFilter, RequestLog, Store, DEFAULT_RETENTION};
use pb2b_core::workspace::{Credentials, DataFolder, Workspace};

use output::Out;

/// Exit codes scripts can branch on.
mod exit {
    pub const OK: u8 = 0;
    /// Anything not below (server errors, rate limits after retries).
    pub const OTHER: u8 = 1;
    /// Bad arguments or input, refused here or by the server (clap uses 2 as well).
    pub const USAGE: u8 = 2;
    /// The key is missing, invalid, revoked, expired or lacks a permission.
    pub const AUTH: u8 = 3;
    /// The API could not be reached (DNS, refused, TLS, timeout).
    pub const NETWORK: u8 = 4;
    /// The keychain, the local database or a file failed.
    pub const LOCAL: u8 = 5;
    /// Interrupted (Ctrl-C): 128 + SIGINT, as shells report it. The work resumes where it
    /// stopped.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Debug, Parser)]
#[command(
    name = "pb2b",
    version,
    about = "ProspectB2B Desktop from the command line"
)]
struct Cli {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    /// The profile to use (default: the active one).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// The data folder shared with the app (default: the platform's, e.g.
    /// ~/.local/share/com.prospectb2b.desktop).
    #[arg(long, global = true, env = "PB2B_DATA_DIR")]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Verify an API key with /me and save it as a profile (the key goes to the OS keychain).
    /// The key is read from --key-env VAR, or from standard input.
    Login {
        /// The profile name.
        #[arg(long = "name", default_value = "default")]
        name: String,
        /// The API base URL.
        #[arg(long, default_value = pb2b_core::DEFAULT_BASE_URL)]
        base_url: String,
        /// Read the key from this environment variable instead of standard input.
        #[arg(long)]
        key_env: Option<String>,
        /// Replace the key of an existing profile of that name (key rotation); without it an
        /// existing name is refused.
        #[arg(long)]
        replace: bool,
    },
    /// List profiles, or switch, rename or forget one.
    Profiles {
        #[command(subcommand)]
        action: Option<ProfilesAction>,
    },
    /// What the key opens: workspace, scopes, read-only state, what it may do.
    Me,
    /// The request log: every API call with its status and request_id.
    Activity {
        /// Only this status (e.g. 409) or class (2xx, 4xx, 5xx, error).
        #[arg(long)]
        status: Option<String>,
        /// Only paths containing this.
        #[arg(long)]
        path: Option<String>,
        /// Only this request_id.
        #[arg(long)]
        request_id: Option<String>,
        /// How many, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Webhook endpoints, their deliveries, and the signature check.
    #[command(subcommand)]
    Webhooks(webhooks::WebhooksCommand),
    /// Mirror the workspace's leads into the local database (incremental, resumable).
    Sync(sync::SyncArgs),
    /// Leads: `create` one safely; `list --local` reads the mirror offline; `export --local`
    /// writes it to CSV/JSONL.
    Leads {
        #[command(subcommand)]
        action: import::LeadsCommand<sync::LeadsAction>,
    },
    /// Import a CSV file: every valid row becomes exactly one lead (resumable, --dry-run).
    Import(import::ImportArgs),
    /// Versions, platform, data folder, a real keychain probe and the base URL in use.
    Diagnostics,
    /// Export jobs: create, status, wait, download, list, resume, remove.
    Exports {
        #[command(subcommand)]
        action: exports::ExportsAction,
    },
    /// Print a shell completion script (e.g. `pb2b completions bash > ~/.local/share/bash-completion/completions/pb2b`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
enum ProfilesAction {
    /// Make a profile the active one.
    Use {
        /// The profile's name.
        name: String,
    },
    /// Rename a profile.
    Rename {
        /// The profile's current name.
        from: String,
        /// The new name.
        to: String,
    },
    /// Forget a profile and delete its key from the keychain.
    Forget {
        /// The profile's name.
        name: String,
        /// Do not ask first (required when not run from a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// The subcommand's name, for other processes' "the database is busy" messages.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Login { .. } => "login",
        Command::Profiles { .. } => "profiles",
        Command::Me => "me",
        Command::Activity { .. } => "activity",
        Command::Webhooks(_) => "webhooks",
        Command::Sync(_) => "sync",
        Command::Leads { .. } => "leads",
        Command::Import(_) => "import",
        Command::Diagnostics => "diagnostics",
        Command::Exports { .. } => "exports",
        Command::Completions { .. } => "completions",
    }
}

fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    pb2b_core::presence::set_label(format!("pb2b {}", command_name(&cli.command)));
    let out = Out::new(cli.json);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            out.error(&ErrorReport::local(codes::INTERNAL, err.to_string(), false));
            return ExitCode::from(exit::LOCAL);
        }
    };
    match runtime.block_on(run(&cli, &out)) {
        Ok(code) => ExitCode::from(code),
        Err(report) => {
            out.error(&report);
            if report.code == Code::Cancelled {
                return ExitCode::from(exit::INTERRUPTED);
            }
            ExitCode::from(match report.class() {
                ErrorClass::Auth => exit::AUTH,
                ErrorClass::Network => exit::NETWORK,
                ErrorClass::Local => exit::LOCAL,
                ErrorClass::Usage | ErrorClass::Input => exit::USAGE,
                ErrorClass::Server => exit::OTHER,
            })
        }
    }
}

/// The data folder shared with the app, and the workspace a command opens in it.
struct Env {
    folder: DataFolder,
    keychain: OsKeychain,
}

impl Env {
    fn new(cli: &Cli) -> Result<Self, ErrorReport> {
        let dir = match &cli.data_dir {
            Some(dir) => dir.clone(),
            None => DataFolder::default_dir()?,
        };
        let keychain = OsKeychain::new(pb2b_core::APP_IDENTIFIER);
        Ok(Self {
            folder: DataFolder::new(dir, Arc::new(keychain.clone())),
            keychain,
        })
    }

    fn profiles(&self) -> Profiles<'_> {
        self.folder.profiles()
    }

    fn store(&self) -> Result<Store, ErrorReport> {
        self.folder.store()
    }

    /// The key to use (see `DataFolder::credentials`); the embedded sandbox's profile lives
    /// inside the app and is refused here.
    fn credentials(&self, cli: &Cli) -> Result<Credentials, ErrorReport> {
        let credentials = self.folder.credentials(cli.profile.as_deref())?;
        if credentials.profile.sandbox {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "The “Local sandbox” profile lives inside the desktop app. Run `pb2b-sandbox` and set PB2B_BASE_URL and PB2B_API_KEY to use a sandbox from the command line.",
                false,
            ));
        }
        Ok(credentials)
    }

    /// The open workspace: the one set-up every command that talks to the API starts with.
    async fn workspace(&self, cli: &Cli) -> Result<Workspace, ErrorReport> {
        Workspace::open(&self.folder, self.credentials(cli)?).await
    }
}

fn read_key(key_env: Option<&str>) -> Result<SecretString, ErrorReport> {
    let raw = match key_env {
        Some(var) => std::env::var(var).map_err(|_| {
            ErrorReport::local(
                codes::INVALID_INPUT,
                format!("The environment variable {var} is not set."),
                false,
            )
        })?,
        // On a terminal the key is read with echo off (it must not stay on screen or in a
        // recording); from a pipe or file it is read as a line.
        None if std::io::stdin().is_terminal() => {
            read_hidden("Paste the API key and press Enter (it is not shown): ").map_err(|err| {
                ErrorReport::local(
                    codes::INVALID_INPUT,
                    format!("Could not read the key: {err}"),
                    false,
                )
            })?
        }
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|err| {
                    ErrorReport::local(
                        codes::INVALID_INPUT,
                        format!("Could not read the key: {err}"),
                        false,
                    )
                })?;
            line
        }
    };
    Ok(SecretString::new(raw.trim().to_owned()))
}

/// Reads one line from the terminal with echo off. Echo goes off before the prompt is shown, so a
/// key pasted the moment the prompt appears is not echoed either; it comes back on however the
/// read ends.
#[cfg(unix)]
fn read_hidden(prompt: &str) -> std::io::Result<String> {
    use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions, Termios};
    use std::io::Write;

    struct Restore<'a>(&'a std::fs::File, Termios);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            let _ = tcsetattr(self.0, OptionalActions::Now, &self.1);
        }
    }

    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")?;
    let original = tcgetattr(&tty)?;
    let mut quiet = original.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    quiet.local_modes.insert(LocalModes::ECHONL);
    tcsetattr(&tty, OptionalActions::Now, &quiet)?;
    let _restore = Restore(&tty, original);
    (&tty).write_all(prompt.as_bytes())?;
    (&tty).flush()?;
    let mut line = String::new();
    std::io::BufReader::new(&tty).read_line(&mut line)?;
    Ok(line)
}

#[cfg(windows)]
fn read_hidden(prompt: &str) -> std::io::Result<String> {
    rpassword::prompt_password(prompt)
}

/// `409` is one status; `4xx` a class; `error` the attempts that got no answer.
fn parse_status(raw: Option<&str>) -> Result<(Option<u16>, Option<u16>), ErrorReport> {
    let Some(raw) = raw else {
        return Ok((None, None));
    };
    let raw = raw.trim().to_ascii_lowercase();
    if raw == "error" {
        return Ok((Some(0), None));
    }
    if let Some(class) = raw.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
        if (1..=5).contains(&class) {
            return Ok((Some(class), None));
        }
    }
    match raw.parse::<u16>() {
        Ok(code) if (100..=599).contains(&code) => Ok((None, Some(code))),
        _ => Err(ErrorReport::local(
            codes::INVALID_INPUT,
            format!("--status takes a status (409), a class (4xx) or `error`, not “{raw}”."),
            false,
        )),
    }
}

/// Runs the command; the exit code when it did not fail (0, or 130 when Ctrl-C paused it).
async fn run(cli: &Cli, out: &Out) -> Result<u8, ErrorReport> {
    if let Command::Completions { shell } = &cli.command {
        let mut command = help::command();
        // Into memory first: clap_complete panics on a write error (e.g. `| head`).
        let mut script = Vec::new();
        clap_complete::generate(*shell, &mut command, "pb2b", &mut script);
        let mut stdout = std::io::stdout().lock();
        return match stdout.write_all(&script).and_then(|_| stdout.flush()) {
            Ok(()) => Ok(exit::OK),
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
            Err(err) => Err(ErrorReport::local(
                codes::INTERNAL,
                format!("Could not write the completion script: {err}"),
                false,
            )),
        };
    }
    let env = Env::new(cli)?;
    match &cli.command {
        Command::Login {
            name,
            base_url,
            key_env,
            replace,
        } => {
            let existing = if *replace {
                OnExisting::Replace
            } else {
                OnExisting::Refuse
            };
            if existing == OnExisting::Refuse
                && env
                    .profiles()
                    .load()?
                    .profiles
                    .iter()
                    .any(|p| &p.name == name)
            {
                // Say so before the key is even read: nothing to paste in vain.
                return Err(ErrorReport::local(
                    pb2b_core::profiles::PROFILE_EXISTS,
                    format!("A profile named “{name}” already exists. Pass --replace to replace its key (key rotation), or choose another --name."),
                    false,
                ));
            }
            let key = read_key(key_env.as_deref())?;
            let workspace = env.folder.login(name, base_url, &key, existing).await?;
            out.login(workspace.profile(), workspace.check());
        }
        Command::Profiles { action } => {
            let profiles = env.profiles();
            match action {
                None => {}
                Some(ProfilesAction::Use { name }) => {
                    profiles.set_active(name)?;
                }
                Some(ProfilesAction::Rename { from, to }) => {
                    profiles.rename(from, to)?;
                }
                Some(ProfilesAction::Forget { name, yes }) => {
                    confirm::confirm(
                        &format!(
                            "Forget the profile “{name}” and delete its key from the keychain?"
                        ),
                        *yes,
                    )?;
                    profiles.forget(name)?
                }
            }
            out.profiles(&profiles.load()?);
        }
        Command::Me => {
            out.key_check(env.workspace(cli).await?.check());
        }
        Command::Activity {
            status,
            path,
            request_id,
            limit,
        } => {
            let (status_class, status) = parse_status(status.as_deref())?;
            let filter = LogFilter {
                status_class,
                status,
                path_contains: path.clone(),
                request_id: request_id.clone(),
                profile: cli.profile.clone(),
                limit: Some(*limit),
                ..Default::default()
            };
            out.activity(&RequestLog::new(env.store()?, "", DEFAULT_RETENTION).query(&filter)?);
        }
        Command::Exports { action } => exports::run(cli, &env, action).await?,
        Command::Webhooks(cmd) => webhooks::run(cmd, cli, &env, out).await?,
        Command::Sync(args) => {
            if !sync::run_sync(cli, &env, args).await? {
                return Ok(exit::OTHER);
            }
        }
        Command::Leads { action } => {
            if let Some(other) = import::run_leads(cli, &env, action).await? {
                sync::run_leads(cli, &env, other).await?
            }
        }
        Command::Import(args) => {
            if import::run_import(cli, &env, args).await? {
                return Ok(exit::INTERRUPTED);
            }
        }
        Command::Completions { .. } => {}
        Command::Diagnostics => {
            let base_url = env
                .credentials(cli)
                .map(|c| c.profile.base_url)
                .unwrap_or_else(|_| pb2b_core::DEFAULT_BASE_URL.to_owned());
            let report = pb2b_core::diagnostics::collect(
                env!("CARGO_PKG_VERSION"),
                env.folder.dir(),
                &base_url,
                &env.keychain,
            );
            out.diagnostics(&report);
            if !report.keychain.reachable {
                return Err(ErrorReport::local(
                    codes::KEYCHAIN_UNAVAILABLE,
                    report.keychain.detail,
                    true,
                ));
            }
        }
    }
    Ok(exit::OK)
}
