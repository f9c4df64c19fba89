//! The request log wired to the real client: retention, filters, request_id search and the
//! support bundle.

mod common;

use std::sync::Arc;

use common::*;
use pb2b_core::api::{Client, NewLead};
use pb2b_core::secret::SecretString;
use pb2b_core::store::{LogFilter, RequestLog, Store};

#[tokio::test]
async fn the_request_log_behind_the_client() {
    let sb = sandbox().await;
    let store = Store::open_in_memory().unwrap();
    let log = RequestLog::new(store, "Sandbox", 6);
    let client = Client::new(
        config(&sb.base_url),
        SecretString::new(sb.keys.full.clone()),
        Arc::new(log.clone()),
    )
    .unwrap();
    let me = client.me().await.unwrap();
    let missing = client.get_lead("lead_missing").await.unwrap_err();
    let lead = NewLead {
        email: "log@example.com".into(),
        ..Default::default()
    };
    client.create_lead(&lead, "log-1").await.unwrap();
    let replay = client.create_lead(&lead, "log-1").await.unwrap();

    let all = log.query(&LogFilter::default()).unwrap();
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|r| r.profile == "Sandbox"));
    let newest = &all[0];
    assert_eq!(newest.method, "POST");
    assert_eq!(newest.path, "/api/public/v1/leads");
    assert_eq!(newest.status, Some(201));
    assert!(newest.replayed);
    assert_eq!(newest.idempotency_key.as_deref(), Some("log-1"));
    assert_eq!(
        newest.request_id.as_deref(),
        Some(replay.request_id.as_str())
    );

    let errors = log
        .query(&LogFilter {
            status_class: Some(4),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].error_code.as_deref(), Some("not_found"));
    let by_rid = log
        .query(&LogFilter {
            request_id: missing.request_id.clone(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(by_rid.len(), 1);
    assert_eq!(by_rid[0].path, "/api/public/v1/leads/lead_missing");
    let by_path = log
        .query(&LogFilter {
            path_contains: Some("/me".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        by_path[0].request_id.as_deref(),
        Some(me.request_id.as_str())
    );

    let bundle = log.support_bundle(errors[0].id, "1.2.3").unwrap();
    let text = bundle.to_string();
    assert!(!text.contains(&sb.keys.full));
    assert!(!text.to_ascii_lowercase().contains("authorization"));
    assert_eq!(bundle["response"]["status"], 404);
    assert_eq!(
        bundle["request"]["line"],
        "GET /api/public/v1/leads/lead_missing"
    );
    assert!(bundle["response"]["body_excerpt"]
        .as_str()
        .unwrap()
        .contains("not_found"));

    // Retention: 6 rows at most.
    for _ in 0..5 {
        client.me().await.unwrap();
    }
    assert_eq!(log.count().unwrap(), 6);
    sb.shutdown().await;
}
