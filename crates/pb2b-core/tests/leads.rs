//! Creating one lead safely, against the sandbox over HTTP: one key per submission, replays,
//! double clicks, dropped answers, 409 idempotency_key_reused explained, field errors mapped.

mod common;

use pb2b_core::api::NewLead;
use pb2b_core::leads::{self, LeadSubmission};

fn lead(email: &str) -> NewLead {
    NewLead {
        email: email.into(),
        full_name: Some("Ada Lovelace".into()),
        company_name: Some("Analytical Engines".into()),
        job_title: Some("Engineer".into()),
        ..Default::default()
    }
}

async fn count(sb: &pb2b_sandbox::Sandbox, email: &str) -> u64 {
    let v: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/leads/count?email={email}", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"]["count"].as_u64().unwrap()
}

#[tokio::test]
async fn a_submission_and_its_retries_make_one_lead() {
    let sb = common::sandbox().await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let sub = LeadSubmission::new(lead("ada.once@example.com"));
    let first = leads::create(&c, None, &sub).await.unwrap();
    assert!(!first.replayed);
    assert!(first.lead.id.starts_with("lead_"));
    assert!(common::is_request_id(&first.request_id));
    // A manual "Try again" (or a double click) sends the same submission: a replay.
    let (a, b) = tokio::join!(leads::create(&c, None, &sub), leads::create(&c, None, &sub));
    for again in [a.unwrap(), b.unwrap()] {
        assert!(again.replayed);
        assert_eq!(again.lead.id, first.lead.id);
    }
    assert_eq!(count(&sb, "ada.once@example.com").await, 1);
    // The answer is dropped after the server committed: the client retries with the same key.
    let (faulty, _) = common::faulty_client(&sb, &sb.keys.full, "drop-after-commit");
    let sub2 = LeadSubmission::new(lead("ada.dropped@example.com"));
    let ok = leads::create(&faulty, None, &sub2).await.unwrap();
    assert!(
        ok.replayed,
        "the retry got the lead the dropped attempt made"
    );
    let again = leads::create(&c, None, &sub2).await.unwrap();
    assert_eq!(again.lead.id, ok.lead.id);
    assert_eq!(count(&sb, "ada.dropped@example.com").await, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn a_reused_key_is_explained_and_field_errors_land_on_fields() {
    let sb = common::sandbox().await;
    let (c, _) = common::client(&sb, &sb.keys.full);
    let sub = LeadSubmission::new(lead("grace@example.com"));
    leads::create(&c, None, &sub).await.unwrap();
    let mut changed = sub.clone();
    changed.lead.job_title = Some("Admiral".into());
    let err = leads::create(&c, None, &changed).await.unwrap_err();
    assert_eq!(err.error.code, "idempotency_key_reused");
    assert_eq!(err.error.message, leads::KEY_REUSED_MESSAGE);
    assert!(!err.error.retryable);
    assert!(err.error.request_id.is_some());

    // Local validation refuses before sending, per field.
    let bad = LeadSubmission::new(NewLead {
        email: "[email protected]".into(),
        // `linkedin.com/in/x` would be sent as its https form; a space is refused.
        linkedin_url: Some("https://linkedin.com/in/a b".into()),
        ..Default::default()
    });
    let err = leads::create(&c, None, &bad).await.unwrap_err();
    assert_eq!(err.error.code, "invalid_input");
    let fields: Vec<&str> = err.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["email", "linkedin_url"]);

    // What the server refuses (sent past the local check) maps onto the same fields.
    let api_err = c
        .create_lead(
            &NewLead {
                email: "not an email".into(),
                company_domain: Some("https://x".into()),
                ..Default::default()
            },
            "lead-server-validation",
        )
        .await
        .unwrap_err();
    let mapped = leads::create_error(api_err);
    assert_eq!(mapped.error.code, "validation_error");
    let mut fields: Vec<(String, String)> = mapped
        .fields
        .into_iter()
        .map(|f| (f.field, f.code))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("company_domain".to_string(), "invalid_format".to_string()),
            ("email".to_string(), "invalid_email".to_string())
        ]
    );
    // A read-only key: nothing created, the error says why.
    let (ro, _) = common::client(&sb, &sb.keys.read_only);
    let err = leads::create(&ro, None, &LeadSubmission::new(lead("ro@example.com")))
        .await
        .unwrap_err();
    assert_eq!(err.error.code, "read_only_key");
    assert_eq!(count(&sb, "ro@example.com").await, 0);
    sb.shutdown().await;
}
