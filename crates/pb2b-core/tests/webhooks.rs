//! Webhooks against the in-process sandbox over real HTTP (issue 7): the secret shown once,
//! real deliveries into the local test receiver with their verdicts, automatic and manual
//! retries, and the verifier against Node's implementation of the published recipe.

mod common;

use std::future::Future;
use std::time::Duration;

use common::*;
use pb2b_core::api::{Client, NewLead, PageQuery};
use pb2b_core::webhooks::{
    self, new_idempotency_key, sign, verify, DeliveryRow, ReceivedDelivery, ReceiverConfig,
    TestReceiver, VerdictKind, WebhookDraft, WebhookManager, DEFAULT_TOLERANCE,
};
use pb2b_sandbox::{Sandbox, SandboxConfig};

async fn fast_sandbox() -> Sandbox {
    sandbox_with(SandboxConfig {
        webhook_retry_delays: vec![Duration::from_millis(50); 4],
        ..SandboxConfig::default()
    })
    .await
}

/// Polls `probe` until it returns `Some`, for at most 20 s (a bound, not a timing assertion).
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn create_lead(client: &Client, n: usize) -> String {
    client
        .create_lead(
            &NewLead {
                email: format!("hook{n}-{}@example.com", fastrand::u32(..)),
                full_name: Some(format!("Hook Test {n}")),
                ..NewLead::default()
            },
            &format!("lead-{n}-{}", fastrand::u64(..)),
        )
        .await
        .expect("lead created")
        .data
        .id
}

async fn deliveries_of(m: &WebhookManager<'_>, webhook_id: &str) -> Vec<DeliveryRow> {
    m.deliveries(webhook_id, None, Some(100))
        .await
        .expect("deliveries")
        .deliveries
}

/// The settled (not pending) delivery of this webhook, once there is exactly one.
async fn settled_delivery(m: &WebhookManager<'_>, webhook_id: &str) -> DeliveryRow {
    eventually("the delivery to settle", || async {
        let rows = deliveries_of(m, webhook_id).await;
        (rows.len() == 1 && rows[0].status != "pending").then(|| rows[0].clone())
    })
    .await
}

#[tokio::test]
async fn create_returns_the_secret_once_and_list_and_get_never_again() {
    let sb = fast_sandbox().await;
    let (client, _) = client(&sb, &sb.keys.full);
    let m = WebhookManager::new(&client, true, None);
    let key = new_idempotency_key("create");
    let draft = WebhookDraft {
        url: "https://example.com/hooks/prospectb2b".into(),
        events: vec!["lead.created".into(), "export.completed".into()],
        description: Some("CRM sync".into()),
        enabled: None,
    };
    let created = m.create(&draft, &key).await.expect("created");
    let secret = created.secret.secret().expose().clone();
    assert!(secret.starts_with("whsec_") && secret.len() == 54, "shape");
    assert!(secret.starts_with(&created.endpoint.secret_prefix));
    assert_eq!(created.secret.webhook_id(), created.endpoint.id);
    assert_eq!(created.endpoint.events, draft.events);
    assert!(created.endpoint.enabled);
    let dialog = serde_json::to_value(created.dialog()).unwrap();
    assert_eq!(dialog["secret"]["secret"], secret.as_str());
    assert!(!serde_json::to_string(&created.endpoint)
        .unwrap()
        .contains(&secret));

    // The wrappers never hold it again...
    let listed = m.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].secret_prefix, created.endpoint.secret_prefix);
    let got = m.get(&created.endpoint.id).await.unwrap();
    assert_eq!(got, listed[0]);
    // ...and the API does not send it again (raw bodies of list and get).
    let page = client.list_webhooks(&PageQuery::default()).await.unwrap();
    assert!(page.data.iter().all(|w| w.signing_secret.is_none()));
    for path in [
        "webhooks".to_owned(),
        format!("webhooks/{}", created.endpoint.id),
    ] {
        let body = reqwest::Client::new()
            .get(format!("{}/{path}", sb.base_url))
            .bearer_auth(&sb.keys.full)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(body.contains(&created.endpoint.secret_prefix), "{body}");
        assert!(!body.contains(&secret), "{path} sent the secret again");
        assert!(!body.contains("\"signing_secret\""), "{body}");
    }

    // The same Idempotency-Key replays the create: one endpoint, not two.
    let replay = m.create(&draft, &key).await.expect("replayed");
    assert_eq!(replay.endpoint.id, created.endpoint.id);
    assert_eq!(m.list().await.unwrap().len(), 1);

    // Rotate: a new secret once; the old prefix is gone.
    let rotated = m
        .rotate_secret(&created.endpoint.id, &new_idempotency_key("rotate"))
        .await
        .unwrap();
    assert_ne!(rotated.secret.secret().expose(), &secret);
    assert_eq!(
        m.get(&created.endpoint.id).await.unwrap().secret_prefix,
        rotated.secret.prefix()
    );

    // Update and delete.
    let updated = m
        .update(
            &created.endpoint.id,
            &webhooks::WebhookChanges {
                enabled: Some(false),
                events: Some(vec!["lead.updated".into()]),
                description: Some(String::new()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(!updated.enabled);
    assert_eq!(updated.events, vec!["lead.updated"]);
    assert_eq!(updated.description, None);
    m.delete(&created.endpoint.id).await.unwrap();
    assert!(m.list().await.unwrap().is_empty());
    let gone = m.get(&created.endpoint.id).await.unwrap_err();
    assert_eq!(gone.code, "not_found");
}

#[tokio::test]
async fn urls_and_events_are_checked_before_anything_is_sent() {
    let sb = fast_sandbox().await;
    let (client, rec) = client(&sb, &sb.keys.full);
    let draft = |url: &str, events: &[&str]| WebhookDraft {
        url: url.into(),
        events: events.iter().map(|e| e.to_string()).collect(),
        ..Default::default()
    };
    let real = WebhookManager::new(&client, false, None);
    let err = real
        .create(&draft("http://127.0.0.1:9/x", &["lead.created"]), "k1")
        .await
        .unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert!(err.message.contains("sandbox"), "{}", err.message);
    let sandbox = WebhookManager::new(&client, true, None);
    for (url, events) in [
        ("http://example.com/x", &["lead.created"][..]),
        ("ftp://127.0.0.1/x", &["lead.created"][..]),
        ("https://example.com/x", &["lead.deleted"][..]),
        ("https://example.com/x", &[][..]),
    ] {
        let err = sandbox.create(&draft(url, events), "k2").await.unwrap_err();
        assert_eq!(err.code, "invalid_input", "{url} {events:?}");
    }
    assert!(rec.all().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_test_receiver_gets_real_deliveries_and_each_verifies() {
    let sb = fast_sandbox().await;
    let (client, _) = client(&sb, &sb.keys.full);
    let m = WebhookManager::new(&client, true, None);
    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let mut live = receiver.subscribe();
    let created = m
        .create_for_receiver(
            &receiver,
            &["lead.created".to_owned()],
            &new_idempotency_key("create"),
        )
        .await
        .unwrap();
    let secret = created.secret.secret().clone();

    let mut lead_ids = Vec::new();
    for n in 0..3 {
        lead_ids.push(create_lead(&client, n).await);
    }
    let mut got: Vec<ReceivedDelivery> = Vec::new();
    while got.len() < 3 {
        let d = tokio::time::timeout(Duration::from_secs(20), live.next_delivery())
            .await
            .expect("a delivery arrives")
            .expect("the live stream is open");
        got.push(d);
    }
    for d in &got {
        assert_eq!(d.event.as_deref(), Some("lead.created"));
        assert_eq!(d.verdict.kind, VerdictKind::Valid, "{:?}", d.verdict);
        assert!(d.verdict.valid);
        assert_eq!(d.path, webhooks::RECEIVER_PATH);
        assert_eq!(d.answered_status, 200);
        let body: serde_json::Value = serde_json::from_slice(&d.raw_body).unwrap();
        assert_eq!(body["type"], "lead.created");
        assert!(lead_ids.contains(&body["data"]["object"]["id"].as_str().unwrap().to_owned()));

        // The same delivery fails when the body is tampered with or the timestamp is old.
        let ts = d.timestamp.clone().unwrap();
        let sig = d.signature.clone().unwrap();
        let mut tampered = d.raw_body.clone();
        let at = tampered.iter().position(|b| *b == b'H').unwrap();
        tampered[at] = b'h';
        let now = webhooks::now_unix();
        let v = verify(&secret, &ts, &sig, &tampered, DEFAULT_TOLERANCE, now);
        assert_eq!(v.kind, VerdictKind::Mismatch, "{v:?}");
        let later = ts.parse::<i64>().unwrap() + 3600;
        let v = verify(&secret, &ts, &sig, &d.raw_body, DEFAULT_TOLERANCE, later);
        assert_eq!(v.kind, VerdictKind::OutsideTolerance, "{v:?}");
        assert!(
            v.reason.contains("1 h ago") || v.reason.contains("60 min ago"),
            "{}",
            v.reason
        );
        // A correctly signed but old delivery (a replay) fails too.
        let old = (now - 3600).to_string();
        let replay = format!("v1={}", sign(&secret, &old, &d.raw_body));
        let v = verify(&secret, &old, &replay, &d.raw_body, DEFAULT_TOLERANCE, now);
        assert_eq!(v.kind, VerdictKind::OutsideTolerance);
        let wrong = pb2b_core::secret::SecretString::new("whsec_wrong".into());
        let v = verify(&wrong, &ts, &sig, &d.raw_body, DEFAULT_TOLERANCE, now);
        assert_eq!(v.kind, VerdictKind::Mismatch);
    }
    assert_eq!(
        receiver.deliveries(),
        got,
        "the list and the live stream agree"
    );

    // The API's delivery records name the same deliveries, all succeeded.
    let rows = eventually("3 succeeded deliveries", || async {
        let rows = deliveries_of(&m, &created.endpoint.id).await;
        (rows.len() == 3 && rows.iter().all(|r| r.status == "succeeded")).then_some(rows)
    })
    .await;
    for r in &rows {
        assert!(got
            .iter()
            .any(|d| d.delivery_id.as_deref() == Some(r.id.as_str())));
        assert_eq!(r.attempt_count, 1);
        assert_eq!(r.response_status_code, Some(200));
        assert!(r.status_text.starts_with("Delivered"), "{}", r.status_text);
    }

    // A receiver with the wrong secret says so.
    receiver.set_secret(Some(pb2b_core::secret::SecretString::new(
        "whsec_0000".into(),
    )));
    create_lead(&client, 9).await;
    let d = tokio::time::timeout(Duration::from_secs(20), live.next_delivery())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.verdict.kind, VerdictKind::Mismatch);
    receiver.stop().await;
}

#[tokio::test]
async fn a_sink_answering_500_then_200_shows_two_attempts_and_ends_delivered() {
    let sb = fast_sandbox().await;
    let (client, _) = client(&sb, &sb.keys.full);
    let m = WebhookManager::new(&client, true, None);
    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let created = m
        .create_for_receiver(&receiver, &["lead.created".to_owned()], "k-500")
        .await
        .unwrap();
    receiver.answer_next_with(&[500]);
    create_lead(&client, 1).await;
    let row = settled_delivery(&m, &created.endpoint.id).await;
    assert_eq!(row.status, "succeeded");
    assert_eq!(row.attempt_count, 2);
    assert_eq!(row.response_status_code, Some(200));
    assert_eq!(row.next_attempt_at, None);
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got.iter().map(|d| d.answered_status).collect::<Vec<_>>(),
        vec![500, 200]
    );
    assert!(got
        .iter()
        .all(|d| d.delivery_id.as_deref() == Some(row.id.as_str()) && d.verdict.valid));
    receiver.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_is_retried_by_hand_and_re_delivered() {
    let sb = fast_sandbox().await;
    let (client, _) = client(&sb, &sb.keys.full);
    let m = WebhookManager::new(&client, true, None);
    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let created = m
        .create_for_receiver(&receiver, &["lead.created".to_owned()], "k-410")
        .await
        .unwrap();
    // A 4xx other than 408/429 fails at once, with no automatic retry.
    receiver.answer_next_with(&[410]);
    create_lead(&client, 1).await;
    let failed = settled_delivery(&m, &created.endpoint.id).await;
    assert_eq!(failed.status, "failed");
    assert_eq!(failed.attempt_count, 1);
    assert_eq!(failed.response_status_code, Some(410));
    assert!(failed.error_message.is_some());
    assert!(failed
        .response_body_snippet
        .as_deref()
        .unwrap_or_default()
        .contains("test receiver"));
    assert!(
        failed.status_text.starts_with("Failed after 1 attempt"),
        "{}",
        failed.status_text
    );

    let retried = m
        .retry_delivery(
            &created.endpoint.id,
            &failed.id,
            &new_idempotency_key("retry"),
        )
        .await
        .unwrap();
    assert_eq!(retried.id, failed.id);
    let done = eventually("the retried delivery to succeed", || async {
        let rows = deliveries_of(&m, &created.endpoint.id).await;
        rows.into_iter()
            .find(|r| r.id == failed.id && r.status == "succeeded")
    })
    .await;
    assert_eq!(done.attempt_count, 2);
    assert_eq!(done.response_status_code, Some(200));
    let got = receiver.deliveries();
    assert_eq!(got.len(), 2);
    assert!(got
        .iter()
        .all(|d| d.delivery_id.as_deref() == Some(failed.id.as_str())));
    assert!(got.iter().all(|d| d.verdict.valid));

    let missing = m
        .retry_delivery(&created.endpoint.id, "del_doesnotexist", "k-missing")
        .await
        .unwrap_err();
    assert_eq!(missing.code, "not_found");
    receiver.stop().await;
}

#[tokio::test]
async fn the_receiver_keeps_only_the_last_n() {
    let receiver = TestReceiver::start(ReceiverConfig {
        capacity: 3,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let http = reqwest::Client::new();
    for n in 0..5 {
        let status = http
            .post(receiver.url())
            .header("X-ProspectB2B-Timestamp", "1")
            .header("X-ProspectB2B-Signature", "v1=nothex")
            .body(format!("{{\"n\":{n}}}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let kept = receiver.deliveries();
    assert_eq!(
        kept.iter().map(|d| d.seq).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert_eq!(kept[2].body(), "{\"n\":4}");
    assert_eq!(kept[0].verdict.kind, VerdictKind::NoSecret);
    receiver.set_secret(Some(pb2b_core::secret::SecretString::new("whsec_x".into())));
    http.post(receiver.url())
        .header("X-ProspectB2B-Timestamp", "1")
        .header("X-ProspectB2B-Signature", "v1=nothex")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(
        receiver.deliveries()[2].verdict.kind,
        VerdictKind::Malformed
    );
    let url = receiver.url();
    receiver.stop().await;
    assert!(http.post(url).body("{}").send().await.is_err(), "stopped");
}

/// Node's `crypto.createHmac('sha256', secret).update(timestamp + '.' + rawBody).digest('hex')`
/// over generated cases, compared with [`sign`] and [`verify`].
#[test]
fn the_verifier_agrees_with_node() {
    let mut rng = fastrand::Rng::with_seed(7);
    let alphabet: Vec<char> = "abcdefXYZ0189 {}[]\":,.\n\t\\/é€😀ü=&_-".chars().collect();
    let mut cases = Vec::new();
    for i in 0..64 {
        let secret = format!(
            "whsec_{}",
            (0..48).map(|_| rng.digit(16)).collect::<String>()
        );
        let secret = if i % 8 == 7 {
            format!("{secret}é") // non-ASCII secrets are UTF-8 bytes on both sides
        } else {
            secret
        };
        let ts = rng.i64(0..4_000_000_000).to_string();
        let len = if i == 0 { 0 } else { rng.usize(0..400) };
        let body: String = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        cases.push(serde_json::json!({"secret": secret, "ts": ts, "body": body}));
    }
    let script = r#"
        const crypto = require('crypto');
        const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
        for (const c of cases) {
          console.log(crypto.createHmac('sha256', c.secret).update(c.ts + '.' + c.body).digest('hex'));
        }
    "#;
    let mut child = std::process::Command::new("node")
        .arg("-e")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node is installed (scripts/test requires Node.js 20+)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(&cases).unwrap().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let node: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(node.len(), cases.len());
    for (c, node_hex) in cases.iter().zip(&node) {
        let secret = pb2b_core::secret::SecretString::new(c["secret"].as_str().unwrap().into());
        let ts = c["ts"].as_str().unwrap();
        let body = c["body"].as_str().unwrap().as_bytes();
        assert_eq!(&sign(&secret, ts, body), node_hex, "{c}");
        let now: i64 = ts.parse().unwrap();
        let v = verify(
            &secret,
            ts,
            &format!("v1={node_hex}"),
            body,
            DEFAULT_TOLERANCE,
            now,
        );
        assert!(v.valid, "{c} {v:?}");
        let mut flipped = body.to_vec();
        flipped.push(b' ');
        let v = verify(
            &secret,
            ts,
            &format!("v1={node_hex}"),
            &flipped,
            DEFAULT_TOLERANCE,
            now,
        );
        assert_eq!(v.kind, VerdictKind::Mismatch);
    }
}

/// Benchmark (not a test: `bench/webhooks/run.sh` runs it in release and prints the figures for
/// docs/PERFORMANCE.md). Bounded: 200 leads, 100,000 verifications, 127.0.0.1 only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run bench/webhooks/run.sh"]
async fn bench_webhooks() {
    let secret = pb2b_core::secret::SecretString::new(format!("whsec_{}", "ab".repeat(24)));
    let body = vec![b'x'; 1024];
    let sig = format!("v1={}", sign(&secret, "1700000000", &body));
    let n = 100_000;
    let started = std::time::Instant::now();
    let mut valid = 0;
    for _ in 0..n {
        valid += usize::from(
            verify(
                &secret,
                "1700000000",
                &sig,
                &body,
                DEFAULT_TOLERANCE,
                1_700_000_000,
            )
            .valid,
        );
    }
    let per = started.elapsed() / n;
    assert_eq!(valid, n as usize);
    println!(
        "BENCH verify 1 KiB body: {:.2} µs per verification",
        per.as_nanos() as f64 / 1000.0
    );

    let sb = fast_sandbox().await;
    let (client, _) = client(&sb, &sb.keys.full);
    let m = WebhookManager::new(&client, true, None);
    let receiver = TestReceiver::start(ReceiverConfig {
        capacity: 1000,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    m.create_for_receiver(&receiver, &["lead.created".to_owned()], "bench")
        .await
        .unwrap();
    let leads = 200;
    let started = std::time::Instant::now();
    for i in 0..leads {
        create_lead(&client, i).await;
    }
    let created = started.elapsed();
    let all = eventually("all deliveries", || async {
        let got = receiver.deliveries();
        (got.len() >= leads).then_some(got)
    })
    .await;
    let total = started.elapsed();
    assert!(all.iter().all(|d| d.verdict.valid));
    println!(
        "BENCH {leads} leads created in {} ms; all {leads} deliveries received and verified by the test receiver {} ms after the first create ({:.0} deliveries/s end to end)",
        created.as_millis(),
        total.as_millis(),
        leads as f64 / total.as_secs_f64()
    );
    receiver.stop().await;
}

// ----- issue 14, item 4: the receiver answers only its own address, within a byte bound -----

/// A page reached through DNS rebinding names its own host: the receiver refuses it and
/// records nothing.
#[tokio::test]
async fn the_receiver_refuses_another_host() {
    let receiver = TestReceiver::start(ReceiverConfig::default())
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let port = receiver.addr().port();
    for host in ["evil.example".to_string(), format!("evil.example:{port}")] {
        let status = http
            .post(receiver.url())
            .header("Host", &host)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 403, "{host}");
    }
    assert!(receiver.deliveries().is_empty(), "nothing recorded");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        let status = http
            .post(receiver.url())
            .header("Host", &host)
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{host}");
    }
    assert_eq!(receiver.deliveries().len(), 2);
    receiver.stop().await;
}

/// 300 deliveries of 1 MiB: what the receiver keeps stays within its byte bound (each body
/// kept once), and the newest is always kept.
#[tokio::test]
async fn the_receiver_stays_within_its_byte_bound() {
    let config = ReceiverConfig::default();
    let bound = config.max_stored_bytes;
    let receiver = TestReceiver::start(config).await.unwrap();
    let http = reqwest::Client::new();
    let body = vec![b'x'; 1024 * 1024 - 64];
    for n in 0..300u32 {
        let mut b = body.clone();
        b[..4].copy_from_slice(&n.to_be_bytes());
        let status = http
            .post(receiver.url())
            .body(b)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        assert!(
            receiver.stored_bytes() <= bound,
            "{} > {bound}",
            receiver.stored_bytes()
        );
    }
    let kept = receiver.deliveries();
    let held: usize = kept.iter().map(|d| d.raw_body.len()).sum();
    assert!(held <= bound, "{held} > {bound}");
    assert!(kept.len() < 300 && !kept.is_empty());
    let last = kept.last().unwrap();
    assert_eq!(last.seq, 300);
    assert_eq!(&last.raw_body[..4], &299u32.to_be_bytes());
    receiver.stop().await;
}

/// A live subscriber that falls behind is told how many deliveries it missed, then keeps
/// getting the later ones (the live view never stops silently).
#[tokio::test]
async fn a_lagging_live_subscriber_gets_a_notice_and_later_deliveries() {
    let receiver = TestReceiver::start(ReceiverConfig {
        capacity: 10,
        ..ReceiverConfig::default()
    })
    .await
    .unwrap();
    let mut live = receiver.subscribe();
    let http = reqwest::Client::new();
    let post = |n: u32| {
        http.post(receiver.url())
            .body(format!("{{\"n\":{n}}}"))
            .send()
    };
    for n in 0..100 {
        assert_eq!(post(n).await.unwrap().status(), 200);
    }
    // 100 arrived while nobody read; only the last 10 are kept.
    match live.next().await.unwrap() {
        webhooks::LiveEvent::Skipped { count } => assert_eq!(count, 90),
        other => panic!("expected a lag notice first, got {other:?}"),
    }
    for seq in 91..=100 {
        match live.next().await.unwrap() {
            webhooks::LiveEvent::Delivery(d) => assert_eq!(d.seq, seq),
            other => panic!("expected delivery {seq}, got {other:?}"),
        }
    }
    assert_eq!(post(100).await.unwrap().status(), 200);
    match live.next().await.unwrap() {
        webhooks::LiveEvent::Delivery(d) => {
            assert_eq!((d.seq, d.body().as_ref()), (101, "{\"n\":100}"))
        }
        other => panic!("expected delivery 101, got {other:?}"),
    }
    receiver.stop().await;
    assert!(live.next().await.is_none(), "ends when the receiver stops");
}
