//! Verifying a key and describing what it may do: the Connect screen's and `pb2b me`'s answer to
//! "which workspace does this key open, and what may it do".

use std::sync::Arc;

use serde::Serialize;
use ts_rs::TS;

use crate::api::{Client, ClientConfig, Me, RequestObserver};
use crate::error::ErrorReport;
use crate::profiles::{validate_base_url, validate_key};
use crate::scopes::{check_permission, describe_scopes, Action, ScopeDescription};
use crate::secret::{mask_key, SecretString};

/// One user action and whether this key may perform it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "Permission.ts")]
pub struct Permission {
    /// The action.
    pub action: Action,
    /// Allowed, or not.
    pub allowed: bool,
    /// Why not, in words (e.g. "This key is read-only").
    pub reason: Option<String>,
}

/// What a verified key opens and may do.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "KeyCheck.ts")]
pub struct KeyCheck {
    /// The `/me` answer.
    pub me: Me,
    /// The masked key (`pb2b_live_ab12…`).
    pub key_hint: String,
    /// Every scope of the key with a plain-language description.
    pub scopes: Vec<ScopeDescription>,
    /// Every action of the app with whether this key may perform it.
    pub permissions: Vec<Permission>,
    /// The `request_id` of the `/me` call.
    pub request_id: String,
}

/// Every action the app gates on permissions, in the order the UI lists them.
pub const ACTIONS: [Action; 7] = [
    Action::ReadLeads,
    Action::CreateLead,
    Action::UpdateLead,
    Action::ImportLeads,
    Action::ExportLeads,
    Action::ViewWebhooks,
    Action::ManageWebhooks,
];

/// Describes `me` for the UI.
pub fn describe(me: Me, key: &SecretString, request_id: String) -> KeyCheck {
    let permissions = ACTIONS
        .iter()
        .map(|&action| match check_permission(&me, action) {
            Ok(()) => Permission {
                action,
                allowed: true,
                reason: None,
            },
            Err(denied) => Permission {
                action,
                allowed: false,
                reason: Some(denied.reason),
            },
        })
        .collect();
    KeyCheck {
        scopes: describe_scopes(&me.scopes),
        permissions,
        key_hint: mask_key(key),
        me,
        request_id,
    }
}

/// A client for `base_url` with `key`, every exchange reported to `observer`.
pub fn client(
    base_url: &str,
    key: SecretString,
    observer: Arc<dyn RequestObserver>,
) -> Result<Client, ErrorReport> {
    let base_url = validate_base_url(base_url)?;
    validate_key(&key)?;
    Client::new(ClientConfig::new(base_url), key, observer).map_err(ErrorReport::from)
}

/// Calls `/me` with the client and describes the answer.
pub async fn verify(client: &Client, key: &SecretString) -> Result<KeyCheck, ErrorReport> {
    let response = client.me().await.map_err(ErrorReport::from)?;
    Ok(describe(response.data, key, response.request_id))
}

/// The Connect screen's state: the active profile, what its key may do (or why it could not be
/// verified), and every saved profile.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "ConnectionStatus.ts")]
pub struct ConnectionStatus {
    /// The active profile, if any.
    pub profile: Option<crate::profiles::Profile>,
    /// Its verified key, when `/me` answered.
    pub check: Option<KeyCheck>,
    /// Why the active profile's key could not be verified (revoked, unreachable, ...).
    pub error: Option<ErrorReport>,
    /// Every saved profile.
    pub profiles: Vec<crate::profiles::Profile>,
}
