//! Shared helpers: an in-process sandbox on 127.0.0.1 and an observer that keeps every attempt.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pb2b_core::api::{
    Client, ClientConfig, Exchange, Lead, ListLeadsQuery, RequestObserver, RetryPolicy,
};
use pb2b_core::secret::SecretString;
use pb2b_sandbox::{Sandbox, SandboxConfig};
use serde_json::{json, Value};

/// Keeps every recorded attempt.
#[derive(Default)]
pub struct Recorder {
    pub exchanges: Mutex<Vec<Exchange>>,
}

impl RequestObserver for Recorder {
    fn record(&self, exchange: &Exchange) {
        self.exchanges.lock().unwrap().push(exchange.clone());
    }
}

impl Recorder {
    pub fn all(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }
    pub fn clear(&self) {
        self.exchanges.lock().unwrap().clear();
    }
}

pub async fn sandbox() -> Sandbox {
    sandbox_with(SandboxConfig::default()).await
}

pub async fn sandbox_with(config: SandboxConfig) -> Sandbox {
    pb2b_sandbox::start(config).await.expect("sandbox starts")
}

/// A fast retry policy: tiny backoff, Retry-After (>= 1 s from the sandbox) still honoured.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
    }
}

pub fn config(base_url: &str) -> ClientConfig {
    let mut c = ClientConfig::new(base_url);
    c.retry = fast_retry();
    c.request_timeout = Duration::from_secs(10);
    c
}

pub fn client(sb: &Sandbox, key: &str) -> (Client, Arc<Recorder>) {
    client_with(config(&sb.base_url), key)
}

pub fn client_with(config: ClientConfig, key: &str) -> (Client, Arc<Recorder>) {
    let rec = Arc::new(Recorder::default());
    let c = Client::new(config, SecretString::new(key.to_owned()), rec.clone()).expect("client");
    (c, rec)
}

/// A client that sends `X-Sandbox-Fault: <faults>` with every request.
pub fn faulty_client(sb: &Sandbox, key: &str, faults: &str) -> (Client, Arc<Recorder>) {
    let mut c = config(&sb.base_url);
    c.extra_headers = vec![("X-Sandbox-Fault".into(), faults.into())];
    client_with(c, key)
}

pub fn is_request_id(s: &str) -> bool {
    s.len() == 28 && s.starts_with("req_") && s[4..].bytes().all(|c| c.is_ascii_hexdigit())
}

// Server-side set-up and reading shared by the sync tests of both destinations.

/// A sandbox without the demo leads.
pub fn empty() -> SandboxConfig {
    SandboxConfig {
        seed_demo: false,
        ..Default::default()
    }
}

/// A call to the sandbox's admin surface (with the run's token); its JSON answer.
pub async fn admin(sb: &Sandbox, method: reqwest::Method, path: &str, body: Value) -> Value {
    let resp = reqwest::Client::new()
        .request(method, format!("{}{path}", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&body)
        .send()
        .await
        .expect("admin request");
    assert!(resp.status().is_success(), "{path}: {}", resp.status());
    resp.json().await.expect("admin json")
}

/// `count` generated leads on the server, all with `updated_at` when given.
pub async fn bulk(sb: &Sandbox, count: u64, updated_at: Option<&str>) {
    let mut body = json!({ "count": count });
    if let Some(ts) = updated_at {
        body["updated_at"] = json!(ts);
    }
    admin(sb, reqwest::Method::POST, "/leads/bulk", body).await;
}

/// An edit made on the server side (as someone in the web app would).
pub async fn edit(sb: &Sandbox, id: &str, body: Value) {
    admin(sb, reqwest::Method::PATCH, &format!("/leads/{id}"), body).await;
}

/// Every lead on the server, by id.
pub async fn server_leads(c: &Client) -> Vec<Lead> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = c
            .list_leads(&ListLeadsQuery {
                limit: Some(100),
                updated_after: None,
                cursor,
            })
            .await
            .expect("list");
        out.extend(page.data);
        if !page.has_more {
            break;
        }
        cursor = page.next_cursor;
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// The session's real keychain under a service name of its own (`suffix` per test, so parallel
/// tests never see each other's entries); `None` (skipped, said on stderr) where no Secret Service
/// runs, a panic when `PB2B_EXPECT_KEYCHAIN` says one must (scripts/test provides one).
pub fn keychain(suffix: &str) -> Option<pb2b_core::secret::OsKeychain> {
    let keychain =
        pb2b_core::secret::OsKeychain::new(format!("com.prospectb2b.desktop.test.{suffix}"));
    let status = keychain.probe();
    if status.reachable {
        Some(keychain)
    } else if std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_some() {
        panic!(
            "the test session's Secret Service is not reachable: {}",
            status.detail
        );
    } else {
        eprintln!(
            "skipped: no Secret Service here ({}); scripts/test provides one",
            status.detail
        );
        None
    }
}
