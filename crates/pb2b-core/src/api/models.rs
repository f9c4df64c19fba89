//! Typed models of the resources in `docs/api/openapi.yaml`.
//!
//! Responses tolerate unknown fields (the real service may add some) and report a missing
//! required field as [`super::ApiErrorKind::InvalidResponse`]. Request bodies serialize only the
//! fields that were set, because the contract refuses unknown fields and treats `null` as "clear".
//! Integers shown in the UI are exported to TypeScript as `number` (they stay far below 2^53).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::secret::SecretString;

/// The workspace a key opens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Workspace.ts")]
pub struct Workspace {
    pub id: String,
    pub name: String,
}

/// The membership that issued the key (`owner`, `admin`, `member`, `viewer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Membership.ts")]
pub struct Membership {
    pub role: String,
}

/// GET `/me`: the calling key, its workspace, scopes and read-only state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Me.ts")]
pub struct Me {
    pub id: String,
    /// Everything before the secret, e.g. `pb2b_test_ab12cd34`; safe to show.
    pub key_prefix: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub read_only: bool,
    pub workspace: Workspace,
    pub membership: Membership,
    pub created_at: String,
    pub updated_at: String,
    pub expires_at: Option<String>,
}

/// The lead statuses the contract lists (`Lead::status` stays a string so that a new status on
/// the server does not break reading).
pub const LEAD_STATUSES: [&str; 6] = [
    "new",
    "contacted",
    "qualified",
    "unqualified",
    "customer",
    "lost",
];

/// A lead as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "Lead.ts")]
pub struct Lead {
    pub id: String,
    pub email: String,
    pub full_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
    pub company_name: Option<String>,
    pub company_domain: Option<String>,
    pub linkedin_url: Option<String>,
    /// One of [`LEAD_STATUSES`] (unknown values are kept as they are).
    pub status: String,
    pub source: String,
    #[serde(default)]
    #[ts(type = "Record<string, string | number | boolean | null>")]
    pub custom_fields: Map<String, Value>,
    pub created_at: String,
    pub updated_at: String,
}

/// POST `/leads`. Only `email` is required; unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "NewLead.ts")]
pub struct NewLead {
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub job_title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub company_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub company_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub linkedin_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional, type = "Record<string, string | number | boolean | null>")]
    pub custom_fields: Option<Map<String, Value>>,
}

/// What POST `/leads/upsert` (or a row of an import job) did with the lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "UpsertResult.ts")]
pub enum UpsertResult {
    /// No lead had that e-mail.
    Created,
    /// The fields sent were written onto the existing lead.
    Updated,
    /// Every field sent already held that value (`updated_at` did not move).
    Unchanged,
}

impl UpsertResult {
    pub fn as_str(self) -> &'static str {
        match self {
            UpsertResult::Created => "created",
            UpsertResult::Updated => "updated",
            UpsertResult::Unchanged => "unchanged",
        }
    }
}

/// The answer of POST `/leads/upsert`.
#[derive(Debug, Clone, PartialEq)]
pub struct Upserted {
    pub lead: Lead,
    pub result: UpsertResult,
}

/// A field of a PATCH: absent (not sent), `null` (clear it) or a value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    /// Whether the field is left out of the body.
    pub fn is_keep(&self) -> bool {
        matches!(self, Patch::Keep)
    }
}

impl<T: Serialize> Serialize for Patch<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Patch::Set(v) => v.serialize(s),
            Patch::Keep | Patch::Clear => s.serialize_none(),
        }
    }
}

/// PATCH `/leads/{id}`: fields left [`Patch::Keep`] are not sent; [`Patch::Clear`] sends `null`.
/// `email` cannot be cleared (the contract refuses `null`), so it is a plain option.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LeadPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub full_name: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub first_name: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub last_name: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub phone: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub job_title: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub company_name: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub company_domain: Patch<String>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub linkedin_url: Patch<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_fields: Option<Map<String, Value>>,
}

/// GET `/leads` parameters. `cursor` is the previous page's `next_cursor`, sent with the same
/// `updated_after`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListLeadsQuery {
    pub limit: Option<u32>,
    pub updated_after: Option<String>,
    pub cursor: Option<String>,
}

/// A cursor-paged list (webhooks, deliveries).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageQuery {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Export filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ExportFilters.ts")]
pub struct ExportFilters {
    #[serde(default)]
    pub updated_after: Option<String>,
}

/// POST `/exports`; every member optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewExport {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<ExportFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

/// An export job (`queued|processing|completed|failed|expired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Export.ts")]
pub struct Export {
    pub id: String,
    pub status: String,
    pub format: String,
    pub filters: ExportFilters,
    pub fields: Vec<String>,
    #[ts(type = "number | null")]
    pub row_count: Option<i64>,
    pub file_name: Option<String>,
    pub error_message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
    pub expires_at: Option<String>,
}

/// GET `/exports/{id}/download`: readiness metadata, not the file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ExportDownload.ts")]
pub struct ExportDownload {
    pub id: String,
    pub status: String,
    pub download_ready: bool,
    /// Signed and short-lived; fetched without the Authorization header.
    pub download_url: Option<String>,
    pub expires_at: Option<String>,
    pub file_name: Option<String>,
    #[ts(type = "number | null")]
    pub row_count: Option<i64>,
    #[ts(type = "number | null")]
    pub byte_size: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// POST `/imports`: a bulk import job of 1..1000 rows, each a create body sent as it is (the
/// journal's payloads, not parsed again).
#[derive(Debug, Clone, Serialize)]
pub struct NewBulkImport {
    /// `create` (each row as POST `/leads`) or `upsert` (as POST `/leads/upsert`).
    pub mode: String,
    /// The rows: a JSON array of create bodies, written as it is (the bulk sender joins the
    /// journal's payloads into it as it reads them, one buffer instead of one per row).
    pub leads: Box<serde_json::value::RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reference: Option<String>,
}

/// A bulk import job (`queued|processing|completed|failed`); the counts are 0 until it ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkImport {
    pub id: String,
    pub status: String,
    pub mode: String,
    pub client_reference: Option<String>,
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub created_at: String,
    pub updated_at: String,
    pub completed_at: Option<String>,
}

/// The error a single create or upsert of a bulk import's row would have answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkRowError {
    pub code: String,
    pub message: String,
    #[serde(default)]
    pub details: Value,
}

/// One processed row of a bulk import job (GET `/imports/{id}/results`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BulkImportResult {
    /// The row's position in the job's `leads` (from 0).
    pub index: u64,
    /// `created`, `updated`, `unchanged` or `failed`.
    pub result: String,
    pub lead_id: Option<String>,
    pub error: Option<BulkRowError>,
}

/// The nine published webhook events.
pub const WEBHOOK_EVENTS: [&str; 9] = [
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

/// A webhook subscription. `signing_secret` is present only in the create and rotate-secret
/// responses; it is never serialized (not to IPC, not to SQLite) and its Debug redacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "Webhook.ts")]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    pub enabled: bool,
    pub description: Option<String>,
    pub signing_secret_prefix: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(default, skip_serializing)]
    #[ts(skip)]
    pub signing_secret: Option<SecretString>,
}

/// POST `/webhooks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewWebhook {
    pub url: String,
    pub events: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// PATCH `/webhooks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct WebhookPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Patch::is_keep")]
    pub description: Patch<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// One webhook delivery (`pending|succeeded|failed`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Delivery.ts")]
pub struct Delivery {
    pub id: String,
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempt_count: u32,
    pub response_status_code: Option<u16>,
    pub response_body_snippet: Option<String>,
    pub error_message: Option<String>,
    pub next_attempt_at: Option<String>,
    pub last_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lead_patch_sends_only_what_changes_and_null_to_clear() {
        let patch = LeadPatch {
            phone: Patch::Clear,
            job_title: Patch::Set("CTO".into()),
            ..LeadPatch::default()
        };
        assert_eq!(
            serde_json::to_value(&patch).unwrap(),
            serde_json::json!({"phone": null, "job_title": "CTO"})
        );
    }

    #[test]
    fn new_lead_omits_unset_fields() {
        let lead = NewLead {
            email: "ada@example.com".into(),
            full_name: Some("Ada Lovelace".into()),
            ..NewLead::default()
        };
        assert_eq!(
            serde_json::to_value(&lead).unwrap(),
            serde_json::json!({"email": "ada@example.com", "full_name": "Ada Lovelace"})
        );
    }

    #[test]
    fn webhook_secret_is_read_but_never_written() {
        let json = serde_json::json!({
            "id": "wh_1", "object": "webhook", "url": "http://127.0.0.1/x", "events": ["lead.created"],
            "enabled": true, "description": null, "signing_secret_prefix": "whsec_abcdef",
            "signing_secret": "whsec_abcdef0123456789", "created_at": "t", "updated_at": "t",
            "some_future_field": 1
        });
        let hook: Webhook = serde_json::from_value(json).unwrap();
        assert_eq!(
            hook.signing_secret.as_ref().map(|s| s.expose().as_str()),
            Some("whsec_abcdef0123456789")
        );
        let out = serde_json::to_string(&hook).unwrap();
        assert!(!out.contains("0123456789"), "{out}");
        assert!(!format!("{hook:?}").contains("0123456789"));
    }
}
