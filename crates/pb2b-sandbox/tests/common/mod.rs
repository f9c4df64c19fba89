//! Shared test helpers: a sandbox on 127.0.0.1, an HTTP client, and the OpenAPI contract checker.
#![allow(dead_code)]

use pb2b_sandbox::{start, Sandbox, SandboxConfig};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

pub fn spec() -> &'static Value {
    static SPEC: OnceLock<Value> = OnceLock::new();
    SPEC.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/api/openapi.yaml");
        let text = std::fs::read_to_string(path).expect("read docs/api/openapi.yaml");
        serde_norway::from_str::<Value>(&text).expect("openapi.yaml is valid YAML")
    })
}

fn validators() -> &'static Mutex<HashMap<String, Arc<jsonschema::Validator>>> {
    static V: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    V.get_or_init(|| Mutex::new(HashMap::new()))
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// Validates `body` against the JSON Schema at `pointer` inside the OpenAPI document.
pub fn validate_pointer(pointer: &str, body: &Value) {
    let validator = {
        let mut cache = validators().lock().unwrap_or_else(|p| p.into_inner());
        cache
            .entry(pointer.to_string())
            .or_insert_with(|| {
                let mut root = spec().clone();
                root["$schema"] =
                    Value::String("https://json-schema.org/draft/2020-12/schema".into());
                root["$ref"] = Value::String(format!("#{pointer}"));
                Arc::new(
                    jsonschema::validator_for(&root)
                        .unwrap_or_else(|e| panic!("schema at {pointer}: {e}")),
                )
            })
            .clone()
    };
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "response does not match {pointer}: {errors:?}\nbody: {body}"
    );
}

/// Checks that `status` is documented for the operation and that `body` matches its schema.
/// Returns the content type documented (None for no body).
pub fn check_contract(method: &Method, template: &str, status: StatusCode, body: Option<&Value>) {
    let spec = spec();
    let m = method.as_str().to_ascii_lowercase();
    let op = &spec["paths"][template][&m];
    assert!(
        op.is_object(),
        "operation {m} {template} is not in the contract"
    );
    let code = status.as_u16().to_string();
    // Optional record of exercised (operation, status) pairs, for auditing coverage.
    if let Ok(path) = std::env::var("PB2B_CONTRACT_COVERAGE") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{m} {template} {code}");
        }
    }
    let mut resp = op["responses"][&code].clone();
    assert!(
        resp.is_object(),
        "status {code} is not documented for {m} {template}"
    );
    let mut pointer = format!("/paths/{}/{m}/responses/{code}", escape(template));
    if let Some(r) = resp.get("$ref").and_then(Value::as_str) {
        pointer = r.trim_start_matches('#').to_string();
        let name = pointer.rsplit('/').next().unwrap().to_string();
        resp = spec["components"]["responses"][&name].clone();
    }
    match (resp.get("content"), body) {
        (Some(content), Some(body)) => {
            assert!(
                content.get("application/json").is_some(),
                "{m} {template} {code} documents no JSON body"
            );
            validate_pointer(&format!("{pointer}/content/application~1json/schema"), body);
        }
        (None, Some(body)) => panic!("{m} {template} {code} documents no body, got {body}"),
        (Some(content), None) => assert!(
            content.get("application/json").is_none(),
            "{m} {template} {code} documents a JSON body, got none"
        ),
        (None, None) => {}
    }
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub raw: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
}

pub struct Env {
    pub sb: Sandbox,
    pub http: reqwest::Client,
}

pub async fn env_with(cfg: SandboxConfig) -> Env {
    let sb = start(cfg).await.expect("sandbox starts");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Env { sb, http }
}

pub async fn env() -> Env {
    env_with(SandboxConfig {
        seed_demo: false,
        export_delay_ms: 50,
        webhook_retry_delays: vec![
            std::time::Duration::from_millis(50),
            std::time::Duration::from_millis(100),
        ],
        ..Default::default()
    })
    .await
}

impl Env {
    /// Polls GET `/exports/{id}/download` (each answer checked against the contract) until
    /// `download_ready` is true; returns that answer.
    pub async fn export_ready(&self, key: &str, id: &str) -> Resp {
        eventually(|| async {
            let p = self
                .send(
                    self.req(Method::GET, &format!("/exports/{id}/download"), key),
                    "/exports/{export_id}/download",
                )
                .await;
            (p.data()["download_ready"] == true).then_some(p)
        })
        .await
    }

    /// Polls GET `/exports/{id}` until the job's status is `status`; returns that answer.
    pub async fn export_status(&self, key: &str, id: &str, status: &str) -> Resp {
        eventually(|| async {
            let j = self
                .send(
                    self.req(Method::GET, &format!("/exports/{id}"), key),
                    "/exports/{export_id}",
                )
                .await;
            (j.data()["status"] == status).then_some(j)
        })
        .await
    }

    pub fn full(&self) -> String {
        self.sb.keys.full.clone()
    }
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.sb.base_url, path)
    }
    pub fn req(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        let rb = self.http.request(method, self.url(path));
        if key.is_empty() {
            rb
        } else {
            rb.bearer_auth(key)
        }
    }

    /// Sends, checks X-Request-Id and body request_id, and validates against the contract.
    pub async fn send(&self, rb: RequestBuilder, template: &str) -> Resp {
        let req = rb.build().unwrap();
        let method = req.method().clone();
        let resp = self.http.execute(req).await.expect("request completes");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.text().await.unwrap();
        let rid = headers
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_else(|| panic!("no X-Request-Id on {method} {template} {status}"))
            .to_string();
        let body: Value = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}"))
        };
        if !raw.is_empty() {
            assert_eq!(
                body["request_id"].as_str(),
                Some(rid.as_str()),
                "request_id header/body differ"
            );
        }
        check_contract(
            &method,
            template,
            status,
            (!raw.is_empty()).then_some(&body),
        );
        Resp {
            status,
            headers,
            body,
            raw,
        }
    }

    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let mut rb = self
            .http
            .request(method, format!("{}{}", self.sb.admin_url, path))
            .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &self.sb.admin_token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        assert!(resp.headers().contains_key("x-request-id"));
        let status = resp.status();
        let v: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "admin {path}: {status} {v}");
        v["data"].clone()
    }

    pub async fn count_email(&self, email: &str) -> u64 {
        self.admin(Method::GET, &format!("/leads/count?email={email}"), None)
            .await["count"]
            .as_u64()
            .unwrap()
    }

    pub async fn create_lead(&self, body: Value) -> Value {
        let r = self
            .send(
                self.req(Method::POST, "/leads", &self.full()).json(&body),
                "/leads",
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.raw);
        r.data().clone()
    }
}

/// Polls `f` until it returns Some, up to ~10 s (no timing is asserted).
pub async fn eventually<T, F, Fut>(mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..400 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("condition not reached within 10 s");
}
