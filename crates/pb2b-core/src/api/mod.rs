//! The typed ProspectB2B Public API client (`docs/api/openapi.yaml` is the contract).
//!
//! - [`Client`]: one pooled reqwest client (rustls), timeouts, a User-Agent naming the app.
//! - [`models`]: the resources; unknown response fields tolerated, missing required ones an
//!   [`ApiErrorKind::InvalidResponse`].
//! - [`ApiError`]: status, code, message, details, request_id, retryable; maps onto
//!   [`crate::error::ErrorReport`] with a sentence and a remedy.
//! - [`retry`]: the one place retries are decided (see its table).
//! - [`RequestObserver`]: every attempt goes through it (the request log).

pub mod client;
pub mod error;
pub mod models;
pub mod observer;
pub mod retry;

pub use client::{key_looks_valid, ApiPage, ApiResponse, Client, ClientConfig, RateLimit};
pub use error::{ApiError, ApiErrorKind};
pub use models::*;
pub use observer::{Exchange, NoopObserver, RequestObserver};
pub use retry::RetryPolicy;
