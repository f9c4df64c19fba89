//! Background work: export jobs and webhook deliveries.

use crate::api::App;
use crate::store::DeliveryRec;
use crate::util::{csv_field, fmt_ts, hmac_hex, new_id, now_ms};
use serde_json::{json, Value};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// Only loopback hosts receive real deliveries.
pub fn is_loopback_url(u: &reqwest::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The enabled webhooks subscribed to `event_type`.
fn subscribers<'a>(
    st: &'a crate::store::Store,
    event_type: &'a str,
) -> impl Iterator<Item = &'a crate::store::WebhookRec> + 'a {
    st.webhooks
        .values()
        .filter(move |w| w.enabled && w.events.iter().any(|e| e == event_type))
}

/// Whether [`emit`] would record a delivery of `event_type` now.
pub fn subscribed(st: &crate::store::Store, event_type: &str) -> bool {
    subscribers(st, event_type).next().is_some()
}

/// Records one delivery per subscribed, enabled webhook and starts delivering. The event's
/// object is built (`object()`) only when some webhook subscribes to the event: an event no one
/// receives is not recorded anywhere, and building it was a quarter of the sandbox's work per
/// imported row.
pub fn emit(app: &Arc<App>, event_type: &str, object: impl FnOnce() -> Value) {
    let mut ids = Vec::new();
    {
        // One lock for finding the subscribers and recording their deliveries, as before.
        let mut st = app.lock();
        let targets: Vec<String> = subscribers(&st, event_type).map(|w| w.id.clone()).collect();
        if targets.is_empty() {
            return;
        }
        let now = now_ms();
        let event_id = new_id("evt_", 20);
        let payload = json!({
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created_at": fmt_ts(now),
            "data": {"object": object()},
        })
        .to_string();
        for wid in targets {
            let d = DeliveryRec {
                id: new_id("del_", 20),
                webhook_id: wid,
                event_id: event_id.clone(),
                event_type: event_type.to_string(),
                payload: payload.clone(),
                status: "pending".into(),
                attempt_count: 0,
                response_status_code: None,
                response_body_snippet: None,
                error_message: None,
                next_attempt_at: Some(now),
                last_attempt_at: None,
                created_at: now,
                updated_at: now,
            };
            st.put("delivery", &d.id, &d);
            ids.push(d.id.clone());
            st.deliveries.insert(d.id.clone(), d);
        }
    }
    for id in ids {
        spawn_delivery(app.clone(), id, false);
    }
}

/// After a restart with `--data`, pending deliveries continue.
pub fn resume_pending(app: &Arc<App>) {
    let pending: Vec<String> = app
        .lock()
        .deliveries
        .values()
        .filter(|d| d.status == "pending")
        .map(|d| d.id.clone())
        .collect();
    for id in pending {
        spawn_delivery(app.clone(), id, false);
    }
    let exports: Vec<String> = app
        .lock()
        .exports
        .values()
        .filter(|e| e.status == "queued" || e.status == "processing")
        .map(|e| e.id.clone())
        .collect();
    for id in exports {
        spawn_export(app.clone(), id);
    }
    let imports: Vec<String> = app
        .lock()
        .imports
        .values()
        .filter(|i| i.status == "queued" || i.status == "processing")
        .map(|i| i.id.clone())
        .collect();
    for id in imports {
        spawn_import(app.clone(), id);
    }
}

/// Runs an import job: `queued`, `processing`, then `completed` (every row processed, each with
/// its own outcome) and `import.completed`, or, with the `import-fail` fault, `failed` (no row
/// processed) and `import.failed`. Rows are processed in order, each as a single create or upsert
/// of it would be (with its own `lead.created` / `lead.updated` event). After a restart with
/// `--data`, a job continues after its last saved row (saved every 100 rows).
pub fn spawn_import(app: Arc<App>, import_id: String) {
    tokio::spawn(async move {
        // The job's rows are copied out only when it is saved (`--data`: a restart continues
        // it from them); in memory they are taken, which spared a copy of up to 1,000 lead
        // bodies per job (an eighth of the sandbox's work on a bulk import).
        let started = {
            let mut st = app.lock();
            let persisted = st.db.is_some();
            let job = st.imports.get_mut(&import_id).map(|job| {
                job.status = "processing".into();
                job.updated_at = now_ms().max(job.updated_at + 1);
                let rows = if persisted {
                    job.rows.clone()
                } else {
                    std::mem::take(&mut job.rows)
                };
                (
                    job.mode.clone(),
                    rows,
                    job.results.clone(),
                    job.fail,
                    persisted.then(|| job.clone()),
                )
            });
            if let Some((.., Some(saved))) = &job {
                st.put("import", &saved.id, saved);
            }
            job
        };
        let Some((mode, rows, done, fail, _)) = started else {
            return;
        };
        let mut results = done;
        if !fail {
            for (i, row) in rows.iter().enumerate().skip(results.len()) {
                if app.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                results.push(crate::api::import_row(&app, &mode, i as u64, row));
                if results.len() % 100 == 0 {
                    // Saved for a restart with `--data` (without a data file there is nothing to
                    // continue from, and copying the job every 100 rows only costs time).
                    {
                        let mut st = app.lock();
                        if st.db.is_some() {
                            if let Some(job) = st.imports.get_mut(&import_id) {
                                job.results = results.clone();
                                let job = job.clone();
                                st.put("import", &job.id, &job);
                            }
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }
        }
        let (event, object) = {
            let mut st = app.lock();
            let Some(job) = st.imports.get_mut(&import_id) else {
                return;
            };
            let count = |r: &str| results.iter().filter(|x| x.result == r).count() as u64;
            job.created = count("created");
            job.updated = count("updated");
            job.unchanged = count("unchanged");
            job.failed = count("failed");
            job.results = results;
            job.rows = Vec::new();
            job.status = if fail { "failed" } else { "completed" }.into();
            let now = now_ms().max(job.updated_at + 1);
            job.updated_at = now;
            job.completed_at = Some(now);
            let object = job.public();
            if st.db.is_some() {
                let job = st.imports[&import_id].clone();
                st.put("import", &job.id, &job);
            }
            (
                if fail {
                    "import.failed"
                } else {
                    "import.completed"
                },
                object,
            )
        };
        emit(&app, event, || object);
    });
}

enum Outcome {
    Success,
    Retryable,
    Final,
}

/// Delivers with the configured backoff; `manual` makes a single attempt.
pub fn spawn_delivery(app: Arc<App>, delivery_id: String, manual: bool) {
    tokio::spawn(async move {
        let delays = app.cfg.webhook_retry_delays.clone();
        let max_attempts = if manual { 1 } else { delays.len() + 1 };
        for attempt in 0..max_attempts {
            if app.shutting_down.load(Ordering::SeqCst) {
                return;
            }
            let outcome = attempt_once(&app, &delivery_id).await;
            let retry = matches!(outcome, Some(Outcome::Retryable)) && attempt + 1 < max_attempts;
            let delay = delays.get(attempt).copied().unwrap_or(Duration::ZERO);
            {
                let mut st = app.lock();
                let Some(d) = st.deliveries.get_mut(&delivery_id) else {
                    return;
                };
                let now = now_ms();
                match outcome {
                    Some(Outcome::Success) => {
                        d.status = "succeeded".into();
                        d.next_attempt_at = None;
                    }
                    Some(Outcome::Retryable) if retry => {
                        d.status = "pending".into();
                        d.next_attempt_at = Some(now + delay.as_millis() as i64);
                    }
                    _ => {
                        d.status = "failed".into();
                        d.next_attempt_at = None;
                    }
                }
                d.updated_at = now;
                let d = d.clone();
                st.put("delivery", &d.id, &d);
            }
            if !retry {
                return;
            }
            tokio::time::sleep(delay).await;
        }
    });
}

/// One attempt. None when the delivery or its webhook no longer exists.
async fn attempt_once(app: &Arc<App>, delivery_id: &str) -> Option<Outcome> {
    let (url, secret, payload, event_type) = {
        let st = app.lock();
        let d = st.deliveries.get(delivery_id)?;
        let w = st.webhooks.get(&d.webhook_id)?;
        (
            w.url.clone(),
            w.secret.clone(),
            d.payload.clone(),
            d.event_type.clone(),
        )
    };
    let record = |f: &dyn Fn(&mut DeliveryRec)| {
        let mut st = app.lock();
        if let Some(d) = st.deliveries.get_mut(delivery_id) {
            f(d);
            d.updated_at = now_ms();
        }
    };
    let parsed = reqwest::Url::parse(&url).ok();
    let loopback = match &parsed {
        Some(u) if is_loopback_url(u) => match u.host() {
            Some(url::Host::Domain(d)) => {
                resolves_to_loopback(d, u.port_or_known_default().unwrap_or(80)).await
            }
            _ => true,
        },
        _ => false,
    };
    if !loopback {
        record(&|d| {
            d.error_message = Some(
                "not delivered: the sandbox only delivers to loopback addresses (127.0.0.0/8, ::1, localhost); no connection was attempted"
                    .into(),
            );
            d.response_status_code = None;
            d.response_body_snippet = None;
        });
        return Some(Outcome::Final);
    }
    let ts = (now_ms() / 1000).to_string();
    let sig = hmac_hex(secret.as_bytes(), format!("{ts}.{payload}").as_bytes());
    let started = now_ms();
    record(&|d| {
        d.attempt_count += 1;
        d.last_attempt_at = Some(started);
    });
    let result = app
        .http
        .post(&url)
        .header("Content-Type", "application/json")
        .header("X-ProspectB2B-Event", &event_type)
        .header("X-ProspectB2B-Delivery", delivery_id)
        .header("X-ProspectB2B-Timestamp", &ts)
        .header("X-ProspectB2B-Signature", format!("v1={sig}"))
        .body(payload)
        .send()
        .await;
    match result {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.unwrap_or_default();
            let snippet = String::from_utf8_lossy(&body[..body.len().min(512)]).into_owned();
            let outcome = if (200..300).contains(&status) {
                Outcome::Success
            } else if status >= 500 || status == 429 || status == 408 {
                Outcome::Retryable
            } else {
                Outcome::Final
            };
            let err = match outcome {
                Outcome::Success => None,
                _ => Some(format!("endpoint answered HTTP {status}")),
            };
            record(&|d| {
                d.response_status_code = Some(status);
                d.response_body_snippet = Some(snippet.clone());
                d.error_message = err.clone();
            });
            Some(outcome)
        }
        Err(e) => {
            let msg = if e.is_timeout() {
                format!("timed out after {} ms", app.cfg.webhook_timeout.as_millis())
            } else if e.is_connect() {
                format!("connection failed: {e}")
            } else {
                format!("request failed: {e}")
            };
            record(&|d| {
                d.response_status_code = None;
                d.response_body_snippet = None;
                d.error_message = Some(msg.clone());
            });
            Some(Outcome::Retryable)
        }
    }
}

async fn resolves_to_loopback(host: &str, port: u16) -> bool {
    match tokio::net::lookup_host((host, port)).await {
        Ok(addrs) => {
            let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
            !addrs.is_empty() && addrs.iter().all(|a| a.is_loopback())
        }
        Err(_) => false,
    }
}

/// queued -> processing -> completed (a real CSV) or failed; fires export.completed/failed.
pub fn spawn_export(app: Arc<App>, export_id: String) {
    tokio::spawn(async move {
        let half = Duration::from_millis(app.cfg.export_delay_ms / 2);
        tokio::time::sleep(half).await;
        {
            let mut st = app.lock();
            let Some(e) = st.exports.get_mut(&export_id) else {
                return;
            };
            e.status = "processing".into();
            e.updated_at = now_ms().max(e.updated_at + 1);
            let e = e.clone();
            st.put("export", &e.id, &e);
        }
        tokio::time::sleep(half).await;
        if app.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let (event, object) = {
            let mut st = app.lock();
            let Some(e) = st.exports.get(&export_id).cloned() else {
                return;
            };
            let now = now_ms();
            let mut e = e;
            if e.fail {
                e.status = "failed".into();
                e.error_message = Some("injected fault: the export job failed".into());
            } else {
                let mut csv = String::new();
                for (i, f) in e.fields.iter().enumerate() {
                    if i > 0 {
                        csv.push(',');
                    }
                    csv.push_str(f);
                }
                csv.push_str("\r\n");
                let start = match e.updated_after {
                    Some(ua) => std::ops::Bound::Included((ua.saturating_add(1), String::new())),
                    None => std::ops::Bound::Unbounded,
                };
                let mut rows = 0u64;
                for (_, id) in st.order.range((start, std::ops::Bound::Unbounded)) {
                    let Some(l) = st.leads.get(id) else { continue };
                    let lv = serde_json::to_value(l).unwrap_or(Value::Null);
                    for (i, f) in e.fields.iter().enumerate() {
                        if i > 0 {
                            csv.push(',');
                        }
                        let cell = match lv.get(f) {
                            Some(Value::String(s)) => s.clone(),
                            Some(Value::Null) | None => String::new(),
                            Some(other) => other.to_string(),
                        };
                        csv_field(&mut csv, &cell);
                    }
                    csv.push_str("\r\n");
                    rows += 1;
                }
                e.status = "completed".into();
                e.row_count = Some(rows);
                e.byte_size = Some(csv.len() as u64);
                e.file_name = Some(format!("leads-{}.csv", e.id));
                e.completed_at = Some(now);
                e.expires_at = Some(now + app.cfg.export_ttl.as_millis() as i64);
                st.put("export_file", &e.id, &csv);
                st.export_files
                    .insert(e.id.clone(), Arc::new(csv.into_bytes()));
            }
            e.updated_at = now.max(e.updated_at + 1);
            st.put("export", &e.id, &e);
            st.exports.insert(e.id.clone(), e.clone());
            let event = if e.status == "completed" {
                "export.completed"
            } else {
                "export.failed"
            };
            (event, e.public())
        };
        emit(&app, event, || object);
    });
}
