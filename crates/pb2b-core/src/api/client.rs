//! The typed client: one pooled reqwest client (rustls with the OS trust store; the proxy rules
//! are [`super::network`]'s), one retry loop, one observer hook.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use url::Url;

use super::error::{client_codes, ApiError, ApiErrorKind};
use super::models::*;
use super::observer::{excerpt, excerpt_of, now_utc_ms, Exchange, RequestObserver};
use super::retry::{is_retryable, next_delay, parse_retry_after, Failure, Method, RetryPolicy};
use crate::secret::SecretString;

/// Where and how the client talks.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// e.g. `https://login.prospectb2b.com/api/public/v1`.
    pub base_url: String,
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// The whole exchange (not the export file download, which streams without it).
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// Extra headers on every API request (for example `X-Sandbox-Fault` against the local
    /// sandbox). `Authorization` is refused here.
    pub extra_headers: Vec<(String, String)>,
}

impl ClientConfig {
    /// Defaults: `ProspectB2B-Desktop/<core version>`, 10 s to connect, 30 s per request,
    /// [`RetryPolicy::default`].
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into(),
            user_agent: format!("ProspectB2B-Desktop/{}", crate::CORE_VERSION),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            extra_headers: Vec::new(),
        }
    }
}

/// `X-RateLimit-*` of an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RateLimit {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until one more request is allowed.
    pub reset: u64,
}

impl RateLimit {
    /// All three values, or `None` when any is missing or malformed (never a panic).
    pub fn parse(
        limit: Option<&str>,
        remaining: Option<&str>,
        reset: Option<&str>,
    ) -> Option<Self> {
        Some(RateLimit {
            limit: limit?.trim().parse().ok()?,
            remaining: remaining?.trim().parse().ok()?,
            reset: reset?.trim().parse().ok()?,
        })
    }

    /// From response headers (non-ASCII values count as malformed).
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        Self::parse(
            get("x-ratelimit-limit"),
            get("x-ratelimit-remaining"),
            get("x-ratelimit-reset"),
        )
    }
}

/// One resource and what came with it.
#[derive(Debug, Clone)]
pub struct ApiResponse<T> {
    pub data: T,
    pub request_id: String,
    /// `Idempotent-Replayed: true`: the stored answer of an earlier request with the same key.
    pub replayed: bool,
    pub status: u16,
    pub rate_limit: Option<RateLimit>,
}

impl<T> ApiResponse<T> {
    /// The same answer with its data turned into `f(data)`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ApiResponse<U> {
        ApiResponse {
            data: f(self.data),
            request_id: self.request_id,
            replayed: self.replayed,
            status: self.status,
            rate_limit: self.rate_limit,
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct ApiPage<T> {
    pub data: Vec<T>,
    pub next_cursor: Option<String>,
    pub has_more: bool,
    pub request_id: String,
    pub rate_limit: Option<RateLimit>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
    request_id: String,
}

#[derive(Deserialize)]
struct Pagination {
    next_cursor: Option<String>,
    has_more: bool,
}

#[derive(Deserialize)]
struct ListEnvelope<T> {
    data: Vec<T>,
    pagination: Pagination,
    request_id: String,
}

/// A raw successful answer.
struct Raw {
    status: u16,
    body: Vec<u8>,
    request_id: Option<String>,
    replayed: bool,
    rate_limit: Option<RateLimit>,
}

struct Inner {
    http: super::network::Http,
    base: Url,
    config: ClientConfig,
    auth: HeaderValue,
    key_looks_valid: bool,
    extra: Vec<(HeaderName, HeaderValue)>,
    observer: Arc<dyn RequestObserver>,
}

/// The ProspectB2B API client. Cheap to clone (one shared connection pool).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base.as_str())
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Whether a key has the published shape `pb2b_<env>_<prefix>_<secret>`.
pub fn key_looks_valid(key: &str) -> bool {
    let parts: Vec<&str> = key.split('_').collect();
    parts.len() == 4
        && parts[0] == "pb2b"
        && [parts[1], parts[2], parts[3]]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|c| c.is_ascii_alphanumeric()))
}

enum Body {
    None,
    /// Shared, so each attempt's request takes it without copying (a bulk import's body is up
    /// to ~1 MiB).
    Json(bytes::Bytes),
}

fn transport_failure(err: &reqwest::Error) -> (Failure, ApiErrorKind, &'static str, String) {
    let mut chain = String::new();
    let mut src: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(s) = src {
        if !chain.is_empty() {
            chain.push_str(": ");
        }
        chain.push_str(&s.to_string());
        src = s.source();
    }
    let lower = chain.to_ascii_lowercase();
    if err.is_timeout() {
        return (
            Failure::Timeout,
            ApiErrorKind::Timeout,
            client_codes::TIMEOUT,
            format!("no answer in time ({chain})"),
        );
    }
    let tls = ["certificate", "tls", "handshake", "peer sent", "ssl"]
        .iter()
        .any(|w| lower.contains(w));
    if err.is_connect() {
        if tls {
            return (
                Failure::Tls,
                ApiErrorKind::Tls,
                client_codes::TLS,
                format!("TLS failure: {chain}"),
            );
        }
        return (
            Failure::Connect,
            ApiErrorKind::Unreachable,
            client_codes::UNREACHABLE,
            format!("could not connect: {chain}"),
        );
    }
    if err.is_builder() {
        return (
            Failure::Tls,
            ApiErrorKind::InvalidRequest,
            client_codes::INVALID_REQUEST,
            format!("invalid request: {chain}"),
        );
    }
    (
        Failure::Dropped,
        ApiErrorKind::ConnectionLost,
        client_codes::CONNECTION_LOST,
        format!("the connection closed before the answer was complete ({chain})"),
    )
}

use super::observer::loggable_path;

/// A lead in an answer, of which only the id is read.
#[derive(Deserialize)]
struct LeadId {
    id: String,
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn invalid_response(msg: String, request_id: Option<String>, status: u16) -> ApiError {
    let mut e = ApiError::local(
        ApiErrorKind::InvalidResponse,
        client_codes::INVALID_RESPONSE,
        msg,
    );
    e.request_id = request_id;
    e.status = Some(status);
    e
}

impl Client {
    /// Builds the client. Fails (nothing sent) when the base URL is not http(s) or the key cannot
    /// be an HTTP header value (empty, spaces, control characters).
    pub fn new(
        config: ClientConfig,
        key: SecretString,
        observer: Arc<dyn RequestObserver>,
    ) -> Result<Self, ApiError> {
        let base = Url::parse(config.base_url.trim()).map_err(|e| {
            ApiError::local(
                ApiErrorKind::InvalidRequest,
                client_codes::INVALID_REQUEST,
                format!("the base URL is not valid ({e})"),
            )
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ApiError::local(
                ApiErrorKind::InvalidRequest,
                client_codes::INVALID_REQUEST,
                "the base URL must start with https:// (or http:// for a local sandbox)",
            ));
        }
        let raw_key = key.expose().trim();
        let malformed = || {
            let mut e = ApiError::local(
                ApiErrorKind::MalformedKey,
                client_codes::MALFORMED_KEY,
                "the API key is empty or contains characters a key cannot have",
            );
            e.retryable = false;
            e
        };
        if raw_key.is_empty() || !raw_key.bytes().all(|c| c.is_ascii_graphic()) {
            return Err(malformed());
        }
        let mut auth =
            HeaderValue::from_str(&format!("Bearer {raw_key}")).map_err(|_| malformed())?;
        auth.set_sensitive(true);
        let mut extra = Vec::new();
        for (name, value) in &config.extra_headers {
            let invalid = || {
                ApiError::local(
                    ApiErrorKind::InvalidRequest,
                    client_codes::INVALID_REQUEST,
                    format!("the extra header {name} is not valid"),
                )
            };
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            if n == AUTHORIZATION {
                return Err(invalid());
            }
            extra.push((n, HeaderValue::from_str(value).map_err(|_| invalid())?));
        }
        let http = super::network::Http::new(|builder| {
            builder
                .user_agent(config.user_agent.clone())
                .connect_timeout(config.connect_timeout)
                .pool_idle_timeout(Duration::from_secs(60))
                .redirect(reqwest::redirect::Policy::none())
        })
        .map_err(|e| {
            ApiError::local(
                ApiErrorKind::InvalidRequest,
                client_codes::INVALID_REQUEST,
                format!("the HTTP client could not be built ({e})"),
            )
        })?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                key_looks_valid: key_looks_valid(raw_key),
                config,
                auth,
                extra,
                observer,
            }),
        })
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// Whether a server-given download link may be fetched (see [`super::download_policy`]):
    /// the parsed URL, or the `unsafe_download` error. Nothing is sent.
    pub fn check_download_url(&self, link: &str) -> Result<Url, ApiError> {
        super::download_policy::check_download_url(&self.inner.base, link)
    }

    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.inner.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            path.extend(segments);
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        url
    }

    /// Sends one logical request: the retry loop, the observer hook, the error mapping.
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Body,
        idempotency_key: Option<&str>,
    ) -> Result<Raw, ApiError> {
        let inner = &*self.inner;
        let path = loggable_path(&url);
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        if matches!(body, Body::Json(_)) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(k) = idempotency_key {
            let v = HeaderValue::from_str(k).map_err(|_| {
                ApiError::local(
                    ApiErrorKind::InvalidRequest,
                    client_codes::INVALID_REQUEST,
                    "the Idempotency-Key must be visible ASCII characters",
                )
            })?;
            headers.insert("idempotency-key", v);
        }
        for (n, v) in &inner.extra {
            headers.append(n.clone(), v.clone());
        }
        // What the log sees: everything the client sets except Authorization.
        let mut logged_headers: Vec<(String, String)> =
            vec![("user-agent".into(), inner.config.user_agent.clone())];
        logged_headers.extend(headers.iter().map(|(n, v)| {
            (
                n.as_str().to_owned(),
                v.to_str().unwrap_or("<binary>").to_owned(),
            )
        }));
        headers.insert(AUTHORIZATION, inner.auth.clone());

        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let at = now_utc_ms();
            let started = Instant::now();
            let mut req = inner
                .http
                .client_for(&url)
                .request(
                    match method {
                        Method::Get => reqwest::Method::GET,
                        Method::Post => reqwest::Method::POST,
                        Method::Patch => reqwest::Method::PATCH,
                        Method::Delete => reqwest::Method::DELETE,
                    },
                    url.clone(),
                )
                .headers(headers.clone())
                .timeout(inner.config.request_timeout);
            if let Body::Json(bytes) = &body {
                req = req.body(bytes.clone());
            }
            let outcome = match req.send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let resp_headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(bytes) => Ok((status, resp_headers, bytes.to_vec())),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let duration_ms = started.elapsed().as_millis() as u64;
            let mut exchange = Exchange {
                at,
                method: method.as_str().to_owned(),
                path: path.clone(),
                status: None,
                duration_ms,
                request_id: None,
                idempotency_key: idempotency_key.map(str::to_owned),
                replayed: false,
                error_code: None,
                attempt,
                request_headers: logged_headers.clone(),
                response_excerpt: None,
            };
            let (failure, error, retry_after) = match outcome {
                Ok((status, resp_headers, bytes)) => {
                    // An error's body is read as a `Value` (the error mapping needs it); a
                    // success's is parsed by its caller, typed, and by the excerpt only as far
                    // as the excerpt reaches.
                    let json: Option<Value> = if status >= 400 {
                        serde_json::from_slice(&bytes).ok()
                    } else {
                        None
                    };
                    // Without the header (the API sends it), the body's `request_id`.
                    let request_id = header_str(&resp_headers, "x-request-id").or_else(|| {
                        let parsed;
                        let j = match &json {
                            Some(j) => j,
                            None => {
                                parsed = serde_json::from_slice::<Value>(&bytes).ok()?;
                                &parsed
                            }
                        };
                        j.get("request_id")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    });
                    let replayed = header_str(&resp_headers, "idempotent-replayed")
                        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
                    exchange.status = Some(status);
                    exchange.request_id = request_id.clone();
                    exchange.replayed = replayed;
                    // An error's body parsed above serves the excerpt too.
                    exchange.response_excerpt = match &json {
                        Some(v) => Some(excerpt_of(v)),
                        None => excerpt(&bytes),
                    };
                    if status < 400 {
                        inner.observer.record(&exchange);
                        tracing::debug!(
                            method = method.as_str(),
                            path = %path,
                            status,
                            attempt,
                            request_id = request_id.as_deref().unwrap_or(""),
                            "api request"
                        );
                        return Ok(Raw {
                            status,
                            body: bytes,
                            request_id,
                            replayed,
                            rate_limit: RateLimit::from_headers(&resp_headers),
                        });
                    }
                    let retry_after =
                        parse_retry_after(header_str(&resp_headers, "retry-after").as_deref());
                    let err = ApiError::from_response(
                        status,
                        json.as_ref(),
                        request_id,
                        retry_after.map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                        inner.key_looks_valid,
                    );
                    exchange.error_code = Some(err.code.clone());
                    (
                        Failure::Status(status, Some(err.code.clone())),
                        err,
                        retry_after,
                    )
                }
                Err(e) => {
                    let (failure, kind, code, message) = transport_failure(&e.without_url());
                    exchange.error_code = Some(code.to_owned());
                    exchange.response_excerpt = Some(message.clone());
                    (failure, ApiError::local(kind, code, message), None)
                }
            };
            inner.observer.record(&exchange);
            tracing::debug!(
                method = method.as_str(),
                path = %path,
                status = exchange.status,
                attempt,
                error_code = %error.code,
                request_id = exchange.request_id.as_deref().unwrap_or(""),
                "api request failed"
            );
            if !is_retryable(method, idempotency_key.is_some(), &failure) {
                return Err(error);
            }
            match next_delay(&inner.config.retry, attempt, retry_after, fastrand::f64()) {
                Some(wait) => {
                    tracing::debug!(attempt, wait_ms = wait.as_millis() as u64, "retrying");
                    tokio::time::sleep(wait).await;
                }
                None => return Err(error),
            }
        }
    }

    /// The body as `E`, or an `invalid_response` error naming what did not fit.
    fn parse_body<E: DeserializeOwned>(raw: &Raw) -> Result<E, ApiError> {
        serde_json::from_slice(&raw.body).map_err(|e| {
            invalid_response(
                format!("unexpected response body: {e}"),
                raw.request_id.clone(),
                raw.status,
            )
        })
    }

    fn parse_one<T: DeserializeOwned>(raw: Raw) -> Result<ApiResponse<T>, ApiError> {
        let env: Envelope<T> = Self::parse_body(&raw)?;
        Ok(ApiResponse {
            data: env.data,
            request_id: env.request_id,
            replayed: raw.replayed,
            status: raw.status,
            rate_limit: raw.rate_limit,
        })
    }

    fn parse_page<T: DeserializeOwned>(raw: Raw) -> Result<ApiPage<T>, ApiError> {
        let env: ListEnvelope<T> = Self::parse_body(&raw)?;
        Ok(ApiPage {
            data: env.data,
            next_cursor: env.pagination.next_cursor,
            has_more: env.pagination.has_more,
            request_id: env.request_id,
            rate_limit: raw.rate_limit,
        })
    }

    fn json_body<B: Serialize + ?Sized>(body: &B) -> Result<Body, ApiError> {
        serde_json::to_vec(body)
            .map(|b| Body::Json(b.into()))
            .map_err(|e| {
                ApiError::local(
                    ApiErrorKind::InvalidRequest,
                    client_codes::INVALID_REQUEST,
                    format!("the request body could not be encoded ({e})"),
                )
            })
    }

    async fn get_one<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<ApiResponse<T>, ApiError> {
        let raw = self
            .send(Method::Get, self.url(segments, &[]), Body::None, None)
            .await?;
        Self::parse_one(raw)
    }

    async fn write_one<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<ApiResponse<T>, ApiError> {
        let body = match body {
            Some(b) => Self::json_body(b)?,
            None => Body::None,
        };
        let raw = self
            .send(method, self.url(segments, &[]), body, idempotency_key)
            .await?;
        Self::parse_one(raw)
    }

    fn page_query(limit: Option<u32>, cursor: &Option<String>) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = cursor {
            q.push(("cursor", c.clone()));
        }
        q
    }

    /// GET `/me`: who this key is, its workspace, scopes and read-only state.
    pub async fn me(&self) -> Result<ApiResponse<Me>, ApiError> {
        self.get_one(&["me"]).await
    }

    /// POST `/leads` with an Idempotency-Key (retried safely; a replay has `replayed: true`).
    pub async fn create_lead(
        &self,
        lead: &NewLead,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Lead>, ApiError> {
        self.write_one(Method::Post, &["leads"], Some(lead), Some(idempotency_key))
            .await
    }

    /// [`Self::create_lead`] of a lead already written as JSON (an import's journaled
    /// [`NewLead`], sent as it is: parsing each row into a `NewLead` to write it back out was a
    /// measurable share of a per-row import's work), reading only the created lead's id from
    /// the answer (an import keeps nothing else).
    pub async fn create_lead_id(
        &self,
        lead: &RawValue,
        idempotency_key: &str,
    ) -> Result<ApiResponse<String>, ApiError> {
        let r = self
            .write_one::<LeadId, _>(Method::Post, &["leads"], Some(lead), Some(idempotency_key))
            .await?;
        Ok(r.map(|l| l.id))
    }

    /// POST `/leads/upsert` with an Idempotency-Key: creates the lead, or writes the fields sent
    /// onto the workspace's lead with that e-mail; the answer says which ([`UpsertResult`]).
    pub async fn upsert_lead(
        &self,
        lead: &NewLead,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Upserted>, ApiError> {
        let r = self.upsert_as::<Lead, _>(lead, idempotency_key).await?;
        Ok(r.map(|(lead, result)| Upserted { lead, result }))
    }

    /// [`Self::upsert_lead`] of a lead already written as JSON (as [`Self::create_lead_id`]),
    /// reading only the lead's id and what was done.
    pub async fn upsert_lead_id(
        &self,
        lead: &RawValue,
        idempotency_key: &str,
    ) -> Result<ApiResponse<(String, UpsertResult)>, ApiError> {
        let r = self.upsert_as::<LeadId, _>(lead, idempotency_key).await?;
        Ok(r.map(|(lead, result)| (lead.id, result)))
    }

    async fn upsert_as<T: DeserializeOwned, L: Serialize + ?Sized>(
        &self,
        lead: &L,
        idempotency_key: &str,
    ) -> Result<ApiResponse<(T, UpsertResult)>, ApiError> {
        #[derive(Deserialize)]
        struct UpsertEnvelope<T> {
            data: T,
            result: UpsertResult,
            request_id: String,
        }
        let body = Self::json_body(lead)?;
        let raw = self
            .send(
                Method::Post,
                self.url(&["leads", "upsert"], &[]),
                body,
                Some(idempotency_key),
            )
            .await?;
        let env: UpsertEnvelope<T> = Self::parse_body(&raw)?;
        Ok(ApiResponse {
            data: (env.data, env.result),
            request_id: env.request_id,
            replayed: raw.replayed,
            status: raw.status,
            rate_limit: raw.rate_limit,
        })
    }

    /// GET `/leads/{id}`.
    pub async fn get_lead(&self, id: &str) -> Result<ApiResponse<Lead>, ApiError> {
        self.get_one(&["leads", id]).await
    }

    /// PATCH `/leads/{id}` (not retried: the contract takes no Idempotency-Key here).
    pub async fn update_lead(
        &self,
        id: &str,
        patch: &LeadPatch,
    ) -> Result<ApiResponse<Lead>, ApiError> {
        self.write_one(Method::Patch, &["leads", id], Some(patch), None)
            .await
    }

    /// GET `/leads` (ordered by `updated_at`, then `id`; `updated_after` exclusive).
    pub async fn list_leads(&self, query: &ListLeadsQuery) -> Result<ApiPage<Lead>, ApiError> {
        let mut q = Vec::new();
        if let Some(l) = query.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(u) = &query.updated_after {
            q.push(("updated_after", u.clone()));
        }
        if let Some(c) = &query.cursor {
            q.push(("cursor", c.clone()));
        }
        let raw = self
            .send(Method::Get, self.url(&["leads"], &q), Body::None, None)
            .await?;
        Self::parse_page(raw)
    }

    /// POST `/imports` (answers 202, status `queued`). The Idempotency-Key is required: the
    /// same key and rows answer the same job (a replay), so a retried import never runs twice.
    pub async fn create_import(
        &self,
        req: &NewBulkImport,
        idempotency_key: &str,
    ) -> Result<ApiResponse<BulkImport>, ApiError> {
        self.write_one(Method::Post, &["imports"], Some(req), Some(idempotency_key))
            .await
    }

    /// GET `/imports/{id}`.
    pub async fn get_import(&self, id: &str) -> Result<ApiResponse<BulkImport>, ApiError> {
        self.get_one(&["imports", id]).await
    }

    /// GET `/imports/{id}/results` (in row order; `limit` up to 1,000).
    pub async fn list_import_results(
        &self,
        id: &str,
        query: &PageQuery,
    ) -> Result<ApiPage<BulkImportResult>, ApiError> {
        let q = Self::page_query(query.limit, &query.cursor);
        let raw = self
            .send(
                Method::Get,
                self.url(&["imports", id, "results"], &q),
                Body::None,
                None,
            )
            .await?;
        Self::parse_page(raw)
    }

    /// POST `/exports` (answers 202, status `queued`).
    pub async fn create_export(
        &self,
        req: &NewExport,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Export>, ApiError> {
        self.write_one(Method::Post, &["exports"], Some(req), Some(idempotency_key))
            .await
    }

    /// GET `/exports/{id}`.
    pub async fn get_export(&self, id: &str) -> Result<ApiResponse<Export>, ApiError> {
        self.get_one(&["exports", id]).await
    }

    /// GET `/exports/{id}/download`: readiness, not the file.
    pub async fn export_download_probe(
        &self,
        id: &str,
    ) -> Result<ApiResponse<ExportDownload>, ApiError> {
        self.get_one(&["exports", id, "download"]).await
    }

    /// Streams a signed `download_url` into `dest`, calling `progress(bytes_so_far, total)`.
    /// A link that is not https on the API's own host is refused unsent (`unsafe_download`, see
    /// [`super::download_policy`]). Sends no Authorization header. Not retried (a partial file cannot be resumed here); the
    /// caller asks the probe for a fresh URL and starts again. Returns the bytes written.
    pub async fn download_file(
        &self,
        url: &str,
        dest: &mut (impl tokio::io::AsyncWrite + Unpin),
        mut progress: impl FnMut(u64, Option<u64>),
    ) -> Result<u64, ApiError> {
        let inner = &*self.inner;
        // Only https on the API's own host (http on the sandbox's loopback address): checked
        // before anything is sent.
        let url = self.check_download_url(url)?;
        let path = loggable_path(&url);
        let at = now_utc_ms();
        let started = Instant::now();
        let mut exchange = Exchange {
            at,
            method: "GET".into(),
            path,
            status: None,
            duration_ms: 0,
            request_id: None,
            idempotency_key: None,
            replayed: false,
            error_code: None,
            attempt: 1,
            request_headers: vec![("user-agent".into(), inner.config.user_agent.clone())],
            response_excerpt: None,
        };
        let finish = |exchange: &mut Exchange, err: Option<&ApiError>| {
            exchange.duration_ms = started.elapsed().as_millis() as u64;
            if let Some(e) = err {
                exchange.error_code = Some(e.code.clone());
            }
            inner.observer.record(exchange);
        };
        let mut resp = match inner.http.client_for(&url).get(url).send().await {
            Ok(r) => r,
            Err(e) => {
                let (_, kind, code, message) = transport_failure(&e.without_url());
                let err = ApiError::local(kind, code, message.clone());
                exchange.response_excerpt = Some(message);
                finish(&mut exchange, Some(&err));
                return Err(err);
            }
        };
        let status = resp.status().as_u16();
        exchange.status = Some(status);
        exchange.request_id = header_str(resp.headers(), "x-request-id");
        if status >= 400 {
            let request_id = exchange.request_id.clone();
            let retry_after =
                parse_retry_after(header_str(resp.headers(), "retry-after").as_deref());
            let bytes = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            let json: Option<Value> = serde_json::from_slice(&bytes).ok();
            exchange.response_excerpt = excerpt(&bytes);
            let err = ApiError::from_response(
                status,
                json.as_ref(),
                request_id,
                retry_after.map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX)),
                true,
            );
            finish(&mut exchange, Some(&err));
            return Err(err);
        }
        let total = resp.content_length();
        let mut written: u64 = 0;
        let mut head: Vec<u8> = Vec::new();
        progress(0, total);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if head.len() < super::observer::EXCERPT_LIMIT {
                        head.extend_from_slice(
                            &chunk[..chunk.len().min(super::observer::EXCERPT_LIMIT)],
                        );
                    }
                    if let Err(e) = dest.write_all(&chunk).await {
                        let err =
                            ApiError::local(ApiErrorKind::Io, client_codes::IO, e.to_string());
                        finish(&mut exchange, Some(&err));
                        return Err(err);
                    }
                    written += chunk.len() as u64;
                    progress(written, total);
                }
                Ok(None) => break,
                Err(e) => {
                    let (_, kind, code, message) = transport_failure(&e.without_url());
                    let mut err = ApiError::local(kind, code, message);
                    err.request_id = exchange.request_id.clone();
                    finish(&mut exchange, Some(&err));
                    return Err(err);
                }
            }
        }
        if let Err(e) = dest.flush().await {
            let err = ApiError::local(ApiErrorKind::Io, client_codes::IO, e.to_string());
            finish(&mut exchange, Some(&err));
            return Err(err);
        }
        exchange.response_excerpt = excerpt(&head);
        finish(&mut exchange, None);
        Ok(written)
    }

    /// POST `/webhooks`; the answer's `signing_secret` is shown once.
    pub async fn create_webhook(
        &self,
        req: &NewWebhook,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Webhook>, ApiError> {
        self.write_one(
            Method::Post,
            &["webhooks"],
            Some(req),
            Some(idempotency_key),
        )
        .await
    }

    /// GET `/webhooks`.
    pub async fn list_webhooks(&self, query: &PageQuery) -> Result<ApiPage<Webhook>, ApiError> {
        let q = Self::page_query(query.limit, &query.cursor);
        let raw = self
            .send(Method::Get, self.url(&["webhooks"], &q), Body::None, None)
            .await?;
        Self::parse_page(raw)
    }

    /// GET `/webhooks/{id}`.
    pub async fn get_webhook(&self, id: &str) -> Result<ApiResponse<Webhook>, ApiError> {
        self.get_one(&["webhooks", id]).await
    }

    /// PATCH `/webhooks/{id}` (not retried).
    pub async fn update_webhook(
        &self,
        id: &str,
        patch: &WebhookPatch,
    ) -> Result<ApiResponse<Webhook>, ApiError> {
        self.write_one(Method::Patch, &["webhooks", id], Some(patch), None)
            .await
    }

    /// DELETE `/webhooks/{id}` (204: no body, the request_id comes from the header).
    pub async fn delete_webhook(&self, id: &str) -> Result<ApiResponse<()>, ApiError> {
        let raw = self
            .send(
                Method::Delete,
                self.url(&["webhooks", id], &[]),
                Body::None,
                None,
            )
            .await?;
        Ok(ApiResponse {
            data: (),
            request_id: raw.request_id.unwrap_or_default(),
            replayed: raw.replayed,
            status: raw.status,
            rate_limit: raw.rate_limit,
        })
    }

    /// POST `/webhooks/{id}/rotate-secret`; the answer carries the new `signing_secret`.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Webhook>, ApiError> {
        self.write_one::<Webhook, ()>(
            Method::Post,
            &["webhooks", id, "rotate-secret"],
            None,
            Some(idempotency_key),
        )
        .await
    }

    /// GET `/webhooks/{id}/deliveries` (newest first).
    pub async fn list_deliveries(
        &self,
        webhook_id: &str,
        query: &PageQuery,
    ) -> Result<ApiPage<Delivery>, ApiError> {
        let q = Self::page_query(query.limit, &query.cursor);
        let raw = self
            .send(
                Method::Get,
                self.url(&["webhooks", webhook_id, "deliveries"], &q),
                Body::None,
                None,
            )
            .await?;
        Self::parse_page(raw)
    }

    /// POST `/webhooks/{id}/deliveries/{delivery_id}/retry` (202, the delivery `pending`).
    pub async fn retry_delivery(
        &self,
        webhook_id: &str,
        delivery_id: &str,
        idempotency_key: &str,
    ) -> Result<ApiResponse<Delivery>, ApiError> {
        self.write_one::<Delivery, ()>(
            Method::Post,
            &["webhooks", webhook_id, "deliveries", delivery_id, "retry"],
            None,
            Some(idempotency_key),
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_are_parsed_leniently() {
        assert_eq!(
            RateLimit::parse(Some("60"), Some("59"), Some("0")),
            Some(RateLimit {
                limit: 60,
                remaining: 59,
                reset: 0
            })
        );
        assert_eq!(
            RateLimit::parse(Some(" 60 "), Some("0"), Some("12")).map(|r| r.reset),
            Some(12)
        );
        for (l, r, s) in [
            (Some("sixty"), Some("1"), Some("1")),
            (Some("60"), Some("-1"), Some("1")),
            (Some("60"), Some("1"), Some("1.5")),
            (Some("60"), None, Some("1")),
            (Some("99999999999999999999"), Some("1"), Some("1")),
            (Some(""), Some(""), Some("")),
            (None, None, None),
        ] {
            assert_eq!(RateLimit::parse(l, r, s), None, "{l:?} {r:?} {s:?}");
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-limit", HeaderValue::from_static("10"));
        headers.insert(
            "x-ratelimit-remaining",
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("3"));
        assert_eq!(RateLimit::from_headers(&headers), None);
    }

    #[test]
    fn a_missing_required_field_is_a_clear_invalid_response() {
        let raw = Raw {
            status: 200,
            body: br#"{"data":{"id":"lead_1","object":"lead","status":"new","source":"api","created_at":"t","updated_at":"t","future":1},"request_id":"req_1"}"#.to_vec(),
            request_id: Some("req_1".into()),
            replayed: false,
            rate_limit: None,
        };
        let err = Client::parse_one::<Lead>(raw).unwrap_err();
        assert_eq!(err.kind, ApiErrorKind::InvalidResponse);
        assert!(
            err.message.contains("missing field `email`"),
            "{}",
            err.message
        );
        assert_eq!(err.request_id.as_deref(), Some("req_1"));
        let raw = Raw {
            status: 200,
            body: br#"{"data":{"id":"lead_1","email":"a@b.co","status":"new","source":"api","created_at":"t","updated_at":"t","some_new_field":{"x":1}},"request_id":"req_1"}"#.to_vec(),
            request_id: None,
            replayed: false,
            rate_limit: None,
        };
        let ok = Client::parse_one::<Lead>(raw).unwrap();
        assert_eq!(ok.data.email, "a@b.co");
        assert!(ok.data.custom_fields.is_empty());
    }

    #[test]
    fn key_shape_check() {
        assert!(key_looks_valid("pb2b_live_ab12cd34_0123456789abcdef"));
        assert!(key_looks_valid(
            "pb2b_test_ab12cd34_0123456789abcdef0123456789abcdef"
        ));
        assert!(!key_looks_valid("sk_live_123"));
        assert!(!key_looks_valid("pb2b_live__secret"));
        assert!(!key_looks_valid("pb2b_live_a_b_c"));
    }

    #[test]
    fn signed_url_signatures_are_not_logged() {
        let url = Url::parse("http://127.0.0.1:1/files/exports/exp_1?expires=9&signature=abcdef")
            .unwrap();
        assert_eq!(
            loggable_path(&url),
            "/files/exports/exp_1?expires=9&signature=<redacted>"
        );
    }

    #[test]
    fn client_debug_hides_the_key() {
        let c = Client::new(
            ClientConfig::new("http://127.0.0.1:9/api/public/v1"),
            SecretString::new("pb2b_live_abcd1234_canarycanary".into()),
            Arc::new(super::super::observer::NoopObserver),
        )
        .unwrap();
        assert!(!format!("{c:?}").contains("canary"));
    }

    #[test]
    fn bad_keys_and_urls_are_refused_before_sending() {
        let noop =
            || -> Arc<dyn RequestObserver> { Arc::new(super::super::observer::NoopObserver) };
        let e = Client::new(
            ClientConfig::new("http://127.0.0.1:9"),
            SecretString::new("  ".into()),
            noop(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::MalformedKey);
        let e = Client::new(
            ClientConfig::new("http://127.0.0.1:9"),
            SecretString::new("pb2b live x".into()),
            noop(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::MalformedKey);
        let e = Client::new(
            ClientConfig::new("ftp://x"),
            SecretString::new("pb2b_live_a_b".into()),
            noop(),
        )
        .unwrap_err();
        assert_eq!(e.kind, ApiErrorKind::InvalidRequest);
    }
}
