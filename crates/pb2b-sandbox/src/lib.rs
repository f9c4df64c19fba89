//! pb2b-sandbox: a faithful local model of the ProspectB2B Public API.
//!
//! The contract is `docs/api/openapi.yaml`; this crate shares no types with the client
//! (`pb2b-core`): the two meet only over HTTP. [`start`] binds `127.0.0.1` and returns the
//! base URL, the sandbox API keys and this run's admin token.
//!
//! Keys are random by default: new on each start in memory, created once and kept with the data
//! file (`data`), so a restart with the same file answers to the same keys. With
//! [`SandboxConfig::documented_keys`] they are the documented deterministic ones (tests and demos
//! that name them); a sandbox anyone runs by default is not drivable with published keys.
//! Requests must name the sandbox's own address in `Host`, and the admin surface needs the
//! admin token: see the table in `guard.rs`.

mod admin;
mod api;
mod guard;
mod hooks;
pub mod rules;
mod store;
mod util;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use guard::ADMIN_TOKEN_HEADER;
pub use store::ALL_SCOPES;

/// How a sandbox runs. `Default` seeds demo leads, enforces no rate limit and injects no faults.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// 0 picks any free port.
    pub port: u16,
    /// SQLite file that keeps state across restarts; `None` keeps everything in memory.
    pub data: Option<PathBuf>,
    /// Rolling per-minute limit per API key; `None` enforces none (and sends no X-RateLimit-*).
    pub rate_limit_per_minute: Option<u32>,
    /// Probability that a write answers 500 before it commits.
    pub fault_500: f64,
    /// Probability that a write commits and the connection is then dropped.
    pub fault_drop_after_commit: f64,
    /// Probability that a request starts a burst of forced 429s for its key.
    pub fault_429_burst: f64,
    /// Length of a forced 429 burst (requests).
    pub fault_429_burst_len: u32,
    /// Latency added to every public request.
    pub latency_ms: u64,
    /// Seed of the fault draws (one draw set per public request, in arrival order).
    pub fault_seed: u64,
    /// Time an export job takes from queued to completed.
    pub export_delay_ms: u64,
    /// Insert 40 realistic demo leads into an empty store.
    pub seed_demo: bool,
    /// How long an Idempotency-Key is remembered.
    pub idempotency_ttl: Duration,
    /// Waits between webhook delivery attempts (attempts = 1 + len).
    pub webhook_retry_delays: Vec<Duration>,
    /// Timeout of one webhook delivery attempt.
    pub webhook_timeout: Duration,
    /// Lifetime of a signed export download URL.
    pub export_url_ttl: Duration,
    /// Lifetime of a completed export file (then status `expired`).
    pub export_ttl: Duration,
    /// Largest accepted request body in bytes (then 413).
    pub body_limit: usize,
    /// The workspace served: `sandbox` (the default, `ws_sandbox`) or
    /// another name, whose id is `ws_<name>` and whose keys differ (two sandboxes, two
    /// workspaces).
    pub workspace: String,
    /// Serve the documented deterministic keys (the same on every start) instead of random ones
    /// (new per start in memory, kept with the data file). Off by default.
    pub documented_keys: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            port: 0,
            data: None,
            rate_limit_per_minute: None,
            fault_500: 0.0,
            fault_drop_after_commit: 0.0,
            fault_429_burst: 0.0,
            fault_429_burst_len: 3,
            latency_ms: 0,
            fault_seed: 0,
            export_delay_ms: 500,
            seed_demo: true,
            idempotency_ttl: Duration::from_secs(24 * 3600),
            webhook_retry_delays: vec![
                Duration::from_millis(500),
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(4),
            ],
            webhook_timeout: Duration::from_secs(10),
            export_url_ttl: Duration::from_secs(15 * 60),
            export_ttl: Duration::from_secs(24 * 3600),
            body_limit: 1024 * 1024,
            workspace: "sandbox".into(),
            documented_keys: false,
        }
    }
}

/// The six API keys of the sandbox workspace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SandboxKeys {
    /// Every documented scope, read-write.
    pub full: String,
    /// Every documented scope, `read_only: true`.
    pub read_only: String,
    /// `me.read` and `leads.read` only.
    pub leads_read: String,
    /// Revoked: always 401 `api_key_revoked`.
    pub revoked: String,
    /// Expired: always 401 `api_key_expired`.
    pub expired: String,
    /// A second full-access key of the same workspace (what a key rotation hands out).
    pub full_2: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("could not bind 127.0.0.1:{port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("could not open the data file {path}: {source}")]
    Data {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("could not build the webhook HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A running sandbox.
pub struct Sandbox {
    /// `http://127.0.0.1:N/api/public/v1`
    pub base_url: String,
    /// `http://127.0.0.1:N/_sandbox`
    pub admin_url: String,
    pub keys: SandboxKeys,
    /// This run's admin token: send it as [`ADMIN_TOKEN_HEADER`] to `/_sandbox/*`. Random per
    /// start, never stored; whoever started the sandbox holds it.
    pub admin_token: String,
    pub addr: SocketAddr,
    shutdown_tx: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    app: Arc<api::App>,
}

impl Sandbox {
    /// Stops accepting, lets in-flight requests finish (at most 2 s), stops background jobs.
    pub async fn shutdown(mut self) {
        self.app
            .shutting_down
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(tx) = self.shutdown_tx.take() {
            let _ = tx.send(());
        }
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Starts a sandbox on 127.0.0.1 (port 0 = any free port).
pub async fn start(config: SandboxConfig) -> Result<Sandbox, SandboxError> {
    for (name, p) in [
        ("fault_500", config.fault_500),
        ("fault_drop_after_commit", config.fault_drop_after_commit),
        ("fault_429_burst", config.fault_429_burst),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(SandboxError::Config(format!("{name} must be within 0..=1")));
        }
    }
    if config.rate_limit_per_minute == Some(0) {
        return Err(SandboxError::Config(
            "rate_limit_per_minute must be at least 1".into(),
        ));
    }
    let db = match &config.data {
        Some(path) => Some(store::Db::open(path).map_err(|source| SandboxError::Data {
            path: path.clone(),
            source,
        })?),
        None => None,
    };
    let signing_key = match &db {
        Some(db) => db.meta_get_or_set("signing_key", util::secret_hex(32)),
        None => util::secret_hex(32),
    };
    if config.workspace.is_empty()
        || !config
            .workspace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(SandboxError::Config(
            "workspace must be letters, digits, '_' or '-'".into(),
        ));
    }
    let mut workspace = store::Workspace::new(&config.workspace);
    if !config.documented_keys {
        let secret = match &db {
            Some(db) => db.meta_get_or_set("key_secret", util::secret_hex(32)),
            None => util::secret_hex(32),
        };
        workspace = workspace.with_key_secret(secret);
    }
    let mut st = store::Store::new(workspace, config.fault_seed, db);
    let had_data = st.load().map_err(|source| SandboxError::Data {
        path: config.data.clone().unwrap_or_default(),
        source,
    })?;
    if config.seed_demo && !had_data && st.leads.is_empty() {
        store::seed_demo(&mut st);
    }
    let keys = api::keys_of(&st);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port))
        .await
        .map_err(|source| SandboxError::Bind {
            port: config.port,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        port: config.port,
        source,
    })?;
    let origin = format!("http://127.0.0.1:{}", addr.port());
    let admin_token = util::secret_hex(32);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(config.webhook_timeout)
        .user_agent("ProspectB2B-Webhooks/sandbox")
        .build()?;
    let app = Arc::new(api::App {
        cfg: config,
        store: Mutex::new(st),
        origin: origin.clone(),
        port: addr.port(),
        admin_token: admin_token.clone(),
        signing_key: signing_key.into_bytes(),
        http,
        shutting_down: AtomicBool::new(false),
    });
    hooks::resume_pending(&app);
    let router = axum::Router::new()
        .fallback(api::entry)
        .with_state(app.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = rx.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    tracing::info!(%origin, "pb2b-sandbox listening");
    Ok(Sandbox {
        base_url: format!("{origin}/api/public/v1"),
        admin_url: format!("{origin}/_sandbox"),
        keys,
        admin_token,
        addr,
        shutdown_tx: Some(tx),
        task,
        app,
    })
}
