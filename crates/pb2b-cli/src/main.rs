//! `pb2b`: a thin command-line front on `pb2b-core`, for scripts, cron jobs and CI.
//! Argument parsing and printing only; every rule lives in the core.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pb2b_core::error::ErrorReport;

/// The exit codes scripts can branch on.
mod exit {
    pub const OK: u8 = 0;
    /// The keychain or another local facility failed.
    pub const LOCAL: u8 = 5;
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
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Versions, platform, data folder, a real keychain probe and the base URL in use.
    Diagnostics {
        /// The base URL to report (defaults to PB2B_BASE_URL, then the production API).
        #[arg(long, env = "PB2B_BASE_URL", default_value = pb2b_core::DEFAULT_BASE_URL)]
        base_url: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::from(exit::OK),
        Err((code, report)) => {
            if cli.json {
                println!("{}", serde_json::json!({ "error": report }));
            } else {
                eprintln!("error: {report}");
            }
            ExitCode::from(code)
        }
    }
}

fn run(cli: &Cli) -> Result<(), (u8, ErrorReport)> {
    match &cli.command {
        Command::Diagnostics { base_url } => {
            let keychain = pb2b_core::secret::OsKeychain::new("com.prospectb2b.desktop");
            let data_dir = std::env::temp_dir();
            let report = pb2b_core::diagnostics::collect(
                env!("CARGO_PKG_VERSION"),
                &data_dir,
                base_url,
                &keychain,
            );
            if cli.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).map_err(|e| (
                        exit::LOCAL,
                        ErrorReport::local(pb2b_core::error::codes::INTERNAL, e.to_string(), false)
                    ))?
                );
            } else {
                println!("app version   {}", report.app_version);
                println!("core version  {}", report.core_version);
                println!("os            {} ({})", report.os, report.arch);
                println!("data folder   {}", report.data_dir);
                println!(
                    "keychain      {} — {}: {}",
                    if report.keychain.reachable {
                        "reachable"
                    } else {
                        "NOT reachable"
                    },
                    report.keychain.backend,
                    report.keychain.detail
                );
                println!("base URL      {}", report.base_url);
            }
            if report.keychain.reachable {
                Ok(())
            } else {
                Err((
                    exit::LOCAL,
                    ErrorReport::local(
                        pb2b_core::error::codes::KEYCHAIN_UNAVAILABLE,
                        report.keychain.detail,
                        true,
                    ),
                ))
            }
        }
    }
}
