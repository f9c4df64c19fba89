//! Endpoint management over the API client, the once-shown signing secret, and the keychain.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};
use ts_rs::TS;

use super::events::validate_events;
use super::url_check::validate_url;
use crate::api::{Client, Delivery, NewWebhook, PageQuery, Patch, Webhook, WebhookPatch};
use crate::error::{codes, ErrorReport};
use crate::secret::{KeyStore, SecretString};

/// An endpoint as the Webhooks screen lists it. Never holds the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "WebhookEndpoint.ts")]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    /// The first characters of the signing secret (`whsec_ab12cd`): all that is shown after the
    /// once-shown dialog.
    pub secret_prefix: String,
    /// Whether the user chose to keep this endpoint's secret in the OS keychain (`false` when the
    /// keychain was not consulted).
    pub secret_saved: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookEndpoint {
    fn from_api(w: Webhook, secret_saved: bool) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            enabled: w.enabled,
            description: w.description,
            secret_prefix: w.signing_secret_prefix,
            secret_saved,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// The create form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "WebhookDraft.ts")]
pub struct WebhookDraft {
    pub url: String,
    pub events: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// Defaults to enabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// One press of "Create endpoint": the draft and the Idempotency-Key that names this submission,
/// as [`crate::leads::LeadSubmission`] is for a lead. The form asks for one
/// ([`WebhookSubmission::new`]) on its first submit and sends the same one again (a second click,
/// "Try again", a retry after a timeout) until an answer arrives or the user edits the draft: the
/// server then replays its first answer, the same endpoint with the same once-shown secret,
/// instead of creating a second endpoint whose secret nobody sees.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "WebhookSubmission.ts")]
pub struct WebhookSubmission {
    /// `webhook-create-<32 hex>`; made once by [`WebhookSubmission::new`], kept for every retry.
    pub idempotency_key: String,
    pub draft: WebhookDraft,
}

impl WebhookSubmission {
    /// A new submission with a fresh random key.
    pub fn new(draft: WebhookDraft) -> Self {
        WebhookSubmission {
            idempotency_key: new_idempotency_key("create"),
            draft,
        }
    }
}

/// The edit form: only what is `Some` changes. `description: Some("")` clears it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, TS)]
#[ts(export_to = "WebhookChanges.ts")]
pub struct WebhookChanges {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub events: Option<Vec<String>>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub description: Option<String>,
}

/// A signing secret that was just created or rotated: the only value from which the secret can
/// reach a person.
///
/// It does not implement `Serialize` or `Clone`, and its `Debug` redacts. The one way to put it
/// into a serialized answer (the once-shown dialog, `pb2b webhooks create --json`) is
/// [`OnceShownSecret::reveal`], whose [`RevealedSecret`] serializes by hand. Other uses keep it
/// wrapped: [`save_secret`] (keychain) and [`super::TestReceiver::set_secret`].
pub struct OnceShownSecret {
    webhook_id: String,
    prefix: String,
    secret: SecretString,
}

impl fmt::Debug for OnceShownSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnceShownSecret")
            .field("webhook_id", &self.webhook_id)
            .field("prefix", &self.prefix)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// What the dialog says under the secret.
pub const ONCE_SHOWN_NOTICE: &str = "Copy this signing secret now: it will not be shown again. Afterwards only its prefix is shown; rotate the secret if you lose it.";

impl OnceShownSecret {
    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The secret, still wrapped (for the keychain, the receiver, the checker).
    pub fn secret(&self) -> &SecretString {
        &self.secret
    }

    /// The deliberate step that makes the secret serializable, for the once-shown dialog only.
    /// Do not log, store or cache the result.
    pub fn reveal(&self) -> RevealedSecret {
        RevealedSecret {
            webhook_id: self.webhook_id.clone(),
            prefix: self.prefix.clone(),
            secret: self.secret.clone(),
            notice: ONCE_SHOWN_NOTICE,
        }
    }
}

/// The secret on its way to the once-shown dialog. `Serialize` is written by hand (below) and is
/// the only serialization of a signing secret in the code base: `{webhook_id, prefix, secret,
/// notice}`. `Debug` redacts; not `Clone`.
#[derive(TS)]
#[ts(export_to = "RevealedSecret.ts")]
pub struct RevealedSecret {
    pub webhook_id: String,
    pub prefix: String,
    #[ts(type = "string")]
    secret: SecretString,
    /// Always [`ONCE_SHOWN_NOTICE`].
    pub notice: &'static str,
}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevealedSecret")
            .field("webhook_id", &self.webhook_id)
            .field("prefix", &self.prefix)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Hand-written on purpose: this is where a signing secret is serialized, and nowhere else.
impl Serialize for RevealedSecret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RevealedSecret", 4)?;
        st.serialize_field("webhook_id", &self.webhook_id)?;
        st.serialize_field("prefix", &self.prefix)?;
        st.serialize_field("secret", self.secret.expose())?;
        st.serialize_field("notice", self.notice)?;
        st.end()
    }
}

/// The answer of create and rotate: the endpoint and its once-shown secret. Not serializable;
/// [`CreatedWebhook::dialog`] builds the dialog's payload.
#[derive(Debug)]
pub struct CreatedWebhook {
    pub endpoint: WebhookEndpoint,
    pub secret: OnceShownSecret,
    /// The request_id of the create/rotate call.
    pub request_id: String,
}

/// The once-shown dialog's payload.
#[derive(Debug, Serialize, TS)]
#[ts(export_to = "SecretDialog.ts")]
pub struct SecretDialog {
    pub endpoint: WebhookEndpoint,
    pub secret: RevealedSecret,
}

impl CreatedWebhook {
    /// Reveals the secret for the dialog (see [`OnceShownSecret::reveal`]).
    pub fn dialog(&self) -> SecretDialog {
        SecretDialog {
            endpoint: self.endpoint.clone(),
            secret: self.secret.reveal(),
        }
    }
}

/// One delivery as the deliveries table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "DeliveryRow.ts")]
pub struct DeliveryRow {
    /// `del_...`
    pub id: String,
    pub webhook_id: String,
    /// The event type (`lead.created`).
    pub event: String,
    pub event_id: String,
    /// `pending` (attempts remain scheduled or running), `succeeded` or `failed`.
    pub status: String,
    /// The status in words, with what happened last.
    pub status_text: String,
    pub attempt_count: u32,
    pub response_status_code: Option<u16>,
    pub response_body_snippet: Option<String>,
    pub error_message: Option<String>,
    /// When the next automatic attempt is due (`null` when none is scheduled).
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<Delivery> for DeliveryRow {
    fn from(d: Delivery) -> Self {
        let status_text = match d.status.as_str() {
            "succeeded" => match d.response_status_code {
                Some(code) => format!("Delivered (your endpoint answered {code})"),
                None => "Delivered".into(),
            },
            "pending" if d.attempt_count == 0 => "Waiting for the first attempt".into(),
            "pending" => match (&d.next_attempt_at, &d.error_message) {
                (Some(at), Some(err)) => format!("Retrying at {at} — last attempt: {err}"),
                (Some(at), None) => format!("Retrying at {at}"),
                _ => "Attempt in progress".into(),
            },
            "failed" => format!(
                "Failed after {} attempt{}{}",
                d.attempt_count,
                if d.attempt_count == 1 { "" } else { "s" },
                d.error_message
                    .as_deref()
                    .map(|e| format!(" — {e}"))
                    .unwrap_or_default()
            ),
            other => other.to_owned(),
        };
        Self {
            id: d.id,
            webhook_id: d.webhook_id,
            event: d.event_type,
            event_id: d.event_id,
            status: d.status,
            status_text,
            attempt_count: d.attempt_count,
            response_status_code: d.response_status_code,
            response_body_snippet: d.response_body_snippet,
            error_message: d.error_message,
            next_attempt_at: d.next_attempt_at,
            last_attempt_at: d.last_attempt_at,
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "DeliveryPage.ts")]
pub struct DeliveryPage {
    pub deliveries: Vec<DeliveryRow>,
    /// Pass back to get the next (older) page.
    pub next_cursor: Option<String>,
    pub has_more: bool,
}

/// The keychain account of a webhook's saved signing secret.
pub fn keychain_account(webhook_id: &str) -> String {
    format!("webhook:{webhook_id}")
}

/// Keeps a just-shown secret in the keychain ("Save to keychain").
pub fn save_secret(keys: &dyn KeyStore, secret: &OnceShownSecret) -> Result<(), ErrorReport> {
    keys.set(&keychain_account(&secret.webhook_id), &secret.secret)
        .map_err(ErrorReport::from)
}

/// The secret saved for a webhook, if the user chose to keep it.
pub fn saved_secret(
    keys: &dyn KeyStore,
    webhook_id: &str,
) -> Result<Option<SecretString>, ErrorReport> {
    keys.get(&keychain_account(webhook_id))
        .map_err(ErrorReport::from)
}

/// Removes a saved secret (missing is fine).
pub fn forget_secret(keys: &dyn KeyStore, webhook_id: &str) -> Result<(), ErrorReport> {
    keys.delete(&keychain_account(webhook_id))
        .map_err(ErrorReport::from)
}

/// Which of these webhooks have a saved secret.
pub fn saved_secret_ids(
    keys: &dyn KeyStore,
    webhook_ids: &[String],
) -> Result<Vec<String>, ErrorReport> {
    let mut out = Vec::new();
    for id in webhook_ids {
        if saved_secret(keys, id)?.is_some() {
            out.push(id.clone());
        }
    }
    Ok(out)
}

/// A fresh Idempotency-Key for one user action (`webhook-create-<32 hex>`). Make one when the
/// form opens and reuse it for every retry of that submission, so a double click or a retry after
/// a lost answer never creates two endpoints.
pub fn new_idempotency_key(action: &str) -> String {
    format!(
        "webhook-{action}-{:016x}{:016x}",
        fastrand::u64(..),
        fastrand::u64(..)
    )
}

fn secret_of(w: &mut Webhook, request_id: &str) -> Result<SecretString, ErrorReport> {
    w.signing_secret.take().ok_or_else(|| ErrorReport {
        code: crate::error::Code::InvalidResponse,
        message: "The API did not return the signing secret it shows once; rotate the secret to get a new one.".into(),
        request_id: Some(request_id.to_owned()),
        retryable: false,
    })
}

/// Webhook endpoint management for one connection.
///
/// `sandbox`: whether the connection is the local sandbox (allows `http://` to loopback);
/// `keys`: the keychain, to mark saved secrets and keep them in step on rotate/delete.
#[derive(Clone)]
pub struct WebhookManager<'a> {
    client: &'a Client,
    sandbox: bool,
    keys: Option<&'a dyn KeyStore>,
}

impl<'a> WebhookManager<'a> {
    pub fn new(client: &'a Client, sandbox: bool, keys: Option<&'a dyn KeyStore>) -> Self {
        Self {
            client,
            sandbox,
            keys,
        }
    }

    /// Removes a saved secret after the server already changed: the server's answer stands even
    /// when the keychain cannot be reached (then nothing can be read from it either).
    fn forget_quietly(&self, id: &str) {
        if let Some(keys) = self.keys {
            if let Err(err) = forget_secret(keys, id) {
                tracing::warn!(webhook_id = id, code = %err.code, "could not remove a saved webhook secret");
            }
        }
    }

    fn is_saved(&self, id: &str) -> bool {
        self.keys
            .and_then(|k| saved_secret(k, id).ok().flatten())
            .is_some()
    }

    /// Every endpoint (all pages), oldest first.
    pub async fn list(&self) -> Result<Vec<WebhookEndpoint>, ErrorReport> {
        let mut out = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .client
                .list_webhooks(&PageQuery {
                    limit: Some(100),
                    cursor: cursor.take(),
                })
                .await?;
            for w in page.data {
                let saved = self.is_saved(&w.id);
                out.push(WebhookEndpoint::from_api(w, saved));
            }
            match page.next_cursor {
                Some(c) if page.has_more => cursor = Some(c),
                _ => break,
            }
        }
        Ok(out)
    }

    /// One endpoint.
    pub async fn get(&self, id: &str) -> Result<WebhookEndpoint, ErrorReport> {
        let w = self.client.get_webhook(id).await?.data;
        let saved = self.is_saved(&w.id);
        Ok(WebhookEndpoint::from_api(w, saved))
    }

    /// Checks the URL and events, then creates the endpoint. The secret comes back once, in
    /// [`CreatedWebhook::secret`].
    pub async fn create(
        &self,
        draft: &WebhookDraft,
        idempotency_key: &str,
    ) -> Result<CreatedWebhook, ErrorReport> {
        let url = validate_url(&draft.url, self.sandbox)?;
        let events = validate_events(&draft.events)?;
        let description = draft
            .description
            .as_deref()
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let resp = self
            .client
            .create_webhook(
                &NewWebhook {
                    url,
                    events,
                    description,
                    enabled: draft.enabled,
                },
                idempotency_key,
            )
            .await?;
        let mut w = resp.data;
        let secret = secret_of(&mut w, &resp.request_id)?;
        Ok(CreatedWebhook {
            secret: OnceShownSecret {
                webhook_id: w.id.clone(),
                prefix: w.signing_secret_prefix.clone(),
                secret,
            },
            endpoint: WebhookEndpoint::from_api(w, false),
            request_id: resp.request_id,
        })
    }

    /// Changes URL, events, enabled or description (checked first, like create).
    pub async fn update(
        &self,
        id: &str,
        changes: &WebhookChanges,
    ) -> Result<WebhookEndpoint, ErrorReport> {
        let url = match &changes.url {
            Some(u) => Some(validate_url(u, self.sandbox)?),
            None => None,
        };
        let events = match &changes.events {
            Some(e) => Some(validate_events(e)?),
            None => None,
        };
        let description = match changes.description.as_deref().map(str::trim) {
            None => Patch::Keep,
            Some("") => Patch::Clear,
            Some(d) => Patch::Set(d.to_owned()),
        };
        let patch = WebhookPatch {
            url,
            events,
            description,
            enabled: changes.enabled,
        };
        if patch == WebhookPatch::default() {
            return Err(ErrorReport::local(
                codes::INVALID_INPUT,
                "Nothing to change: give a new URL, events, description, or enable/disable.",
                false,
            ));
        }
        let w = self.client.update_webhook(id, &patch).await?.data;
        let saved = self.is_saved(&w.id);
        Ok(WebhookEndpoint::from_api(w, saved))
    }

    /// Deletes the endpoint (pending deliveries stop) and forgets its saved secret.
    pub async fn delete(&self, id: &str) -> Result<(), ErrorReport> {
        self.client.delete_webhook(id).await?;
        self.forget_quietly(id);
        Ok(())
    }

    /// A new signing secret, shown once; the old one stops signing at once, so a saved copy of
    /// the old one is removed from the keychain (the dialog offers to save the new one).
    pub async fn rotate_secret(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<CreatedWebhook, ErrorReport> {
        let resp = self
            .client
            .rotate_webhook_secret(id, idempotency_key)
            .await?;
        let mut w = resp.data;
        let secret = secret_of(&mut w, &resp.request_id)?;
        self.forget_quietly(&w.id);
        Ok(CreatedWebhook {
            secret: OnceShownSecret {
                webhook_id: w.id.clone(),
                prefix: w.signing_secret_prefix.clone(),
                secret,
            },
            endpoint: WebhookEndpoint::from_api(w, false),
            request_id: resp.request_id,
        })
    }

    /// One page of an endpoint's deliveries, newest first (`limit` 1..=100, default 25).
    pub async fn deliveries(
        &self,
        webhook_id: &str,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<DeliveryPage, ErrorReport> {
        let page = self
            .client
            .list_deliveries(
                webhook_id,
                &PageQuery {
                    limit: limit.map(|l| l.clamp(1, 100)),
                    cursor,
                },
            )
            .await?;
        Ok(DeliveryPage {
            deliveries: page.data.into_iter().map(DeliveryRow::from).collect(),
            next_cursor: page.next_cursor,
            has_more: page.has_more,
        })
    }

    /// Retries a delivery by hand: one new attempt at once; the answer is `pending` until it
    /// ends (list the deliveries again to see the outcome).
    pub async fn retry_delivery(
        &self,
        webhook_id: &str,
        delivery_id: &str,
        idempotency_key: &str,
    ) -> Result<DeliveryRow, ErrorReport> {
        let d = self
            .client
            .retry_delivery(webhook_id, delivery_id, idempotency_key)
            .await?
            .data;
        Ok(d.into())
    }
}

/// Keeps the receiver's registration secret out of every public surface: `create_for_receiver`
/// hands the secret straight to the receiver.
impl WebhookManager<'_> {
    /// "Try it with the test receiver": registers `receiver`'s URL for `events` and gives the
    /// receiver the secret, so incoming deliveries are verified live. Only while connected to the
    /// sandbox (the URL is http on loopback). The secret is also returned once, like any create.
    pub async fn create_for_receiver(
        &self,
        receiver: &super::TestReceiver,
        events: &[String],
        idempotency_key: &str,
    ) -> Result<CreatedWebhook, ErrorReport> {
        let created = self
            .create(
                &WebhookDraft {
                    url: receiver.url(),
                    events: events.to_vec(),
                    description: Some("ProspectB2B Desktop test receiver".into()),
                    enabled: Some(true),
                },
                idempotency_key,
            )
            .await?;
        receiver.set_secret(Some(created.secret.secret().clone()));
        Ok(created)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn once() -> OnceShownSecret {
        OnceShownSecret {
            webhook_id: "wh_1".into(),
            prefix: "whsec_abcdef".into(),
            secret: SecretString::new("whsec_abcdefCANARY".into()),
        }
    }

    #[test]
    fn only_reveal_serializes_the_secret() {
        let s = once();
        assert!(!format!("{s:?}").contains("CANARY"));
        let revealed = s.reveal();
        assert!(!format!("{revealed:?}").contains("CANARY"));
        let json = serde_json::to_value(&revealed).unwrap();
        assert_eq!(json["secret"], "whsec_abcdefCANARY");
        assert_eq!(json["prefix"], "whsec_abcdef");
        assert_eq!(json["notice"], ONCE_SHOWN_NOTICE);
        let created = CreatedWebhook {
            endpoint: WebhookEndpoint {
                id: "wh_1".into(),
                url: "https://x".into(),
                events: vec![],
                enabled: true,
                description: None,
                secret_prefix: "whsec_abcdef".into(),
                secret_saved: false,
                created_at: "t".into(),
                updated_at: "t".into(),
            },
            secret: s,
            request_id: "req_1".into(),
        };
        assert!(!format!("{created:?}").contains("CANARY"));
        assert!(!serde_json::to_string(&created.endpoint)
            .unwrap()
            .contains("CANARY"));
    }

    #[test]
    fn ts_types_render() {
        use ts_rs::{Config, TS};
        let cfg = Config::new();
        let revealed = RevealedSecret::export_to_string(&cfg).unwrap();
        assert!(revealed.contains("secret: string"), "{revealed}");
        assert!(revealed.contains("notice: string"), "{revealed}");
        for ts in [
            WebhookEndpoint::export_to_string(&cfg).unwrap(),
            DeliveryRow::export_to_string(&cfg).unwrap(),
            DeliveryPage::export_to_string(&cfg).unwrap(),
            SecretDialog::export_to_string(&cfg).unwrap(),
            WebhookDraft::export_to_string(&cfg).unwrap(),
            WebhookChanges::export_to_string(&cfg).unwrap(),
            super::super::WebhookEventInfo::export_to_string(&cfg).unwrap(),
            super::super::SignatureVerdict::export_to_string(&cfg).unwrap(),
            super::super::ReceivedDelivery::export_to_string(&cfg).unwrap(),
            super::super::UrlCheck::export_to_string(&cfg).unwrap(),
            super::super::SignatureCheck::export_to_string(&cfg).unwrap(),
        ] {
            assert!(!ts.contains("bigint"), "{ts}");
        }
    }

    #[test]
    fn delivery_rows_say_what_happened() {
        let d = Delivery {
            id: "del_1".into(),
            webhook_id: "wh_1".into(),
            event_id: "evt_1".into(),
            event_type: "lead.created".into(),
            status: "failed".into(),
            attempt_count: 5,
            response_status_code: Some(500),
            response_body_snippet: Some("boom".into()),
            error_message: Some("endpoint answered HTTP 500".into()),
            next_attempt_at: None,
            last_attempt_at: Some("t".into()),
            created_at: "t".into(),
            updated_at: "t".into(),
        };
        let row = DeliveryRow::from(d);
        assert_eq!(
            row.status_text,
            "Failed after 5 attempts — endpoint answered HTTP 500"
        );
        assert_eq!(row.event, "lead.created");
    }

    #[test]
    fn idempotency_keys_are_fresh_and_valid() {
        let a = new_idempotency_key("create");
        assert_ne!(a, new_idempotency_key("create"));
        assert!(a.len() <= 255 && a.bytes().all(|b| b.is_ascii_graphic()));
    }
}
