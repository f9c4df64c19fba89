//! The one error shape that leaves the core: across Tauri IPC to the UI, and as the CLI's `--json`
//! error output.
//!
//! The UI branches on `code` (a stable snake_case string), shows `message` to the user, shows
//! `request_id` with a copy button when the server gave one, and offers "Try again" only when
//! `retryable` is true.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

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
    /// Refused on this computer before anything was sent: bad arguments or input, a profile or
    /// job that does not exist or belongs to another workspace.
    Usage,
    /// The input was refused by the server (validation, not found, conflicts).
    Input,
    /// Anything else the server answered (5xx, rate limit after retries, invalid responses).
    Server,
}

/// Declares [`Code`]: each code once, with its wire string and its class, so that serializing,
/// parsing and classifying cannot disagree or miss one.
macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $wire:literal, $class:ident; )*) => {
        /// Every error code that leaves the core (IPC, the CLI's `--json`). Serialized as its
        /// snake_case string, so the wire shape is the same as when codes were strings.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
            /// A code the server sent that this version does not know (classed as a server
            /// failure; its string is kept).
            Other(String),
        }

        impl Code {
            /// Every known code.
            pub const KNOWN: &'static [Code] = &[$( Code::$variant, )*];

            /// The wire string.
            pub fn as_str(&self) -> &str {
                match self {
                    $( Code::$variant => $wire, )*
                    Code::Other(s) => s,
                }
            }

            /// The code a wire string names (an unknown one is kept as [`Code::Other`]).
            pub fn from_wire(s: &str) -> Code {
                match s {
                    $( $wire => Code::$variant, )*
                    other => Code::Other(other.to_owned()),
                }
            }

            /// The class of failure.
            pub fn class(&self) -> ErrorClass {
                match self {
                    $( Code::$variant => ErrorClass::$class, )*
                    Code::Other(_) => ErrorClass::Server,
                }
            }
        }
    };
}

codes! {
    // Produced on this computer.
    /// The OS keychain could not be reached (no Secret Service, locked, or access denied).
    KeychainUnavailable = "keychain_unavailable", Local;
    /// No key is stored for this profile.
    KeyNotFound = "key_not_found", Local;
    /// No profile is active and no key is in the environment.
    NoProfile = "no_profile", Auth;
    /// Something that should not happen; the message says what.
    Internal = "internal_error", Local;
    /// A file could not be read or written.
    IoError = "io_error", Local;
    /// The local database failed.
    LocalDatabaseError = "local_database_error", Local;
    /// The local database failed (a module's journal or tables).
    StoreError = "store_error", Local;
    /// Another process held the local database longer than the bounded wait.
    DatabaseBusy = "database_busy", Local;
    /// Another process held the profiles file longer than the bounded wait.
    SettingsBusy = "settings_busy", Local;
    /// The embedded sandbox could not start.
    SandboxFailed = "sandbox_failed", Local;
    /// A sync destination (a PostgreSQL database) could not be reached or refused a statement.
    DestinationError = "destination_error", Local;
    /// The user's input was refused before anything was sent.
    InvalidInput = "invalid_input", Usage;
    /// The file to import has no rows: empty, blank, or a header and nothing under it.
    EmptyFile = "empty_file", Usage;
    /// No profile of that name.
    ProfileNotFound = "profile_not_found", Usage;
    /// A profile of that name exists (replacing its key needs a confirmation).
    ProfileExists = "profile_exists", Usage;
    /// No workspace is connected.
    NotConnected = "not_connected", Usage;
    /// The active key could not be verified with `/me`.
    NotVerified = "not_verified", Auth;
    /// A job of another workspace was asked to run, be retried or be shown here.
    WrongWorkspace = "wrong_workspace", Usage;
    /// A job made by an older version that did not record its workspace.
    UnassignedJob = "unassigned_job", Usage;
    /// A sync of this mirror is already running in this app.
    SyncRunning = "sync_running", Usage;
    /// This import is already running.
    ImportRunning = "import_running", Usage;
    /// The work was cancelled (resume continues it).
    Cancelled = "cancelled", Usage;
    // A lead edit found the lead changed on the server since it was loaded (nothing was sent).
    LeadChanged = "lead_changed", Input;
    /// No export job of that id in the local journal.
    ExportJobNotFound = "export_job_not_found", Usage;
    /// The export failed on the server.
    ExportFailed = "export_failed", Server;
    /// The export's file is no longer kept on the server.
    ExportExpired = "export_expired", Server;
    /// A downloaded file's size or row count did not match what the server announced.
    DownloadMismatch = "download_mismatch", Server;
    /// The server's download link was refused before anything was sent: not https, or not on
    /// the API's own host (`api::download_policy`).
    UnsafeDownload = "unsafe_download", Server;
    // A signature check that said no is the answer of `pb2b webhooks verify` (exit 1), not a
    // mistake of the caller: classed with the other refusals that are not input errors.
    /// A webhook signature check: valid (used as the verdict, never an error).
    SignatureValid = "signature_valid", Server;
    /// A webhook signature does not match the body and secret.
    SignatureMismatch = "signature_mismatch", Server;
    /// A webhook signature's timestamp is outside the tolerance.
    SignatureTimestampOutsideTolerance = "signature_timestamp_outside_tolerance", Server;
    /// A webhook signature header is malformed.
    SignatureMalformed = "signature_malformed", Server;
    /// No signing secret to check a signature with.
    SignatureNoSecret = "signature_no_secret", Server;

    // Produced by the client for exchanges that got no usable answer.
    /// The host could not be reached.
    Unreachable = "unreachable", Network;
    /// TLS failed.
    TlsError = "tls_error", Network;
    /// The request timed out.
    Timeout = "timeout", Network;
    /// The connection dropped before the answer.
    ConnectionLost = "connection_lost", Network;
    /// The answer was not what the contract says.
    InvalidResponse = "invalid_response", Server;
    /// The request could not be built.
    InvalidRequest = "invalid_request", Usage;
    /// The key is not shaped like an API key.
    MalformedApiKey = "malformed_api_key", Auth;
    /// A status the contract does not list, without an error body.
    HttpError = "http_error", Server;

    // Answered by the API (`docs/api/openapi.yaml`, the error codes table).
    InvalidJson = "invalid_json", Input;
    ValidationError = "validation_error", Input;
    InvalidCursor = "invalid_cursor", Input;
    InvalidIdempotencyKey = "invalid_idempotency_key", Input;
    Unauthorized = "unauthorized", Auth;
    InvalidApiKey = "invalid_api_key", Auth;
    ApiKeyRevoked = "api_key_revoked", Auth;
    ApiKeyExpired = "api_key_expired", Auth;
    InsufficientScope = "insufficient_scope", Auth;
    Forbidden = "forbidden", Auth;
    ReadOnlyKey = "read_only_key", Auth;
    InvalidSignature = "invalid_signature", Server;
    DownloadUrlExpired = "download_url_expired", Server;
    NotFound = "not_found", Input;
    MethodNotAllowed = "method_not_allowed", Server;
    IdempotencyKeyReused = "idempotency_key_reused", Input;
    IdempotencyKeyInUse = "idempotency_key_in_use", Server;
    ExportNotReady = "export_not_ready", Server;
    PayloadTooLarge = "payload_too_large", Input;
    UnsupportedMediaType = "unsupported_media_type", Server;
    RateLimited = "rate_limited", Server;
    /// The bad request answer of an older contract.
    BadRequest = "bad_request", Input;
}

/// The codes `pb2b-core` modules name (kept for the call sites that use them by name).
pub mod codes {
    use super::Code;
    pub const KEYCHAIN_UNAVAILABLE: Code = Code::KeychainUnavailable;
    pub const KEY_NOT_FOUND: Code = Code::KeyNotFound;
    pub const INTERNAL: Code = Code::Internal;
    pub const INVALID_INPUT: Code = Code::InvalidInput;
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Tests (and the CLI's JSON) see codes as their wire strings: `report.code == "not_found"`.
impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Code {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Code::from_wire(&String::deserialize(d)?))
    }
}

/// The serialized error: `{code, message, request_id, retryable}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ErrorReport.ts")]
pub struct ErrorReport {
    /// Stable machine-readable code; the UI branches on it.
    #[ts(type = "string")]
    pub code: Code,
    /// A sentence for a person, with the remedy where there is one.
    pub message: String,
    /// The server's `request_id` for the exchange that failed, when there was one.
    pub request_id: Option<String>,
    /// Whether trying the same action again may succeed.
    pub retryable: bool,
}

impl ErrorReport {
    /// An error the app produced itself (no request_id).
    pub fn local(code: Code, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            code,
            message: message.into(),
            request_id: None,
            retryable,
        }
    }

    /// The class of this error, from its code.
    pub fn class(&self) -> ErrorClass {
        self.code.class()
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
            code: Code::IdempotencyKeyReused,
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
    fn every_code_round_trips_its_wire_string_and_has_a_class() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::KNOWN {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert_eq!(&Code::from_wire(code.as_str()), code);
            let json = serde_json::to_string(code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            assert_eq!(&serde_json::from_str::<Code>(&json).unwrap(), code);
            let _ = code.class();
        }
        assert_eq!(Code::LocalDatabaseError.class(), ErrorClass::Local);
        assert_eq!(Code::DatabaseBusy.class(), ErrorClass::Local);
        assert_eq!(Code::WrongWorkspace.class(), ErrorClass::Usage);
        let unknown = Code::from_wire("brand_new_code");
        assert_eq!(unknown, Code::Other("brand_new_code".into()));
        assert_eq!(unknown.class(), ErrorClass::Server);
        assert_eq!(
            serde_json::to_string(&unknown).unwrap(),
            "\"brand_new_code\""
        );
    }

    #[test]
    fn display_names_the_request_id() {
        let report = ErrorReport {
            code: Code::RateLimited,
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
