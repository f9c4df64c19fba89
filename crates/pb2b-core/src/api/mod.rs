//! The typed ProspectB2B Public API client (`docs/api/openapi.yaml` is the contract).
//!
//! - [`Client`]: one pooled reqwest client (rustls), timeouts, a User-Agent naming the app.
//! - [`models`]: the resources; unknown response fields tolerated, missing required ones an
//!   [`ApiErrorKind::InvalidResponse`].
//! - [`ApiError`]: status, code, message, details, request_id, retryable; maps onto
//!   [`crate::error::ErrorReport`] with a sentence and a remedy.
//! - [`retry`]: the one place retries are decided (see its table).
//! - [`network`]: the trust store and the proxy rules (see its table), and the Diagnostics line.
//! - [`RequestObserver`]: every attempt goes through it (the request log).

pub mod client;
pub mod download_policy;
pub mod error;
pub mod models;
pub mod network;
pub mod observer;
pub mod retry;

pub use client::{key_looks_valid, ApiPage, ApiResponse, Client, ClientConfig, RateLimit};
pub use error::{ApiError, ApiErrorKind};
pub use models::*;
pub use observer::{Exchange, NoopObserver, RequestObserver};
pub use retry::RetryPolicy;

#[cfg(test)]
mod tests {
    use ts_rs::{Config, TS};

    fn renders<T: TS + 'static>() -> String {
        assert!(
            T::output_path().is_some(),
            "{} has export_to",
            T::name(&Config::new())
        );
        T::export_to_string(&Config::new()).expect("renders")
    }

    #[test]
    fn ui_types_render_to_typescript() {
        let me = renders::<super::Me>();
        assert!(me.contains("read_only: boolean"), "{me}");
        let lead = renders::<super::Lead>();
        assert!(
            lead.contains("custom_fields: Record<string, string | number | boolean | null>"),
            "{lead}"
        );
        let hook = renders::<super::Webhook>();
        assert!(!hook.contains("signing_secret:"), "{hook}");
        for ts in [
            renders::<super::NewLead>(),
            renders::<super::Export>(),
            renders::<super::ExportDownload>(),
            renders::<super::Delivery>(),
            renders::<crate::scopes::ScopeDescription>(),
            renders::<crate::scopes::Action>(),
            renders::<crate::scopes::Denied>(),
            renders::<crate::store::LoggedRequest>(),
            renders::<crate::store::LogFilter>(),
        ] {
            assert!(!ts.contains("bigint"), "{ts}");
        }
    }
}
