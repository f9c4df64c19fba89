//! The one error shape that leaves the core: across Tauri IPC to the UI, and as the CLI's `--json`
//! error output.
//!
//! The UI branches on `code` (a stable snake_case string), shows `message` to the user, shows
//! `request_id` with a copy button when the server gave one, and offers "Try again" only when
//! `retryable` is true.

use serde::Serialize;
use ts_rs::TS;

/// Codes the app itself produces. Errors answered by the API carry the API's own `error.code`
/// (for example `idempotency_key_reused`), which the OpenAPI document lists.
pub mod codes {
    /// The OS keychain could not be reached (no Secret Service, locked, or access denied).
    pub const KEYCHAIN_UNAVAILABLE: &str = "keychain_unavailable";
    /// No key is stored for this profile.
    pub const KEY_NOT_FOUND: &str = "key_not_found";
    /// Something that should not happen; the message says what.
    pub const INTERNAL: &str = "internal_error";
    /// The user's input was refused before anything was sent.
    pub const INVALID_INPUT: &str = "invalid_input";
}

/// The serialized error: `{code, message, request_id, retryable}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ErrorReport.ts")]
pub struct ErrorReport {
    /// Stable machine-readable code; the UI branches on it.
    pub code: String,
    /// A sentence for a person, with the remedy where there is one.
    pub message: String,
    /// The server's `request_id` for the exchange that failed, when there was one.
    pub request_id: Option<String>,
    /// Whether trying the same action again may succeed.
    pub retryable: bool,
}

impl ErrorReport {
    /// An error the app produced itself (no request_id).
    pub fn local(code: &str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
            request_id: None,
            retryable,
        }
    }
}

/// What kind of failure an error is, for callers that must tell them apart without reading
/// messages (the CLI's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// The key is missing, malformed, revoked, expired, or lacks a scope or write access.
    Auth,
    /// The host could not be reached, TLS failed, or the connection timed out or dropped.
    Network,
    /// Something on this computer: the keychain, the local database, a file.
    Local,
    /// The input was refused before or by the server (validation, not found, conflicts).
    Input,
    /// Anything else the server answered (5xx, rate limit after retries, invalid responses).
    Server,
}

impl ErrorReport {
    /// The class of this error, from its code.
    pub fn class(&self) -> ErrorClass {
        match self.code.as_str() {
            "unauthorized" | "invalid_api_key" | "api_key_revoked" | "api_key_expired"
            | "malformed_api_key" | "forbidden" | "insufficient_scope" | "read_only_key" => {
                ErrorClass::Auth
            }
            "unreachable" | "tls_error" | "timeout" | "connection_lost" => ErrorClass::Network,
            codes::KEYCHAIN_UNAVAILABLE
            | codes::KEY_NOT_FOUND
            | codes::INTERNAL
            | "io_error"
            | "sandbox_failed"
            | "store_error" => ErrorClass::Local,
            codes::INVALID_INPUT
            | "invalid_request"
            | "validation_error"
            | "bad_request"
            | "not_found"
            | "idempotency_key_reused"
            | "invalid_cursor"
            | "payload_too_large"
            | "profile_not_found"
            | "profile_exists" => ErrorClass::Input,
            _ => ErrorClass::Server,
        }
    }
}

impl std::fmt::Display for ErrorReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        if let Some(id) = &self.request_id {
            write!(f, " [request_id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ErrorReport {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_one_ipc_shape() {
        let report = ErrorReport {
            code: "idempotency_key_reused".into(),
            message: "This Idempotency-Key was already used with a different payload.".into(),
            request_id: Some("req_0123456789".into()),
            retryable: false,
        };
        insta::assert_json_snapshot!(report, @r#"
        {
          "code": "idempotency_key_reused",
          "message": "This Idempotency-Key was already used with a different payload.",
          "request_id": "req_0123456789",
          "retryable": false
        }
        "#);
    }

    #[test]
    fn local_errors_have_a_null_request_id() {
        let report = ErrorReport::local(codes::KEYCHAIN_UNAVAILABLE, "No keychain", false);
        insta::assert_json_snapshot!(report, @r#"
        {
          "code": "keychain_unavailable",
          "message": "No keychain",
          "request_id": null,
          "retryable": false
        }
        "#);
    }

    #[test]
    fn display_names_the_request_id() {
        let report = ErrorReport {
            code: "rate_limited".into(),
            message: "Slow down".into(),
            request_id: Some("req_1".into()),
            retryable: true,
        };
        assert_eq!(
            report.to_string(),
            "Slow down (rate_limited) [request_id req_1]"
        );
    }
}
