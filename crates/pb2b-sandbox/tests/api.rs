//! Every operation and documented status code over real HTTP, validated against docs/api/openapi.yaml.

mod common;

use common::{env, env_with, eventually, Env, Resp};
use pb2b_sandbox::SandboxConfig;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn authentication_failures_are_401_with_their_codes() {
    let e = env().await;
    let cases = [
        ("", "unauthorized"),
        ("pb2b_test_short_key", "invalid_api_key"),
        (
            "pb2b_test_abcdefgh_0123456789abcdef0123456789abcdef",
            "invalid_api_key",
        ),
        (e.sb.keys.revoked.as_str(), "api_key_revoked"),
        (e.sb.keys.expired.as_str(), "api_key_expired"),
    ];
    for (key, code) in cases {
        let r = e.send(e.req(Method::GET, "/me", key), "/me").await;
        assert_eq!(r.status, 401, "{key}: {}", r.raw);
        assert_eq!(r.code(), code);
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    // Not a Bearer scheme.
    let rb = e
        .http
        .get(e.url("/me"))
        .header("Authorization", format!("Basic {}", e.full()));
    let r = e.send(rb, "/me").await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "invalid_api_key"));
    // Writes with a bad key are refused the same way, before anything else.
    let r = e
        .send(
            e.req(Method::POST, "/leads", "")
                .json(&json!({"email": "a@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"));
    assert_eq!(e.count_email("a@example.com").await, 0);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn me_reports_identity_scopes_and_read_only() {
    let e = env().await;
    let r = e.send(e.req(Method::GET, "/me", &e.full()), "/me").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["read_only"], false);
    assert_eq!(r.data()["scopes"].as_array().unwrap().len(), 12);
    assert!(e
        .full()
        .starts_with(r.data()["key_prefix"].as_str().unwrap()));
    let r = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.read_only), "/me")
        .await;
    assert_eq!(r.data()["read_only"], true);
    let r = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.leads_read), "/me")
        .await;
    assert_eq!(r.data()["scopes"], json!(["me.read", "leads.read"]));
    // Without me.read: 403 insufficient_scope.
    e.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"scopes": ["leads.read"]})),
    )
    .await;
    let r = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.leads_read), "/me")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_scope"));
    assert_eq!(
        r.body["error"]["details"]["required_scopes"],
        json!(["me.read"])
    );
    e.sb.shutdown().await;
}

#[tokio::test]
async fn scopes_and_read_only_are_403() {
    let e = env().await;
    let lead = json!({"email": "scope@example.com"});
    let r = e
        .send(
            e.req(Method::POST, "/leads", &e.sb.keys.read_only)
                .json(&lead),
            "/leads",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "read_only_key"));
    let r = e
        .send(
            e.req(Method::POST, "/leads", &e.sb.keys.leads_read)
                .json(&lead),
            "/leads",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_scope"));
    let r = e
        .send(
            e.req(Method::GET, "/webhooks", &e.sb.keys.leads_read),
            "/webhooks",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_scope"));
    let r = e
        .send(
            e.req(Method::POST, "/exports", &e.sb.keys.leads_read),
            "/exports",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_scope"));
    // Reads work with the read-only key.
    let r = e
        .send(e.req(Method::GET, "/leads", &e.sb.keys.read_only), "/leads")
        .await;
    assert_eq!(r.status, 200);
    let r = e
        .send(
            e.req(Method::GET, "/webhooks", &e.sb.keys.read_only),
            "/webhooks",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(e.count_email("scope@example.com").await, 0);
    // Granting the scope by admin takes effect at once.
    e.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"scopes": ["me.read", "leads.read", "leads.write"]})),
    )
    .await;
    let r = e
        .send(
            e.req(Method::POST, "/leads", &e.sb.keys.leads_read)
                .json(&lead),
            "/leads",
        )
        .await;
    assert_eq!(r.status, 201);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn leads_create_get_patch_and_validation() {
    let e = env().await;
    let k = e.full();
    let created = e
        .create_lead(json!({
            "full_name": "  Ada Lovelace ", "email": "ada@example.com", "company_name": "Analytical Engine Inc.",
            "linkedin_url": "https://www.linkedin.com/in/ada", "company_domain": "Example.COM",
            "status": "qualified", "custom_fields": {"score": 7, "vip": true}
        }))
        .await;
    assert_eq!(created["full_name"], "Ada Lovelace");
    assert_eq!(created["company_domain"], "example.com");
    assert_eq!(created["source"], "api");
    let id = created["id"].as_str().unwrap().to_string();
    let r = e
        .send(
            e.req(Method::GET, &format!("/leads/{id}"), &k),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data(), &created);
    let r = e
        .send(
            e.req(Method::GET, "/leads/lead_doesnotexist", &k),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));

    let r = e
        .send(
            e.req(Method::PATCH, &format!("/leads/{id}"), &k)
                .json(&json!({"job_title": "Analyst", "phone": null})),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.raw);
    assert_eq!(r.data()["job_title"], "Analyst");
    assert!(r.data()["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(r.data()["created_at"], created["created_at"]);
    let r = e
        .send(
            e.req(Method::PATCH, "/leads/lead_nope", &k)
                .json(&json!({})),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::PATCH, &format!("/leads/{id}"), &k)
                .json(&json!({"email": null})),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_error"));
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["code"],
        "null_not_allowed"
    );

    // Field-level errors, all reported at once.
    let bad = json!({"email": "[email protected]", "full_name": 5, "status": "hot", "nickname": "x",
                     "linkedin_url": "http://insecure.example", "custom_fields": {"a": [1]}});
    let r = e
        .send(e.req(Method::POST, "/leads", &k).json(&bad), "/leads")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_error"));
    let mut got: Vec<(String, String)> = r.body["error"]["details"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["field"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("custom_fields.a", "invalid_type"),
        ("email", "invalid_email"),
        ("full_name", "invalid_type"),
        ("linkedin_url", "invalid_url"),
        ("nickname", "unknown_field"),
        ("status", "invalid_value"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);
    let r = e
        .send(
            e.req(Method::POST, "/leads", &k)
                .json(&json!({"full_name": "No Mail"})),
            "/leads",
        )
        .await;
    assert_eq!(r.body["error"]["details"]["fields"][0]["code"], "required");
    assert_eq!(e.admin(Method::GET, "/state", None).await["leads"], 1);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_never_a_crash() {
    let e = env_with(SandboxConfig {
        seed_demo: false,
        body_limit: 64 * 1024,
        ..Default::default()
    })
    .await;
    let k = e.full();
    let post = |body: Vec<u8>, ct: &str| {
        e.req(Method::POST, "/leads", &k)
            .header("Content-Type", ct.to_string())
            .body(body)
    };
    let r = e
        .send(post(b"{\"email\": ".to_vec(), "application/json"), "/leads")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_json"));
    let r = e
        .send(
            post(b"{\"email\": \"\xff\xfe\"}".to_vec(), "application/json"),
            "/leads",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_json"));
    assert!(r.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("UTF-8"));
    let r = e
        .send(post(b"[1,2]".to_vec(), "application/json"), "/leads")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_json"));
    let r = e
        .send(
            post(
                b"email=a@example.com".to_vec(),
                "application/x-www-form-urlencoded",
            ),
            "/leads",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (415, "unsupported_media_type")
    );
    let r = e
        .send(post(vec![b' '; 100 * 1024], "application/json"), "/leads")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "payload_too_large"));
    // Chunked (no Content-Length) too large body.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..100).map(|_| Ok(vec![b' '; 1024])).collect();
    let rb = e
        .req(Method::POST, "/leads", &k)
        .header("Content-Type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )));
    let r = e.send(rb, "/leads").await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "payload_too_large"));
    let r = e
        .send(
            post(
                b"{\"email\": {\"deep\": [[[[]]]]}}".to_vec(),
                "application/json",
            ),
            "/leads",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_error"));
    let r = e.req(Method::DELETE, "/leads", &k).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "method_not_allowed");
    common::validate_pointer("/components/schemas/ErrorEnvelope", &v);
    let r = e
        .http
        .get(e.url("/nothing/here"))
        .bearer_auth(&k)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers().contains_key("x-request-id"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "not_found");
    // Outside the base path entirely.
    let r = e
        .http
        .get(e.sb.base_url.replace("/api/public/v1", "/robots.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Still alive and well.
    let r = e.send(e.req(Method::GET, "/me", &k), "/me").await;
    assert_eq!(r.status, 200);
    e.sb.shutdown().await;
}

async fn page_all(e: &Env, query: &str, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!("/leads?limit={limit}{query}");
        if let Some(c) = &cursor {
            q.push_str(&format!("&cursor={c}"));
        }
        let r = e.send(e.req(Method::GET, &q, &e.full()), "/leads").await;
        assert_eq!(r.status, 200, "{}", r.raw);
        let data = r.data().as_array().unwrap().clone();
        assert!(data.len() <= limit);
        out.extend(data);
        if r.body["pagination"]["has_more"] == false {
            assert!(r.body["pagination"]["next_cursor"].is_null());
            return out;
        }
        cursor = Some(
            r.body["pagination"]["next_cursor"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
}

#[tokio::test]
async fn pagination_order_exclusive_updated_after_and_cursors() {
    let e = env().await;
    let k = e.full();
    e.admin(
        Method::POST,
        "/leads/bulk",
        Some(json!({"count": 30, "updated_at": "2026-03-10T00:00:00.000Z"})),
    )
    .await;
    e.admin(
        Method::POST,
        "/leads/bulk",
        Some(json!({"count": 31, "updated_at": "2026-03-11T00:00:00.000Z"})),
    )
    .await;
    let all = page_all(&e, "", 25).await;
    assert_eq!(all.len(), 61);
    let keys: Vec<(String, String)> = all
        .iter()
        .map(|l| {
            (
                l["updated_at"].as_str().unwrap().to_string(),
                l["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort(); // byte order of (updated_at, id)
    sorted.dedup();
    assert_eq!(
        keys, sorted,
        "ordered by (updated_at, id) without duplicates"
    );
    // Default limit is 25.
    let r = e.send(e.req(Method::GET, "/leads", &k), "/leads").await;
    assert_eq!(r.data().as_array().unwrap().len(), 25);
    // updated_after is exclusive.
    let after = page_all(&e, "&updated_after=2026-03-10T00:00:00.000Z", 100).await;
    assert_eq!(after.len(), 31);
    let after = page_all(&e, "&updated_after=2026-03-10T01:00:00%2B01:00", 7).await;
    assert_eq!(after.len(), 31, "offsets are understood");
    let r = e
        .send(
            e.req(
                Method::GET,
                "/leads?updated_after=2026-03-11T00:00:00.000Z",
                &k,
            ),
            "/leads",
        )
        .await;
    assert_eq!(r.data().as_array().unwrap().len(), 0);
    // A PATCH that changes something moves a lead to the end. Seeded statuses
    // are random, and a PATCH that changes nothing keeps updated_at (see
    // patch_without_a_change_keeps_updated_at), so pick a status it lacks.
    let first = all[0]["id"].as_str().unwrap();
    let status = if all[0]["status"] == "lost" {
        "new"
    } else {
        "lost"
    };
    e.send(
        e.req(Method::PATCH, &format!("/leads/{first}"), &k)
            .json(&json!({"status": status})),
        "/leads/{lead_id}",
    )
    .await;
    let again = page_all(&e, "", 100).await;
    assert_eq!(again.last().unwrap()["id"], first);

    // Cursors: tampered, foreign, or sent with other filters.
    let r = e
        .send(e.req(Method::GET, "/leads?limit=10", &k), "/leads")
        .await;
    let cursor = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tampered = cursor.clone().into_bytes();
    let i = 5;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for (q, what) in [
        (format!("/leads?cursor={tampered}"), "tampered"),
        ("/leads?cursor=lead_002".to_string(), "foreign"),
        ("/leads?cursor=%00%01".to_string(), "garbage"),
        (
            format!("/leads?cursor={cursor}&updated_after=2026-03-10T00:00:00.000Z"),
            "other filters",
        ),
    ] {
        let r = e.send(e.req(Method::GET, &q, &k), "/leads").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_cursor"),
            "{what}"
        );
    }
    // limit may change between pages.
    let r = e
        .send(
            e.req(
                Method::GET,
                &format!("/leads?cursor={cursor}&limit=100"),
                &k,
            ),
            "/leads",
        )
        .await;
    assert_eq!(r.data().as_array().unwrap().len(), 51);
    // Bad query parameters: 400 validation_error naming the parameter.
    for (q, field, code) in [
        ("/leads?limit=0", "limit", "out_of_range"),
        ("/leads?limit=101", "limit", "out_of_range"),
        ("/leads?limit=ten", "limit", "invalid_type"),
        (
            "/leads?updated_after=yesterday",
            "updated_after",
            "invalid_format",
        ),
        ("/leads?sort=desc", "sort", "unknown_field"),
        ("/leads?limit=1&limit=2", "limit", "duplicate"),
    ] {
        let r = e.send(e.req(Method::GET, q, &k), "/leads").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "validation_error"),
            "{q}"
        );
        assert_eq!(r.body["error"]["details"]["fields"][0]["field"], field);
        assert_eq!(r.body["error"]["details"]["fields"][0]["code"], code);
        assert_eq!(r.body["error"]["details"]["fields"][0]["location"], "query");
    }
    e.sb.shutdown().await;
}

#[tokio::test]
async fn admin_edit_and_set_updated_at_feed_incremental_sync() {
    let e = env().await;
    e.admin(Method::POST, "/leads/bulk", Some(json!({"count": 5})))
        .await;
    let all = page_all(&e, "", 100).await;
    let last_ts = all
        .iter()
        .map(|l| l["updated_at"].as_str().unwrap().to_string())
        .max()
        .unwrap();
    let target = all[2]["id"].as_str().unwrap().to_string();
    let edited = e
        .admin(
            Method::PATCH,
            &format!("/leads/{target}"),
            Some(json!({"job_title": "Edited in web app"})),
        )
        .await;
    assert!(edited["updated_at"].as_str().unwrap() > last_ts.as_str());
    let changed = page_all(&e, &format!("&updated_after={last_ts}"), 100).await;
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0]["job_title"], "Edited in web app");
    let ids: Vec<&str> = all
        .iter()
        .take(3)
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    let n = e
        .admin(
            Method::POST,
            "/leads/set-updated-at",
            Some(json!({"updated_at": "2030-01-01T00:00:00.000Z", "ids": ids})),
        )
        .await;
    assert_eq!(n["updated"], 3);
    let late = page_all(&e, "&updated_after=2029-12-31T23:59:59.999Z", 2).await;
    assert_eq!(late.len(), 3);
    assert!(late
        .iter()
        .all(|l| l["updated_at"] == "2030-01-01T00:00:00.000Z"));
    assert_eq!(
        e.admin(Method::GET, "/leads/count?email=nobody@example.com", None)
            .await["count"],
        0
    );
    let reset = e
        .admin(Method::POST, "/reset", Some(json!({"seed_demo": true})))
        .await;
    assert_eq!(reset["leads"], 40);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn idempotency_replay_reuse_in_use_and_scoping() {
    let e = env().await;
    let k = e.full();
    let body = json!({"full_name": "Grace Hopper", "email": "grace@example.com"});
    let post = |key: &str, ik: &str, b: &Value| {
        e.req(Method::POST, "/leads", key)
            .header("Idempotency-Key", ik.to_string())
            .json(b)
    };
    let first = e.send(post(&k, "idem-1", &body), "/leads").await;
    assert_eq!(first.status, 201);
    assert!(first.header("idempotent-replayed").is_none());
    // Same payload, other key order and white space: replayed.
    let same = r#"{ "email" : "grace@example.com",   "full_name": "Grace Hopper" }"#;
    let rb = e
        .req(Method::POST, "/leads", &k)
        .header("Idempotency-Key", "idem-1")
        .header("Content-Type", "application/json")
        .body(same);
    let replay = e.send(rb, "/leads").await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(replay.raw, first.raw, "same body byte for byte");
    assert_eq!(replay.header("x-request-id"), first.header("x-request-id"));
    // Other payload: 409 reused.
    let r = e
        .send(
            post(&k, "idem-1", &json!({"email": "other@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "idempotency_key_reused")
    );
    // Same key on another operation: reused too.
    let r = e
        .send(
            e.req(Method::POST, "/exports", &k)
                .header("Idempotency-Key", "idem-1")
                .json(&json!({})),
            "/exports",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (409, "idempotency_key_reused")
    );
    assert_eq!(e.count_email("grace@example.com").await, 1);
    // Keys are scoped per API key.
    e.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"scopes": ["me.read", "leads.read", "leads.write"]})),
    )
    .await;
    let r = e
        .send(post(&e.sb.keys.leads_read, "idem-1", &body), "/leads")
        .await;
    assert_eq!(r.status, 201);
    assert!(r.header("idempotent-replayed").is_none());
    assert_ne!(r.data()["id"], first.data()["id"]);
    assert_eq!(e.count_email("grace@example.com").await, 2);
    // Invalid keys.
    for bad in ["", &"x".repeat(256)] {
        let r = e.send(post(&k, bad, &body), "/leads").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_idempotency_key")
        );
    }
    // In flight: a concurrent request with the same key gets 409 in_use + Retry-After.
    let before = e.admin(Method::GET, "/state", None).await["idempotency_keys"]
        .as_u64()
        .unwrap();
    let slow = post(&k, "idem-slow", &json!({"email": "slow@example.com"}))
        .header("X-Sandbox-Fault", "hold=1500");
    let slow = tokio::spawn({
        let req = slow.build().unwrap();
        let http = e.http.clone();
        async move { http.execute(req).await.unwrap().status() }
    });
    // Wait until the slow request holds its key, then try again with the same key.
    eventually(|| async {
        let n = e.admin(Method::GET, "/state", None).await["idempotency_keys"]
            .as_u64()
            .unwrap();
        (n > before).then_some(())
    })
    .await;
    let r = e
        .send(
            post(&k, "idem-slow", &json!({"email": "slow@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!(r.code(), "idempotency_key_in_use");
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(slow.await.unwrap(), 201);
    let r = e
        .send(
            post(&k, "idem-slow", &json!({"email": "slow@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(e.count_email("slow@example.com").await, 1);
    // A failed request does not burn the key.
    let r = e
        .send(post(&k, "idem-bad", &json!({"email": "bad"})), "/leads")
        .await;
    assert_eq!(r.status, 422);
    let r = e
        .send(
            post(&k, "idem-bad", &json!({"email": "fixed@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!(r.status, 201);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn fifty_concurrent_identical_posts_create_exactly_one_lead() {
    let e = env().await;
    let body = json!({"full_name": "Concurrent Ada", "email": "concurrent@example.com"});
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let req = e
            .req(Method::POST, "/leads", &e.full())
            .header("Idempotency-Key", "one-key-for-fifty")
            .json(&body)
            .build()
            .unwrap();
        let http = e.http.clone();
        tasks.push(tokio::spawn(async move {
            let r = http.execute(req).await.unwrap();
            let status = r.status().as_u16();
            let v: Value = r.json().await.unwrap();
            (status, v)
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let (status, v) = t.await.unwrap();
        match status {
            201 => {
                ids.insert(v["data"]["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(v["error"]["code"], "idempotency_key_in_use"),
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the same lead");
    assert_eq!(e.count_email("concurrent@example.com").await, 1);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn rate_limit_headers_429_and_per_key_windows() {
    let e = env_with(SandboxConfig {
        seed_demo: false,
        rate_limit_per_minute: Some(5),
        ..Default::default()
    })
    .await;
    let k = e.full();
    for i in 0..5u32 {
        let r = e.send(e.req(Method::GET, "/me", &k), "/me").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((4 - i).to_string().as_str())
        );
        assert!(r.header("x-ratelimit-reset").is_some());
    }
    let r = e.send(e.req(Method::GET, "/leads", &k), "/leads").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
    assert!(
        r.header("x-ratelimit-reset")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    // Errors after authentication also carry the headers; another key has its own window.
    let r = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.read_only), "/me")
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("x-ratelimit-remaining")),
        (200, Some("4"))
    );
    let r = e
        .send(
            e.req(Method::GET, "/leads/lead_x", &e.sb.keys.read_only),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("x-ratelimit-remaining")),
        (404, Some("3"))
    );
    // Forced 429 by header.
    let r = e
        .send(
            e.req(Method::GET, "/me", &e.sb.keys.read_only)
                .header("X-Sandbox-Fault", "429"),
            "/me",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.header("retry-after")),
        (429, Some("1"))
    );
    e.sb.shutdown().await;
}

async fn statuses_for_seed(seed: u64) -> Vec<u16> {
    let e = env_with(SandboxConfig {
        seed_demo: false,
        fault_seed: seed,
        fault_500: 0.3,
        fault_429_burst: 0.1,
        fault_429_burst_len: 2,
        ..Default::default()
    })
    .await;
    let mut out = Vec::new();
    for i in 0..40 {
        let r = e
            .send(
                e.req(Method::POST, "/leads", &e.full())
                    .json(&json!({"email": format!("s{i}@example.com")})),
                "/leads",
            )
            .await;
        out.push(r.status.as_u16());
    }
    e.sb.shutdown().await;
    out
}

#[tokio::test]
async fn faults_are_deterministic_per_seed() {
    let a = statuses_for_seed(7).await;
    let b = statuses_for_seed(7).await;
    assert_eq!(a, b);
    assert!(
        a.contains(&500) && a.contains(&201) && a.contains(&429),
        "{a:?}"
    );
    let c = statuses_for_seed(8).await;
    assert_ne!(a, c);
}

#[tokio::test]
async fn fault_500_commits_nothing_and_drop_after_commit_is_recovered_by_replay() {
    let e = env().await;
    let k = e.full();
    let body = json!({"email": "fault@example.com"});
    let post = || {
        e.req(Method::POST, "/leads", &k)
            .header("Idempotency-Key", "fault-1")
            .json(&body)
    };
    let r = e
        .send(post().header("X-Sandbox-Fault", "500"), "/leads")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (500, "internal_error"));
    assert_eq!(e.count_email("fault@example.com").await, 0);
    // Dropped after commit: the client sees no response at all.
    let err = post()
        .header("X-Sandbox-Fault", "drop-after-commit")
        .send()
        .await;
    let failed = match err {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(failed, "the response must not arrive");
    assert_eq!(
        e.count_email("fault@example.com").await,
        1,
        "the write committed"
    );
    let r = e.send(post(), "/leads").await;
    assert_eq!(
        (r.status.as_u16(), r.header("idempotent-replayed")),
        (201, Some("true"))
    );
    assert_eq!(e.count_email("fault@example.com").await, 1);
    // 500 on reads too (any operation documents 500).
    for (path, template) in [
        ("/me", "/me"),
        ("/leads", "/leads"),
        ("/webhooks", "/webhooks"),
        ("/exports/exp_x", "/exports/{export_id}"),
    ] {
        let r = e
            .send(
                e.req(Method::GET, path, &k)
                    .header("X-Sandbox-Fault", "500"),
                template,
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (500, "internal_error"));
    }
    // Latency by header still answers.
    let r = e
        .send(
            e.req(Method::GET, "/me", &k)
                .header("X-Sandbox-Fault", "latency=30"),
            "/me",
        )
        .await;
    assert_eq!(r.status, 200);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn exports_lifecycle_csv_and_signed_url() {
    let e = env().await;
    let k = e.full();
    e.create_lead(json!({"email": "csv1@example.com", "full_name": "Comma, \"Quoted\" Name"}))
        .await;
    e.create_lead(json!({"email": "csv2@example.com"})).await;
    let r = e
        .send(
            e.req(Method::POST, "/exports", &k)
                .header("Idempotency-Key", "exp-1")
                .json(&json!({"fields": ["id", "email", "full_name"]})),
            "/exports",
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.data()["status"], "queued");
    let id = r.data()["id"].as_str().unwrap().to_string();
    // Before completion the probe says not ready.
    let probe = e
        .send(
            e.req(Method::GET, &format!("/exports/{id}/download"), &k),
            "/exports/{export_id}/download",
        )
        .await;
    assert_eq!(probe.status, 200);
    assert_eq!(probe.data()["download_ready"], false);
    let ready = e.export_ready(&k, &id).await;
    assert_eq!(ready.data()["row_count"], 2);
    let job = e
        .send(
            e.req(Method::GET, &format!("/exports/{id}"), &k),
            "/exports/{export_id}",
        )
        .await;
    assert_eq!(job.data()["status"], "completed");
    let url = ready.data()["download_url"].as_str().unwrap().to_string();
    // The URL works without Authorization.
    let file = e.http.get(&url).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert!(file.headers().contains_key("x-request-id"));
    assert!(file.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .contains(".csv"));
    let csv = file.text().await.unwrap();
    assert_eq!(
        csv.len() as u64,
        ready.data()["byte_size"].as_u64().unwrap()
    );
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,email,full_name");
    assert_eq!(lines.len(), 3);
    assert!(csv.contains("\"Comma, \"\"Quoted\"\" Name\""));
    // Tampered or expired signatures.
    let tampered = url.replace("signature=", "signature=00");
    let r = e.http.get(&tampered).send().await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_signature");
    common::validate_pointer("/components/schemas/ErrorEnvelope", &v);
    // Idempotent replay of the export creation.
    let r = e
        .send(
            e.req(Method::POST, "/exports", &k)
                .header("Idempotency-Key", "exp-1")
                .json(&json!({"fields": ["id", "email", "full_name"]})),
            "/exports",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.data()["id"].as_str()),
        (202, Some(id.as_str()))
    );
    // Validation, not found, injected failure.
    let r = e
        .send(
            e.req(Method::POST, "/exports", &k)
                .json(&json!({"format": "xlsx", "fields": ["id", "id", "ssn"]})),
            "/exports",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_error"));
    assert_eq!(
        r.body["error"]["details"]["fields"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let r = e
        .send(
            e.req(Method::GET, "/exports/exp_missing", &k),
            "/exports/{export_id}",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::GET, "/exports/exp_missing/download", &k),
            "/exports/{export_id}/download",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::POST, "/exports", &k)
                .header("X-Sandbox-Fault", "export-fail"),
            "/exports",
        )
        .await;
    let fid = r.data()["id"].as_str().unwrap().to_string();
    let failed = e.export_status(&k, &fid, "failed").await;
    assert!(failed.data()["error_message"].is_string());
    e.sb.shutdown().await;
}

#[tokio::test]
async fn export_url_expires() {
    let e = env_with(SandboxConfig {
        seed_demo: true,
        export_delay_ms: 10,
        export_url_ttl: Duration::from_millis(1),
        ..Default::default()
    })
    .await;
    let k = e.full();
    let r = e
        .send(e.req(Method::POST, "/exports", &k), "/exports")
        .await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let ready = e.export_ready(&k, &id).await;
    assert_eq!(ready.data()["row_count"], 40);
    let url = ready.data()["download_url"].as_str().unwrap().to_string();
    // The URL's expiry is whole seconds; wait until it has passed.
    let v: Value = eventually(|| async {
        let r = e.http.get(&url).send().await.unwrap();
        if r.status() == 403 {
            Some(r.json().await.unwrap())
        } else {
            None
        }
    })
    .await;
    assert_eq!(v["error"]["code"], "download_url_expired");
    e.sb.shutdown().await;
}

#[tokio::test]
async fn webhooks_crud_secret_once_rotate_and_non_loopback_refusal() {
    let e = env().await;
    let k = e.full();
    let r = e
        .send(
            e.req(Method::POST, "/webhooks", &k)
                .header("Idempotency-Key", "wh-1")
                .json(&json!({"url": "https://example.com/webhooks/prospectb2b", "events": ["lead.created", "export.completed"]})),
            "/webhooks",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let secret = r.data()["signing_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(r.data()["signing_secret_prefix"].as_str().unwrap()));
    let id = r.data()["id"].as_str().unwrap().to_string();
    let got = e
        .send(
            e.req(Method::GET, &format!("/webhooks/{id}"), &k),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert!(got.data().get("signing_secret").is_none());
    assert!(!got.raw.contains(&secret));
    let list = e
        .send(e.req(Method::GET, "/webhooks", &k), "/webhooks")
        .await;
    assert_eq!(list.data().as_array().unwrap().len(), 1);
    assert!(!list.raw.contains(&secret));
    let patched = e
        .send(
            e.req(Method::PATCH, &format!("/webhooks/{id}"), &k)
                .json(&json!({"description": "CRM"})),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert_eq!(
        (
            patched.status.as_u16(),
            patched.data()["description"].as_str()
        ),
        (200, Some("CRM"))
    );
    let rotated = e
        .send(
            e.req(Method::POST, &format!("/webhooks/{id}/rotate-secret"), &k),
            "/webhooks/{webhook_id}/rotate-secret",
        )
        .await;
    assert_eq!(rotated.status, 200);
    assert_ne!(rotated.data()["signing_secret"].as_str().unwrap(), secret);

    // A lead event: the non-loopback delivery is recorded failed, no connection attempted.
    e.create_lead(json!({"email": "hook@example.com"})).await;
    let deliveries = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{id}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        (d.data()[0]["status"] == "failed").then_some(d)
    })
    .await;
    let d = &deliveries.data()[0];
    assert_eq!(d["attempt_count"], 0);
    assert!(d["error_message"].as_str().unwrap().contains("loopback"));
    assert!(d["response_status_code"].is_null());
    let did = d["id"].as_str().unwrap();
    let r = e
        .send(
            e.req(
                Method::POST,
                &format!("/webhooks/{id}/deliveries/{did}/retry"),
                &k,
            ),
            "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        )
        .await;
    assert_eq!(r.status, 202);
    let r = e
        .send(
            e.req(
                Method::POST,
                &format!("/webhooks/{id}/deliveries/del_nope/retry"),
                &k,
            ),
            "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        )
        .await;
    assert_eq!(r.status, 404);

    // Validation.
    for (body, field) in [
        (
            json!({"url": "http://example.com/hook", "events": ["lead.created"]}),
            "url",
        ),
        (
            json!({"url": "ftp://example.com", "events": ["lead.created"]}),
            "url",
        ),
        (
            json!({"url": "https://example.com", "events": ["lead.deleted"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://example.com", "events": []}),
            "events",
        ),
        (json!({"url": "https://example.com"}), "events"),
    ] {
        let r = e
            .send(
                e.req(Method::POST, "/webhooks", &k).json(&body),
                "/webhooks",
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "validation_error"),
            "{body}"
        );
        assert_eq!(
            r.body["error"]["details"]["fields"][0]["field"], field,
            "{body}"
        );
    }
    let del = e
        .send(
            e.req(Method::DELETE, &format!("/webhooks/{id}"), &k),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert_eq!(del.status, 204);
    assert!(del.raw.is_empty());
    let r = e
        .send(
            e.req(Method::GET, &format!("/webhooks/{id}"), &k),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::DELETE, &format!("/webhooks/{id}"), &k),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::GET, &format!("/webhooks/{id}/deliveries"), &k),
            "/webhooks/{webhook_id}/deliveries",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::PATCH, &format!("/webhooks/{id}"), &k)
                .json(&json!({})),
            "/webhooks/{webhook_id}",
        )
        .await;
    assert_eq!(r.status, 404);
    let r = e
        .send(
            e.req(Method::POST, &format!("/webhooks/{id}/rotate-secret"), &k),
            "/webhooks/{webhook_id}/rotate-secret",
        )
        .await;
    assert_eq!(r.status, 404);
    e.sb.shutdown().await;
}

#[tokio::test]
async fn data_file_keeps_state_and_keys_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite");
    let cfg = || SandboxConfig {
        data: Some(path.clone()),
        seed_demo: true,
        ..Default::default()
    };
    let e = env_with(cfg()).await;
    let keys = e.sb.keys.clone();
    let lead = e.create_lead(json!({"email": "persist@example.com"})).await;
    let first = e
        .send(
            e.req(Method::POST, "/leads", &e.full())
                .header("Idempotency-Key", "p-1")
                .json(&json!({"email": "p1@example.com"})),
            "/leads",
        )
        .await;
    e.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"read_only": true})),
    )
    .await;
    let imp = e
        .send(
            e.req(Method::POST, "/imports", &e.full())
                .header("Idempotency-Key", "p-imp")
                .json(&json!({"mode": "create", "leads": [{"email": "imported@example.com"}]})),
            "/imports",
        )
        .await;
    let imp_id = imp.data()["id"].as_str().unwrap().to_string();
    let job = import_done(&e, &e.full(), &imp_id).await;
    e.sb.shutdown().await;

    let e = env_with(cfg()).await;
    assert_eq!(e.sb.keys, keys);
    // The import job, its results and the e-mail index the upsert matches with are kept.
    let again = import_done(&e, &e.full(), &imp_id).await;
    assert_eq!(again.data(), job.data());
    let res = e
        .send(
            e.req(
                Method::GET,
                &format!("/imports/{imp_id}/results"),
                &e.full(),
            ),
            "/imports/{import_id}/results",
        )
        .await;
    assert_eq!(res.data()[0]["result"], "created");
    let up = e
        .send(
            e.req(Method::POST, "/leads/upsert", &e.full())
                .json(&json!({"email": "PERSIST@example.com"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!(up.body["result"], "unchanged");
    assert_eq!(up.data()["id"], lead["id"]);
    let id = lead["id"].as_str().unwrap();
    let r = e
        .send(
            e.req(Method::GET, &format!("/leads/{id}"), &e.full()),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(r.data(), &lead);
    assert_eq!(
        e.admin(Method::GET, "/state", None).await["leads"],
        43,
        "40 demo leads seeded once + 2 + 1 imported"
    );
    let again = e
        .send(
            e.req(Method::POST, "/leads", &e.full())
                .header("Idempotency-Key", "p-1")
                .json(&json!({"email": "p1@example.com"})),
            "/leads",
        )
        .await;
    assert_eq!(again.raw, first.raw);
    let me = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.leads_read), "/me")
        .await;
    assert_eq!(me.data()["read_only"], true);
    // The cursor of the old process still works (the signing key is kept too).
    let r = e
        .send(e.req(Method::GET, "/leads?limit=5", &e.full()), "/leads")
        .await;
    let c = r.body["pagination"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    e.sb.shutdown().await;
    let e = env_with(cfg()).await;
    let r = e
        .send(
            e.req(
                Method::GET,
                &format!("/leads?limit=5&cursor={c}"),
                &e.full(),
            ),
            "/leads",
        )
        .await;
    assert_eq!(r.status, 200);
    e.sb.shutdown().await;
}

#[test]
fn binary_prints_exactly_one_json_line() {
    use std::io::{BufRead, BufReader, Read};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pb2b-sandbox"))
        .args([
            "--port",
            "0",
            "--export-delay-ms",
            "10",
            "--rate-limit-per-minute",
            "100",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    let base = v["base_url"].as_str().unwrap().to_string();
    assert!(base.starts_with("http://127.0.0.1:") && base.ends_with("/api/public/v1"));
    for k in ["full", "read_only", "leads_read", "revoked", "expired"] {
        assert!(v["keys"][k].as_str().unwrap().starts_with("pb2b_test_"));
    }
    let full = v["keys"]["full"].as_str().unwrap().to_string();
    let admin = v["admin_url"].as_str().unwrap().to_string();
    assert_eq!(admin, base.replace("/api/public/v1", "/_sandbox"));
    let token = v["admin_token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "{token}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (status, with_token, without) = rt.block_on(async {
        let http = reqwest::Client::new();
        let me = http.get(format!("{base}/me")).bearer_auth(&full);
        let state = format!("{admin}/state");
        (
            me.send().await.unwrap().status().as_u16(),
            http.get(&state)
                .header("X-Sandbox-Admin-Token", &token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
            http.get(&state).send().await.unwrap().status().as_u16(),
        )
    });
    assert_eq!((status, with_token, without), (200, 200, 401));
    // Stop it by its own pid (SIGTERM), then check nothing else reached stdout.
    let _ = std::process::Command::new("kill")
        .arg(pid.to_string())
        .status();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful exit on SIGTERM: {exit:?}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "only one line on stdout");
}

#[tokio::test]
async fn completed_exports_expire() {
    let e = env_with(SandboxConfig {
        seed_demo: true,
        export_delay_ms: 10,
        export_ttl: Duration::from_millis(200),
        ..Default::default()
    })
    .await;
    let k = e.full();
    let r = e
        .send(e.req(Method::POST, "/exports", &k), "/exports")
        .await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let job = e.export_status(&k, &id, "expired").await;
    assert_eq!(job.data()["row_count"], 40);
    let p = e
        .send(
            e.req(Method::GET, &format!("/exports/{id}/download"), &k),
            "/exports/{export_id}/download",
        )
        .await;
    assert_eq!(
        (
            p.data()["download_ready"].as_bool(),
            p.data()["status"].as_str()
        ),
        (Some(false), Some("expired"))
    );
    assert!(p.data()["download_url"].is_null());
    e.sb.shutdown().await;
}

/// Every operation of the contract, with concrete ids, walked through each generic status it
/// documents: 401, 403, 404 (unknown id), 429, 500, and for bodies 400, 413, 415, 422, 409.
static KEYS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[tokio::test]
async fn every_operation_answers_each_documented_generic_status() {
    let e = env_with(SandboxConfig {
        seed_demo: false,
        export_delay_ms: 10,
        body_limit: 4096,
        webhook_retry_delays: vec![],
        ..Default::default()
    })
    .await;
    let k = e.full();
    let wh = e
        .send(
            e.req(Method::POST, "/webhooks", &k)
                .json(&json!({"url": "https://example.com/h", "events": ["lead.created"]})),
            "/webhooks",
        )
        .await;
    let wid = wh.data()["id"].as_str().unwrap().to_string();
    let lead = e.create_lead(json!({"email": "ops@example.com"})).await;
    let lid = lead["id"].as_str().unwrap().to_string();
    let exp = e
        .send(e.req(Method::POST, "/exports", &k), "/exports")
        .await;
    let eid = exp.data()["id"].as_str().unwrap().to_string();
    let imp = e
        .send(
            e.req(Method::POST, "/imports", &k)
                .header("Idempotency-Key", "generic-import")
                .json(&json!({"mode": "create", "leads": [{"email": "row@example.com"}]})),
            "/imports",
        )
        .await;
    assert_eq!(imp.status, 202, "{}", imp.raw);
    let iid = imp.data()["id"].as_str().unwrap().to_string();
    let did = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{wid}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        d.data()[0]["id"].as_str().map(String::from)
    })
    .await;
    // A key with no scopes at all: 403 everywhere.
    e.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"scopes": []})),
    )
    .await;
    let no_scope = e.sb.keys.leads_read.clone();

    let spec = common::spec();
    let mut checked = 0;
    for (template, ops) in spec["paths"].as_object().unwrap() {
        if template.starts_with("/files/") {
            continue;
        }
        for (m, op) in ops.as_object().unwrap() {
            let Ok(method) = m.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            if !op.is_object() || m == "parameters" {
                continue;
            }
            let path = |lead: &str, export: &str, webhook: &str, delivery: &str, import: &str| {
                template
                    .replace("{lead_id}", lead)
                    .replace("{export_id}", export)
                    .replace("{webhook_id}", webhook)
                    .replace("{delivery_id}", delivery)
                    .replace("{import_id}", import)
            };
            let real = path(&lid, &eid, &wid, &did, &iid);
            let has_body = op.get("requestBody").is_some();
            // POST /imports requires an Idempotency-Key: every request gets a fresh one, so the
            // status under test is the one asked for, not 400 invalid_idempotency_key.
            let key_required = (template.as_str(), m.as_str()) == ("/imports", "post");
            let base = |key: &str, p: &str| {
                let rb = e.req(method.clone(), p, key);
                if key_required {
                    let n = KEYS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rb.header("Idempotency-Key", format!("generic-{n}"))
                } else {
                    rb
                }
            };
            let body_ok = match (template.as_str(), m.as_str()) {
                ("/leads", "post") | ("/leads/upsert", "post") => json!({"email": "x@example.com"}),
                ("/imports", "post") => {
                    json!({"mode": "upsert", "leads": [{"email": "row2@example.com"}]})
                }
                ("/webhooks", "post") => {
                    json!({"url": "https://example.com/2", "events": ["lead.updated"]})
                }
                _ => json!({}),
            };
            let req = |key: &str, p: &str| {
                let rb = base(key, p);
                if has_body {
                    rb.json(&body_ok)
                } else {
                    rb
                }
            };
            for code in op["responses"].as_object().unwrap().keys() {
                let r = match code.as_str() {
                    "401" => Some(e.send(req("", &real), template).await),
                    "403" => Some(e.send(req(&no_scope, &real), template).await),
                    "404" => Some(
                        e.send(
                            req(
                                &k,
                                &path("lead_none", "exp_none", "wh_none", "del_none", "imp_none"),
                            ),
                            template,
                        )
                        .await,
                    ),
                    "429" => Some(
                        e.send(req(&k, &real).header("X-Sandbox-Fault", "429"), template)
                            .await,
                    ),
                    "500" => Some(
                        e.send(req(&k, &real).header("X-Sandbox-Fault", "500"), template)
                            .await,
                    ),
                    "400" if m != "get" => Some(
                        e.send(
                            base(&k, &real)
                                .header("Content-Type", "application/json")
                                .body("{oops"),
                            template,
                        )
                        .await,
                    ),
                    "400" => Some(e.send(base(&k, &format!("{real}?limit=0")), template).await),
                    "413" => Some(
                        e.send(
                            base(&k, &real)
                                .header("Content-Type", "application/json")
                                .body(vec![b' '; 8192]),
                            template,
                        )
                        .await,
                    ),
                    "415" => Some(
                        e.send(
                            base(&k, &real)
                                .header("Content-Type", "text/plain")
                                .body("hello"),
                            template,
                        )
                        .await,
                    ),
                    "422" => Some(
                        e.send(base(&k, &real).json(&json!({"no_such_field": 1})), template)
                            .await,
                    ),
                    "409" => {
                        let ik = format!("conflict-{template}");
                        let mut rb = e
                            .req(method.clone(), &real, &k)
                            .header("Idempotency-Key", ik.clone());
                        if has_body {
                            rb = rb.json(&body_ok);
                        }
                        let first = e.send(rb, template).await;
                        assert!(first.status.is_success(), "{m} {template}: {}", first.raw);
                        let other = e
                            .req(method.clone(), &real, &k)
                            .header("Idempotency-Key", ik)
                            .json(&json!({"different": true}));
                        Some(e.send(other, template).await)
                    }
                    c if c.starts_with('2') => None, // exercised by the operation's own tests
                    other => panic!("{m} {template}: no way to provoke the documented {other}"),
                };
                if let Some(r) = r {
                    assert_eq!(r.status.as_str(), code, "{m} {template}: {}", r.raw);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 80, "checked {checked}");
    e.sb.shutdown().await;
}

#[tokio::test]
async fn export_file_url_statuses() {
    let e = env_with(SandboxConfig {
        seed_demo: true,
        export_delay_ms: 10,
        ..Default::default()
    })
    .await;
    let k = e.full();
    let r = e
        .send(e.req(Method::POST, "/exports", &k), "/exports")
        .await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let ready = e.export_ready(&k, &id).await;
    let url = ready.data()["download_url"].as_str().unwrap().to_string();
    let template = "/files/exports/{export_id}";
    let ok = e.http.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    common::check_contract(&Method::GET, template, ok.status(), None);
    for (u, status, code) in [
        (
            url.replace("signature=", "signature=0"),
            403,
            "invalid_signature",
        ),
        (url.replace(&id, "exp_other"), 403, "invalid_signature"),
        (
            url.split('?').next().unwrap().to_string(),
            403,
            "invalid_signature",
        ),
    ] {
        let r = e.http.get(&u).send().await.unwrap();
        assert_eq!(r.status(), status);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], code);
        common::check_contract(
            &Method::GET,
            template,
            reqwest::StatusCode::from_u16(status).unwrap(),
            Some(&v),
        );
    }
    // A correctly signed URL for an export that does not exist: 404.
    e.admin(Method::POST, "/reset", Some(json!({"seed_demo": false})))
        .await;
    let r = e.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    common::check_contract(
        &Method::GET,
        template,
        reqwest::StatusCode::NOT_FOUND,
        Some(&v),
    );
    e.sb.shutdown().await;
}

/// Deterministic garbage (bodies, content types, paths, query strings, headers) never crashes the
/// server: every answer is a 4xx in the error envelope, and the server keeps serving.
#[tokio::test]
async fn garbage_input_never_crashes() {
    let e = env().await;
    let k = e.full();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let paths = [
        "/leads",
        "/leads/lead_x",
        "/exports",
        "/exports/e/download",
        "/webhooks",
        "/webhooks/w",
        "/webhooks/w/rotate-secret",
        "/webhooks/w/deliveries/d/retry",
        "/leads?limit=%ZZ",
        "/leads?cursor=c1..",
        "/leads?updated_after=9999-99-99T99:99:99Z",
        "/%E2%82",
        "/leads/%00",
    ];
    let seeds: [&[u8]; 8] = [
        b"{\"email\": 1e999999}",
        b"{\"email\": \"a@b.co\", \"custom_fields\": {\"\": null}}",
        b"{\"events\": [null, 1, {}], \"url\": []}",
        b"\"just a string\"",
        b"{\"a\":",
        b"{\"fields\": \"id\", \"filters\": {\"updated_after\": 5}}",
        b"\xef\xbb\xbf{}",
        b"{\"email\": \"\\ud800@example.com\"}",
    ];
    for i in 0..300u64 {
        let method = [Method::POST, Method::PATCH, Method::GET, Method::DELETE]
            [(next() % 4) as usize]
            .clone();
        let path = paths[(next() % paths.len() as u64) as usize];
        let mut body: Vec<u8> = seeds[(next() % seeds.len() as u64) as usize].to_vec();
        for _ in 0..(next() % 4) {
            let at = (next() as usize) % (body.len() + 1);
            body.insert(at, (next() % 256) as u8);
        }
        let ct = [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/problem+json",
        ][(next() % 4) as usize];
        let rb = e
            .req(method.clone(), path, &k)
            .header("Content-Type", ct)
            .header("Idempotency-Key", format!("fuzz-{}", next() % 5))
            .body(body.clone());
        let r = rb
            .send()
            .await
            .unwrap_or_else(|err| panic!("request {i} {method} {path} failed: {err}"));
        let status = r.status();
        assert!(r.headers().contains_key("x-request-id"));
        let text = r.text().await.unwrap();
        if status.is_success() {
            continue; // a mutation of a valid seed can be valid
        }
        assert!(
            status.is_client_error(),
            "{method} {path} {:?} -> {status}: {text}",
            String::from_utf8_lossy(&body)
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        common::validate_pointer("/components/schemas/ErrorEnvelope", &v);
    }
    let r = e.send(e.req(Method::GET, "/me", &k), "/me").await;
    assert_eq!(r.status, 200);
    e.sb.shutdown().await;
}

// ----- issue 14, item 4: only its own address, a per-run admin token, per-install keys -----

/// A web page reached through DNS rebinding sends its own name as `Host`: every surface (public
/// API, admin, export files) refuses it with 403 `forbidden` (documented for the sandbox), and
/// nothing changes. `127.0.0.1:PORT` and `localhost:PORT` are the sandbox's own names.
#[tokio::test]
async fn requests_addressed_to_another_host_are_refused() {
    let e = env().await;
    let port = e.sb.addr.port();
    e.create_lead(json!({"email": "kept@example.com"})).await;
    for host in [
        "evil.example".to_string(),
        format!("evil.example:{port}"),
        "127.0.0.1".to_string(),
        format!("127.0.0.1:{}", port.wrapping_add(1)),
        format!("localhost.evil.example:{port}"),
    ] {
        let r = e
            .send(
                e.req(Method::GET, "/me", &e.full()).header("Host", &host),
                "/me",
            )
            .await;
        assert_eq!((r.status.as_u16(), r.code()), (403, "forbidden"), "{host}");
        assert!(r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Host"));
        let r = e
            .send(
                e.req(Method::POST, "/leads", &e.full())
                    .header("Host", &host)
                    .json(&json!({"email": "rebound@example.com"})),
                "/leads",
            )
            .await;
        assert_eq!(r.status, 403, "{host}: {}", r.raw);
        let reset = e
            .http
            .post(format!("{}/reset", e.sb.admin_url))
            .header("Host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(reset.status(), 403, "{host}");
        let file = e
            .http
            .get(format!(
                "http://127.0.0.1:{port}/files/exports/exp_x?expires=1&signature=00"
            ))
            .header("Host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(file.status(), 403, "{host}");
    }
    assert_eq!(
        e.count_email("kept@example.com").await,
        1,
        "nothing was reset"
    );
    assert_eq!(e.count_email("rebound@example.com").await, 0);
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let r = e
            .send(
                e.req(Method::GET, "/me", &e.full()).header("Host", &host),
                "/me",
            )
            .await;
        assert_eq!(r.status, 200, "{host}: {}", r.raw);
    }
    e.sb.shutdown().await;
}

/// `/_sandbox/*` answers only with the run's admin token: a page (or another local user) that
/// can reach the port cannot reset or rewrite the sandbox.
#[tokio::test]
async fn admin_surface_needs_the_run_token() {
    let e = env().await;
    e.create_lead(json!({"email": "kept@example.com"})).await;
    for (path, method) in [
        ("/reset", Method::POST),
        ("/state", Method::GET),
        ("/health", Method::GET),
        ("/leads/bulk", Method::POST),
    ] {
        let url = format!("{}{path}", e.sb.admin_url);
        let r = e.http.request(method.clone(), &url).send().await.unwrap();
        assert_eq!(r.status(), 401, "{path} without a token");
        assert!(r.headers().contains_key("x-request-id"));
        let v: Value = r.json().await.unwrap();
        common::validate_pointer("/components/schemas/ErrorEnvelope", &v);
        assert_eq!(v["error"]["code"], "unauthorized");
        let r = e
            .http
            .request(method, &url)
            .header("X-Sandbox-Admin-Token", "0123456789abcdef")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{path} with a wrong token");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"]["code"], "forbidden");
    }
    assert_eq!(
        e.count_email("kept@example.com").await,
        1,
        "nothing was reset"
    );
    // The token of another run (another sandbox) is refused too.
    let other = env().await;
    assert_ne!(other.sb.admin_token, e.sb.admin_token);
    let r = e
        .http
        .post(format!("{}/reset", e.sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &other.sb.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    other.sb.shutdown().await;
    // With this run's token it works (Env::admin sends it).
    assert_eq!(e.admin(Method::POST, "/reset", None).await["reset"], true);
    assert_eq!(e.count_email("kept@example.com").await, 0);
    e.sb.shutdown().await;
}

/// Nobody's sandbox answers to the published keys unless asked to: each data folder gets its own
/// random keys, kept across restarts (the app's saved key still works), and an in-memory sandbox
/// gets new ones each start.
#[tokio::test]
async fn keys_are_random_per_data_folder_and_kept_across_restarts() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let cfg = |dir: &std::path::Path| SandboxConfig {
        data: Some(dir.join("sandbox.sqlite")),
        seed_demo: false,
        ..Default::default()
    };
    let first = env_with(cfg(a.path())).await;
    let keys_a = first.sb.keys.clone();
    first.sb.shutdown().await;
    let second = env_with(cfg(b.path())).await;
    let keys_b = second.sb.keys.clone();
    second.sb.shutdown().await;
    for (ka, kb) in [
        (&keys_a.full, &keys_b.full),
        (&keys_a.read_only, &keys_b.read_only),
        (&keys_a.leads_read, &keys_b.leads_read),
        (&keys_a.full_2, &keys_b.full_2),
    ] {
        assert_ne!(ka, kb, "two installs share a key");
        assert!(ka.starts_with("pb2b_test_"), "{ka}");
    }
    let again = env_with(cfg(a.path())).await;
    assert_eq!(again.sb.keys, keys_a, "a restart keeps the folder's keys");
    let r = again
        .send(again.req(Method::GET, "/me", &keys_a.full), "/me")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["workspace"]["id"], "ws_sandbox");
    again.sb.shutdown().await;

    let m1 = env().await;
    let m2 = env().await;
    assert_ne!(
        m1.sb.keys.full, m2.sb.keys.full,
        "in memory: new keys each start"
    );
    m1.sb.shutdown().await;
    m2.sb.shutdown().await;

    // documented_keys: the published deterministic keys, on any start; a folder that had random
    // keys switches to them (and back) keeping each key's settings.
    let documented = |data: Option<std::path::PathBuf>| SandboxConfig {
        data,
        seed_demo: false,
        documented_keys: true,
        ..Default::default()
    };
    let d1 = env_with(documented(None)).await;
    let d2 = env_with(documented(Some(a.path().join("sandbox.sqlite")))).await;
    assert_eq!(d1.sb.keys, d2.sb.keys);
    assert_ne!(d1.sb.keys.full, keys_a.full);
    d1.sb.shutdown().await;
    d2.sb.shutdown().await;
    let back = env_with(cfg(a.path())).await;
    assert_eq!(back.sb.keys, keys_a, "the folder's own keys again");
    back.sb.shutdown().await;
}

/// A data file saved by an older version holds the documented keys: the next start replaces
/// them with the folder's own, keeping each key's settings.
#[tokio::test]
async fn a_data_file_with_the_documented_keys_gets_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.sqlite");
    let old = env_with(SandboxConfig {
        data: Some(path.clone()),
        seed_demo: false,
        documented_keys: true,
        ..Default::default()
    })
    .await;
    let published = old.sb.keys.clone();
    old.admin(
        Method::POST,
        "/keys/leads_read",
        Some(json!({"read_only": true})),
    )
    .await;
    old.sb.shutdown().await;
    let e = env_with(SandboxConfig {
        data: Some(path),
        seed_demo: false,
        ..Default::default()
    })
    .await;
    assert_ne!(e.sb.keys.full, published.full);
    assert_ne!(e.sb.keys.leads_read, published.leads_read);
    let r = e
        .send(e.req(Method::GET, "/me", &published.full), "/me")
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "invalid_api_key"));
    let r = e
        .send(e.req(Method::GET, "/me", &e.sb.keys.leads_read), "/me")
        .await;
    assert_eq!(r.data()["read_only"], true, "the key's settings stay");
    e.sb.shutdown().await;
}

/// The stand-alone binary serves random keys unless it is started with `--documented-keys`.
#[test]
fn binary_keys_are_random_unless_documented_keys() {
    use std::io::{BufRead, BufReader};
    let ready = |extra: &[&str]| -> Value {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pb2b-sandbox"))
            .args(["--port", "0", "--no-demo"])
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let _ = std::process::Command::new("kill")
            .arg(child.id().to_string())
            .status();
        assert!(child.wait().unwrap().success());
        serde_json::from_str(&line).unwrap()
    };
    let (r1, r2) = (ready(&[]), ready(&[]));
    assert_ne!(r1["keys"]["full"], r2["keys"]["full"]);
    assert_ne!(r1["admin_token"], r2["admin_token"]);
    let (d1, d2) = (ready(&["--documented-keys"]), ready(&["--documented-keys"]));
    assert_eq!(d1["keys"], d2["keys"]);
    assert_ne!(
        d1["admin_token"], d2["admin_token"],
        "the admin token is per run"
    );
}

/// POST /leads/upsert: created (201), updated (200, only the fields sent), unchanged (200, no
/// updated_at move, no event), email never changed, null clears, 409 ambiguous_match, replays,
/// and the scope and read-only refusals.
#[tokio::test]
async fn upsert_creates_updates_leaves_unchanged_and_refuses_ambiguity() {
    let e = env().await;
    let k = e.full();
    let upsert = |body: Value| e.req(Method::POST, "/leads/upsert", &k).json(&body);
    let r = e
        .send(
            upsert(json!({"email": " Ada@Example.com\n", "full_name": "Ada", "phone": "+1 555"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["result"].as_str()),
        (201, Some("created")),
        "{}",
        r.raw
    );
    let id = r.data()["id"].as_str().unwrap().to_string();
    assert_eq!(r.data()["email"], "Ada@Example.com");
    let created_at = r.data()["updated_at"].clone();

    // Same values (other case and spaces in the match key): unchanged, updated_at stays.
    let r = e
        .send(
            upsert(json!({"email": "ada@example.COM", "full_name": "Ada"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["result"].as_str()),
        (200, Some("unchanged"))
    );
    assert_eq!(r.data()["id"], id.as_str());
    assert_eq!(r.data()["updated_at"], created_at);

    // Fields sent are written, absent ones kept, null clears; email itself never changes.
    let r = e
        .send(
            upsert(json!({"email": "ADA@example.com", "job_title": "CTO", "phone": null})),
            "/leads/upsert",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.body["result"].as_str()),
        (200, Some("updated"))
    );
    assert_eq!(r.data()["id"], id.as_str());
    assert_eq!(r.data()["email"], "Ada@Example.com");
    assert_eq!(r.data()["full_name"], "Ada");
    assert_eq!(r.data()["job_title"], "CTO");
    assert!(r.data()["phone"].is_null());
    assert!(r.data()["updated_at"].as_str() > created_at.as_str());
    assert_eq!(e.count_email("ada@example.com").await, 1);

    // Validation is the create's.
    let r = e
        .send(
            upsert(json!({"email": "", "full_name": "x"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (422, "validation_error"));
    assert_eq!(
        r.body["error"]["details"]["fields"][0]["code"],
        "invalid_email"
    );

    // Two leads with one email (POST /leads never de-duplicates): 409 ambiguous_match.
    let twin = e.create_lead(json!({"email": "ada@example.com"})).await;
    let r = e
        .send(
            upsert(json!({"email": "ada@example.com", "full_name": "B"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (409, "ambiguous_match"));
    let mut ids = vec![id.clone(), twin["id"].as_str().unwrap().to_string()];
    ids.sort();
    assert_eq!(r.body["error"]["details"]["lead_ids"], json!(ids));

    // Idempotent replay: same status, body and id, Idempotent-Replayed.
    let body = json!({"email": "grace@example.com"});
    let first = e
        .send(
            upsert(body.clone()).header("Idempotency-Key", "up-1"),
            "/leads/upsert",
        )
        .await;
    let again = e
        .send(
            upsert(body).header("Idempotency-Key", "up-1"),
            "/leads/upsert",
        )
        .await;
    assert_eq!((first.status.as_u16(), again.status.as_u16()), (201, 201));
    assert_eq!(again.raw, first.raw);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    // Scope leads.write and the read-only key.
    let r = e
        .send(
            e.req(Method::POST, "/leads/upsert", &e.sb.keys.read_only)
                .json(&json!({"email": "ro@example.com"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "read_only_key"));
    let r = e
        .send(
            e.req(Method::POST, "/leads/upsert", &e.sb.keys.leads_read)
                .json(&json!({"email": "ro@example.com"})),
            "/leads/upsert",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "insufficient_scope"));
    assert_eq!(
        r.body["error"]["details"]["required_scopes"],
        json!(["leads.write"])
    );
    assert_eq!(e.count_email("ro@example.com").await, 0);
    e.sb.shutdown().await;
}

/// PATCH /leads/{id}: a PATCH that changes nothing keeps updated_at (the upsert's rule).
#[tokio::test]
async fn patch_without_a_change_keeps_updated_at() {
    let e = env().await;
    let k = e.full();
    let lead = e
        .create_lead(json!({"email": "p@example.com", "full_name": "Pat"}))
        .await;
    let id = lead["id"].as_str().unwrap();
    let patch = |body: Value| {
        e.req(Method::PATCH, &format!("/leads/{id}"), &k)
            .json(&body)
    };
    let r = e
        .send(patch(json!({"full_name": " Pat "})), "/leads/{lead_id}")
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["updated_at"], lead["updated_at"]);
    let r = e
        .send(patch(json!({"full_name": "Patricia"})), "/leads/{lead_id}")
        .await;
    assert!(r.data()["updated_at"].as_str() > lead["updated_at"].as_str());
    e.sb.shutdown().await;
}

async fn import_done(e: &Env, key: &str, id: &str) -> Resp {
    eventually(|| async {
        let j = e
            .send(
                e.req(Method::GET, &format!("/imports/{id}"), key),
                "/imports/{import_id}",
            )
            .await;
        let s = j.data()["status"].as_str().unwrap_or("").to_string();
        (s == "completed" || s == "failed").then_some(j)
    })
    .await
}

/// POST /imports: 202 queued, rows processed one by one (created, updated, unchanged, failed
/// with the single request's error), counts, results paged in order, replays, the required
/// Idempotency-Key, 413 batch_too_large, the scope and the read-only key.
#[tokio::test]
async fn imports_process_each_row_and_page_their_results() {
    let e = env().await;
    let k = e.full();
    e.create_lead(json!({"email": "known@example.com", "full_name": "Known"}))
        .await;
    e.create_lead(json!({"email": "same@example.com", "full_name": "Same"}))
        .await;
    let body = json!({
        "mode": "upsert",
        "client_reference": "file.csv#1",
        "leads": [
            {"email": "new@example.com", "full_name": "New"},
            {"email": "KNOWN@example.com", "full_name": "Known Better"},
            {"email": "same@example.com", "full_name": "Same"},
            {"email": "not-an-email", "full_name": "Bad"},
            {"email": "other@example.com", "bogus": 1},
        ]
    });
    let post = |body: &Value, ik: &str| {
        e.req(Method::POST, "/imports", &k)
            .header("Idempotency-Key", ik)
            .json(body)
    };
    let r = e.send(post(&body, "imp-1"), "/imports").await;
    assert_eq!(r.status, 202, "{}", r.raw);
    assert_eq!(r.data()["status"], "queued");
    assert_eq!(r.data()["total"], 5);
    assert_eq!(r.data()["client_reference"], "file.csv#1");
    let id = r.data()["id"].as_str().unwrap().to_string();
    let job = import_done(&e, &k, &id).await;
    assert_eq!(job.data()["status"], "completed");
    let counts: Vec<u64> = ["created", "updated", "unchanged", "failed"]
        .iter()
        .map(|c| job.data()[c].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![1, 1, 1, 2]);
    assert!(job.data()["completed_at"].is_string());

    // Results in order, paged (limit up to 1000), each with the single request's outcome.
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/imports/{id}/results?limit=2&cursor={c}"),
            None => format!("/imports/{id}/results?limit=2"),
        };
        let p = e
            .send(e.req(Method::GET, &q, &k), "/imports/{import_id}/results")
            .await;
        assert_eq!(p.status, 200, "{}", p.raw);
        rows.extend(p.data().as_array().unwrap().clone());
        match p.body["pagination"]["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    let results: Vec<&str> = rows.iter().map(|r| r["result"].as_str().unwrap()).collect();
    assert_eq!(
        results,
        ["created", "updated", "unchanged", "failed", "failed"]
    );
    let indexes: Vec<u64> = rows.iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(indexes, [0, 1, 2, 3, 4]);
    assert_eq!(rows[3]["error"]["code"], "validation_error");
    assert_eq!(
        rows[3]["error"]["details"]["fields"][0]["code"],
        "invalid_email"
    );
    assert_eq!(
        rows[4]["error"]["details"]["fields"][0]["code"],
        "unknown_field"
    );
    assert!(rows[3]["lead_id"].is_null());
    let known = e
        .send(
            e.req(
                Method::GET,
                &format!("/leads/{}", rows[1]["lead_id"].as_str().unwrap()),
                &k,
            ),
            "/leads/{lead_id}",
        )
        .await;
    assert_eq!(known.data()["full_name"], "Known Better");
    assert_eq!(e.count_email("known@example.com").await, 1);
    assert_eq!(e.count_email("new@example.com").await, 1);
    let r = e
        .send(
            e.req(
                Method::GET,
                &format!("/imports/{id}/results?limit=1001"),
                &k,
            ),
            "/imports/{import_id}/results",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "validation_error"));
    let r = e
        .send(
            e.req(
                Method::GET,
                &format!("/imports/{id}/results?cursor=c1.AAAA.{}", "0".repeat(32)),
                &k,
            ),
            "/imports/{import_id}/results",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (400, "invalid_cursor"));

    // The same key and payload answer the same job, never a second one.
    let again = e.send(post(&body, "imp-1"), "/imports").await;
    assert_eq!(again.status, 202);
    assert_eq!(again.data()["id"], id.as_str());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(e.count_email("new@example.com").await, 1);
    let other = e
        .send(
            post(
                &json!({"mode": "create", "leads": [{"email": "x@example.com"}]}),
                "imp-1",
            ),
            "/imports",
        )
        .await;
    assert_eq!(
        (other.status.as_u16(), other.code()),
        (409, "idempotency_key_reused")
    );

    // Create mode never de-duplicates (as POST /leads).
    let r = e
        .send(
            post(
                &json!({"mode": "create", "leads": [{"email": "new@example.com"}]}),
                "imp-2",
            ),
            "/imports",
        )
        .await;
    let job = import_done(&e, &k, r.data()["id"].as_str().unwrap()).await;
    assert_eq!(job.data()["created"], 1);
    assert_eq!(e.count_email("new@example.com").await, 2);

    // The Idempotency-Key is required; its characters are the documented ones.
    let r = e
        .send(
            e.req(Method::POST, "/imports", &k)
                .json(&json!({"mode": "create", "leads": [{"email": "y@example.com"}]})),
            "/imports",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (400, "invalid_idempotency_key")
    );
    let r = e
        .send(
            post(
                &json!({"mode": "create", "leads": [{"email": "y@example.com"}]}),
                "with space",
            ),
            "/imports",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (400, "invalid_idempotency_key")
    );

    // 1..1000 rows: 413 batch_too_large above, 422 for none, non-object rows, a bad mode.
    let many: Vec<Value> = (0..1001)
        .map(|i| json!({"email": format!("m{i}@example.com")}))
        .collect();
    let r = e
        .send(
            post(&json!({"mode": "create", "leads": many}), "imp-big"),
            "/imports",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (413, "batch_too_large"));
    assert_eq!(r.body["error"]["details"]["max_rows"], 1000);
    for (bad, field) in [
        (json!({"mode": "create", "leads": []}), "leads"),
        (json!({"mode": "create", "leads": [1]}), "leads[0]"),
        (json!({"mode": "update", "leads": [{}]}), "mode"),
        (json!({"leads": [{}]}), "mode"),
    ] {
        let r = e.send(post(&bad, "imp-bad"), "/imports").await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (422, "validation_error"),
            "{bad}"
        );
        assert_eq!(
            r.body["error"]["details"]["fields"][0]["field"], field,
            "{bad}"
        );
    }
    assert_eq!(e.count_email("m0@example.com").await, 0);
    assert_eq!(e.count_email("y@example.com").await, 0);

    // leads.import scope; the read-only key may read jobs but not start one.
    let r = e
        .send(
            e.req(Method::POST, "/imports", &e.sb.keys.read_only)
                .header("Idempotency-Key", "imp-ro")
                .json(&body),
            "/imports",
        )
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (403, "read_only_key"));
    let r = e
        .send(
            e.req(Method::GET, &format!("/imports/{id}"), &e.sb.keys.read_only),
            "/imports/{import_id}",
        )
        .await;
    assert_eq!(r.status, 200);
    for (m, p, t) in [
        (Method::POST, "/imports".to_string(), "/imports"),
        (
            Method::GET,
            format!("/imports/{id}"),
            "/imports/{import_id}",
        ),
        (
            Method::GET,
            format!("/imports/{id}/results"),
            "/imports/{import_id}/results",
        ),
    ] {
        let mut rb = e.req(m.clone(), &p, &e.sb.keys.leads_read);
        if m == Method::POST {
            rb = rb.header("Idempotency-Key", "imp-scope").json(&body);
        }
        let r = e.send(rb, t).await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (403, "insufficient_scope"),
            "{p}"
        );
        assert_eq!(
            r.body["error"]["details"]["required_scopes"],
            json!(["leads.import"])
        );
    }
    e.sb.shutdown().await;
}

/// Faults on imports: 500 commits no job (a retry with the same key runs it once), a dropped
/// answer after commit is recovered by the replay, `import-fail` ends the job failed with no
/// row processed, and 429 with the rate limit.
#[tokio::test]
async fn import_faults_rate_limit_and_failed_jobs() {
    let e = env_with(SandboxConfig {
        seed_demo: false,
        rate_limit_per_minute: Some(1000),
        ..Default::default()
    })
    .await;
    let k = e.full();
    let body = json!({"mode": "create", "leads": [{"email": "f@example.com"}]});
    let post = |ik: &str, fault: &str| {
        let rb = e
            .req(Method::POST, "/imports", &k)
            .header("Idempotency-Key", ik)
            .json(&body);
        if fault.is_empty() {
            rb
        } else {
            rb.header("X-Sandbox-Fault", fault)
        }
    };
    let r = e.send(post("f-1", "500"), "/imports").await;
    assert_eq!((r.status.as_u16(), r.code()), (500, "internal_error"));
    assert_eq!(e.admin(Method::GET, "/state", None).await["leads"], 0);
    let r = e.send(post("f-1", ""), "/imports").await;
    assert_eq!(r.status, 202);
    assert!(r.header("x-ratelimit-limit").is_some());
    import_done(&e, &k, r.data()["id"].as_str().unwrap()).await;
    assert_eq!(e.count_email("f@example.com").await, 1);

    // Dropped after commit: the retry replays the same job.
    let dropped = post("f-2", "drop-after-commit").send().await;
    let lost = match dropped {
        Err(_) => true,
        Ok(resp) => resp.bytes().await.is_err(),
    };
    assert!(lost, "the answer was to be dropped");
    let r = e.send(post("f-2", ""), "/imports").await;
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    import_done(&e, &k, r.data()["id"].as_str().unwrap()).await;
    assert_eq!(e.count_email("f@example.com").await, 2);

    // A job that could not run.
    let r = e.send(post("f-3", "import-fail"), "/imports").await;
    let id = r.data()["id"].as_str().unwrap().to_string();
    let job = import_done(&e, &k, &id).await;
    assert_eq!(job.data()["status"], "failed");
    assert_eq!(job.data()["created"], 0);
    let res = e
        .send(
            e.req(Method::GET, &format!("/imports/{id}/results"), &k),
            "/imports/{import_id}/results",
        )
        .await;
    assert_eq!(res.data(), &json!([]));
    assert_eq!(e.count_email("f@example.com").await, 2);

    let r = e.send(post("f-4", "429"), "/imports").await;
    assert_eq!((r.status.as_u16(), r.code()), (429, "rate_limited"));
    assert!(r.header("retry-after").is_some());
    e.sb.shutdown().await;
}

/// The patterns the sandbox enforces are the document's, character for character.
#[test]
fn the_document_declares_the_patterns_the_sandbox_enforces() {
    let spec = common::spec();
    for (name, pattern) in pb2b_sandbox::rules::ALL {
        assert_eq!(
            spec["x-patterns"][name].as_str(),
            Some(pattern),
            "x-patterns.{name} differs from pb2b_sandbox::rules"
        );
    }
    let lead = &spec["components"]["schemas"]["LeadCreate"]["properties"];
    assert_eq!(lead["email"]["pattern"], spec["x-patterns"]["email"]);
    assert_eq!(
        lead["company_domain"]["pattern"],
        spec["x-patterns"]["host"]
    );
    assert_eq!(
        lead["linkedin_url"]["pattern"],
        spec["x-patterns"]["https_url"]
    );
    assert_eq!(
        spec["components"]["parameters"]["IdempotencyKey"]["schema"]["pattern"],
        spec["x-patterns"]["idempotency_key"]
    );
}
