//! The nine published webhook events, in plain words, for the event picker.

use serde::Serialize;
use ts_rs::TS;

use crate::error::{codes, ErrorReport};

/// One subscribable event as the event picker shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "WebhookEventInfo.ts")]
pub struct WebhookEventInfo {
    /// The event name sent to the API (`lead.created`).
    pub name: &'static str,
    /// The group the picker shows it under (`Leads`, `Imports`, `Exports`, `Campaigns`).
    pub group: &'static str,
    /// What happened, in words.
    pub description: &'static str,
}

/// The nine published events, in the order of the published webhooks page.
pub const EVENTS: [WebhookEventInfo; 9] = [
    WebhookEventInfo {
        name: "lead.created",
        group: "Leads",
        description: "A lead was added — through the API, an import or the web app.",
    },
    WebhookEventInfo {
        name: "lead.updated",
        group: "Leads",
        description: "A lead's details changed, for example when someone edits it in the web app.",
    },
    WebhookEventInfo {
        name: "import.completed",
        group: "Imports",
        description: "A lead import finished.",
    },
    WebhookEventInfo {
        name: "import.failed",
        group: "Imports",
        description: "A lead import stopped with an error.",
    },
    WebhookEventInfo {
        name: "export.completed",
        group: "Exports",
        description: "An export file is ready to download.",
    },
    WebhookEventInfo {
        name: "export.failed",
        group: "Exports",
        description: "An export could not be produced.",
    },
    WebhookEventInfo {
        name: "campaign.created",
        group: "Campaigns",
        description: "A campaign was created.",
    },
    WebhookEventInfo {
        name: "campaign.updated",
        group: "Campaigns",
        description: "A campaign's settings changed.",
    },
    WebhookEventInfo {
        name: "campaign.published",
        group: "Campaigns",
        description: "A campaign was published and starts sending.",
    },
];

/// The event table as a list (what a Tauri command returns to the picker).
pub fn events() -> Vec<WebhookEventInfo> {
    EVENTS.to_vec()
}

/// The description of a published event, or `None` for an unknown name.
pub fn describe_event(name: &str) -> Option<&'static str> {
    EVENTS
        .iter()
        .find(|e| e.name == name)
        .map(|e| e.description)
}

/// Checks a selection of events: at least one, each published, duplicates removed (first
/// occurrence kept). Names are trimmed; empty entries (from `a,,b`) are ignored.
pub fn validate_events<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>, ErrorReport> {
    let mut out: Vec<String> = Vec::new();
    let mut unknown: Vec<String> = Vec::new();
    for raw in names {
        let name = raw.as_ref().trim();
        if name.is_empty() {
            continue;
        }
        if describe_event(name).is_none() {
            unknown.push(name.to_owned());
        } else if !out.iter().any(|e| e == name) {
            out.push(name.to_owned());
        }
    }
    if !unknown.is_empty() {
        let known: Vec<&str> = EVENTS.iter().map(|e| e.name).collect();
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            format!(
                "Unknown event{} {}; the published events are {}.",
                if unknown.len() == 1 { "" } else { "s" },
                unknown.join(", "),
                known.join(", ")
            ),
            false,
        ));
    }
    if out.is_empty() {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            "Pick at least one event for the endpoint to receive.",
            false,
        ));
    }
    Ok(out)
}

/// Splits a comma separated list (`lead.created,export.completed`) and validates it.
pub fn parse_event_list(list: &str) -> Result<Vec<String>, ErrorReport> {
    let parts: Vec<&str> = list.split(',').collect();
    validate_events(&parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_matches_the_published_list() {
        let names: Vec<&str> = EVENTS.iter().map(|e| e.name).collect();
        assert_eq!(names, crate::api::WEBHOOK_EVENTS.to_vec());
        assert!(EVENTS.iter().all(|e| !e.description.is_empty()));
    }

    #[test]
    fn selections_are_checked() {
        assert_eq!(
            parse_event_list(" lead.created, export.completed ,lead.created,").unwrap(),
            vec!["lead.created", "export.completed"]
        );
        let e = parse_event_list("lead.deleted,lead.created").unwrap_err();
        assert_eq!(e.code, codes::INVALID_INPUT);
        assert!(e.message.contains("lead.deleted"), "{}", e.message);
        assert!(parse_event_list(" , ").is_err());
        assert!(validate_events::<&str>(&[]).is_err());
    }
}
