//! The public API: dispatch, authentication, rate limit, idempotency and the operations.

use crate::rules;
use crate::store::{
    ExportRec, IdemDone, IdemEntry, IdemState, ImportRec, ImportRow, KeyRec, Lead, Store,
    WebhookRec,
};
use crate::util::{
    fmt_ts, hmac_hex, new_id, new_request_id, now_ms, parse_ts, valid_email, valid_hostname,
};
use crate::{hooks, SandboxConfig, SandboxKeys};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use base64::Engine;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::ops::Bound;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

pub const BASE: &str = "/api/public/v1";

pub struct App {
    pub cfg: SandboxConfig,
    pub store: Mutex<Store>,
    pub origin: String,
    /// The bound port: the only one a request's `Host` may name.
    pub port: u16,
    /// This run's admin token (see [`crate::guard`]).
    pub admin_token: String,
    pub signing_key: Vec<u8>,
    pub http: reqwest::Client,
    pub shutting_down: AtomicBool,
}

impl App {
    pub fn lock(&self) -> MutexGuard<'_, Store> {
        match self.store.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

pub fn keys_of(st: &Store) -> SandboxKeys {
    let get = |n: &str| {
        st.keys
            .iter()
            .find(|k| k.name == n)
            .map(|k| k.token.clone())
            .unwrap_or_default()
    };
    SandboxKeys {
        full: get("full"),
        read_only: get("read_only"),
        leads_read: get("leads_read"),
        revoked: get("revoked"),
        expired: get("expired"),
        full_2: get("full_2"),
    }
}

/// An error in the envelope `{"error": {code, message, details}, "request_id"}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Value,
    pub headers: Vec<(HeaderName, String)>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: json!({}),
            headers: Vec::new(),
        }
    }
    pub fn details(mut self, d: Value) -> Self {
        self.details = d;
        self
    }
    pub fn header(mut self, name: HeaderName, v: impl Into<String>) -> Self {
        self.headers.push((name, v.into()));
        self
    }
    pub fn not_found(what: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    /// The error object as an import row's `error` shows it: `{code, message, details}`.
    pub fn to_object(&self) -> Value {
        json!({"code": self.code, "message": self.message, "details": self.details})
    }
    pub fn invalid_json(msg: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_json", msg)
    }
    pub fn into_reply(self) -> Reply {
        let body = json!({
            "error": {"code": self.code, "message": self.message, "details": self.details},
            "request_id": "__RID__",
        });
        Reply {
            status: self.status,
            body: ReplyBody::ErrorJson(body),
            headers: self.headers,
            replayed_request_id: None,
            drop_connection: false,
        }
    }
}

/// One field error of a validation_error.
pub struct FieldErrors {
    location: &'static str,
    items: Vec<Value>,
}

impl FieldErrors {
    pub fn new(location: &'static str) -> Self {
        FieldErrors {
            location,
            items: Vec::new(),
        }
    }
    pub fn add(&mut self, field: &str, code: &str, message: impl Into<String>) {
        self.items.push(json!({
            "field": field, "location": self.location, "code": code, "message": message.into()
        }));
    }
    pub fn into_result(self) -> Result<(), ApiError> {
        if self.items.is_empty() {
            return Ok(());
        }
        let status = if self.location == "query" {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        let n = self.items.len();
        Err(ApiError::new(
            status,
            "validation_error",
            format!("{n} invalid field{}", if n == 1 { "" } else { "s" }),
        )
        .details(json!({ "fields": self.items })))
    }
}

pub enum ReplyBody {
    None,
    /// An envelope already serialized, with `__RID__` not yet replaced: see `finish`.
    Json(String),
    ErrorJson(Value),
    Raw(String),
}

pub struct Reply {
    pub status: StatusCode,
    pub body: ReplyBody,
    pub headers: Vec<(HeaderName, String)>,
    pub replayed_request_id: Option<String>,
    pub drop_connection: bool,
}

#[derive(Serialize)]
struct Env<'a, T: Serialize> {
    data: T,
    request_id: &'a str,
}

#[derive(Serialize)]
struct ListEnv<'a, T: Serialize> {
    data: Vec<T>,
    pagination: Pagination,
    request_id: &'a str,
}

#[derive(Serialize)]
struct Pagination {
    next_cursor: Option<String>,
    has_more: bool,
}

/// A JSON reply of `envelope` (every success body is one of the envelopes above).
fn json_reply(status: StatusCode, envelope: &impl Serialize) -> Result<Reply, ApiError> {
    let body = serde_json::to_string(envelope).map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            e.to_string(),
        )
    })?;
    Ok(Reply {
        status,
        body: ReplyBody::Json(body),
        headers: Vec::new(),
        replayed_request_id: None,
        drop_connection: false,
    })
}

fn ok<T: Serialize>(status: StatusCode, rid: &str, data: T) -> Result<Reply, ApiError> {
    json_reply(
        status,
        &Env {
            data,
            request_id: rid,
        },
    )
}

fn ok_list<T: Serialize>(
    rid: &str,
    data: Vec<T>,
    next_cursor: Option<String>,
) -> Result<Reply, ApiError> {
    let has_more = next_cursor.is_some();
    json_reply(
        StatusCode::OK,
        &ListEnv {
            data,
            pagination: Pagination {
                next_cursor,
                has_more,
            },
            request_id: rid,
        },
    )
}

/// Turns a reply into an HTTP response with `X-Request-Id` and the extra headers.
pub fn finish(rid: &str, reply: Reply, extra: Vec<(HeaderName, String)>) -> Response {
    let rid = reply
        .replayed_request_id
        .as_deref()
        .unwrap_or(rid)
        .to_string();
    let (body, ctype) = match reply.body {
        ReplyBody::None => (Body::empty(), None),
        ReplyBody::Json(s) => (Body::from(s), Some("application/json")),
        ReplyBody::ErrorJson(mut v) => {
            v["request_id"] = Value::String(rid.clone());
            (Body::from(v.to_string()), Some("application/json"))
        }
        ReplyBody::Raw(s) => (Body::from(s), Some("text/csv; charset=utf-8")),
    };
    let body = if reply.drop_connection {
        let stream = futures_util::stream::once(async {
            Err::<Bytes, std::io::Error>(std::io::Error::other(
                "sandbox fault: connection dropped after commit",
            ))
        });
        Body::from_stream(stream)
    } else {
        body
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    if let Some(ct) = ctype {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    for (name, value) in reply.headers.into_iter().chain(extra) {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// Faults asked for with the `X-Sandbox-Fault` header.
#[derive(Default, Debug, Clone)]
pub struct Faults {
    pub f500: bool,
    pub drop: bool,
    pub f429: bool,
    pub export_fail: bool,
    pub import_fail: bool,
    pub latency_ms: u64,
    /// Sleep after the Idempotency-Key is reserved (a slow write), to show idempotency_key_in_use.
    pub hold_ms: u64,
}

impl Faults {
    fn from_headers(h: &HeaderMap) -> Faults {
        let mut f = Faults::default();
        for v in h.get_all("x-sandbox-fault") {
            let Ok(s) = v.to_str() else { continue };
            for tok in s.split(',').map(str::trim) {
                match tok {
                    "500" => f.f500 = true,
                    "drop-after-commit" => f.drop = true,
                    "429" => f.f429 = true,
                    "export-fail" => f.export_fail = true,
                    "import-fail" => f.import_fail = true,
                    t => {
                        if let Some(ms) = t
                            .strip_prefix("latency=")
                            .and_then(|m| m.parse::<u64>().ok())
                        {
                            f.latency_ms = ms.min(60_000);
                        }
                        if let Some(ms) =
                            t.strip_prefix("hold=").and_then(|m| m.parse::<u64>().ok())
                        {
                            f.hold_ms = ms.min(60_000);
                        }
                    }
                }
            }
        }
        f
    }
}

/// The one entry point: public API, admin surface and export files.
pub async fn entry(State(app): State<Arc<App>>, req: Request) -> Response {
    let rid = new_request_id();
    if let Err(refused) = crate::guard::check_host(&req, app.port) {
        return finish(&rid, refused.into_reply(), Vec::new());
    }
    let path = req.uri().path().to_string();
    if path == BASE || path.starts_with(&format!("{BASE}/")) {
        return public(app, rid, req).await;
    }
    if path.starts_with("/_sandbox/") {
        let reply = match crate::guard::check_admin_token(&req, &app.admin_token) {
            Ok(()) => crate::admin::admin(&app, &rid, req)
                .await
                .unwrap_or_else(ApiError::into_reply),
            Err(refused) => refused.into_reply(),
        };
        return finish(&rid, reply, Vec::new());
    }
    if let Some(id) = path.strip_prefix("/files/exports/") {
        let id = id.to_string();
        let reply = crate::admin::export_file(&app, &id, req.uri().query().unwrap_or(""))
            .unwrap_or_else(ApiError::into_reply);
        return finish(&rid, reply, Vec::new());
    }
    finish(&rid, ApiError::not_found("path").into_reply(), Vec::new())
}

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Me,
    CreateLead,
    UpsertLead,
    ListLeads,
    GetLead(String),
    PatchLead(String),
    CreateImport,
    GetImport(String),
    ListImportResults(String),
    CreateExport,
    GetExport(String),
    ExportDownload(String),
    CreateWebhook,
    ListWebhooks,
    GetWebhook(String),
    PatchWebhook(String),
    DeleteWebhook(String),
    RotateSecret(String),
    ListDeliveries(String),
    RetryDelivery(String, String),
}

impl Op {
    fn scope(&self) -> &'static str {
        match self {
            Op::Me => "me.read",
            Op::CreateLead | Op::UpsertLead | Op::PatchLead(_) => "leads.write",
            Op::CreateImport | Op::GetImport(_) | Op::ListImportResults(_) => "leads.import",
            Op::ListLeads | Op::GetLead(_) => "leads.read",
            Op::CreateExport | Op::GetExport(_) | Op::ExportDownload(_) => "leads.export",
            _ => "webhooks.write",
        }
    }
    fn is_write(&self) -> bool {
        !matches!(
            self,
            Op::Me
                | Op::ListLeads
                | Op::GetLead(_)
                | Op::GetImport(_)
                | Op::ListImportResults(_)
                | Op::GetExport(_)
                | Op::ExportDownload(_)
                | Op::ListWebhooks
                | Op::GetWebhook(_)
                | Op::ListDeliveries(_)
        )
    }
    fn idempotent(&self) -> bool {
        matches!(
            self,
            Op::CreateLead
                | Op::UpsertLead
                | Op::CreateImport
                | Op::CreateExport
                | Op::CreateWebhook
                | Op::RotateSecret(_)
                | Op::RetryDelivery(..)
        )
    }
    fn has_body(&self) -> bool {
        self.is_write() && !matches!(self, Op::DeleteWebhook(_))
    }
}

fn route(method: &Method, path: &str) -> Result<Op, ApiError> {
    let rest = path.strip_prefix(BASE).unwrap_or("");
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let s = |x: &str| x.to_string();
    let m = method.clone();
    let (allowed, op): (&str, Option<Op>) = match segs.as_slice() {
        ["me"] => ("GET", (m == Method::GET).then_some(Op::Me)),
        ["leads"] => (
            "GET, POST",
            match m {
                Method::POST => Some(Op::CreateLead),
                Method::GET => Some(Op::ListLeads),
                _ => None,
            },
        ),
        ["leads", "upsert"] => ("POST", (m == Method::POST).then_some(Op::UpsertLead)),
        ["imports"] => ("POST", (m == Method::POST).then_some(Op::CreateImport)),
        ["imports", id] => ("GET", (m == Method::GET).then(|| Op::GetImport(s(id)))),
        ["imports", id, "results"] => (
            "GET",
            (m == Method::GET).then(|| Op::ListImportResults(s(id))),
        ),
        ["leads", id] => (
            "GET, PATCH",
            match m {
                Method::GET => Some(Op::GetLead(s(id))),
                Method::PATCH => Some(Op::PatchLead(s(id))),
                _ => None,
            },
        ),
        ["exports"] => ("POST", (m == Method::POST).then_some(Op::CreateExport)),
        ["exports", id] => ("GET", (m == Method::GET).then(|| Op::GetExport(s(id)))),
        ["exports", id, "download"] => {
            ("GET", (m == Method::GET).then(|| Op::ExportDownload(s(id))))
        }
        ["webhooks"] => (
            "GET, POST",
            match m {
                Method::POST => Some(Op::CreateWebhook),
                Method::GET => Some(Op::ListWebhooks),
                _ => None,
            },
        ),
        ["webhooks", id] => (
            "GET, PATCH, DELETE",
            match m {
                Method::GET => Some(Op::GetWebhook(s(id))),
                Method::PATCH => Some(Op::PatchWebhook(s(id))),
                Method::DELETE => Some(Op::DeleteWebhook(s(id))),
                _ => None,
            },
        ),
        ["webhooks", id, "rotate-secret"] => {
            ("POST", (m == Method::POST).then(|| Op::RotateSecret(s(id))))
        }
        ["webhooks", id, "deliveries"] => {
            ("GET", (m == Method::GET).then(|| Op::ListDeliveries(s(id))))
        }
        ["webhooks", id, "deliveries", did, "retry"] => (
            "POST",
            (m == Method::POST).then(|| Op::RetryDelivery(s(id), s(did))),
        ),
        _ => return Err(ApiError::not_found("path")),
    };
    op.ok_or_else(|| {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed here; allowed: {allowed}"),
        )
        .header(header::ALLOW, allowed)
    })
}

fn authenticate(app: &App, headers: &HeaderMap) -> Result<KeyRec, ApiError> {
    let unauthorized = |code: &'static str, msg: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, code, msg)
            .header(header::WWW_AUTHENTICATE, "Bearer")
    };
    let Some(raw) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "unauthorized",
            "missing Authorization header (Bearer API key)",
        ));
    };
    let Ok(raw) = raw.to_str() else {
        return Err(unauthorized(
            "invalid_api_key",
            "Authorization header is not valid ASCII",
        ));
    };
    let Some(token) = raw.strip_prefix("Bearer ").map(str::trim) else {
        return Err(unauthorized(
            "invalid_api_key",
            "Authorization must be 'Bearer <api key>'",
        ));
    };
    if !well_formed_key(token) {
        return Err(unauthorized(
            "invalid_api_key",
            "API key is malformed (expected pb2b_test_<prefix>_<secret> in the sandbox)",
        ));
    }
    let st = app.lock();
    let Some(key) = st.keys.iter().find(|k| k.token == token) else {
        return Err(unauthorized("invalid_api_key", "API key not recognised"));
    };
    if key.revoked {
        return Err(unauthorized("api_key_revoked", "API key has been revoked"));
    }
    if key.expires_at.is_some_and(|e| e <= now_ms()) {
        return Err(unauthorized("api_key_expired", "API key has expired"));
    }
    Ok(key.clone())
}

fn well_formed_key(t: &str) -> bool {
    let parts: Vec<&str> = t.split('_').collect();
    parts.len() == 4
        && parts[0] == "pb2b"
        && (parts[1] == "test" || parts[1] == "live")
        && parts[2].len() == 8
        && parts[2]
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && parts[3].len() == 32
        && parts[3].bytes().all(|c| c.is_ascii_alphanumeric())
}

/// Rolling 60 s window per key. Adds X-RateLimit-* to `extra` when a limit is configured.
fn rate_limit(
    app: &App,
    key: &KeyRec,
    forced: bool,
    draw429: f64,
    extra: &mut Vec<(HeaderName, String)>,
) -> Result<(), ApiError> {
    let mut st = app.lock();
    let mut forced = forced;
    if draw429 < app.cfg.fault_429_burst {
        st.burst
            .insert(key.id.clone(), app.cfg.fault_429_burst_len.max(1));
    }
    if let Some(n) = st.burst.get_mut(&key.id) {
        if *n > 0 {
            *n -= 1;
            forced = true;
        }
    }
    let now = Instant::now();
    let limit = app.cfg.rate_limit_per_minute;
    let window = st.rate.entry(key.id.clone()).or_default();
    while window
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60))
    {
        window.pop_front();
    }
    let secs_until_free = |w: &std::collections::VecDeque<Instant>| -> u64 {
        w.front()
            .map(|t| {
                let left = Duration::from_secs(60).saturating_sub(now.duration_since(*t));
                left.as_millis().div_ceil(1000) as u64
            })
            .unwrap_or(0)
            .max(1)
    };
    let over = limit.is_some_and(|l| window.len() as u32 >= l);
    if over || forced {
        let retry = if over { secs_until_free(window) } else { 1 };
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "rate limit exceeded; retry later",
        )
        .details(json!({ "retry_after": retry }))
        .header(header::RETRY_AFTER, retry.to_string());
        if let Some(l) = limit {
            let remaining = l.saturating_sub(window.len() as u32);
            extra.push((HeaderName::from_static("x-ratelimit-limit"), l.to_string()));
            extra.push((
                HeaderName::from_static("x-ratelimit-remaining"),
                remaining.to_string(),
            ));
            extra.push((
                HeaderName::from_static("x-ratelimit-reset"),
                if remaining > 0 { 0 } else { retry }.to_string(),
            ));
            err = err.details(json!({ "retry_after": retry }));
        }
        return Err(err);
    }
    if let Some(l) = limit {
        window.push_back(now);
        let remaining = l.saturating_sub(window.len() as u32);
        let reset = if remaining > 0 {
            0
        } else {
            secs_until_free(window)
        };
        extra.push((HeaderName::from_static("x-ratelimit-limit"), l.to_string()));
        extra.push((
            HeaderName::from_static("x-ratelimit-remaining"),
            remaining.to_string(),
        ));
        extra.push((
            HeaderName::from_static("x-ratelimit-reset"),
            reset.to_string(),
        ));
    }
    Ok(())
}

pub async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let limit = app.cfg.body_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body exceeds {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
    {
        if len > limit as u64 {
            return Err(too_large());
        }
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            let msg = format!("{e:?}");
            if msg.contains("LengthLimit") || msg.to_ascii_lowercase().contains("length limit") {
                Err(too_large())
            } else {
                Err(ApiError::invalid_json(format!(
                    "could not read the request body: {e}"
                )))
            }
        }
    }
}

/// Parses a JSON object body (empty body = None). 415 / 400 invalid_json as documented.
pub fn parse_object(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<Option<Map<String, Value>>, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mime = ct.split(';').next().unwrap_or("").trim().to_string();
    if mime != "application/json" && !(mime.starts_with("application/") && mime.ends_with("+json"))
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("Content-Type must be application/json (got '{mime}')"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        ApiError::invalid_json(format!(
            "request body is not valid UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let v: Value = serde_json::from_str(text).map_err(|e| {
        ApiError::invalid_json(format!("request body is not valid JSON: {e}"))
            .details(json!({"line": e.line(), "column": e.column()}))
    })?;
    match v {
        Value::Object(m) => Ok(Some(m)),
        other => Err(ApiError::invalid_json(format!(
            "request body must be a JSON object, not {}",
            type_name(&other)
        ))),
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

struct Ctx<'a> {
    app: &'a Arc<App>,
    rid: &'a str,
    faults: &'a Faults,
}

async fn public(app: Arc<App>, rid: String, req: Request) -> Response {
    let faults = Faults::from_headers(req.headers());
    let (d500, ddrop, d429) = {
        let mut st = app.lock();
        (
            st.fault_rng.next_f64(),
            st.fault_rng.next_f64(),
            st.fault_rng.next_f64(),
        )
    };
    let latency = app.cfg.latency_ms + faults.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let mut extra = Vec::new();
    let reply = match run(&app, &rid, req, &faults, (d500, ddrop, d429), &mut extra).await {
        Ok(r) => r,
        Err(e) => e.into_reply(),
    };
    tracing::debug!(request_id = %rid, status = reply.status.as_u16(), "public request");
    finish(&rid, reply, extra)
}

async fn run(
    app: &Arc<App>,
    rid: &str,
    req: Request,
    faults: &Faults,
    (d500, ddrop, d429): (f64, f64, f64),
    extra: &mut Vec<(HeaderName, String)>,
) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let key = authenticate(app, &parts.headers)?;
    rate_limit(app, &key, faults.f429, d429, extra)?;
    let op = route(&parts.method, parts.uri.path())?;
    if op.is_write() && key.read_only {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "read_only_key",
            "this API key is read-only; writes are denied",
        ));
    }
    let scope = op.scope();
    if !key.scopes.iter().any(|s| s == scope) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("this operation needs the scope '{scope}'"),
        )
        .details(json!({"required_scopes": [scope], "granted_scopes": key.scopes})));
    }
    let query = parts.uri.query().unwrap_or("").to_string();
    let ctx = Ctx { app, rid, faults };
    if !op.is_write() {
        if faults.f500 {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "injected fault: the server failed",
            ));
        }
        if op == Op::Me {
            let ws = crate::store::Workspace::new(&app.cfg.workspace);
            return ok(StatusCode::OK, rid, me_data(&key, &ws));
        }
        return read_op(&ctx, &op, &query);
    }
    let bytes = if op.has_body() {
        read_body(app, &parts.headers, body).await?
    } else {
        Bytes::new()
    };
    let obj = parse_object(&parts.headers, &bytes)?;

    // Idempotency: reserve the key before running the write.
    let mut reserved: Option<(String, String)> = None;
    if op.idempotent() {
        if let Some(ik) = parts.headers.get("idempotency-key") {
            let ik = ik.to_str().unwrap_or("\u{1}");
            if !rules::matches(rules::IDEMPOTENCY_KEY, ik) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_idempotency_key",
                    "Idempotency-Key must be 1..255 visible ASCII characters (no spaces)",
                ));
            }
            let fingerprint = crate::store::fingerprint(
                parts.method.as_str(),
                parts.uri.path(),
                obj.as_ref().unwrap_or(&Map::new()),
            );
            let slot = (key.id.clone(), ik.to_string());
            let mut st = app.lock();
            let ttl = app.cfg.idempotency_ttl.as_millis() as i64;
            if let Some(entry) = st.idem.get(&slot) {
                let expired =
                    matches!(&entry.state, IdemState::Done(d) if now_ms() - d.created_at > ttl);
                if !expired {
                    if entry.fingerprint != fingerprint {
                        return Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "idempotency_key_reused",
                            "this Idempotency-Key was already used with a different request; do not retry",
                        ));
                    }
                    return match &entry.state {
                        IdemState::InFlight => Err(ApiError::new(
                            StatusCode::CONFLICT,
                            "idempotency_key_in_use",
                            "a request with this Idempotency-Key is still being processed; retry shortly",
                        )
                        .header(header::RETRY_AFTER, "1")),
                        IdemState::Done(done) => Ok(Reply {
                            status: StatusCode::from_u16(done.status).unwrap_or(StatusCode::OK),
                            body: ReplyBody::Json(done.body.clone()),
                            headers: vec![(HeaderName::from_static("idempotent-replayed"), "true".into())],
                            replayed_request_id: Some(done.request_id.clone()),
                            drop_connection: false,
                        }),
                    };
                }
            }
            if st.idem.len() % 4096 == 4095 {
                // Forget completed keys past their time to live.
                let now = now_ms();
                st.idem.retain(|_, e| match &e.state {
                    IdemState::Done(d) => now - d.created_at <= ttl,
                    IdemState::InFlight => true,
                });
            }
            st.idem.insert(
                slot.clone(),
                IdemEntry {
                    fingerprint,
                    state: IdemState::InFlight,
                },
            );
            reserved = Some(slot);
        } else if op == Op::CreateImport {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_idempotency_key",
                "POST /imports needs an Idempotency-Key (1..255 visible ASCII characters): \
                 a retried import must never run twice",
            ));
        }
    }
    let release = |app: &App, reserved: &Option<(String, String)>| {
        if let Some(slot) = reserved {
            app.lock().idem.remove(slot);
        }
    };
    if faults.hold_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.hold_ms)).await;
    }
    if faults.f500 || d500 < app.cfg.fault_500 {
        release(app, &reserved);
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "injected fault: the server failed before the write committed",
        ));
    }
    let result = write_op(&ctx, &op, obj.unwrap_or_default());
    let mut reply = match result {
        Ok(r) => r,
        Err(e) => {
            release(app, &reserved);
            return Err(e);
        }
    };
    if let Some(slot) = reserved {
        if let ReplyBody::Json(body) = &reply.body {
            let done = IdemDone {
                status: reply.status.as_u16(),
                body: body.clone(),
                request_id: rid.to_string(),
                created_at: now_ms(),
            };
            let mut guard = app.lock();
            let st = &mut *guard;
            #[derive(Serialize)]
            struct Stored<'a> {
                api_key: &'a str,
                key: &'a str,
                fingerprint: &'a str,
                done: &'a IdemDone,
            }
            if let Some(entry) = st.idem.get_mut(&slot) {
                entry.state = IdemState::Done(done.clone());
                let stored = Stored {
                    api_key: &slot.0,
                    key: &slot.1,
                    fingerprint: &entry.fingerprint,
                    done: &done,
                };
                let id = format!("{}\u{1f}{}", slot.0, slot.1);
                if let Some(db) = &st.db {
                    db.put("idem", &id, &stored);
                }
            }
        }
    }
    if faults.drop || ddrop < app.cfg.fault_drop_after_commit {
        reply.drop_connection = true;
    }
    Ok(reply)
}

fn read_op(ctx: &Ctx, op: &Op, query: &str) -> Result<Reply, ApiError> {
    let rid = ctx.rid;
    match op {
        Op::ListLeads => list_leads(ctx, query),
        Op::GetLead(id) => {
            let st = ctx.app.lock();
            let lead = st
                .leads
                .get(id)
                .ok_or_else(|| ApiError::not_found("lead"))?;
            ok(StatusCode::OK, rid, lead)
        }
        Op::GetImport(id) => {
            let st = ctx.app.lock();
            let job = st
                .imports
                .get(id)
                .ok_or_else(|| ApiError::not_found("import"))?;
            ok(StatusCode::OK, rid, job.public())
        }
        Op::ListImportResults(id) => {
            let q = parse_query(query, &["limit", "cursor"])?;
            let st = ctx.app.lock();
            let job = st
                .imports
                .get(id)
                .ok_or_else(|| ApiError::not_found("import"))?;
            // The rows are serialized as they are (`ImportRow`'s fields), under the lock: a
            // `Value` per row, built for every row before paging, cost ~3% of a bulk import's
            // work (`docs/PERFORMANCE.md`, issue 12, seventh round).
            let items = job
                .results
                .iter()
                .map(|r| (r.index as i64, String::new(), r));
            page_vec(ctx, items, &q, &format!("import-results:{id}"), false, 1000)
        }
        Op::GetExport(id) => {
            let mut st = ctx.app.lock();
            expire_exports(&mut st);
            let e = st
                .exports
                .get(id)
                .ok_or_else(|| ApiError::not_found("export"))?;
            ok(StatusCode::OK, rid, e.public())
        }
        Op::ExportDownload(id) => {
            let mut st = ctx.app.lock();
            expire_exports(&mut st);
            let e = st
                .exports
                .get(id)
                .ok_or_else(|| ApiError::not_found("export"))?;
            ok(StatusCode::OK, rid, download_probe(ctx.app, e))
        }
        Op::ListWebhooks => {
            let q = parse_query(query, &["limit", "cursor"])?;
            let st = ctx.app.lock();
            let mut items: Vec<(i64, String, Value)> = st
                .webhooks
                .values()
                .map(|w| (w.created_at, w.id.clone(), w.public(false)))
                .collect();
            items.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            drop(st);
            page_vec(ctx, items, &q, "webhooks", false, 100)
        }
        Op::GetWebhook(id) => {
            let st = ctx.app.lock();
            let w = st
                .webhooks
                .get(id)
                .ok_or_else(|| ApiError::not_found("webhook"))?;
            ok(StatusCode::OK, rid, w.public(false))
        }
        Op::ListDeliveries(id) => {
            let q = parse_query(query, &["limit", "cursor"])?;
            let st = ctx.app.lock();
            if !st.webhooks.contains_key(id) {
                return Err(ApiError::not_found("webhook"));
            }
            let mut items: Vec<(i64, String, Value)> = st
                .deliveries
                .values()
                .filter(|d| &d.webhook_id == id)
                .map(|d| (d.created_at, d.id.clone(), d.public()))
                .collect();
            items.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
            drop(st);
            page_vec(ctx, items, &q, &format!("deliveries:{id}"), true, 100)
        }
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "no such read operation",
        )),
    }
}

pub fn me_data(key: &KeyRec, ws: &crate::store::Workspace) -> Value {
    json!({
        "id": key.id,
        "object": "api_key",
        "name": format!("Sandbox {} key", key.name.replace('_', " ")),
        "key_prefix": key.prefix(),
        "scopes": key.scopes,
        "read_only": key.read_only,
        "workspace": {"id": ws.id, "name": ws.name},
        "membership": {"role": "admin"},
        "created_at": fmt_ts(key.created_at),
        "updated_at": fmt_ts(key.updated_at),
        "expires_at": key.expires_at.map(fmt_ts),
    })
}

/// Marks completed exports whose file lifetime ended as expired.
pub fn expire_exports(st: &mut Store) {
    let now = now_ms();
    let expired: Vec<String> = st
        .exports
        .values()
        .filter(|e| e.status == "completed" && e.expires_at.is_some_and(|x| x <= now))
        .map(|e| e.id.clone())
        .collect();
    for id in expired {
        st.export_files.remove(&id);
        st.del("export_file", &id);
        if let Some(e) = st.exports.get_mut(&id) {
            e.status = "expired".into();
            e.updated_at = now;
        }
        if let Some(e) = st.exports.get(&id) {
            st.put("export", &id, e);
        }
    }
}

fn download_probe(app: &App, e: &ExportRec) -> Value {
    let ready = e.status == "completed";
    let (url, expires) = if ready {
        let exp_ms = (now_ms() + app.cfg.export_url_ttl.as_millis() as i64)
            .min(e.expires_at.unwrap_or(i64::MAX));
        let exp_s = exp_ms / 1000;
        let sig = hmac_hex(
            &app.signing_key,
            format!("export-file:{}:{exp_s}", e.id).as_bytes(),
        );
        (
            Some(format!(
                "{}/files/exports/{}?expires={exp_s}&signature={sig}",
                app.origin, e.id
            )),
            Some(fmt_ts(exp_s * 1000)),
        )
    } else {
        (None, None)
    };
    json!({
        "id": e.id,
        "object": "export_download",
        "status": e.status,
        "download_ready": ready,
        "download_url": url,
        "expires_at": expires,
        "file_name": if ready { e.file_name.clone() } else { None },
        "row_count": if ready { e.row_count } else { None },
        "byte_size": if ready { e.byte_size } else { None },
        "created_at": fmt_ts(e.created_at),
        "updated_at": fmt_ts(e.updated_at),
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Query parameters; unknown, duplicated or undecodable ones are a 400 validation_error.
pub fn parse_query(query: &str, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let mut errs = FieldErrors::new("query");
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            errs.add(
                pair,
                "invalid_format",
                "parameter is not valid percent-encoded UTF-8",
            );
            continue;
        };
        if !allowed.contains(&k.as_str()) {
            errs.add(
                &k,
                "unknown_field",
                format!("unknown query parameter; allowed: {}", allowed.join(", ")),
            );
        } else if out.contains_key(&k) {
            errs.add(&k, "duplicate", "parameter given more than once");
        } else {
            out.insert(k, Value::String(v));
        }
    }
    errs.into_result()?;
    Ok(out)
}

fn parse_limit(q: &Map<String, Value>, errs: &mut FieldErrors, max: i64) -> usize {
    match q.get("limit").and_then(Value::as_str) {
        None => 25,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=max).contains(&n) => n as usize,
            Ok(_) => {
                errs.add(
                    "limit",
                    "out_of_range",
                    format!("limit must be between 1 and {max}"),
                );
                25
            }
            Err(_) => {
                errs.add("limit", "invalid_type", "limit must be an integer");
                25
            }
        },
    }
}

fn cursor_encode(app: &App, ts: i64, id: &str, filters: &str) -> String {
    let payload = format!(
        "{ts}|{id}|{}",
        crate::util::sha256_hex(filters.as_bytes())
            .get(..16)
            .unwrap_or("")
    );
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.as_bytes());
    let sig = hmac_hex(&app.signing_key, format!("cursor:{b64}").as_bytes());
    format!("c1.{b64}.{}", &sig[..32.min(sig.len())])
}

fn cursor_decode(app: &App, cursor: &str, filters: &str) -> Result<(i64, String), ApiError> {
    let bad = |why: &str| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_cursor",
            format!("cursor is not valid: {why}"),
        )
    };
    if !rules::matches(rules::CURSOR, cursor) {
        return Err(bad("not a cursor issued by this server"));
    }
    let mut parts = cursor.split('.');
    let (Some("c1"), Some(b64), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a cursor issued by this server"));
    };
    let expect = hmac_hex(&app.signing_key, format!("cursor:{b64}").as_bytes());
    if expect.get(..32) != Some(sig) {
        return Err(bad("signature mismatch (altered or from another server)"));
    }
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| bad("undecodable"))?;
    let mut it = payload.splitn(3, '|');
    let (Some(ts), Some(id), Some(fh)) = (it.next(), it.next(), it.next()) else {
        return Err(bad("undecodable"));
    };
    let ts: i64 = ts.parse().map_err(|_| bad("undecodable"))?;
    if crate::util::sha256_hex(filters.as_bytes()).get(..16) != Some(fh) {
        return Err(bad(
            "it was issued for other filters; restart without a cursor",
        ));
    }
    Ok((ts, id.to_string()))
}

fn list_leads(ctx: &Ctx, query: &str) -> Result<Reply, ApiError> {
    let q = parse_query(query, &["limit", "updated_after", "cursor"])?;
    let mut errs = FieldErrors::new("query");
    let limit = parse_limit(&q, &mut errs, 100);
    let updated_after = match q.get("updated_after").and_then(Value::as_str) {
        None => None,
        Some(s) => match parse_ts(s) {
            Some(ms) => Some(ms),
            None => {
                errs.add(
                    "updated_after",
                    "invalid_format",
                    "updated_after must be an RFC 3339 timestamp such as 2026-03-10T00:00:00.000Z",
                );
                None
            }
        },
    };
    errs.into_result()?;
    let filters = format!(
        "leads|{}",
        updated_after.map(|v| v.to_string()).unwrap_or_default()
    );
    let after = match q.get("cursor").and_then(Value::as_str) {
        Some(c) => Some(cursor_decode(ctx.app, c, &filters)?),
        None => None,
    };
    let st = ctx.app.lock();
    let start: Bound<(i64, String)> = match (&after, updated_after) {
        (Some((ts, id)), Some(ua)) if *ts <= ua => Bound::Included((ua + 1, String::new())),
        (Some((ts, id)), _) => Bound::Excluded((*ts, id.clone())),
        (None, Some(ua)) => Bound::Included((ua.saturating_add(1), String::new())),
        (None, None) => Bound::Unbounded,
    };
    let mut page: Vec<&Lead> = Vec::with_capacity(limit);
    let mut more = false;
    for (_, id) in st.order.range((start, Bound::Unbounded)) {
        if page.len() == limit {
            more = true;
            break;
        }
        if let Some(l) = st.leads.get(id) {
            page.push(l);
        }
    }
    let next = if more {
        page.last()
            .map(|l| cursor_encode(ctx.app, l.updated_at, &l.id, &filters))
    } else {
        None
    };
    ok_list(ctx.rid, page, next)
}

fn page_vec<T: Serialize>(
    ctx: &Ctx,
    items: impl IntoIterator<Item = (i64, String, T)>,
    q: &Map<String, Value>,
    filters: &str,
    desc: bool,
    max_limit: i64,
) -> Result<Reply, ApiError> {
    let mut errs = FieldErrors::new("query");
    let limit = parse_limit(q, &mut errs, max_limit);
    errs.into_result()?;
    let after = match q.get("cursor").and_then(Value::as_str) {
        Some(c) => Some(cursor_decode(ctx.app, c, filters)?),
        None => None,
    };
    let mut out = Vec::new();
    let mut more = false;
    let mut last: Option<(i64, String)> = None;
    for (ts, id, v) in items {
        if let Some((ats, aid)) = &after {
            let past = if desc {
                (ts, &id) < (*ats, aid)
            } else {
                (ts, &id) > (*ats, aid)
            };
            if !past {
                continue;
            }
        }
        if out.len() == limit {
            more = true;
            break;
        }
        last = Some((ts, id));
        out.push(v);
    }
    let next = if more {
        last.map(|(ts, id)| cursor_encode(ctx.app, ts, &id, filters))
    } else {
        None
    };
    ok_list(ctx.rid, out, next)
}

// ----- writes -----

const LEAD_STRINGS: [(&str, usize); 9] = [
    ("full_name", 200),
    ("first_name", 100),
    ("last_name", 100),
    ("phone", 50),
    ("job_title", 200),
    ("company_name", 200),
    ("company_domain", 253),
    ("linkedin_url", 500),
    ("source", 100),
];
pub const LEAD_STATUSES: [&str; 6] = [
    "new",
    "contacted",
    "qualified",
    "unqualified",
    "customer",
    "lost",
];

/// Validates a lead body and applies it to `lead`. `create` requires `email`.
pub fn apply_lead(
    lead: &mut Lead,
    body: &Map<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    let mut errs = FieldErrors::new("body");
    if create && !body.contains_key("email") {
        errs.add("email", "required", "email is required");
    }
    for (k, v) in body {
        let k = k.as_str();
        if k == "email" {
            match v {
                Value::String(raw) => {
                    if raw.chars().count() > 254 {
                        errs.add("email", "too_long", "at most 254 characters");
                    } else if !valid_email(raw) {
                        errs.add(
                            "email",
                            "invalid_email",
                            format!(
                                "'{}' is not a valid e-mail address (local@host.tld)",
                                rules::trim(raw)
                            ),
                        );
                    } else {
                        lead.email = rules::trim(raw).to_string();
                    }
                }
                Value::Null => errs.add("email", "null_not_allowed", "email cannot be null"),
                other => errs.add(
                    "email",
                    "invalid_type",
                    format!("must be a string, not {}", type_name(other)),
                ),
            }
        } else if k == "status" {
            match v {
                Value::String(s) if LEAD_STATUSES.contains(&s.as_str()) => lead.status = s.clone(),
                Value::String(_) => errs.add(
                    "status",
                    "invalid_value",
                    format!("must be one of {}", LEAD_STATUSES.join(", ")),
                ),
                Value::Null => errs.add("status", "null_not_allowed", "status cannot be null"),
                other => errs.add(
                    "status",
                    "invalid_type",
                    format!("must be a string, not {}", type_name(other)),
                ),
            }
        } else if k == "custom_fields" {
            match v {
                Value::Object(m) => {
                    let mut ok = true;
                    if m.len() > 50 {
                        errs.add("custom_fields", "too_many", "at most 50 custom fields");
                        ok = false;
                    }
                    for (ck, cv) in m {
                        let name = format!("custom_fields.{ck}");
                        if ck.is_empty() || ck.chars().count() > 64 {
                            errs.add(
                                &name,
                                "invalid_format",
                                "custom field names have 1..64 characters",
                            );
                            ok = false;
                        }
                        match cv {
                            Value::String(s) if s.chars().count() > 1000 => {
                                errs.add(&name, "too_long", "at most 1000 characters");
                                ok = false;
                            }
                            Value::Array(_) | Value::Object(_) => {
                                errs.add(
                                    &name,
                                    "invalid_type",
                                    "values are strings, numbers, booleans or null",
                                );
                                ok = false;
                            }
                            _ => {}
                        }
                    }
                    if ok {
                        lead.custom_fields = crate::store::raw_object(m);
                    }
                }
                Value::Null => errs.add(
                    "custom_fields",
                    "null_not_allowed",
                    "use {} to clear custom fields",
                ),
                other => errs.add(
                    "custom_fields",
                    "invalid_type",
                    format!("must be an object, not {}", type_name(other)),
                ),
            }
        } else if let Some((_, max)) = LEAD_STRINGS.iter().find(|(n, _)| *n == k) {
            let slot: Option<String> = match v {
                Value::Null if k == "source" => {
                    errs.add(k, "null_not_allowed", "source cannot be null");
                    continue;
                }
                Value::Null => None,
                Value::String(raw) => {
                    if raw.chars().count() > *max {
                        errs.add(k, "too_long", format!("at most {max} characters"));
                        continue;
                    }
                    let s = rules::trim(raw);
                    if s.is_empty() {
                        errs.add(k, "too_short", "must not be empty (send null to clear)");
                        continue;
                    }
                    if k == "company_domain" && !valid_hostname(raw) {
                        errs.add(
                            k,
                            "invalid_format",
                            "must be a bare host name such as example.com",
                        );
                        continue;
                    }
                    if k == "linkedin_url" && !rules::matches(rules::HTTPS_URL, raw) {
                        errs.add(
                            k,
                            "invalid_url",
                            "must be an absolute https URL such as https://www.linkedin.com/in/ada",
                        );
                        continue;
                    }
                    Some(if k == "company_domain" {
                        s.to_ascii_lowercase()
                    } else {
                        s.to_string()
                    })
                }
                other => {
                    errs.add(
                        k,
                        "invalid_type",
                        format!("must be a string or null, not {}", type_name(other)),
                    );
                    continue;
                }
            };
            match k {
                "full_name" => lead.full_name = slot,
                "first_name" => lead.first_name = slot,
                "last_name" => lead.last_name = slot,
                "phone" => lead.phone = slot,
                "job_title" => lead.job_title = slot,
                "company_name" => lead.company_name = slot,
                "company_domain" => lead.company_domain = slot,
                "linkedin_url" => lead.linkedin_url = slot,
                _ => lead.source = slot.unwrap_or_default(),
            }
        } else {
            errs.add(k, "unknown_field", "unknown field");
        }
    }
    errs.into_result()
}

pub fn blank_lead(now: i64) -> Lead {
    Lead {
        id: new_id("lead_", 20),
        object: "lead".into(),
        full_name: None,
        first_name: None,
        last_name: None,
        email: String::new(),
        phone: None,
        job_title: None,
        company_name: None,
        company_domain: None,
        linkedin_url: None,
        status: "new".into(),
        source: "api".into(),
        custom_fields: crate::store::empty_object(),
        created_at: now,
        updated_at: now,
    }
}

/// Changes a lead (PATCH and the admin "web app" edit): validates, writes the fields present.
/// A PATCH that changes nothing leaves `updated_at` and fires no event (as an `unchanged`
/// upsert); the web app's edit (`always_bump`) bumps `updated_at` and fires `lead.updated`
/// whatever it changed, so tests can move a lead in the sync order.
pub fn patch_lead(
    app: &Arc<App>,
    id: &str,
    body: &Map<String, Value>,
    always_bump: bool,
) -> Result<Lead, ApiError> {
    let (lead, changed) = {
        let mut st = app.lock();
        let old = st
            .leads
            .get(id)
            .map(|l| Lead::clone(l))
            .ok_or_else(|| ApiError::not_found("lead"))?;
        let mut lead = old.clone();
        apply_lead(&mut lead, body, false)?;
        let changed = always_bump || !same_lead(&old, &lead);
        if changed {
            lead.updated_at = now_ms().max(lead.updated_at + 1);
            st.insert_lead(lead.clone());
        }
        (lead, changed)
    };
    if changed {
        hooks::emit(app, "lead.updated", || lead_value(&lead));
    }
    Ok(lead)
}

fn lead_value(lead: &Lead) -> Value {
    serde_json::to_value(lead).unwrap_or(Value::Null)
}

/// Whether two versions of a lead hold the same values (custom fields compared as JSON).
fn same_lead(a: &Lead, b: &Lead) -> bool {
    lead_value(a) == lead_value(b)
}

/// POST /leads and an import row in `create` mode: validates, stores, fires `lead.created`.
/// Never de-duplicates.
pub fn create_one(app: &Arc<App>, body: &Map<String, Value>) -> Result<Lead, ApiError> {
    create_with(app, body, Lead::clone)
}

/// [`create_one`], answering `answer(&lead)`: an import row needs only the id, and copying each
/// lead (to answer it and to build its event when no webhook listens) was a measurable share of
/// an import job's work. The lead is stored and the subscription checked under one lock.
fn create_with<R>(
    app: &Arc<App>,
    body: &Map<String, Value>,
    answer: impl FnOnce(&Lead) -> R,
) -> Result<R, ApiError> {
    let mut lead = blank_lead(now_ms());
    apply_lead(&mut lead, body, true)?;
    let (answer, event) = {
        let mut st = app.lock();
        let event = hooks::subscribed(&st, "lead.created").then(|| lead_value(&lead));
        let answer = answer(&lead);
        st.insert_lead(lead);
        (answer, event)
    };
    if let Some(event) = event {
        hooks::emit(app, "lead.created", || event);
    }
    Ok(answer)
}

/// What an upsert did.
pub enum Upserted {
    Created(Lead),
    Updated(Lead),
    Unchanged(Lead),
}

impl Upserted {
    pub fn result(&self) -> &'static str {
        match self {
            Upserted::Created(_) => "created",
            Upserted::Updated(_) => "updated",
            Upserted::Unchanged(_) => "unchanged",
        }
    }
    pub fn lead(&self) -> &Lead {
        match self {
            Upserted::Created(l) | Upserted::Updated(l) | Upserted::Unchanged(l) => l,
        }
    }
}

/// POST /leads/upsert and an import row in `upsert` mode. The body is validated as a create
/// body; the lead of the workspace with that e-mail address (case-insensitive, trimmed) gets
/// the fields present (never `email`); none: created; two or more: 409 `ambiguous_match`.
pub fn upsert_one(app: &Arc<App>, body: &Map<String, Value>) -> Result<Upserted, ApiError> {
    let mut fresh = blank_lead(now_ms());
    apply_lead(&mut fresh, body, true)?;
    let done = {
        let mut st = app.lock();
        let ids = st.ids_by_email(&fresh.email);
        match ids.as_slice() {
            [] => {
                st.insert_lead(fresh.clone());
                Upserted::Created(fresh)
            }
            [id] => {
                let old = st
                    .leads
                    .get(id)
                    .map(|l| Lead::clone(l))
                    .ok_or_else(|| ApiError::not_found("lead"))?;
                let mut rest = body.clone();
                rest.remove("email");
                let mut lead = old.clone();
                apply_lead(&mut lead, &rest, false)?;
                if same_lead(&old, &lead) {
                    Upserted::Unchanged(old)
                } else {
                    lead.updated_at = now_ms().max(old.updated_at + 1);
                    st.insert_lead(lead.clone());
                    Upserted::Updated(lead)
                }
            }
            many => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "ambiguous_match",
                    format!(
                        "{} leads of this workspace have the e-mail address '{}'; \
                         update one of them by id (PATCH /leads/{{id}})",
                        many.len(),
                        fresh.email
                    ),
                )
                .details(json!({ "lead_ids": many })))
            }
        }
    };
    match &done {
        Upserted::Created(l) => hooks::emit(app, "lead.created", || lead_value(l)),
        Upserted::Updated(l) => hooks::emit(app, "lead.updated", || lead_value(l)),
        Upserted::Unchanged(_) => {}
    }
    Ok(done)
}

/// One row of an import job, with the outcome a single create or upsert of it would have had.
pub fn import_row(app: &Arc<App>, mode: &str, index: u64, row: &Value) -> ImportRow {
    let failed = |e: ApiError| ImportRow {
        index,
        result: "failed".into(),
        lead_id: None,
        error: Some(e.to_object()),
    };
    let Value::Object(body) = row else {
        return failed(ApiError::invalid_json(format!(
            "the row must be a JSON object, not {}",
            type_name(row)
        )));
    };
    let done = if mode == "upsert" {
        upsert_one(app, body).map(|u| (u.result(), u.lead().id.clone()))
    } else {
        create_with(app, body, |l| l.id.clone()).map(|id| ("created", id))
    };
    match done {
        Ok((result, id)) => ImportRow {
            index,
            result: result.into(),
            lead_id: Some(id),
            error: None,
        },
        Err(e) => failed(e),
    }
}

/// The most rows one POST /imports takes.
pub const IMPORT_MAX_ROWS: usize = 1000;

/// Validates a POST /imports body: `(mode, rows, client_reference)`.
fn import_from_body(
    body: Map<String, Value>,
) -> Result<(String, Vec<Value>, Option<String>), ApiError> {
    if let Some(Value::Array(a)) = body.get("leads") {
        if a.len() > IMPORT_MAX_ROWS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!(
                    "{} leads in one import; at most {IMPORT_MAX_ROWS}: split the file into batches",
                    a.len()
                ),
            )
            .details(json!({"max_rows": IMPORT_MAX_ROWS, "rows": a.len()})));
        }
    }
    let mut errs = FieldErrors::new("body");
    for f in ["mode", "leads"] {
        if !body.contains_key(f) {
            errs.add(f, "required", format!("{f} is required"));
        }
    }
    let (mut mode, mut rows, mut reference) = (String::new(), Vec::new(), None);
    for (k, v) in body {
        match (k.as_str(), v) {
            ("mode", Value::String(m)) if m == "create" || m == "upsert" => mode = m,
            ("mode", Value::String(_)) => {
                errs.add("mode", "invalid_value", "must be create or upsert")
            }
            ("leads", Value::Array(a)) => {
                if a.is_empty() {
                    errs.add("leads", "too_short", "at least one lead");
                }
                for (i, row) in a.iter().enumerate() {
                    if !row.is_object() {
                        errs.add(
                            &format!("leads[{i}]"),
                            "invalid_type",
                            format!("must be an object, not {}", type_name(row)),
                        );
                    }
                }
                rows = a;
            }
            ("client_reference", Value::Null) => {}
            ("client_reference", Value::String(r)) if r.chars().count() <= 255 => {
                reference = Some(r)
            }
            ("client_reference", Value::String(_)) => {
                errs.add(&k, "too_long", "at most 255 characters")
            }
            ("mode" | "leads", Value::Null) => {
                errs.add(&k, "null_not_allowed", format!("{k} cannot be null"))
            }
            ("mode" | "leads" | "client_reference", other) => errs.add(
                &k,
                "invalid_type",
                format!("wrong type: {}", type_name(&other)),
            ),
            _ => errs.add(&k, "unknown_field", "unknown field"),
        }
    }
    errs.into_result()?;
    Ok((mode, rows, reference))
}

const EVENTS: [&str; 9] = [
    "lead.created",
    "lead.updated",
    "import.completed",
    "import.failed",
    "export.completed",
    "export.failed",
    "campaign.created",
    "campaign.updated",
    "campaign.published",
];

fn webhook_fields(
    w: &mut WebhookRec,
    body: &Map<String, Value>,
    create: bool,
) -> Result<(), ApiError> {
    let mut errs = FieldErrors::new("body");
    if create {
        for f in ["url", "events"] {
            if !body.contains_key(f) {
                errs.add(f, "required", format!("{f} is required"));
            }
        }
    }
    for (k, v) in body {
        match (k.as_str(), v) {
            ("url", Value::String(raw)) => {
                if raw.chars().count() > 2048 {
                    errs.add("url", "too_long", "at most 2048 characters");
                    continue;
                }
                let s = rules::trim(raw);
                if !rules::matches(rules::WEBHOOK_URL, raw) {
                    let why = if s.starts_with("http://") {
                        "http is only allowed for loopback hosts (localhost, 127.x.y.z, [::1]); use https"
                    } else {
                        "must be an absolute https URL to a host name (http only to loopback), \
                         without credentials"
                    };
                    errs.add("url", "invalid_url", why);
                    continue;
                }
                match reqwest::Url::parse(s) {
                    Ok(u)
                        if (u.scheme() == "https" || u.scheme() == "http")
                            && u.host().is_some() =>
                    {
                        if u.scheme() == "http" && !hooks::is_loopback_url(&u) {
                            errs.add(
                                "url",
                                "invalid_url",
                                "http is only allowed for loopback hosts; use https",
                            );
                        } else if !u.username().is_empty() || u.password().is_some() {
                            errs.add(
                                "url",
                                "invalid_url",
                                "credentials in the URL are not allowed",
                            );
                        } else {
                            w.url = s.to_string();
                        }
                    }
                    _ => errs.add("url", "invalid_url", "must be an absolute http(s) URL"),
                }
            }
            ("events", Value::Array(a)) => {
                if a.is_empty() {
                    errs.add("events", "too_short", "at least one event");
                }
                let mut seen: Vec<String> = Vec::new();
                for (i, e) in a.iter().enumerate() {
                    let name = format!("events[{i}]");
                    match e {
                        Value::String(s) if EVENTS.contains(&s.as_str()) => {
                            if seen.contains(s) {
                                errs.add(&name, "duplicate", "event listed twice");
                            } else {
                                seen.push(s.clone());
                            }
                        }
                        Value::String(s) => errs.add(
                            &name,
                            "invalid_value",
                            format!("unknown event '{s}'; one of {}", EVENTS.join(", ")),
                        ),
                        other => errs.add(
                            &name,
                            "invalid_type",
                            format!("must be a string, not {}", type_name(other)),
                        ),
                    }
                }
                w.events = seen;
            }
            ("description", Value::Null) => w.description = None,
            ("description", Value::String(s)) if s.chars().count() <= 500 => {
                w.description = Some(s.clone())
            }
            ("description", Value::String(_)) => {
                errs.add("description", "too_long", "at most 500 characters")
            }
            ("enabled", Value::Bool(b)) => w.enabled = *b,
            ("url" | "events" | "enabled", Value::Null) => {
                errs.add(k, "null_not_allowed", format!("{k} cannot be null"))
            }
            ("url" | "events" | "description" | "enabled", other) => errs.add(
                k,
                "invalid_type",
                format!("wrong type: {}", type_name(other)),
            ),
            _ => errs.add(k, "unknown_field", "unknown field"),
        }
    }
    errs.into_result()
}

pub const EXPORT_FIELDS: [&str; 15] = [
    "id",
    "email",
    "full_name",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_name",
    "company_domain",
    "linkedin_url",
    "status",
    "source",
    "custom_fields",
    "created_at",
    "updated_at",
];

fn export_from_body(body: &Map<String, Value>) -> Result<(Option<i64>, Vec<String>), ApiError> {
    let mut errs = FieldErrors::new("body");
    let mut updated_after = None;
    let mut fields: Vec<String> = EXPORT_FIELDS
        .iter()
        .filter(|f| **f != "custom_fields")
        .map(|f| f.to_string())
        .collect();
    for (k, v) in body {
        match (k.as_str(), v) {
            ("format", Value::String(s)) if s == "csv" => {}
            ("format", Value::String(_)) => {
                errs.add("format", "invalid_value", "only csv is supported")
            }
            ("filters", Value::Object(m)) => {
                for (fk, fv) in m {
                    match (fk.as_str(), fv) {
                        ("updated_after", Value::String(s)) => match parse_ts(s) {
                            Some(ms) => updated_after = Some(ms),
                            None => errs.add(
                                "filters.updated_after",
                                "invalid_format",
                                "must be an RFC 3339 timestamp",
                            ),
                        },
                        ("updated_after", Value::Null) => {}
                        ("updated_after", other) => errs.add(
                            "filters.updated_after",
                            "invalid_type",
                            format!("must be a string, not {}", type_name(other)),
                        ),
                        _ => errs.add(&format!("filters.{fk}"), "unknown_field", "unknown filter"),
                    }
                }
            }
            ("fields", Value::Array(a)) => {
                if a.is_empty() {
                    errs.add("fields", "too_short", "at least one field");
                }
                let mut seen: Vec<String> = Vec::new();
                for (i, f) in a.iter().enumerate() {
                    let name = format!("fields[{i}]");
                    match f {
                        Value::String(s) if EXPORT_FIELDS.contains(&s.as_str()) => {
                            if seen.contains(s) {
                                errs.add(&name, "duplicate", "field listed twice");
                            } else {
                                seen.push(s.clone());
                            }
                        }
                        Value::String(s) => {
                            errs.add(&name, "invalid_value", format!("unknown field '{s}'"))
                        }
                        other => errs.add(
                            &name,
                            "invalid_type",
                            format!("must be a string, not {}", type_name(other)),
                        ),
                    }
                }
                fields = seen;
            }
            ("format" | "filters" | "fields", other) => errs.add(
                k,
                "invalid_type",
                format!("wrong type: {}", type_name(other)),
            ),
            _ => errs.add(k, "unknown_field", "unknown field"),
        }
    }
    errs.into_result()?;
    Ok((updated_after, fields))
}

fn write_op(ctx: &Ctx, op: &Op, body: Map<String, Value>) -> Result<Reply, ApiError> {
    let app = ctx.app;
    let rid = ctx.rid;
    match op {
        Op::CreateLead => {
            let lead = create_one(app, &body)?;
            ok(StatusCode::CREATED, rid, &lead)
        }
        Op::UpsertLead => {
            let done = upsert_one(app, &body)?;
            #[derive(Serialize)]
            struct UpsertEnv<'a> {
                data: &'a Lead,
                result: &'static str,
                request_id: &'a str,
            }
            let status = match done {
                Upserted::Created(_) => StatusCode::CREATED,
                _ => StatusCode::OK,
            };
            json_reply(
                status,
                &UpsertEnv {
                    data: done.lead(),
                    result: done.result(),
                    request_id: rid,
                },
            )
        }
        Op::PatchLead(id) => {
            let lead = patch_lead(app, id, &body, false)?;
            ok(StatusCode::OK, rid, &lead)
        }
        Op::CreateImport => {
            let (mode, rows, client_reference) = import_from_body(body)?;
            let now = now_ms();
            let rec = ImportRec {
                id: new_id("imp_", 20),
                status: "queued".into(),
                mode,
                client_reference,
                total: rows.len() as u64,
                created: 0,
                updated: 0,
                unchanged: 0,
                failed: 0,
                rows,
                results: Vec::new(),
                fail: ctx.faults.import_fail,
                created_at: now,
                updated_at: now,
                completed_at: None,
            };
            let (id, public) = (rec.id.clone(), rec.public());
            {
                let mut st = app.lock();
                st.put("import", &rec.id, &rec);
                st.imports.insert(id.clone(), rec);
            }
            hooks::spawn_import(app.clone(), id);
            ok(StatusCode::ACCEPTED, rid, public)
        }
        Op::CreateExport => {
            let (updated_after, fields) = export_from_body(&body)?;
            let now = now_ms();
            let rec = ExportRec {
                id: new_id("exp_", 20),
                status: "queued".into(),
                format: "csv".into(),
                updated_after,
                fields,
                row_count: None,
                file_name: None,
                byte_size: None,
                error_message: None,
                created_at: now,
                updated_at: now,
                completed_at: None,
                expires_at: None,
                fail: ctx.faults.export_fail,
            };
            {
                let mut st = app.lock();
                st.put("export", &rec.id, &rec);
                st.exports.insert(rec.id.clone(), rec.clone());
            }
            hooks::spawn_export(app.clone(), rec.id.clone());
            ok(StatusCode::ACCEPTED, rid, rec.public())
        }
        Op::CreateWebhook => {
            let now = now_ms();
            let mut w = WebhookRec {
                id: new_id("wh_", 20),
                url: String::new(),
                events: Vec::new(),
                enabled: true,
                description: None,
                secret: format!("whsec_{}", crate::util::secret_hex(24)),
                created_at: now,
                updated_at: now,
            };
            webhook_fields(&mut w, &body, true)?;
            let mut st = app.lock();
            st.put("webhook", &w.id, &w);
            st.webhooks.insert(w.id.clone(), w.clone());
            ok(StatusCode::CREATED, rid, w.public(true))
        }
        Op::PatchWebhook(id) => {
            let mut st = app.lock();
            let mut w = st
                .webhooks
                .get(id)
                .cloned()
                .ok_or_else(|| ApiError::not_found("webhook"))?;
            webhook_fields(&mut w, &body, false)?;
            w.updated_at = now_ms().max(w.updated_at + 1);
            st.put("webhook", &w.id, &w);
            st.webhooks.insert(w.id.clone(), w.clone());
            ok(StatusCode::OK, rid, w.public(false))
        }
        Op::DeleteWebhook(id) => {
            let mut st = app.lock();
            if st.webhooks.remove(id).is_none() {
                return Err(ApiError::not_found("webhook"));
            }
            st.del("webhook", id);
            let dels: Vec<String> = st
                .deliveries
                .values()
                .filter(|d| &d.webhook_id == id)
                .map(|d| d.id.clone())
                .collect();
            for d in dels {
                st.deliveries.remove(&d);
                st.del("delivery", &d);
            }
            Ok(Reply {
                status: StatusCode::NO_CONTENT,
                body: ReplyBody::None,
                headers: Vec::new(),
                replayed_request_id: None,
                drop_connection: false,
            })
        }
        Op::RotateSecret(id) => {
            if let Some(k) = body.keys().next() {
                let mut errs = FieldErrors::new("body");
                errs.add(k, "unknown_field", "rotate-secret takes no body fields");
                errs.into_result()?;
            }
            let mut st = app.lock();
            let w = st
                .webhooks
                .get_mut(id)
                .ok_or_else(|| ApiError::not_found("webhook"))?;
            w.secret = format!("whsec_{}", crate::util::secret_hex(24));
            w.updated_at = now_ms().max(w.updated_at + 1);
            let w = w.clone();
            st.put("webhook", &w.id, &w);
            ok(StatusCode::OK, rid, w.public(true))
        }
        Op::RetryDelivery(wid, did) => {
            if let Some(k) = body.keys().next() {
                let mut errs = FieldErrors::new("body");
                errs.add(k, "unknown_field", "retry takes no body fields");
                errs.into_result()?;
            }
            let d = {
                let mut st = app.lock();
                if !st.webhooks.contains_key(wid) {
                    return Err(ApiError::not_found("webhook"));
                }
                let d = st
                    .deliveries
                    .get_mut(did)
                    .filter(|d| &d.webhook_id == wid)
                    .ok_or_else(|| ApiError::not_found("delivery"))?;
                d.status = "pending".into();
                d.next_attempt_at = Some(now_ms());
                d.updated_at = now_ms();
                let d = d.clone();
                st.put("delivery", &d.id, &d);
                d
            };
            hooks::spawn_delivery(app.clone(), d.id.clone(), true);
            ok(StatusCode::ACCEPTED, rid, d.public())
        }
        _ => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "no such write operation",
        )),
    }
}

/// An admin reply `{"data": ..., "request_id"}` (request_id filled in by `finish`).
pub fn ok_admin(data: Value) -> Result<Reply, ApiError> {
    Ok(Reply {
        status: StatusCode::OK,
        body: ReplyBody::ErrorJson(json!({ "data": data })),
        headers: Vec::new(),
        replayed_request_id: None,
        drop_connection: false,
    })
}
