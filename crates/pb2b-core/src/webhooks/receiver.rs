//! A local test receiver: an HTTP server on `127.0.0.1:<free port>` that records every request
//! it gets (headers, raw body, time) with its signature verdict, keeps the last N, and
//! broadcasts each one as it arrives (the UI's live view).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::Serialize;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use super::signature::{
    now_unix, verify_headers, SignatureVerdict, DEFAULT_TOLERANCE, HEADER_DELIVERY, HEADER_EVENT,
    HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
use crate::error::{codes, ErrorReport};
use crate::secret::SecretString;

/// The path deliveries are posted to (`http://127.0.0.1:<port>/prospectb2b/webhooks`).
pub const RECEIVER_PATH: &str = "/prospectb2b/webhooks";

/// How the receiver behaves.
#[derive(Debug, Clone)]
pub struct ReceiverConfig {
    /// How many deliveries are kept (older ones are dropped first). Default 200.
    pub capacity: usize,
    /// The largest body accepted (larger: 413, not recorded). Default 1 MiB.
    pub max_body_bytes: usize,
    /// The tolerance window for the verdict. Default 5 minutes.
    pub tolerance: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            capacity: 200,
            max_body_bytes: 1024 * 1024,
            tolerance: DEFAULT_TOLERANCE,
        }
    }
}

/// A header as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ReceivedHeader.ts")]
pub struct ReceivedHeader {
    pub name: String,
    pub value: String,
}

/// One request the receiver got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ReceivedDelivery.ts")]
pub struct ReceivedDelivery {
    /// 1, 2, 3... in arrival order since the receiver started.
    #[ts(type = "number")]
    pub seq: u64,
    /// When it arrived, UTC with milliseconds.
    pub received_at: String,
    pub method: String,
    pub path: String,
    /// `X-ProspectB2B-Event`, `-Delivery`, `-Timestamp`, `-Signature` as received.
    pub event: Option<String>,
    pub delivery_id: Option<String>,
    pub timestamp: Option<String>,
    pub signature: Option<String>,
    pub headers: Vec<ReceivedHeader>,
    /// The body as text (invalid UTF-8 replaced); `raw_body` has the exact bytes.
    pub body: String,
    #[serde(skip)]
    #[ts(skip)]
    pub raw_body: Vec<u8>,
    /// The verdict against the receiver's secret at arrival time.
    pub verdict: SignatureVerdict,
    /// The status the receiver answered with.
    pub answered_status: u16,
}

struct Inner {
    deliveries: VecDeque<ReceivedDelivery>,
    secret: Option<SecretString>,
    script: VecDeque<u16>,
    seq: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<ReceivedDelivery>,
    capacity: usize,
    tolerance: Duration,
}

/// The running receiver. Dropping it stops the server too; [`TestReceiver::stop`] also waits.
pub struct TestReceiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for TestReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestReceiver")
            .field("addr", &self.addr)
            .finish()
    }
}

impl TestReceiver {
    /// Starts listening on `127.0.0.1:0` (a free port). No secret yet: deliveries are recorded
    /// with a `no_secret` verdict until [`TestReceiver::set_secret`].
    pub async fn start(config: ReceiverConfig) -> Result<TestReceiver, ErrorReport> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| {
                ErrorReport::local(
                    codes::INTERNAL,
                    format!("The test receiver could not listen on 127.0.0.1: {e}"),
                    true,
                )
            })?;
        let addr = listener.local_addr().map_err(|e| {
            ErrorReport::local(
                codes::INTERNAL,
                format!("The test receiver has no address: {e}"),
                true,
            )
        })?;
        let (tx, _) = broadcast::channel(64);
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                deliveries: VecDeque::new(),
                secret: None,
                script: VecDeque::new(),
                seq: 0,
            }),
            tx,
            capacity: config.capacity.max(1),
            tolerance: config.tolerance,
        });
        let app = axum::Router::new()
            .fallback(receive)
            .layer(DefaultBodyLimit::max(config.max_body_bytes))
            .with_state(shared.clone());
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
        });
        Ok(TestReceiver {
            addr,
            shared,
            cancel,
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to register as the endpoint (`http://127.0.0.1:<port>/prospectb2b/webhooks`).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, RECEIVER_PATH)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The secret incoming deliveries are checked against (`None`: record without checking).
    pub fn set_secret(&self, secret: Option<SecretString>) {
        self.lock().secret = secret;
    }

    /// Answers the next requests with these statuses, in order, then 200 again (for example
    /// `[500]` to watch an automatic retry, `[410]` to watch a delivery fail at once).
    pub fn answer_next_with(&self, statuses: &[u16]) {
        let mut inner = self.lock();
        inner.script = statuses
            .iter()
            .map(|s| if (200..=599).contains(s) { *s } else { 500 })
            .collect();
    }

    /// The kept deliveries, oldest first.
    pub fn deliveries(&self) -> Vec<ReceivedDelivery> {
        self.lock().deliveries.iter().cloned().collect()
    }

    /// Forgets the kept deliveries (the sequence number keeps counting).
    pub fn clear(&self) {
        self.lock().deliveries.clear();
    }

    /// Every delivery as it arrives (a slow subscriber that falls more than 64 behind gets
    /// `RecvError::Lagged` and can re-read [`TestReceiver::deliveries`]).
    pub fn subscribe(&self) -> broadcast::Receiver<ReceivedDelivery> {
        self.shared.tx.subscribe()
    }

    /// Stops listening and waits for the server task to end.
    pub async fn stop(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let pairs: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let received_at = crate::api::observer::now_utc_ms();
    let delivery = {
        let mut inner = shared
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let verdict = match &inner.secret {
            Some(secret) => verify_headers(secret, &pairs, &body, shared.tolerance, now_unix()),
            None => SignatureVerdict::no_secret(),
        };
        let status = inner.script.pop_front().unwrap_or(200);
        inner.seq += 1;
        let d = ReceivedDelivery {
            seq: inner.seq,
            received_at,
            method: method.to_string(),
            path: uri.path().to_owned(),
            event: get(HEADER_EVENT),
            delivery_id: get(HEADER_DELIVERY),
            timestamp: get(HEADER_TIMESTAMP),
            signature: get(HEADER_SIGNATURE),
            headers: pairs
                .iter()
                .map(|(n, v)| ReceivedHeader {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
            body: String::from_utf8_lossy(&body).into_owned(),
            raw_body: body.to_vec(),
            verdict,
            answered_status: status,
        };
        while inner.deliveries.len() >= shared.capacity {
            inner.deliveries.pop_front();
        }
        inner.deliveries.push_back(d.clone());
        d
    };
    let status = StatusCode::from_u16(delivery.answered_status).unwrap_or(StatusCode::OK);
    let _ = shared.tx.send(delivery);
    let text = if status.is_success() {
        "received by the ProspectB2B Desktop test receiver"
    } else {
        "the ProspectB2B Desktop test receiver was told to answer with an error"
    };
    (status, text)
}
