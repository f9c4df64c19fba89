//! `pb2b-sandbox`: prints one JSON line on stdout (`base_url`, `admin_url`, `admin_token`,
//! `keys`), then logs on stderr. The admin token is new each start: send it as
//! `X-Sandbox-Admin-Token` to `/_sandbox/*`.

use clap::Parser;
use std::io::Write;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "pb2b-sandbox",
    about = "A faithful local ProspectB2B Public API (see docs/api/openapi.yaml)"
)]
struct Args {
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// SQLite file that keeps state across restarts (default: in memory).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Rolling per-minute request limit per API key (default: none).
    #[arg(long)]
    rate_limit_per_minute: Option<u32>,
    /// Probability (0..1) that a write answers 500 before it commits.
    #[arg(long, default_value_t = 0.0)]
    fault_500: f64,
    /// Probability (0..1) that a write commits and the connection is then dropped.
    #[arg(long, default_value_t = 0.0)]
    fault_drop_after_commit: f64,
    /// Probability (0..1) that a request starts a burst of forced 429s for its key.
    #[arg(long, default_value_t = 0.0)]
    fault_429_burst: f64,
    /// Added latency per public request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Seed of the deterministic fault draws.
    #[arg(long, default_value_t = 0)]
    fault_seed: u64,
    /// Time an export job takes, in milliseconds.
    #[arg(long, default_value_t = 500)]
    export_delay_ms: u64,
    /// Start without the demo leads.
    #[arg(long)]
    no_demo: bool,
    /// The workspace to serve: `sandbox` (default: ws_sandbox) or another name (ws_<name>,
    /// other keys), so two sandboxes are two workspaces.
    #[arg(long, default_value = "sandbox")]
    workspace: String,
    /// Serve the documented deterministic keys (for tests and demos that name them). Without it
    /// the keys are random: new each start, or created once and kept in the --data file.
    #[arg(long)]
    documented_keys: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pb2b-sandbox: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let config = pb2b_sandbox::SandboxConfig {
            port: args.port,
            data: args.data,
            rate_limit_per_minute: args.rate_limit_per_minute,
            fault_500: args.fault_500,
            fault_drop_after_commit: args.fault_drop_after_commit,
            fault_429_burst: args.fault_429_burst,
            latency_ms: args.latency_ms,
            fault_seed: args.fault_seed,
            export_delay_ms: args.export_delay_ms,
            seed_demo: !args.no_demo,
            workspace: args.workspace,
            documented_keys: args.documented_keys,
            ..Default::default()
        };
        let sandbox = match pb2b_sandbox::start(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("pb2b-sandbox: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        // Listen for SIGTERM before saying we are up: whoever reads the line may stop us at once.
        let stop = wait_for_signal();
        let line = serde_json::json!({
            "base_url": sandbox.base_url,
            "admin_url": sandbox.admin_url,
            "admin_token": sandbox.admin_token,
            "keys": sandbox.keys,
        });
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            eprintln!("pb2b-sandbox: cannot write to stdout");
        }
        drop(out);
        stop.await;
        tracing::info!("shutting down");
        sandbox.shutdown().await;
        std::process::ExitCode::SUCCESS
    })
}

/// Installs the SIGTERM and Ctrl-C handlers now (not at the first poll) and resolves when one
/// of them fires.
fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate()).ok()
    };
    let ctrl_c = tokio::signal::ctrl_c();
    async move {
        #[cfg(unix)]
        if let Some(mut term) = term {
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
            return;
        }
        let _ = ctrl_c.await;
    }
}
