//! The admin surface under `/_sandbox/...` and the signed export files under `/files/exports/`.

use crate::api::{
    ok_admin, parse_object, parse_query, read_body, type_name, ApiError, App, Reply, ReplyBody,
};
use crate::store::{generated_lead, insert_many, seed_demo, ALL_SCOPES};
use crate::util::{hmac_verify, now_ms, parse_ts, SplitMix};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub async fn admin(app: &Arc<App>, _rid: &str, req: Request) -> Result<Reply, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().trim_end_matches('/').to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).skip(1).collect();
    let query = parts.uri.query().unwrap_or("").to_string();
    let bytes = read_body(app, &parts.headers, body).await?;
    let obj = parse_object(&parts.headers, &bytes)?.unwrap_or_default();
    let m = parts.method.clone();
    match (m, segs.as_slice()) {
        (Method::GET, ["health"]) => ok_admin(json!({"status": "ok"})),
        (Method::GET, ["state"]) => {
            let st = app.lock();
            ok_admin(json!({
                "leads": st.leads.len(),
                "imports": st.imports.len(),
                "exports": st.exports.len(),
                "webhooks": st.webhooks.len(),
                "deliveries": st.deliveries.len(),
                "idempotency_keys": st.idem.len(),
            }))
        }
        (Method::POST, ["reset"]) => {
            let seed = match obj.get("seed_demo") {
                None => app.cfg.seed_demo,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(bad_field(
                        "seed_demo",
                        &format!("must be a boolean, not {}", type_name(other)),
                    ))
                }
            };
            let mut st = app.lock();
            st.reset();
            if seed {
                seed_demo(&mut st);
            }
            ok_admin(json!({"reset": true, "leads": st.leads.len()}))
        }
        (Method::PATCH, ["leads", id]) => {
            let lead = crate::api::patch_lead(app, id, &obj, true)?;
            ok_admin(serde_json::to_value(&lead).unwrap_or(Value::Null))
        }
        (Method::GET, ["leads", "count"]) => {
            let q = parse_query(&query, &["email"])?;
            let Some(email) = q.get("email").and_then(Value::as_str) else {
                return Err(bad_field("email", "query parameter email is required"));
            };
            let st = app.lock();
            let n = st
                .leads
                .values()
                .filter(|l| l.email.eq_ignore_ascii_case(email))
                .count();
            ok_admin(json!({"email": email, "count": n}))
        }
        (Method::POST, ["leads", "bulk"]) => {
            let count = match obj.get("count").and_then(Value::as_u64) {
                Some(n) if (1..=2_000_000).contains(&n) => n,
                _ => return Err(bad_field("count", "count must be an integer 1..=2000000")),
            };
            let ts = match obj.get("updated_at") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => match parse_ts(s) {
                    Some(v) => Some(v),
                    None => return Err(bad_field("updated_at", "must be an RFC 3339 timestamp")),
                },
                Some(other) => {
                    return Err(bad_field(
                        "updated_at",
                        &format!("must be a string, not {}", type_name(other)),
                    ))
                }
            };
            for k in obj.keys() {
                if k != "count" && k != "updated_at" {
                    return Err(bad_field(k, "unknown field"));
                }
            }
            let app2 = app.clone();
            let inserted = tokio::task::spawn_blocking(move || {
                let mut rng = SplitMix::new(now_ms() as u64);
                let base = now_ms();
                let mut st = app2.lock();
                let start = st.leads.len() as u64;
                let leads = (0..count)
                    .map(|i| generated_lead(&mut rng, start + i + 1, ts.unwrap_or(base), "bulk"))
                    .collect();
                insert_many(&mut st, leads);
                st.leads.len()
            })
            .await
            .map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    e.to_string(),
                )
            })?;
            ok_admin(json!({"inserted": count, "leads": inserted}))
        }
        (Method::POST, ["leads", "set-updated-at"]) => {
            let ts = match obj
                .get("updated_at")
                .and_then(Value::as_str)
                .and_then(parse_ts)
            {
                Some(v) => v,
                None => return Err(bad_field("updated_at", "updated_at (RFC 3339) is required")),
            };
            let ids: Option<Vec<String>> = match obj.get("ids") {
                None | Some(Value::Null) => None,
                Some(Value::Array(a)) => Some(
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect(),
                ),
                Some(_) => return Err(bad_field("ids", "must be an array of lead ids")),
            };
            let mut st = app.lock();
            let targets: Vec<String> = match ids {
                Some(ids) => ids
                    .into_iter()
                    .filter(|id| st.leads.contains_key(id))
                    .collect(),
                None => st.leads.keys().cloned().collect(),
            };
            let mut changed = Vec::with_capacity(targets.len());
            for id in &targets {
                if let Some(mut l) = st.leads.get(id).map(|l| crate::store::Lead::clone(l)) {
                    l.updated_at = ts;
                    changed.push(l);
                }
            }
            let n = changed.len();
            insert_many(&mut st, changed);
            ok_admin(json!({"updated": n}))
        }
        (Method::POST, ["keys", name]) => {
            let mut st = app.lock();
            let Some(key) = st.keys.iter_mut().find(|k| k.name == *name) else {
                return Err(ApiError::not_found("key"));
            };
            let mut new_scopes = key.scopes.clone();
            let mut read_only = key.read_only;
            for (k, v) in &obj {
                match (k.as_str(), v) {
                    ("scopes", Value::Array(a)) => {
                        let mut s = Vec::new();
                        for x in a {
                            match x.as_str() {
                                Some(x) if ALL_SCOPES.contains(&x) => s.push(x.to_string()),
                                _ => {
                                    return Err(bad_field("scopes", &format!("unknown scope {x}")))
                                }
                            }
                        }
                        new_scopes = s;
                    }
                    ("read_only", Value::Bool(b)) => read_only = *b,
                    _ => {
                        return Err(bad_field(
                            k,
                            "expected scopes (array) or read_only (boolean)",
                        ))
                    }
                }
            }
            key.scopes = new_scopes;
            key.read_only = read_only;
            key.updated_at = now_ms();
            let key = key.clone();
            st.put("key", &key.name, &key);
            let ws = st.workspace.clone();
            ok_admin(crate::api::me_data(&key, &ws))
        }
        (_, ["health"] | ["state"] | ["reset"] | ["leads", ..] | ["keys", _]) => {
            Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this admin path",
            ))
        }
        _ => Err(ApiError::not_found("admin path")),
    }
}

fn bad_field(field: &str, msg: &str) -> ApiError {
    let mut e = crate::api::FieldErrors::new("body");
    e.add(field, "invalid_value", msg);
    match e.into_result() {
        Err(e) => e,
        Ok(()) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_error", msg),
    }
}

/// GET /files/exports/{id}?expires=..&signature=.. (no Authorization: the URL is the credential).
pub fn export_file(app: &App, id: &str, query: &str) -> Result<Reply, ApiError> {
    let q: Map<String, Value> = parse_query(query, &["expires", "signature"]).map_err(|_| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "download URL is not valid",
        )
    })?;
    let expires = q
        .get("expires")
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok());
    let sig = q.get("signature").and_then(Value::as_str).unwrap_or("");
    let Some(expires) = expires else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "download URL is not valid",
        ));
    };
    if !hmac_verify(
        &app.signing_key,
        format!("export-file:{id}:{expires}").as_bytes(),
        sig,
    ) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "download URL signature does not match",
        ));
    }
    if expires * 1000 <= now_ms() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "download_url_expired",
            "download URL has expired; ask the download probe for a fresh one",
        ));
    }
    let mut st = app.lock();
    crate::api::expire_exports(&mut st);
    let e = st
        .exports
        .get(id)
        .ok_or_else(|| ApiError::not_found("export"))?;
    if e.status != "completed" {
        if e.status == "expired" {
            return Err(ApiError::not_found("export file"));
        }
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "export_not_ready",
            "the export has not completed",
        ));
    }
    let name = e.file_name.clone().unwrap_or_else(|| format!("{id}.csv"));
    let file = st
        .export_files
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::not_found("export file"))?;
    Ok(Reply {
        status: StatusCode::OK,
        body: ReplyBody::Raw(String::from_utf8_lossy(&file).into_owned()),
        headers: vec![(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )],
        replayed_request_id: None,
        drop_connection: false,
    })
}
