//! A local test receiver: an HTTP server on `127.0.0.1:<free port>` that records every request
//! it gets (headers, raw body, time) with its signature verdict, and shows each one as it
//! arrives (the UI's live view).
//!
//! | Concern        | Rule                                                                  |
//! |----------------|-----------------------------------------------------------------------|
//! | Who            | `Host` must be `127.0.0.1:PORT` or `localhost:PORT` (its own port); anything else (a page reached through DNS rebinding) is 403 and not recorded |
//! | Body           | at most `max_body_bytes` (413, not recorded)                           |
//! | Memory         | one store, oldest dropped first while it holds more than `capacity` deliveries or `max_stored_bytes` bytes (each body kept once, as bytes; the newest is always kept) |
//! | Live view      | [`TestReceiver::subscribe`] reads from that store: a subscriber that fell behind gets [`LiveEvent::Skipped`] with how many it missed, then the deliveries still kept, and goes on; it ends only when the receiver stops |

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use serde::Serialize;
use tokio::sync::watch;
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
    /// How many bytes the kept deliveries may hold (bodies, headers; older ones are dropped
    /// first, the newest is always kept). Default 16 MiB.
    pub max_stored_bytes: usize,
    /// The largest body accepted (larger: 413, not recorded). Default 1 MiB.
    pub max_body_bytes: usize,
    /// The tolerance window for the verdict. Default 5 minutes.
    pub tolerance: Duration,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        Self {
            capacity: 200,
            max_stored_bytes: 16 * 1024 * 1024,
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
    /// The body as text (invalid UTF-8 replaced). In Rust `raw_body`: the exact bytes, kept
    /// once (`body()` gives the text).
    #[serde(rename = "body", with = "as_text")]
    #[ts(rename = "body", type = "string")]
    pub raw_body: Vec<u8>,
    /// The verdict against the receiver's secret at arrival time.
    pub verdict: SignatureVerdict,
    /// The status the receiver answered with.
    pub answered_status: u16,
}

impl ReceivedDelivery {
    /// The body as text (invalid UTF-8 replaced); `raw_body` has the exact bytes.
    pub fn body(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.raw_body)
    }

    /// The bytes it holds on the heap (what the store's byte bound counts).
    pub fn stored_bytes(&self) -> usize {
        let texts = [
            &self.received_at,
            &self.method,
            &self.path,
            &self.verdict.reason,
        ]
        .iter()
        .map(|s| s.len())
        .sum::<usize>();
        let optional = [
            &self.event,
            &self.delivery_id,
            &self.timestamp,
            &self.signature,
        ]
        .iter()
        .map(|s| s.as_ref().map_or(0, String::len))
        .sum::<usize>();
        let headers = self
            .headers
            .iter()
            .map(|h| h.name.len() + h.value.len() + std::mem::size_of::<ReceivedHeader>())
            .sum::<usize>();
        std::mem::size_of::<Self>() + self.raw_body.len() + texts + optional + headers
    }
}

/// Bytes serialized as text (invalid UTF-8 replaced).
mod as_text {
    pub fn serialize<S: serde::Serializer>(raw: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&String::from_utf8_lossy(raw))
    }
}

/// What a live subscriber sees next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "LiveEvent.ts")]
pub enum LiveEvent {
    /// A delivery, in arrival order.
    Delivery(Box<ReceivedDelivery>),
    /// `count` deliveries arrived and were dropped from the store before this subscriber read
    /// them; the ones after follow.
    Skipped {
        #[ts(type = "number")]
        count: u64,
    },
}

struct Inner {
    deliveries: VecDeque<ReceivedDelivery>,
    /// What `deliveries` holds, by [`ReceivedDelivery::stored_bytes`].
    bytes: usize,
    secret: Option<SecretString>,
    script: VecDeque<u16>,
    seq: u64,
}

struct Shared {
    inner: Mutex<Inner>,
    /// The seq of the newest delivery (a watch never lags: subscribers read the store).
    newest: watch::Sender<u64>,
    port: u16,
    capacity: usize,
    max_stored_bytes: usize,
    tolerance: Duration,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The live view of a receiver: every delivery as it arrives, read from the receiver's store.
pub struct LiveDeliveries {
    shared: Arc<Shared>,
    newest: watch::Receiver<u64>,
    /// Cancelled when the receiver stops.
    stopped: CancellationToken,
    /// The seq this subscriber reads next.
    next: u64,
}

impl LiveDeliveries {
    /// The next event: a delivery, or a notice of how many were missed (then the later ones).
    /// `None` once the receiver has stopped and everything it kept has been read.
    pub async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            if let Some(event) = self.poll_store() {
                return Some(event);
            }
            if self.stopped.is_cancelled() {
                return None;
            }
            tokio::select! {
                _ = self.newest.changed() => {}
                _ = self.stopped.cancelled() => {}
            }
        }
    }

    /// The next delivery, passing over lag notices (for callers that only count deliveries).
    pub async fn next_delivery(&mut self) -> Option<ReceivedDelivery> {
        loop {
            match self.next().await? {
                LiveEvent::Delivery(d) => return Some(*d),
                LiveEvent::Skipped { .. } => continue,
            }
        }
    }

    fn poll_store(&mut self) -> Option<LiveEvent> {
        let inner = self.shared.lock();
        if inner.seq < self.next {
            return None;
        }
        match inner.deliveries.iter().find(|d| d.seq >= self.next) {
            Some(d) if d.seq == self.next => {
                self.next += 1;
                Some(LiveEvent::Delivery(Box::new(d.clone())))
            }
            Some(d) => {
                let count = d.seq - self.next;
                self.next = d.seq;
                Some(LiveEvent::Skipped { count })
            }
            None => {
                // Everything newer was dropped (or cleared) before it was read.
                let count = inner.seq + 1 - self.next;
                self.next = inner.seq + 1;
                Some(LiveEvent::Skipped { count })
            }
        }
    }
}

impl std::fmt::Debug for LiveDeliveries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveDeliveries")
            .field("next", &self.next)
            .finish()
    }
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
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                deliveries: VecDeque::new(),
                bytes: 0,
                secret: None,
                script: VecDeque::new(),
                seq: 0,
            }),
            newest: watch::channel(0).0,
            port: addr.port(),
            capacity: config.capacity.max(1),
            max_stored_bytes: config.max_stored_bytes,
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
        self.shared.lock()
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
        let mut inner = self.lock();
        inner.deliveries.clear();
        inner.bytes = 0;
    }

    /// The bytes the kept deliveries hold (at most `max_stored_bytes`, or the newest alone).
    pub fn stored_bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Every delivery from now on, as it arrives (see [`LiveDeliveries::next`]).
    pub fn subscribe(&self) -> LiveDeliveries {
        let newest = self.shared.newest.subscribe();
        let next = self.lock().seq + 1;
        LiveDeliveries {
            shared: self.shared.clone(),
            newest,
            stopped: self.cancel.clone(),
            next,
        }
    }

    /// Stops listening and waits for the server task to end; live subscribers end too.
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

/// `127.0.0.1:PORT` or `localhost:PORT` (its own port): what a request to this receiver names.
fn is_own_host(host: &str, port: u16) -> bool {
    let (name, named_port) = match host.rsplit_once(':') {
        Some((name, p)) => match p.parse::<u16>() {
            Ok(p) => (name, p),
            Err(_) => return false,
        },
        None => (host, 80),
    };
    named_port == port && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let named = uri.authority().map(|a| a.as_str().to_owned()).or_else(|| {
        headers
            .get(axum::http::header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    });
    if !named.is_some_and(|h| is_own_host(&h, shared.port)) {
        return (
            StatusCode::FORBIDDEN,
            "the ProspectB2B Desktop test receiver answers only requests addressed to 127.0.0.1 or localhost and its port",
        );
    }
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
    let (seq, status) = {
        let mut inner = shared.lock();
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
            raw_body: body.to_vec(),
            verdict,
            answered_status: status,
        };
        let size = d.stored_bytes();
        while let Some(oldest) = inner.deliveries.front() {
            if inner.deliveries.len() < shared.capacity
                && inner.bytes + size <= shared.max_stored_bytes
            {
                break;
            }
            inner.bytes -= oldest.stored_bytes();
            inner.deliveries.pop_front();
        }
        inner.bytes += size;
        inner.deliveries.push_back(d);
        (inner.seq, status)
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    shared.newest.send_replace(seq);
    let text = if status.is_success() {
        "received by the ProspectB2B Desktop test receiver"
    } else {
        "the ProspectB2B Desktop test receiver was told to answer with an error"
    };
    (status, text)
}
