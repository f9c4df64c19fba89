//! What a key may do: plain-language scope descriptions and the one permission rule that the UI
//! (to disable actions with a reason) and the CLI (to refuse before sending) both call.
//!
//! The rule mirrors the contract: a `read_only` key is refused every write (checked first, as
//! the server does), then the operation's `x-required-scopes` must be granted.

use serde::Serialize;
use ts_rs::TS;

use crate::api::Me;

/// The twelve published scopes (21 exist; the others are shown as opaque names).
pub const PUBLISHED_SCOPES: [&str; 12] = [
    "me.read",
    "leads.read",
    "leads.write",
    "leads.import",
    "leads.export",
    "lead-fields.read",
    "messages.read",
    "inbox.read",
    "webhooks.write",
    "billing.read",
    "campaigns.read",
    "prospector.read",
];

/// A sentence a sales-ops person understands, for every published scope.
pub fn describe_scope(scope: &str) -> &'static str {
    match scope {
        "me.read" => "See which key this is, its workspace and its permissions",
        "leads.read" => "View and sync the workspace's leads",
        "leads.write" => "Create and change leads",
        "leads.import" => "Import leads in bulk",
        "leads.export" => "Export leads to a file and download it",
        "lead-fields.read" => "View the workspace's lead fields",
        "messages.read" => "Read messages sent to and from leads",
        "inbox.read" => "Read the shared inbox",
        "webhooks.write" => "Set up, change and remove webhooks that notify other systems",
        "billing.read" => "View billing and plan information",
        "campaigns.read" => "View campaigns",
        "prospector.read" => "Use Prospector searches",
        _ => "A permission this app does not describe yet",
    }
}

/// A scope and its description, for the Connect screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "ScopeDescription.ts")]
pub struct ScopeDescription {
    pub scope: String,
    pub description: String,
    /// Whether the scope is one of the published ones.
    pub known: bool,
}

/// Every scope of a key, described.
pub fn describe_scopes(scopes: &[String]) -> Vec<ScopeDescription> {
    scopes
        .iter()
        .map(|s| ScopeDescription {
            scope: s.clone(),
            description: describe_scope(s).to_owned(),
            known: PUBLISHED_SCOPES.contains(&s.as_str()),
        })
        .collect()
}

/// A user action that needs a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "Action.ts")]
pub enum Action {
    CreateLead,
    UpdateLead,
    ImportLeads,
    ReadLeads,
    ExportLeads,
    ViewWebhooks,
    ManageWebhooks,
}

impl Action {
    /// The scope the contract requires (`x-required-scopes`).
    pub fn required_scope(self) -> &'static str {
        match self {
            Action::CreateLead | Action::UpdateLead => "leads.write",
            // Imports are POST /leads with an Idempotency-Key each (no bulk endpoint in the
            // contract), so they need leads.write.
            Action::ImportLeads => "leads.write",
            Action::ReadLeads => "leads.read",
            Action::ExportLeads => "leads.export",
            // No webhooks read scope is published: reading needs webhooks.write (contract).
            Action::ViewWebhooks | Action::ManageWebhooks => "webhooks.write",
        }
    }

    /// Whether the action writes (refused to read-only keys). Creating an export job is a POST,
    /// so the server treats it as a write.
    pub fn is_write(self) -> bool {
        !matches!(self, Action::ReadLeads | Action::ViewWebhooks)
    }
}

/// Why an action is not allowed, in words for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS, thiserror::Error)]
#[error("{reason}")]
#[ts(export_to = "Denied.ts")]
pub struct Denied {
    pub reason: String,
}

/// Whether the key described by `me` may perform `action`. The one place this rule lives.
pub fn check_permission(me: &Me, action: Action) -> Result<(), Denied> {
    if action.is_write() && me.read_only {
        return Err(Denied {
            reason: "This key is read-only".into(),
        });
    }
    let scope = action.required_scope();
    if !me.scopes.iter().any(|s| s == scope) {
        return Err(Denied {
            reason: format!("This key lacks the scope {scope}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Membership, Workspace};

    fn me(scopes: &[&str], read_only: bool) -> Me {
        Me {
            id: "key_1".into(),
            key_prefix: "pb2b_test_abcd1234".into(),
            name: "k".into(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            read_only,
            workspace: Workspace {
                id: "ws".into(),
                name: "W".into(),
            },
            membership: Membership {
                role: "admin".into(),
            },
            created_at: "t".into(),
            updated_at: "t".into(),
            expires_at: None,
        }
    }

    #[test]
    fn every_published_scope_has_its_own_description() {
        let generic = describe_scope("something.else");
        let mut seen = std::collections::HashSet::new();
        for s in PUBLISHED_SCOPES {
            let d = describe_scope(s);
            assert_ne!(d, generic, "{s}");
            assert!(seen.insert(d), "{s} shares a description");
        }
        let described = describe_scopes(&["leads.read".into(), "x.y".into()]);
        assert!(described[0].known && !described[1].known);
    }

    #[test]
    fn read_only_is_checked_before_scopes() {
        let ro = me(&PUBLISHED_SCOPES, true);
        assert_eq!(
            check_permission(&ro, Action::CreateLead)
                .unwrap_err()
                .reason,
            "This key is read-only"
        );
        assert!(check_permission(&ro, Action::ReadLeads).is_ok());
        assert!(check_permission(&ro, Action::ExportLeads).is_err());
    }

    #[test]
    fn missing_scopes_are_named() {
        let leads_read = me(&["me.read", "leads.read"], false);
        assert!(check_permission(&leads_read, Action::ReadLeads).is_ok());
        assert_eq!(
            check_permission(&leads_read, Action::CreateLead)
                .unwrap_err()
                .reason,
            "This key lacks the scope leads.write"
        );
        assert_eq!(
            check_permission(&leads_read, Action::ManageWebhooks)
                .unwrap_err()
                .reason,
            "This key lacks the scope webhooks.write"
        );
        let full = me(&PUBLISHED_SCOPES, false);
        for a in [
            Action::CreateLead,
            Action::UpdateLead,
            Action::ImportLeads,
            Action::ReadLeads,
            Action::ExportLeads,
            Action::ViewWebhooks,
            Action::ManageWebhooks,
        ] {
            assert!(check_permission(&full, a).is_ok(), "{a:?}");
        }
    }
}
