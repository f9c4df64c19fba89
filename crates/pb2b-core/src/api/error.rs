//! The client's error type and its mapping onto the one IPC error shape ([`ErrorReport`]).
//!
//! No variant, message or detail ever carries the API key: the key only leaves its wrapper in
//! the `Authorization` header, and errors are built from the server's answer or from reqwest
//! errors whose text names the URL (host and path), never the headers.

use serde_json::Value;

use crate::error::ErrorReport;

/// What kind of failure an [`ApiError`] is; the UI and CLI branch on it (the CLI's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiErrorKind {
    /// 401: no key, or a key the service does not know.
    Unauthorized,
    /// 401 `api_key_revoked`.
    Revoked,
    /// 401 `api_key_expired`.
    Expired,
    /// The key is not shaped like `pb2b_live_<prefix>_<secret>` (refused locally or by the server).
    MalformedKey,
    /// 403 `forbidden`: the membership behind the key lacks the permission.
    Forbidden,
    /// 403 `insufficient_scope`: the key lacks a scope (named in the details).
    InsufficientScope,
    /// 403 `read_only_key`.
    ReadOnly,
    /// 404.
    NotFound,
    /// 400 (invalid JSON, query parameter, cursor, Idempotency-Key), 405, 413, 415.
    BadRequest,
    /// 422 `validation_error`: `details.fields[]` says which fields.
    Validation,
    /// 409 `idempotency_key_reused`: the key was used for another payload; never retried.
    IdempotencyKeyReused,
    /// 409 `idempotency_key_in_use`: the first request with this key still runs.
    IdempotencyKeyInUse,
    /// Any other 409 (e.g. `export_not_ready`).
    Conflict,
    /// 403 on a signed export file URL (`download_url_expired`, `invalid_signature`).
    DownloadLinkExpired,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// No connection could be made (refused, DNS, no route).
    Unreachable,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No answer within the timeout.
    Timeout,
    /// The connection closed before a complete answer arrived (the request may have been applied).
    ConnectionLost,
    /// The answer is not what the contract describes (missing field, not JSON).
    InvalidResponse,
    /// The request could not be built (bad base URL, invalid header value); nothing was sent.
    InvalidRequest,
    /// Writing a downloaded file failed locally.
    Io,
    /// A server-given download link this client does not follow (another host, plain http):
    /// see [`super::download_policy`]; nothing was sent.
    UnsafeDownload,
}

/// An API failure, with everything the Activity screen and a support ticket need.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message} ({code})")]
pub struct ApiError {
    pub kind: ApiErrorKind,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    /// The server's `error.code`, or the client's own code (`unreachable`, `timeout`, ...).
    pub code: String,
    /// The server's message, or the client's description of a transport failure.
    pub message: String,
    /// The server's `error.details`.
    pub details: Option<Value>,
    /// The server's `request_id` (body or `X-Request-Id`).
    pub request_id: Option<String>,
    /// Whether trying the same action again may succeed.
    pub retryable: bool,
    /// `Retry-After` in seconds, when the server sent one (429, 409 in use).
    pub retry_after: Option<u32>,
}

/// Client-side codes (no server answer, or an answer the client cannot use).
pub mod client_codes {
    pub const UNREACHABLE: &str = "unreachable";
    pub const TLS: &str = "tls_error";
    pub const TIMEOUT: &str = "timeout";
    pub const CONNECTION_LOST: &str = "connection_lost";
    pub const INVALID_RESPONSE: &str = "invalid_response";
    pub const INVALID_REQUEST: &str = "invalid_request";
    pub const MALFORMED_KEY: &str = "malformed_api_key";
    pub const IO: &str = "io_error";
    pub const HTTP_ERROR: &str = "http_error";
}

impl ApiError {
    /// An error produced by the client itself.
    pub fn local(kind: ApiErrorKind, code: &str, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            status: None,
            code: code.to_owned(),
            message: message.into(),
            details: None,
            request_id: None,
            retryable: matches!(
                kind,
                ApiErrorKind::Unreachable
                    | ApiErrorKind::Timeout
                    | ApiErrorKind::ConnectionLost
                    | ApiErrorKind::Server
                    | ApiErrorKind::RateLimited
            ),
            retry_after: None,
        }
    }

    /// Builds the error for an HTTP answer with status >= 400. `key_looks_valid` tells a
    /// malformed key apart from an unknown one (both are `invalid_api_key` on the wire).
    pub fn from_response(
        status: u16,
        body: Option<&Value>,
        header_request_id: Option<String>,
        retry_after: Option<u32>,
        key_looks_valid: bool,
    ) -> Self {
        let err = body.and_then(|b| b.get("error"));
        let code = err
            .and_then(|e| e.get("code"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let message = err
            .and_then(|e| e.get("message"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        let details = err
            .and_then(|e| e.get("details"))
            .filter(|d| !d.is_null())
            .cloned();
        let request_id = body
            .and_then(|b| b.get("request_id"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or(header_request_id);
        let code_str = code.as_deref().unwrap_or("");
        let kind = match (status, code_str) {
            (401, "api_key_revoked") => ApiErrorKind::Revoked,
            (401, "api_key_expired") => ApiErrorKind::Expired,
            (401, "invalid_api_key") if !key_looks_valid => ApiErrorKind::MalformedKey,
            (401, _) => ApiErrorKind::Unauthorized,
            (403, "insufficient_scope") => ApiErrorKind::InsufficientScope,
            (403, "read_only_key") => ApiErrorKind::ReadOnly,
            (403, "download_url_expired" | "invalid_signature") => {
                ApiErrorKind::DownloadLinkExpired
            }
            (403, _) => ApiErrorKind::Forbidden,
            (404, _) => ApiErrorKind::NotFound,
            (409, "idempotency_key_reused") => ApiErrorKind::IdempotencyKeyReused,
            (409, "idempotency_key_in_use") => ApiErrorKind::IdempotencyKeyInUse,
            (409, _) => ApiErrorKind::Conflict,
            (422, _) => ApiErrorKind::Validation,
            (429, _) => ApiErrorKind::RateLimited,
            (s, _) if s >= 500 => ApiErrorKind::Server,
            _ => ApiErrorKind::BadRequest,
        };
        let retryable = matches!(
            kind,
            ApiErrorKind::RateLimited
                | ApiErrorKind::Server
                | ApiErrorKind::IdempotencyKeyInUse
                | ApiErrorKind::Conflict
        );
        ApiError {
            kind,
            status: Some(status),
            code: code.unwrap_or_else(|| match status {
                429 => "rate_limited".to_owned(),
                s if s >= 500 => "internal_error".to_owned(),
                _ => client_codes::HTTP_ERROR.to_owned(),
            }),
            message: message.unwrap_or_else(|| format!("the server answered HTTP {status}")),
            details,
            request_id,
            retryable,
            retry_after,
        }
    }

    /// The scopes the server said were missing (`details.required_scopes`).
    pub fn required_scopes(&self) -> Vec<String> {
        self.details
            .as_ref()
            .and_then(|d| d.get("required_scopes"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `details.fields[]` as "field: message" lines.
    pub fn field_errors(&self) -> Vec<String> {
        self.details
            .as_ref()
            .and_then(|d| d.get("fields"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|f| {
                        let field = f.get("field").and_then(Value::as_str).unwrap_or("?");
                        let msg = f
                            .get("message")
                            .and_then(Value::as_str)
                            .or_else(|| f.get("code").and_then(Value::as_str))
                            .unwrap_or("invalid");
                        format!("{field}: {msg}")
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The sentence shown to a person, with the remedy.
    pub fn user_message(&self) -> String {
        use ApiErrorKind as K;
        match self.kind {
            K::Revoked => "This API key has been revoked (it may have been rotated). Create a new key in ProspectB2B under Settings → API keys and paste it here.".into(),
            K::Expired => "This API key has expired. Create a new key in ProspectB2B under Settings → API keys and paste it here.".into(),
            K::MalformedKey => "This does not look like a ProspectB2B API key. Keys start with pb2b_live_ followed by a prefix and a secret; copy the whole key again from ProspectB2B, without spaces.".into(),
            K::Unauthorized => "ProspectB2B did not accept this API key. Check that you pasted the whole key for the right workspace, or create a new one under Settings → API keys.".into(),
            K::InsufficientScope => {
                let scopes = self.required_scopes();
                if scopes.is_empty() {
                    "This API key lacks a permission (scope) this action needs. Create a key with the needed scopes in ProspectB2B.".into()
                } else {
                    format!(
                        "This API key lacks the scope {}. Create a key that includes it in ProspectB2B under Settings → API keys.",
                        scopes.join(", ")
                    )
                }
            }
            K::ReadOnly => "This API key is read-only, so it cannot change anything. Use a key without the read-only setting for this action.".into(),
            K::Forbidden => "Your ProspectB2B membership does not allow this action. Ask a workspace admin for the permission, or use a key issued by someone who has it.".into(),
            K::NotFound => "ProspectB2B could not find this item. It may have been deleted, or it belongs to another workspace.".into(),
            K::Validation => {
                let fields = self.field_errors();
                if fields.is_empty() {
                    format!("ProspectB2B refused some of the values: {}", self.message)
                } else {
                    format!("ProspectB2B refused some of the values. Fix these and try again: {}.", fields.join("; "))
                }
            }
            K::BadRequest => format!("ProspectB2B refused the request: {}. This is likely a problem in the app; please report it with the request ID.", self.message),
            K::IdempotencyKeyReused => "This request was already sent once with different details, so ProspectB2B refused it to avoid a duplicate. Start the action again from the beginning (it gets a fresh request key).".into(),
            K::IdempotencyKeyInUse => "The same request is still being processed by ProspectB2B. Wait a moment and try again; it will not create a duplicate.".into(),
            K::Conflict => format!("ProspectB2B cannot do this right now: {}. Wait a moment and try again.", self.message),
            K::DownloadLinkExpired => "The download link has expired. Ask for the export download again to get a fresh link.".into(),
            K::RateLimited => match self.retry_after {
                Some(s) => format!("Too many requests to ProspectB2B in the last minute. Wait {s} second{} and try again.", if s == 1 { "" } else { "s" }),
                None => "Too many requests to ProspectB2B in the last minute. Wait a minute and try again.".into(),
            },
            K::Server => "ProspectB2B had a problem answering. Try again in a moment; if it keeps happening, contact ProspectB2B support with the request ID.".into(),
            K::Unreachable => "Cannot reach the ProspectB2B server. Check your internet connection, VPN or proxy, and the base URL under Advanced.".into(),
            K::Tls => "A secure connection to the server could not be established (certificate or TLS problem). Check the base URL, and the date and time of this computer; a company proxy may be intercepting the connection.".into(),
            K::Timeout => "ProspectB2B did not answer in time. Check your connection and try again.".into(),
            K::ConnectionLost => "The connection dropped before ProspectB2B answered. The change may or may not have been saved; check before trying again.".into(),
            K::InvalidResponse => format!("ProspectB2B sent an answer the app does not understand ({}). Check the base URL; if it is right, report this with the request ID.", self.message),
            K::InvalidRequest => format!("The request could not be prepared: {}.", self.message),
            K::Io => format!("The file could not be written: {}.", self.message),
            // Already a whole sentence naming the host and the remedy.
            K::UnsafeDownload => self.message.clone(),
        }
    }
}

impl From<ApiError> for ErrorReport {
    fn from(err: ApiError) -> Self {
        ErrorReport {
            message: err.user_message(),
            code: crate::error::Code::from_wire(&err.code),
            request_id: err.request_id,
            retryable: err.retryable,
        }
    }
}

impl From<&ApiError> for ErrorReport {
    fn from(err: &ApiError) -> Self {
        err.clone().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(code: &str, details: Value) -> Value {
        json!({"error": {"code": code, "message": "m", "details": details}, "request_id": "req_1"})
    }

    #[test]
    fn classifies_by_status_and_code() {
        let cases = [
            (401, "api_key_revoked", ApiErrorKind::Revoked),
            (401, "api_key_expired", ApiErrorKind::Expired),
            (401, "unauthorized", ApiErrorKind::Unauthorized),
            (403, "insufficient_scope", ApiErrorKind::InsufficientScope),
            (403, "read_only_key", ApiErrorKind::ReadOnly),
            (403, "forbidden", ApiErrorKind::Forbidden),
            (404, "not_found", ApiErrorKind::NotFound),
            (
                409,
                "idempotency_key_reused",
                ApiErrorKind::IdempotencyKeyReused,
            ),
            (
                409,
                "idempotency_key_in_use",
                ApiErrorKind::IdempotencyKeyInUse,
            ),
            (422, "validation_error", ApiErrorKind::Validation),
            (400, "invalid_json", ApiErrorKind::BadRequest),
            (429, "rate_limited", ApiErrorKind::RateLimited),
            (500, "internal_error", ApiErrorKind::Server),
        ];
        for (status, code, kind) in cases {
            let e = ApiError::from_response(status, Some(&body(code, json!({}))), None, None, true);
            assert_eq!(e.kind, kind, "{status} {code}");
            assert_eq!(e.code, code);
            assert_eq!(e.request_id.as_deref(), Some("req_1"));
        }
        let malformed = ApiError::from_response(
            401,
            Some(&body("invalid_api_key", json!({}))),
            None,
            None,
            false,
        );
        assert_eq!(malformed.kind, ApiErrorKind::MalformedKey);
        let unknown = ApiError::from_response(
            401,
            Some(&body("invalid_api_key", json!({}))),
            None,
            None,
            true,
        );
        assert_eq!(unknown.kind, ApiErrorKind::Unauthorized);
    }

    #[test]
    fn a_body_without_an_envelope_still_gives_a_useful_error() {
        let e = ApiError::from_response(502, None, Some("req_h".into()), None, true);
        assert_eq!(e.kind, ApiErrorKind::Server);
        assert_eq!(e.code, "internal_error");
        assert_eq!(e.request_id.as_deref(), Some("req_h"));
        assert!(e.retryable);
    }

    #[test]
    fn messages_name_the_scope_the_wait_and_the_fields() {
        let scope = ApiError::from_response(
            403,
            Some(&body(
                "insufficient_scope",
                json!({"required_scopes": ["leads.write"], "granted_scopes": []}),
            )),
            None,
            None,
            true,
        );
        assert!(ErrorReport::from(scope).message.contains("leads.write"));
        let rl = ApiError::from_response(
            429,
            Some(&body("rate_limited", json!({}))),
            None,
            Some(7),
            true,
        );
        let report = ErrorReport::from(rl);
        assert!(
            report.message.contains("Wait 7 seconds"),
            "{}",
            report.message
        );
        assert!(report.retryable);
        let v = ApiError::from_response(
            422,
            Some(&body(
                "validation_error",
                json!({"fields": [{"field": "email", "location": "body", "code": "invalid_email", "message": "not an e-mail address"}]}),
            )),
            None,
            None,
            true,
        );
        let report = ErrorReport::from(v);
        assert!(
            report.message.contains("email: not an e-mail address"),
            "{}",
            report.message
        );
        assert!(!report.retryable);
    }
}
