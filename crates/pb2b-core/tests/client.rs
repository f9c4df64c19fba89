//! The client against the in-process sandbox over real HTTP on 127.0.0.1.

mod common;

use common::*;
use pb2b_core::api::{ApiErrorKind, LeadPatch, ListLeadsQuery, NewLead, Patch};
use pb2b_core::error::ErrorReport;
use pb2b_core::scopes::{check_permission, Action};
use pb2b_sandbox::ALL_SCOPES;

#[tokio::test]
async fn me_for_each_working_key() {
    let sb = sandbox().await;
    let (full, rec) = client(&sb, &sb.keys.full);
    let me = full.me().await.expect("full key works");
    assert_eq!(me.status, 200);
    assert!(is_request_id(&me.request_id), "{}", me.request_id);
    assert!(!me.data.read_only);
    assert_eq!(me.data.workspace.id, "ws_sandbox");
    assert!(sb.keys.full.starts_with(&me.data.key_prefix));
    for s in ALL_SCOPES {
        assert!(me.data.scopes.iter().any(|g| g == s), "full key lacks {s}");
    }
    assert!(check_permission(&me.data, Action::CreateLead).is_ok());
    let log = rec.all();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/api/public/v1/me");
    assert_eq!(log[0].status, Some(200));
    assert_eq!(log[0].request_id.as_deref(), Some(me.request_id.as_str()));
    assert!(log[0]
        .request_headers
        .iter()
        .all(|(n, _)| n != "authorization"));
    assert!(log[0]
        .request_headers
        .iter()
        .any(|(n, v)| n == "user-agent" && v.starts_with("ProspectB2B-Desktop/")));

    let (ro, _) = client(&sb, &sb.keys.read_only);
    let me = ro.me().await.expect("read-only key works");
    assert!(me.data.read_only);
    assert_eq!(
        check_permission(&me.data, Action::CreateLead)
            .unwrap_err()
            .reason,
        "This key is read-only"
    );

    let (lr, _) = client(&sb, &sb.keys.leads_read);
    let me = lr.me().await.expect("leads_read key works");
    let mut scopes = me.data.scopes.clone();
    scopes.sort();
    assert_eq!(scopes, vec!["leads.read", "me.read"]);
    assert_eq!(
        check_permission(&me.data, Action::CreateLead)
            .unwrap_err()
            .reason,
        "This key lacks the scope leads.write"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn revoked_and_expired_keys_give_their_kinds_and_messages() {
    let sb = sandbox().await;
    for (key, kind, code, words) in [
        (
            &sb.keys.revoked,
            ApiErrorKind::Revoked,
            "api_key_revoked",
            "revoked",
        ),
        (
            &sb.keys.expired,
            ApiErrorKind::Expired,
            "api_key_expired",
            "expired",
        ),
    ] {
        let (c, rec) = client(&sb, key);
        let err = c.me().await.unwrap_err();
        assert_eq!(err.kind, kind);
        assert_eq!(err.status, Some(401));
        assert!(!err.retryable);
        let rid = err.request_id.clone().expect("a request_id");
        assert!(is_request_id(&rid));
        let report = ErrorReport::from(err);
        assert_eq!(report.code, code);
        assert_eq!(report.request_id.as_deref(), Some(rid.as_str()));
        assert!(report.message.contains(words), "{}", report.message);
        assert!(
            report.message.contains("Settings → API keys"),
            "a remedy: {}",
            report.message
        );
        assert!(!report.retryable);
        // 401 is never retried.
        assert_eq!(rec.all().len(), 1);
        assert_eq!(rec.all()[0].error_code.as_deref(), Some(code));
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn malformed_and_unknown_keys() {
    let sb = sandbox().await;
    let (c, _) = client(&sb, "pb2b_live_short_x-y");
    let err = c.me().await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::MalformedKey);
    let report = ErrorReport::from(err);
    assert_eq!(report.code, "invalid_api_key");
    assert!(
        report.message.contains("does not look like"),
        "{}",
        report.message
    );
    assert!(report.request_id.is_some());

    let (c, _) = client(&sb, "pb2b_test_zzzzzzzz_00000000000000000000000000000000");
    let err = c.me().await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::Unauthorized);
    assert!(ErrorReport::from(err).message.contains("did not accept"));
    sb.shutdown().await;
}

#[tokio::test]
async fn every_error_class_maps_to_a_report() {
    let sb = sandbox().await;
    let (full, _) = client(&sb, &sb.keys.full);
    let (ro, _) = client(&sb, &sb.keys.read_only);
    let (lr, _) = client(&sb, &sb.keys.leads_read);
    let lead = NewLead {
        email: "ada@example.com".into(),
        full_name: Some("Ada Lovelace".into()),
        ..NewLead::default()
    };

    let check = |err: pb2b_core::api::ApiError, kind, status, code: &str, words: &str| {
        assert_eq!(err.kind, kind, "{err:?}");
        assert_eq!(err.status, Some(status));
        let rid = err.request_id.clone().expect("request_id");
        assert!(is_request_id(&rid), "{rid}");
        let report = ErrorReport::from(err);
        assert_eq!(report.code, code);
        assert_eq!(report.request_id, Some(rid));
        assert!(report.message.contains(words), "{code}: {}", report.message);
        report
    };

    // 403 read-only
    let r = check(
        ro.create_lead(&lead, "ro-1").await.unwrap_err(),
        ApiErrorKind::ReadOnly,
        403,
        "read_only_key",
        "read-only",
    );
    assert!(!r.retryable);
    // 403 scope, naming the scope
    check(
        lr.create_lead(&lead, "lr-1").await.unwrap_err(),
        ApiErrorKind::InsufficientScope,
        403,
        "insufficient_scope",
        "leads.write",
    );
    // 404
    check(
        full.get_lead("lead_doesnotexist").await.unwrap_err(),
        ApiErrorKind::NotFound,
        404,
        "not_found",
        "could not find",
    );
    // 422 with the field summarised
    let bad = NewLead {
        email: "[email protected]".into(),
        ..NewLead::default()
    };
    check(
        full.create_lead(&bad, "bad-1").await.unwrap_err(),
        ApiErrorKind::Validation,
        422,
        "validation_error",
        "email",
    );
    // 400 (query validation)
    check(
        full.list_leads(&ListLeadsQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        ApiErrorKind::BadRequest,
        400,
        "validation_error",
        "refused",
    );
    // 400 invalid cursor
    check(
        full.list_leads(&ListLeadsQuery {
            cursor: Some("not-a-cursor".into()),
            ..Default::default()
        })
        .await
        .unwrap_err(),
        ApiErrorKind::BadRequest,
        400,
        "invalid_cursor",
        "refused",
    );
    // 409 reused: explained
    let created = full.create_lead(&lead, "reuse-1").await.expect("created");
    assert_eq!(created.status, 201);
    let other = NewLead {
        email: "grace@example.com".into(),
        ..NewLead::default()
    };
    let r = check(
        full.create_lead(&other, "reuse-1").await.unwrap_err(),
        ApiErrorKind::IdempotencyKeyReused,
        409,
        "idempotency_key_reused",
        "already sent once with different details",
    );
    assert!(!r.retryable);
    // 429 (forced)
    let (limited, _) = faulty_client(&sb, &sb.keys.full, "429");
    let mut cfg = config(&sb.base_url);
    cfg.retry = pb2b_core::api::RetryPolicy::none();
    cfg.extra_headers = vec![("X-Sandbox-Fault".into(), "429".into())];
    let (limited_once, _) = client_with(cfg, &sb.keys.full);
    drop(limited);
    let r = check(
        limited_once.me().await.unwrap_err(),
        ApiErrorKind::RateLimited,
        429,
        "rate_limited",
        "Wait 1 second",
    );
    assert!(r.retryable);
    // 500 (forced, a write without retries)
    let mut cfg = config(&sb.base_url);
    cfg.retry = pb2b_core::api::RetryPolicy::none();
    cfg.extra_headers = vec![("X-Sandbox-Fault".into(), "500".into())];
    let (failing, _) = client_with(cfg, &sb.keys.full);
    let r = check(
        failing.create_lead(&lead, "f-1").await.unwrap_err(),
        ApiErrorKind::Server,
        500,
        "internal_error",
        "problem answering",
    );
    assert!(r.retryable);
    sb.shutdown().await;
}

#[tokio::test]
async fn leads_round_trip() {
    let sb = sandbox().await;
    let (full, _) = client(&sb, &sb.keys.full);
    let lead = NewLead {
        email: "ada@example.com".into(),
        full_name: Some("Ada Lovelace".into()),
        company_name: Some("Analytical Engines".into()),
        phone: Some("+44 20 0000 0000".into()),
        ..NewLead::default()
    };
    let created = full.create_lead(&lead, "rt-1").await.unwrap();
    assert!(!created.replayed);
    let id = created.data.id.clone();
    assert_eq!(created.data.email, "ada@example.com");
    assert_eq!(created.data.source, "api");

    let got = full.get_lead(&id).await.unwrap();
    assert_eq!(got.data, created.data);

    let patched = full
        .update_lead(
            &id,
            &LeadPatch {
                phone: Patch::Clear,
                job_title: Patch::Set("Countess".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.data.phone, None);
    assert_eq!(patched.data.job_title.as_deref(), Some("Countess"));
    assert!(patched.data.updated_at > created.data.updated_at);

    // Page through everything (40 demo leads + 1).
    let mut seen = 0;
    let mut cursor = None;
    loop {
        let page = full
            .list_leads(&ListLeadsQuery {
                limit: Some(15),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        seen += page.data.len();
        if !page.has_more {
            assert!(page.next_cursor.is_none());
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 41);
    sb.shutdown().await;
}

#[tokio::test]
async fn unreachable_host_is_reported_as_such() {
    // Bind then drop a listener: the port is closed on loopback.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (c, rec) = client_with(
        config(&format!("http://127.0.0.1:{port}/api/public/v1")),
        "pb2b_test_abcdefgh_0123456789abcdef0123456789abcdef",
    );
    let err = c.me().await.unwrap_err();
    assert_eq!(err.kind, ApiErrorKind::Unreachable);
    assert_eq!(err.status, None);
    assert!(err.retryable);
    // GET on a connection error is retried up to the bound, each attempt observed.
    let log = rec.all();
    assert_eq!(log.len(), 4);
    assert_eq!(
        log.iter().map(|e| e.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3, 4]
    );
    assert!(log
        .iter()
        .all(|e| e.error_code.as_deref() == Some("unreachable")));
    let report = ErrorReport::from(err);
    assert_eq!(report.code, "unreachable");
    assert_eq!(report.request_id, None);
    assert!(
        report.message.contains("Cannot reach"),
        "{}",
        report.message
    );
}
