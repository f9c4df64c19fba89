//! Tests that drive the sandbox from outside Rust: real webhook deliveries checked by independent
//! Node and Python implementations of the published signature recipe, and the vendor quickstart's
//! curl, Node fetch and Python requests snippets run as written (base URL and key swapped, and the
//! saved page's e-mail placeholder replaced by ada@example.com).

mod common;

use axum::body::Bytes;
use axum::http::HeaderMap;
use common::{env, eventually};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Received {
    hits: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail_first: usize,
}

/// A webhook receiver on 127.0.0.1 that fails the first `fail_first` deliveries with a 503.
async fn receiver(fail_first: usize) -> (String, Received) {
    let rec = Received {
        hits: Arc::default(),
        fail_first,
    };
    let state = rec.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let state = state.clone();
            async move {
                let mut hits = state.hits.lock().unwrap();
                hits.push((headers, body));
                if hits.len() <= state.fail_first {
                    (
                        axum::http::StatusCode::SERVICE_UNAVAILABLE,
                        "busy, try later".to_string(),
                    )
                } else {
                    (
                        axum::http::StatusCode::OK,
                        format!("received #{}", hits.len()),
                    )
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://127.0.0.1:{}/hook", addr.port()), rec)
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name)
}

/// Runs both independent verifiers; returns (node_ok, python_ok).
fn verify_externally(secret: &str, ts: &str, sig: &str, body: &[u8]) -> (bool, bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("body.json");
    std::fs::write(&file, body).unwrap();
    let node = Command::new("node")
        .arg(script("verify_signature.cjs"))
        .args([secret, ts, sig])
        .arg(&file)
        .output()
        .expect("node is installed");
    let py = Command::new("python3")
        .arg(script("verify_signature.py"))
        .args([secret, ts, sig])
        .arg(&file)
        .output()
        .expect("python3 is installed");
    let node_out = String::from_utf8_lossy(&node.stdout).trim().to_string();
    let py_out = String::from_utf8_lossy(&py.stdout).trim().to_string();
    assert!(
        node_out == "valid" || node_out == "invalid",
        "node said {node_out:?} {:?}",
        node.stderr
    );
    assert!(
        py_out == "valid" || py_out == "invalid",
        "python said {py_out:?}"
    );
    (node.status.success(), py.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_signed_retried_recorded_and_verifiable_independently() {
    let e = env().await;
    let k = e.full();
    let (url, rec) = receiver(1).await;
    let r = e
        .send(
            e.req(Method::POST, "/webhooks", &k).json(&json!({"url": url, "events": ["lead.created", "lead.updated", "export.completed"]})),
            "/webhooks",
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.raw);
    let secret = r.data()["signing_secret"].as_str().unwrap().to_string();
    let wid = r.data()["id"].as_str().unwrap().to_string();
    let lead = e
        .create_lead(json!({"email": "webhook@example.com", "full_name": "Hook Ada"}))
        .await;

    // First attempt gets 503, the automatic retry succeeds.
    let delivery = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{wid}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        (d.data()[0]["status"] == "succeeded").then(|| d.data()[0].clone())
    })
    .await;
    assert_eq!(delivery["attempt_count"], 2);
    assert_eq!(delivery["response_status_code"], 200);
    assert_eq!(delivery["response_body_snippet"], "received #2");
    assert!(delivery["error_message"].is_null());
    assert_eq!(delivery["event_type"], "lead.created");

    let hits = rec.hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 2);
    for (headers, body) in &hits {
        let h = |n: &str| headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(h("x-prospectb2b-event"), "lead.created");
        assert_eq!(
            h("x-prospectb2b-delivery"),
            delivery["id"].as_str().unwrap()
        );
        let ts = h("x-prospectb2b-timestamp");
        assert!(ts.parse::<u64>().is_ok());
        let sig = h("x-prospectb2b-signature");
        assert_eq!(
            verify_externally(&secret, &ts, &sig, body),
            (true, true),
            "genuine delivery verifies"
        );
        // A tampered body, a wrong secret or another timestamp fail both verifiers.
        let tampered = String::from_utf8(body.to_vec())
            .unwrap()
            .replace("Hook Ada", "Hook Eve");
        assert_eq!(
            verify_externally(&secret, &ts, &sig, tampered.as_bytes()),
            (false, false)
        );
        assert_eq!(
            verify_externally("whsec_wrong", &ts, &sig, body),
            (false, false)
        );
        let other_ts = (ts.parse::<u64>().unwrap() + 1).to_string();
        assert_eq!(
            verify_externally(&secret, &other_ts, &sig, body),
            (false, false)
        );
        let event: Value = serde_json::from_slice(body).unwrap();
        common::validate_pointer("/components/schemas/Event", &event);
        assert_eq!(event["data"]["object"], lead);
    }

    // Manual retry makes one more attempt.
    let did = delivery["id"].as_str().unwrap().to_string();
    let r = e
        .send(
            e.req(
                Method::POST,
                &format!("/webhooks/{wid}/deliveries/{did}/retry"),
                &k,
            )
            .header("Idempotency-Key", "retry-1"),
            "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.data()["status"].as_str()),
        (202, Some("pending"))
    );
    let again = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{wid}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        let d = d
            .data()
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == did.as_str())
            .cloned()
            .unwrap();
        (d["attempt_count"] == 3 && d["status"] == "succeeded").then_some(d)
    })
    .await;
    assert_eq!(again["response_body_snippet"], "received #3");

    // After rotation, deliveries are signed with the new secret only.
    let rotated = e
        .send(
            e.req(Method::POST, &format!("/webhooks/{wid}/rotate-secret"), &k),
            "/webhooks/{webhook_id}/rotate-secret",
        )
        .await;
    let new_secret = rotated.data()["signing_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let id = lead["id"].as_str().unwrap();
    e.send(
        e.req(Method::PATCH, &format!("/leads/{id}"), &k)
            .json(&json!({"status": "contacted"})),
        "/leads/{lead_id}",
    )
    .await;
    let (headers, body) = eventually(|| async {
        let hits = rec.hits.lock().unwrap().clone();
        hits.into_iter()
            .find(|(h, _)| h.get("x-prospectb2b-event").unwrap() == "lead.updated")
    })
    .await;
    let ts = headers["x-prospectb2b-timestamp"].to_str().unwrap();
    let sig = headers["x-prospectb2b-signature"].to_str().unwrap();
    assert_eq!(verify_externally(&new_secret, ts, sig, &body), (true, true));
    assert_eq!(verify_externally(&secret, ts, sig, &body), (false, false));
    e.sb.shutdown().await;
}

/// The import events: `import.completed` and `import.failed` go to subscribed webhooks signed
/// as every delivery (checked by the Node and Python verifiers), with the job as `data.object`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_events_are_signed_deliveries_of_the_job() {
    let e = env().await;
    let k = e.full();
    let (url, rec) = receiver(0).await;
    let r = e
        .send(
            e.req(Method::POST, "/webhooks", &k)
                .json(&json!({"url": url, "events": ["import.completed", "import.failed"]})),
            "/webhooks",
        )
        .await;
    let secret = r.data()["signing_secret"].as_str().unwrap().to_string();
    let body =
        json!({"mode": "upsert", "leads": [{"email": "event@example.com"}, {"email": "nope"}]});
    let done = e
        .send(
            e.req(Method::POST, "/imports", &k)
                .header("Idempotency-Key", "events-1")
                .json(&body),
            "/imports",
        )
        .await;
    let failed = e
        .send(
            e.req(Method::POST, "/imports", &k)
                .header("Idempotency-Key", "events-2")
                .header("X-Sandbox-Fault", "import-fail")
                .json(&body),
            "/imports",
        )
        .await;
    let hits = eventually(|| async {
        let hits = rec.hits.lock().unwrap().clone();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    for (event_type, job) in [("import.completed", &done), ("import.failed", &failed)] {
        let (headers, raw) = hits
            .iter()
            .find(|(h, _)| h.get("x-prospectb2b-event").unwrap() == event_type)
            .unwrap_or_else(|| panic!("no {event_type} delivered"));
        let ts = headers["x-prospectb2b-timestamp"].to_str().unwrap();
        let sig = headers["x-prospectb2b-signature"].to_str().unwrap();
        assert_eq!(verify_externally(&secret, ts, sig, raw), (true, true));
        let event: Value = serde_json::from_slice(raw).unwrap();
        common::validate_pointer("/components/schemas/Event", &event);
        assert_eq!(event["type"], event_type);
        let object = &event["data"]["object"];
        assert_eq!(object["object"], "import");
        assert_eq!(object["id"], job.data()["id"]);
        if event_type == "import.completed" {
            assert_eq!(
                (
                    object["status"].as_str(),
                    object["created"].as_u64(),
                    object["failed"].as_u64()
                ),
                (Some("completed"), Some(1), Some(1))
            );
        } else {
            assert_eq!(
                (object["status"].as_str(), object["created"].as_u64()),
                (Some("failed"), Some(0))
            );
        }
    }
    e.sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_endpoint_exhausts_retries_and_records_the_error() {
    let e = env().await; // retry delays 50 ms, 100 ms: three attempts in all
    let k = e.full();
    let (url, rec) = receiver(usize::MAX).await;
    let r = e
        .send(
            e.req(Method::POST, "/webhooks", &k)
                .json(&json!({"url": url, "events": ["export.completed"]})),
            "/webhooks",
        )
        .await;
    let wid = r.data()["id"].as_str().unwrap().to_string();
    // Also a webhook pointing at a closed loopback port: connection errors are retried too.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = e
        .send(
            e.req(Method::POST, "/webhooks", &k).json(&json!({"url": format!("http://localhost:{closed}/x"), "events": ["export.completed"]})),
            "/webhooks",
        )
        .await;
    let wid2 = r.data()["id"].as_str().unwrap().to_string();
    e.send(e.req(Method::POST, "/exports", &k), "/exports")
        .await;
    let d = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{wid}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        (d.data()[0]["status"] == "failed").then(|| d.data()[0].clone())
    })
    .await;
    assert_eq!(d["attempt_count"], 3);
    assert_eq!(d["response_status_code"], 503);
    assert_eq!(d["response_body_snippet"], "busy, try later");
    assert!(d["error_message"].as_str().unwrap().contains("503"));
    assert_eq!(rec.hits.lock().unwrap().len(), 3);
    let d2 = eventually(|| async {
        let d = e
            .send(
                e.req(Method::GET, &format!("/webhooks/{wid2}/deliveries"), &k),
                "/webhooks/{webhook_id}/deliveries",
            )
            .await;
        (d.data()[0]["status"] == "failed").then(|| d.data()[0].clone())
    })
    .await;
    assert_eq!(d2["attempt_count"], 3);
    assert!(d2["response_status_code"].is_null());
    assert!(
        d2["error_message"].as_str().unwrap().contains("connection"),
        "{d2}"
    );
    e.sb.shutdown().await;
}

// ----- the vendor quickstart, run as written -----

const NBSP_PLACEHOLDER: &str = "[email\u{a0}protected]";

fn quickstart() -> String {
    let vendored = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/quickstart.txt"
    ))
    .unwrap();
    // When the shared folder is beside the checkout, the copy must be verbatim.
    let shared =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/api/quickstart.txt");
    if let Ok(s) = std::fs::read_to_string(shared) {
        assert_eq!(
            s, vendored,
            "tests/fixtures/quickstart.txt must be a verbatim copy"
        );
    }
    vendored
}

/// The shell commands starting with `curl`, each with its continuation lines and quoted body.
fn curl_snippets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    for line in text.lines() {
        match &mut cur {
            None if line.starts_with("curl ") => cur = Some(line.to_string()),
            None => {}
            Some(c) => {
                c.push('\n');
                c.push_str(line);
            }
        }
        if let Some(c) = &cur {
            let open_quote = c.matches('\'').count() % 2 == 1;
            if !open_quote && !c.ends_with('\\') {
                out.push(cur.take().unwrap());
            }
        }
    }
    out
}

fn between(text: &str, start: &str, end: &str) -> String {
    let i = text.find(start).unwrap();
    let j = text[i..].find(end).unwrap() + i + end.len();
    text[i..j].to_string()
}

fn swap(snippet: &str, base: &str, key: &str) -> String {
    snippet
        .replace("https://login.prospectb2b.com/api/public/v1", base)
        .replace("pb2b_live_xxxxx_xxxxx", key)
        .replace(NBSP_PLACEHOLDER, "ada@example.com")
}

fn bash(cmd: &str) -> (String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("bash and curl are installed");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_curl_node_and_python_snippets_run_as_written() {
    assert!(
        Command::new("curl")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        "curl is needed"
    );
    let text = quickstart();
    let curls = curl_snippets(&text);
    assert_eq!(
        curls.len(),
        4,
        "me, create lead, list, create webhook: {curls:#?}"
    );
    let node_snippet = between(
        &text,
        "const response = await fetch(",
        "const body = await response.json();",
    );
    let py_snippet = between(&text, "import requests", "print(response.json())");

    let e = env().await;
    let (base, key) = (e.sb.base_url.clone(), e.full());

    // 2. /me
    let (out, _) = bash(&swap(&curls[0], &base, &key));
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["data"]["object"], "api_key");
    common::check_contract(&Method::GET, "/me", reqwest::StatusCode::OK, Some(&me));

    // 3. Create the lead with curl, then the Node and Python snippets (same Idempotency-Key and
    //    payload): one lead, the same id three times.
    let (out, _) = bash(&swap(&curls[1], &base, &key));
    let created: Value = serde_json::from_str(&out).unwrap();
    common::check_contract(
        &Method::POST,
        "/leads",
        reqwest::StatusCode::CREATED,
        Some(&created),
    );
    let id = created["data"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["data"]["email"], "ada@example.com");

    let node_code = format!("{}\nconsole.log(JSON.stringify({{status: response.status, replayed: response.headers.get('idempotent-replayed'), body}}));\n", swap(&node_snippet, &base, &key));
    let node = Command::new("node")
        .args(["--input-type=module", "-e", &node_code])
        .output()
        .expect("node is installed");
    assert!(
        node.status.success(),
        "node: {}",
        String::from_utf8_lossy(&node.stderr)
    );
    let nv: Value = serde_json::from_slice(&node.stdout).unwrap();
    assert_eq!(
        (nv["status"].as_u64(), nv["replayed"].as_str()),
        (Some(201), Some("true"))
    );
    assert_eq!(nv["body"]["data"]["id"], id.as_str());

    let py = Command::new("python3")
        .args(["-c", &swap(&py_snippet, &base, &key)])
        .output()
        .expect("python3 is installed");
    assert!(
        py.status.success(),
        "python: {}",
        String::from_utf8_lossy(&py.stderr)
    );
    let py_out = String::from_utf8_lossy(&py.stdout);
    assert!(
        py_out.contains(&format!("'id': '{id}'")),
        "python printed {py_out}"
    );
    assert_eq!(e.count_email("ada@example.com").await, 1);

    // 4. The list command. Verbatim in a POSIX shell its unquoted '&' sends curl to the background
    //    without its -H line, so the sandbox (like the real service) answers 401 unauthorized.
    let (out, err) = bash(&swap(&curls[2], &base, &key));
    let v: Value = serde_json::from_str(out.trim())
        .unwrap_or_else(|_| panic!("stdout {out:?} stderr {err:?}"));
    assert_eq!(v["error"]["code"], "unauthorized");
    //    With only the URL quoted, it lists (and the lead just created is newer than the filter).
    let fixed = swap(&curls[2], &base, &key)
        .replacen("curl http", "curl 'http", 1)
        .replacen(".000Z \\", ".000Z' \\", 1);
    let (out, _) = bash(&fixed);
    let list: Value = serde_json::from_str(&out).unwrap();
    common::check_contract(&Method::GET, "/leads", reqwest::StatusCode::OK, Some(&list));
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == id.as_str()));

    // 5. The webhook: accepted; deliveries to a non-loopback host are recorded, never sent.
    let (out, _) = bash(&swap(&curls[3], &base, &key));
    let wh: Value = serde_json::from_str(&out).unwrap();
    common::check_contract(
        &Method::POST,
        "/webhooks",
        reqwest::StatusCode::CREATED,
        Some(&wh),
    );
    assert!(wh["data"]["signing_secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    let (again, _) = bash(&swap(&curls[3], &base, &key));
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(
        again["data"]["id"], wh["data"]["id"],
        "webhook-create-001 replays"
    );
    e.sb.shutdown().await;

    // The saved page's placeholder itself is refused as an invalid e-mail address.
    let e = env().await;
    let keep_placeholder = curls[1]
        .replace(
            "https://login.prospectb2b.com/api/public/v1",
            &e.sb.base_url,
        )
        .replace("pb2b_live_xxxxx_xxxxx", &e.full());
    let (out, _) = bash(&keep_placeholder);
    let v: Value = serde_json::from_str(&out).unwrap();
    common::check_contract(
        &Method::POST,
        "/leads",
        reqwest::StatusCode::UNPROCESSABLE_ENTITY,
        Some(&v),
    );
    assert_eq!(v["error"]["code"], "validation_error");
    assert_eq!(v["error"]["details"]["fields"][0]["field"], "email");
    assert_eq!(v["error"]["details"]["fields"][0]["code"], "invalid_email");
    let py_placeholder = py_snippet
        .replace(
            "https://login.prospectb2b.com/api/public/v1",
            &e.sb.base_url,
        )
        .replace("pb2b_live_xxxxx_xxxxx", &e.full());
    let py = Command::new("python3")
        .args(["-c", &py_placeholder])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&py.stdout).contains("invalid_email"));
    assert_eq!(e.admin(Method::GET, "/state", None).await["leads"], 0);
    e.sb.shutdown().await;
}

/// Each row an import job creates fires its own `lead.created`, with the lead as stored (the
/// same object GET /leads/{id} answers), as a single POST /leads does; a failed row fires none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_row_an_import_creates_fires_lead_created_with_the_stored_lead() {
    let e = env().await;
    let k = e.full();
    let (url, rec) = receiver(0).await;
    e.send(
        e.req(Method::POST, "/webhooks", &k)
            .json(&json!({"url": url, "events": ["lead.created"]})),
        "/webhooks",
    )
    .await;
    let body = json!({"mode": "create", "leads": [
        {"email": "row1@example.com", "full_name": "Row One", "custom_fields": {"tier": "a"}},
        {"email": "not an e-mail"},
        {"email": "row3@example.com", "job_title": "CTO"},
    ]});
    let job = e
        .send(
            e.req(Method::POST, "/imports", &k)
                .header("Idempotency-Key", "row-events-1")
                .json(&body),
            "/imports",
        )
        .await;
    assert_eq!(job.status, 202, "{}", job.raw);
    let id = job.data()["id"].as_str().unwrap().to_string();
    let hits = eventually(|| async {
        let hits = rec.hits.lock().unwrap().clone();
        (hits.len() >= 2).then_some(hits)
    })
    .await;
    let results = e
        .send(
            e.req(Method::GET, &format!("/imports/{id}/results"), &k),
            "/imports/{import_id}/results",
        )
        .await;
    let created: Vec<String> = results
        .data()
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["result"] == "created")
        .map(|r| r["lead_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(created.len(), 2, "{}", results.raw);
    let mut objects: Vec<Value> = hits
        .iter()
        .map(|(h, raw)| {
            assert_eq!(h.get("x-prospectb2b-event").unwrap(), "lead.created");
            serde_json::from_slice::<Value>(raw).unwrap()["data"]["object"].clone()
        })
        .collect();
    objects.sort_by_key(|o| o["email"].as_str().unwrap_or_default().to_owned());
    for (object, lead_id) in objects.iter().zip(&created) {
        let stored = e
            .send(
                e.req(Method::GET, &format!("/leads/{lead_id}"), &k),
                "/leads/{lead_id}",
            )
            .await;
        assert_eq!(object, stored.data(), "{}", stored.raw);
    }
    // Only the two created rows: nothing else arrives.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(rec.hits.lock().unwrap().len(), 2);
    e.sb.shutdown().await;
}
