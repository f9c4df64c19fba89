//! Editing a lead (PATCH /leads/{id}) against the sandbox over HTTP: only changed fields sent,
//! the create form's rules before sending, an unchanged edit sends nothing and a same-value patch
//! keeps `updated_at`, a conflict with an edit made meanwhile explained field by field, 404 and
//! the read-only key's 403, and the mirror's row following the server.

mod common;

use std::collections::BTreeMap;

use pb2b_core::api::{Lead, LeadPatch, NewLead, Patch};
use pb2b_core::leads::{self, LeadEdit, LeadSubmission};
use pb2b_core::store::Store;
use pb2b_core::sync::Mirror;

async fn new_lead(c: &pb2b_core::api::Client, email: &str) -> Lead {
    let sub = LeadSubmission::new(NewLead {
        email: email.into(),
        full_name: Some("Ada Lovelace".into()),
        job_title: Some("Engineer".into()),
        phone: Some("+44 20 7946 0000".into()),
        ..Default::default()
    });
    leads::create(c, None, &sub).await.unwrap().lead
}

fn edit(loaded: &Lead, values: &[(&str, &str)]) -> LeadEdit {
    LeadEdit {
        loaded: loaded.clone(),
        values: values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn mirror() -> Mirror {
    Mirror::open(Store::open_in_memory().unwrap(), "ws_edit", "default").unwrap()
}

async fn admin_patch(sb: &pb2b_sandbox::Sandbox, id: &str, body: serde_json::Value) {
    let r = reqwest::Client::new()
        .patch(format!("{}/leads/{id}", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn an_edit_sends_only_changed_fields_and_the_mirror_follows() {
    let sb = common::sandbox().await;
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let m = mirror();
    let lead = new_lead(&c, "edit.me@example.com").await;
    m.put_lead(&lead).unwrap();
    rec.clear();
    // job_title changes, phone is cleared, full_name is typed again unchanged (with spaces),
    // a custom field is added.
    let e = edit(
        &lead,
        &[
            ("full_name", " Ada Lovelace "),
            ("job_title", "Countess"),
            ("phone", ""),
            ("tier", "gold"),
        ],
    );
    let done = leads::edit(&c, Some(&m), &e).await.unwrap();
    let fields: Vec<&str> = done.changed.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(fields, ["job_title", "phone", "custom_fields.tier"]);
    assert_eq!(done.lead.job_title.as_deref(), Some("Countess"));
    assert_eq!(done.lead.phone, None);
    assert_eq!(done.lead.full_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(done.lead.custom_fields["tier"], "gold");
    assert!(done.lead.updated_at > lead.updated_at);
    assert!(common::is_request_id(done.request_id.as_deref().unwrap()));
    // A fresh GET, then the PATCH: both in the request log.
    let log: Vec<(String, Option<u16>)> = rec
        .all()
        .into_iter()
        .map(|x| (x.method, x.status))
        .collect();
    assert_eq!(
        log,
        [
            ("GET".to_string(), Some(200)),
            ("PATCH".to_string(), Some(200))
        ]
    );
    // The mirror holds the server's answer at once.
    assert_eq!(m.get(&lead.id).unwrap().unwrap(), done.lead);
    let fresh = c.get_lead(&lead.id).await.unwrap().data;
    assert_eq!(fresh, done.lead);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_edit_sends_nothing_and_a_same_value_patch_keeps_updated_at() {
    let sb = common::sandbox().await;
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let lead = new_lead(&c, "same@example.com").await;
    rec.clear();
    let e = edit(
        &lead,
        &[("job_title", "Engineer"), ("email", " same@example.com")],
    );
    let done = leads::edit(&c, None, &e).await.unwrap();
    assert!(done.changed.is_empty());
    assert_eq!(done.request_id, None);
    assert!(rec.all().is_empty(), "nothing was sent");
    // The contract: a patch writing the values the lead already has keeps updated_at.
    let patch = LeadPatch {
        job_title: Patch::Set("Engineer".into()),
        ..Default::default()
    };
    let same = c.update_lead(&lead.id, &patch).await.unwrap().data;
    assert_eq!(same.updated_at, lead.updated_at);
    assert_eq!(same, lead);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_invalid_field_is_refused_before_sending_by_the_create_rules() {
    let sb = common::sandbox().await;
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let lead = new_lead(&c, "invalid@example.com").await;
    rec.clear();
    let e = edit(
        &lead,
        &[
            ("email", "not-an-email"),
            ("linkedin_url", "https://linkedin.com:443/in/x"),
            ("status", "hot"),
            ("source", ""),
            ("job_title", "Fine"),
        ],
    );
    // The same rules as the create form, for the changed fields only.
    let v: Vec<(String, String)> = leads::validate_edit(&e)
        .into_iter()
        .map(|f| (f.field, f.code))
        .collect();
    assert_eq!(
        v,
        [
            ("source".into(), "required".into()),
            ("email".into(), "invalid_email".into()),
            ("linkedin_url".into(), "invalid_url".into()),
            ("status".into(), "invalid_value".into()),
        ]
    );
    let err = leads::edit(&c, None, &e).await.unwrap_err();
    assert_eq!(err.error.code, "invalid_input");
    assert!(err.error.message.contains("linkedin_url"));
    assert_eq!(err.fields.len(), 4);
    assert!(rec.all().is_empty(), "nothing was sent");
    // Clearing the email is refused the way the create form refuses an empty one.
    let empty = leads::validate_edit(&edit(&lead, &[("email", " ")]));
    assert_eq!(empty[0].code, "required");
    sb.shutdown().await;
}

#[tokio::test]
async fn a_change_made_meanwhile_is_explained_and_can_be_reapplied_or_kept() {
    let sb = common::sandbox().await;
    let (c, rec) = common::client(&sb, &sb.keys.full);
    let m = mirror();
    let lead = new_lead(&c, "conflict@example.com").await;
    m.put_lead(&lead).unwrap();
    // Someone edits the lead in the web app after this user loaded it.
    admin_patch(
        &sb,
        &lead.id,
        serde_json::json!({"job_title": "CTO", "company_name": "Engines Ltd"}),
    )
    .await;
    rec.clear();
    let e = edit(&lead, &[("phone", "+44 1"), ("job_title", "Countess")]);
    let err = leads::edit(&c, Some(&m), &e).await.unwrap_err();
    assert_eq!(err.error.code, "lead_changed");
    assert!(
        err.error.message.contains("job_title: Engineer → CTO"),
        "{}",
        err.error.message
    );
    let conflict = err.conflict.unwrap();
    let theirs: Vec<(&str, Option<&str>, Option<&str>)> = conflict
        .theirs
        .iter()
        .map(|c| (c.field.as_str(), c.old.as_deref(), c.new.as_deref()))
        .collect();
    assert_eq!(
        theirs,
        [
            ("company_name", None, Some("Engines Ltd")),
            ("job_title", Some("Engineer"), Some("CTO")),
        ]
    );
    assert_eq!(conflict.mine.len(), 2);
    // Nothing was sent but the fresh read; the mirror shows the server's version ("keep theirs").
    assert!(rec.all().iter().all(|x| x.method == "GET"));
    assert_eq!(m.get(&lead.id).unwrap().unwrap(), conflict.server);
    // Reapply: the same changes on their version; their company name stays.
    let done = leads::edit(&c, Some(&m), &conflict.reapply).await.unwrap();
    assert_eq!(done.lead.job_title.as_deref(), Some("Countess"));
    assert_eq!(done.lead.phone.as_deref(), Some("+44 1"));
    assert_eq!(done.lead.company_name.as_deref(), Some("Engines Ltd"));
    assert_eq!(m.get(&lead.id).unwrap().unwrap(), done.lead);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_deleted_lead_and_a_read_only_key_say_why() {
    let sb = common::sandbox().await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let m = mirror();
    let lead = new_lead(&c, "gone@example.com").await;
    let mut gone = lead.clone();
    gone.id = "lead_00000000000000000000000000".into();
    m.put_lead(&gone).unwrap();
    let err = leads::edit(&c, Some(&m), &edit(&gone, &[("job_title", "X")]))
        .await
        .unwrap_err();
    assert_eq!(err.error.code, "not_found");
    assert!(err.deleted);
    assert_eq!(err.error.message, leads::DELETED_MESSAGE);
    assert!(err.error.request_id.is_some());
    assert_eq!(m.get(&gone.id).unwrap(), None, "it left the mirror");

    let (ro, _) = common::client(&sb, &sb.keys.read_only);
    let err = leads::edit(&ro, None, &edit(&lead, &[("job_title", "X")]))
        .await
        .unwrap_err();
    assert_eq!(err.error.code, "read_only_key");
    assert!(err.error.message.contains("read-only"));
    assert!(!err.error.retryable);
    assert_eq!(c.get_lead(&lead.id).await.unwrap().data, lead);
    sb.shutdown().await;
}
