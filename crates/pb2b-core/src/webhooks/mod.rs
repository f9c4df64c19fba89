//! Webhooks: configure endpoints, keep the once-shown signing secret, inspect and retry
//! deliveries, verify signatures, and watch a local test receiver (issue 7).
//!
//! # Public API (for the Tauri commands, the Webhooks screen and the CLI)
//!
//! - Event picker: [`EVENTS`] / [`events()`] → `WebhookEventInfo {name, group, description}`;
//!   [`validate_events`], [`parse_event_list`].
//! - URL form check: [`check_url`]`(url, connected_to_sandbox) -> UrlCheck {ok, url, reason}`
//!   (https required; `http://` only to loopback while connected to the sandbox);
//!   [`validate_url`] is the same as a `Result`. The manager checks again before sending.
//! - Endpoints: [`WebhookManager::new`]`(&client, sandbox, Some(&keychain))` then `list`, `get`,
//!   `create(&WebhookDraft, idem)`, `update(id, &WebhookChanges)`, `delete(id)`,
//!   `rotate_secret(id, idem)`, `deliveries(id, cursor, limit) -> DeliveryPage`,
//!   `retry_delivery(id, delivery_id, idem) -> DeliveryRow`, and
//!   `create_for_receiver(&receiver, events, idem)`. Errors are [`ErrorReport`](crate::error::ErrorReport).
//!   [`new_idempotency_key`] makes one key per user action (reuse it when retrying that action);
//!   the create form holds it in a [`WebhookSubmission`] (`{idempotency_key, draft}`) from its
//!   first submit until the answer arrives, like the lead form's `LeadSubmission`.
//! - The secret: `create`/`rotate_secret` return [`CreatedWebhook`] `{endpoint, secret:
//!   OnceShownSecret, request_id}`. [`OnceShownSecret`] is neither `Serialize` nor `Clone`; its
//!   Debug redacts. [`CreatedWebhook::dialog`] (or [`OnceShownSecret::reveal`]) is the one
//!   deliberate step that produces a serializable [`RevealedSecret`] (`Serialize` written by hand:
//!   `{webhook_id, prefix, secret, notice}`) for the once-shown dialog. Keep the
//!   `OnceShownSecret` in app state only while the dialog is open, for "Save to keychain":
//!   [`save_secret`]`(&keychain, &secret)` stores it under account `webhook:<id>`
//!   ([`keychain_account`]); [`saved_secret`], [`forget_secret`], [`saved_secret_ids`] read,
//!   remove and list. `delete` and `rotate_secret` remove a saved (now useless) secret.
//! - Checker: [`check_signature`]`(&SignatureCheck, keychain) -> SignatureVerdict {valid, kind,
//!   reason, age_seconds}`; lower level [`verify`], [`verify_headers`], [`parse_pasted_headers`],
//!   [`sign`]. Constant-time (`hmac`'s `verify_slice`).
//! - Test receiver: [`TestReceiver::start`]`(ReceiverConfig::default())`, `.url()`,
//!   `.set_secret(..)`, `.subscribe()` ([`LiveDeliveries`]: `.next().await` gives each
//!   [`LiveEvent`], a delivery or a notice of how many a slow reader missed, for a Tauri
//!   channel), `.deliveries()` (the last `capacity`, within `max_stored_bytes`),
//!   `.answer_next_with(&[500])`, `.stop().await`. It answers only requests addressed to its
//!   own `127.0.0.1`/`localhost` port (the table in `receiver.rs`).
//!
//! Nothing here is long-running work with progress: every call is one or a few requests (list
//! pages through all endpoints); the receiver is stopped with `stop()` or by dropping it.
//! Nothing is written to SQLite or the settings by this module.

mod endpoints;
mod events;
mod receiver;
mod signature;
mod url_check;

use std::time::Duration;

use serde::Deserialize;
use ts_rs::TS;

pub use endpoints::{
    forget_secret, keychain_account, new_idempotency_key, save_secret, saved_secret,
    saved_secret_ids, CreatedWebhook, DeliveryPage, DeliveryRow, OnceShownSecret, RevealedSecret,
    SecretDialog, WebhookChanges, WebhookDraft, WebhookEndpoint, WebhookManager, WebhookSubmission,
    ONCE_SHOWN_NOTICE,
};
pub use events::{
    describe_event, events, parse_event_list, validate_events, WebhookEventInfo, EVENTS,
};
pub use receiver::{
    LiveDeliveries, LiveEvent, ReceivedDelivery, ReceivedHeader, ReceiverConfig, TestReceiver,
    RECEIVER_PATH,
};
pub use signature::{
    now_unix, parse_pasted_headers, sign, verify, verify_headers, SignatureVerdict, VerdictKind,
    DEFAULT_TOLERANCE, HEADER_DELIVERY, HEADER_EVENT, HEADER_SIGNATURE, HEADER_TIMESTAMP,
};
pub use url_check::{check_url, is_loopback, is_sandbox_base_url, validate_url, UrlCheck};

use crate::error::ErrorReport;
use crate::secret::{KeyStore, SecretString};

/// The signature checker's form.
#[derive(Debug, Clone, Deserialize, TS)]
#[ts(export_to = "SignatureCheck.ts")]
pub struct SignatureCheck {
    /// The headers as pasted, one `Name: value` per line.
    pub headers: String,
    /// The raw body exactly as received.
    pub body: String,
    /// The secret typed in (takes precedence over `saved_webhook_id`).
    #[serde(default)]
    #[ts(type = "string | null")]
    pub secret: Option<SecretString>,
    /// Use the secret saved in the keychain for this webhook.
    #[serde(default)]
    pub saved_webhook_id: Option<String>,
    /// The tolerance window in seconds (default 300).
    #[serde(default)]
    pub tolerance_seconds: Option<u32>,
}

/// Runs the checker: the typed secret, else the saved one, else a `no_secret` verdict.
pub fn check_signature(
    check: &SignatureCheck,
    keys: Option<&dyn KeyStore>,
) -> Result<SignatureVerdict, ErrorReport> {
    let typed = check
        .secret
        .as_ref()
        .map(|s| SecretString::new(s.expose().trim().to_owned()))
        .filter(|s| !s.expose().is_empty());
    let secret = match (typed, &check.saved_webhook_id, keys) {
        (Some(s), _, _) => Some(s),
        (None, Some(id), Some(keys)) => saved_secret(keys, id)?,
        _ => None,
    };
    let Some(secret) = secret else {
        return Ok(SignatureVerdict::no_secret());
    };
    let tolerance = check
        .tolerance_seconds
        .map(|s| Duration::from_secs(u64::from(s)))
        .unwrap_or(DEFAULT_TOLERANCE);
    Ok(verify_headers(
        &secret,
        &parse_pasted_headers(&check.headers),
        check.body.as_bytes(),
        tolerance,
        now_unix(),
    ))
}
