//! The one hook every HTTP attempt goes through: the client calls [`RequestObserver::record`]
//! once per attempt (retries included), so the request log never depends on callers.

use serde::Serialize;
use serde_json::Value;

/// Largest response excerpt kept, in bytes.
pub const EXCERPT_LIMIT: usize = 2048;

/// One HTTP attempt, as recorded. Never holds the key: `request_headers` is built from the
/// headers the client sets, without `Authorization`, and response excerpts have secrets
/// (`signing_secret`) replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// When the attempt started, UTC with milliseconds (`2026-03-10T12:00:00.000Z`).
    pub at: String,
    pub method: String,
    /// Path and query as sent, without scheme and host (signed URL signatures replaced).
    pub path: String,
    /// HTTP status, when an answer arrived.
    pub status: Option<u16>,
    pub duration_ms: u64,
    pub request_id: Option<String>,
    pub idempotency_key: Option<String>,
    pub replayed: bool,
    /// The server's error code, or the client's (`unreachable`, `timeout`, `connection_lost`).
    pub error_code: Option<String>,
    /// 1 for the first attempt, 2 for the first retry, ...
    pub attempt: u32,
    pub request_headers: Vec<(String, String)>,
    /// The first ~2 KB of the response body (lossy UTF-8), or the transport error.
    pub response_excerpt: Option<String>,
}

/// Receives every attempt. Implementations must be quick and must not fail the request (the
/// request log logs its own errors).
pub trait RequestObserver: Send + Sync {
    fn record(&self, exchange: &Exchange);
}

/// Records nothing (the CLI's one-shot calls, tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoopObserver;

impl RequestObserver for NoopObserver {
    fn record(&self, _exchange: &Exchange) {}
}

/// Keys whose values are replaced in excerpts.
const SECRET_FIELDS: [&str; 3] = ["signing_secret", "secret", "api_key"];

/// Query parameters that make a URL a credential (a signed export link).
const SIGNATURE_PARAMS: [&str; 4] = ["signature", "sig", "token", "X-Amz-Signature"];

/// Path and query of `url` for a log, with signed-URL signatures replaced: whoever reads the
/// log (or a support ticket) must not be able to download the file.
pub fn loggable_path(url: &url::Url) -> String {
    let mut out = url.path().to_owned();
    if url.query().is_some() {
        let pairs: Vec<String> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if SIGNATURE_PARAMS.contains(&k.as_ref()) {
                    "<redacted>".into()
                } else {
                    v.into_owned()
                };
                format!("{k}={v}")
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
    }
    out
}

/// A URL in a response (the probe's `download_url`) with its signature replaced; other text as
/// it is.
fn redact_url(text: &str) -> Option<String> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_none() {
        return None;
    }
    let origin = url.origin().ascii_serialization();
    Some(format!("{origin}{}", loggable_path(&url)))
}

/// A value as an excerpt shows it: secret fields replaced, URL signatures replaced.
struct Redacted<'a>(&'a Value);

impl Serialize for Redacted<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    if SECRET_FIELDS.contains(&k.as_str()) && v.is_string() {
                        m.serialize_entry(k, "<redacted>")?;
                    } else {
                        m.serialize_entry(k, &Redacted(v))?;
                    }
                }
                m.end()
            }
            Value::Array(items) => s.collect_seq(items.iter().map(Redacted)),
            Value::String(text) => match redact_url(text) {
                Some(safe) => s.serialize_str(&safe),
                None => s.serialize_str(text),
            },
            other => other.serialize(s),
        }
    }
}

/// Keeps the first `max` bytes written, then refuses more (which stops the serializer).
struct Prefix {
    buf: Vec<u8>,
    max: usize,
}

impl std::io::Write for Prefix {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = self.max - self.buf.len();
        if room == 0 {
            return Err(std::io::Error::other("excerpt full"));
        }
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The excerpt of a response body: JSON with secret fields and URL signatures replaced, cut to
/// [`EXCERPT_LIMIT`] bytes on a character boundary. Of a body that is not JSON (an export file)
/// only its size is kept.
pub fn excerpt(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    Some(match serde_json::from_slice::<Value>(body) {
        Ok(v) => excerpt_of(&v),
        // Not JSON: an export file (personal data) or a proxy's page. Only its size is kept.
        Err(_) => format!("({} bytes that are not JSON; not kept)", body.len()),
    })
}

/// [`excerpt`] of a body the caller already parsed. Only the part that is kept is redacted and
/// written: a page of 100 leads is ~40 KB, and redacting and writing all of it for each of a
/// sync's requests, to keep 2 KB, was a large share of a sync's CPU time.
pub fn excerpt_of(value: &Value) -> String {
    // A few bytes past the limit, so a character the limit cuts is whole before `truncate`.
    let mut out = Prefix {
        buf: Vec::with_capacity(EXCERPT_LIMIT + 4),
        max: EXCERPT_LIMIT + 4,
    };
    // An error here is the prefix being full: what was written is what is kept.
    let _ = serde_json::to_writer(&mut out, &Redacted(value));
    let text = match std::str::from_utf8(&out.buf) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&out.buf[..e.valid_up_to()]).unwrap_or_default(),
    };
    truncate(text, EXCERPT_LIMIT)
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

// The request log's timestamps; the implementation is `crate::time`'s.
pub use crate::time::{format_utc_ms, now_utc_ms};

#[cfg(test)]
mod tests {
    use super::*;

    /// What an excerpt was before it stopped at the limit: the whole body redacted, written,
    /// then cut. The excerpt must stay exactly that.
    fn whole_then_cut(body: &[u8]) -> String {
        fn redact(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        if SECRET_FIELDS.contains(&k.as_str()) && v.is_string() {
                            *v = Value::String("<redacted>".into());
                        } else {
                            redact(v);
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(redact),
                Value::String(s) => {
                    if let Some(safe) = redact_url(s) {
                        *s = safe;
                    }
                }
                _ => {}
            }
        }
        let mut v: Value = serde_json::from_slice(body).unwrap();
        redact(&mut v);
        truncate(&v.to_string(), EXCERPT_LIMIT)
    }

    #[test]
    fn an_excerpt_cut_at_the_limit_is_the_whole_body_redacted_then_cut() {
        // A page of leads with multi-byte text, a secret and a signed URL before and across the
        // limit, at every alignment of a character against the limit.
        for pad in 0..4 {
            let leads: Vec<Value> = (0..60)
                .map(|i| {
                    serde_json::json!({
                        "id": format!("lead_{i}"), "full_name": format!("{}Zoë Ådå {i}", "é".repeat(pad)),
                        "secret": "s3cr3t-value", "n": i, "x": null, "ok": true,
                        "url": format!("https://api.test/f?signature=abc{i}"),
                        "custom_fields": {"api_key": "k3y", "tier": [1, 2.5, "ü"]},
                    })
                })
                .collect();
            let body =
                serde_json::to_vec(&serde_json::json!({"data": leads, "request_id": "req_1"}))
                    .unwrap();
            let v: Value = serde_json::from_slice(&body).unwrap();
            let e = excerpt_of(&v);
            assert_eq!(e, whole_then_cut(&body));
            assert!(e.len() <= EXCERPT_LIMIT && e.len() > EXCERPT_LIMIT - 4);
            assert!(
                !e.contains("s3cr3t") && !e.contains("k3y") && !e.contains("abc1"),
                "{e}"
            );
        }
        let small = br#"{"data":{"secret":"x","a":"https://h.test/p?sig=1"}}"#;
        assert_eq!(excerpt(small).unwrap(), whole_then_cut(small));
    }

    #[test]
    fn excerpts_redact_secrets_and_stay_short() {
        let body = br#"{"data":{"id":"wh_1","signing_secret":"whsec_0123456789abcdef","signing_secret_prefix":"whsec_012345"},"request_id":"req_1"}"#;
        let e = excerpt(body).unwrap();
        assert!(!e.contains("0123456789abcdef"), "{e}");
        assert!(e.contains("whsec_012345"));
        let long = format!("[\"{}\"]", "é".repeat(5000));
        let e = excerpt(long.as_bytes()).unwrap();
        assert!(e.len() <= EXCERPT_LIMIT, "{}", e.len());
        let csv = b"id,email\nlead_1,ada@example.com\n";
        assert_eq!(
            excerpt(csv).unwrap(),
            format!("({} bytes that are not JSON; not kept)", csv.len())
        );
        let probe = br#"{"data":{"download_ready":true,"download_url":"https://api.test/files/exports/exp_1?expires=9&signature=abcdef0123"}}"#;
        let e = excerpt(probe).unwrap();
        assert!(!e.contains("abcdef0123"), "{e}");
        assert!(
            e.contains("https://api.test/files/exports/exp_1?expires=9&signature=<redacted>"),
            "{e}"
        );
        assert_eq!(excerpt(b""), None);
    }
}
