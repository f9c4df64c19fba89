//! The one hook every HTTP attempt goes through: the client calls [`RequestObserver::record`]
//! once per attempt (retries included), so the request log never depends on callers.

use serde::Serialize;
use serde_json::value::RawValue;
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
    // Only a `?` starts a query: any other text is kept as it is without parsing it (every
    // string of every excerpt comes here: a lead's LinkedIn URL and website among them).
    if !text.contains('?') {
        return None;
    }
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
///
/// A body longer than [`SMALL_BODY`] is parsed only as far as the excerpt reaches ([`Lazy`]):
/// a page of 1,000 import results is ~100 KB, and building all of it as a `Value` to keep 2 KB
/// was a large share of the client's work per page; a smaller one is parsed whole, without a
/// `Value` ([`Tree`]). The result is the same as [`excerpt_of`] of the whole body parsed (a
/// property test compares them), except that in a long body a number out of `f64`'s range
/// beyond the excerpt's reach, which a `Value` refuses, is never parsed.
pub fn excerpt(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    if body.len() <= SMALL_BODY && !map_keeps_order() {
        return Some(match serde_json::from_slice::<Tree<'_>>(body) {
            Ok(tree) => {
                let mut out = Vec::with_capacity(body.len() + 16);
                // Writing to a `Vec` cannot fail; a tree holds nothing that does not serialize.
                let _ = serde_json::to_writer(&mut out, &tree);
                cut(&out)
            }
            Err(_) => format!("({} bytes that are not JSON; not kept)", body.len()),
        });
    }
    let lazy = (!map_keeps_order())
        .then(|| serde_json::from_slice::<&RawValue>(body).ok())
        .flatten()
        .and_then(|raw| {
            let mut out = Prefix {
                buf: Vec::with_capacity(EXCERPT_LIMIT + 4),
                max: EXCERPT_LIMIT + 4,
            };
            match serde_json::to_writer(&mut out, &Lazy(raw)) {
                Ok(()) => Some(out),
                Err(_) if out.buf.len() == out.max => Some(out),
                // A value the outer scan let through but `Value` would refuse (a number out of
                // range): the whole-body parse below decides.
                Err(_) => None,
            }
        });
    Some(match lazy {
        Some(out) => cut(&out.buf),
        None => match serde_json::from_slice::<Value>(body) {
            Ok(v) => excerpt_of(&v),
            // Not JSON: an export file (personal data) or a proxy's page. Only its size is kept.
            Err(_) => format!("({} bytes that are not JSON; not kept)", body.len()),
        },
    })
}

/// Bodies up to this size (a lead, an error, a webhook: most answers) are parsed whole into a
/// [`Tree`]; longer ones (pages) lazily ([`Lazy`]), since most of them is never written.
const SMALL_BODY: usize = 8 * 1024;

/// A JSON text parsed whole with its strings borrowed (owned only when they have escapes), and
/// objects as vectors: written back as [`Redacted`] writes the `Value` of the same text (keys
/// sorted, the last of equal keys kept, numbers as a `Value` holds them). A `Value` allocates
/// every string and map node, then drops them: for a created lead's answer, parsing it as a
/// `Value` took ~2.4 µs of the ~3.9 µs its excerpt cost, a share of every per-row request.
enum Tree<'a> {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(std::borrow::Cow<'a, str>),
    Array(Vec<Tree<'a>>),
    Object(Vec<(std::borrow::Cow<'a, str>, Tree<'a>)>),
}

impl<'de> serde::Deserialize<'de> for Tree<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use std::borrow::Cow;
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Tree<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_unit<E>(self) -> Result<Tree<'de>, E> {
                Ok(Tree::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Tree<'de>, E> {
                Ok(Tree::Bool(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Tree<'de>, E> {
                Ok(Tree::Number(v.into()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Tree<'de>, E> {
                Ok(Tree::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Tree<'de>, E> {
                // As a `Value` does: JSON has no NaN or infinity, so this is always a number.
                Ok(serde_json::Number::from_f64(v).map_or(Tree::Null, Tree::Number))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Tree<'de>, E> {
                Ok(Tree::String(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Tree<'de>, E> {
                Ok(Tree::String(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Tree<'de>, E> {
                Ok(Tree::String(Cow::Owned(v)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Tree<'de>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Tree::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Tree<'de>, A::Error> {
                let mut members: Vec<(Cow<'de, str>, Tree<'de>)> = Vec::new();
                while let Some((k, v)) = map.next_entry::<Key<'de>, Tree<'de>>()? {
                    members.push((k.0, v));
                }
                // Sorted, stably, so that of equal keys the last one read is the last of its
                // run, which is the one kept (a map's insert replaces the value).
                members.sort_by(|a, b| a.0.cmp(&b.0));
                let mut kept: Vec<(Cow<'de, str>, Tree<'de>)> = Vec::with_capacity(members.len());
                for m in members {
                    match kept.last_mut() {
                        Some(last) if last.0 == m.0 => *last = m,
                        _ => kept.push(m),
                    }
                }
                Ok(Tree::Object(kept))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Tree<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Tree::Null => s.serialize_unit(),
            Tree::Bool(b) => s.serialize_bool(*b),
            Tree::Number(n) => n.serialize(s),
            Tree::String(text) => match redact_url(text) {
                Some(safe) => s.serialize_str(&safe),
                None => s.serialize_str(text),
            },
            Tree::Array(items) => s.collect_seq(items),
            Tree::Object(members) => {
                let mut m = s.serialize_map(Some(members.len()))?;
                for (k, v) in members {
                    if SECRET_FIELDS.contains(&k.as_ref()) && matches!(v, Tree::String(_)) {
                        m.serialize_entry(k, "<redacted>")?;
                    } else {
                        m.serialize_entry(k, v)?;
                    }
                }
                m.end()
            }
        }
    }
}

/// Whether `serde_json`'s maps keep their keys' order (its `preserve_order` feature, which
/// another crate of a build can turn on). [`Lazy`] writes an object's keys sorted, as a map
/// that does not keep them does; when maps keep order, [`excerpt`] parses the whole body.
fn map_keeps_order() -> bool {
    static KEEPS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *KEEPS.get_or_init(|| {
        let m: serde_json::Map<String, Value> =
            [("b".to_owned(), Value::Null), ("a".to_owned(), Value::Null)]
                .into_iter()
                .collect();
        m.keys().next().map(String::as_str) == Some("b")
    })
}

/// A JSON text written as [`Redacted`] writes its `Value`, parsed one level at a time as the
/// writer reaches it: an object's members (keys sorted, the last of equal keys kept, as a
/// `Value`'s map does) and an array's items are found as raw text, and a member or item is
/// parsed only when it is written. Once the excerpt is full the writer stops, so the rest of a
/// long body is never parsed.
struct Lazy<'a>(&'a RawValue);

/// An object's key: borrowed from the text unless it has escapes.
struct Key<'a>(std::borrow::Cow<'a, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An object's members, keys sorted.
struct Members<'a>(std::collections::BTreeMap<std::borrow::Cow<'a, str>, &'a RawValue>);

impl<'de> serde::Deserialize<'de> for Members<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members<'de>, A::Error> {
                let mut out = std::collections::BTreeMap::new();
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    out.insert(k.0, v);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Lazy<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{Error, SerializeMap};
        let text = self.0.get();
        match text.as_bytes().first() {
            Some(b'{') => {
                let members: Members<'_> = serde_json::from_str(text).map_err(S::Error::custom)?;
                let mut m = s.serialize_map(Some(members.0.len()))?;
                for (k, v) in &members.0 {
                    if SECRET_FIELDS.contains(&k.as_ref()) && v.get().starts_with('"') {
                        m.serialize_entry(k, "<redacted>")?;
                    } else {
                        m.serialize_entry(k, &Lazy(v))?;
                    }
                }
                m.end()
            }
            Some(b'[') => {
                let items: Vec<&RawValue> = serde_json::from_str(text).map_err(S::Error::custom)?;
                s.collect_seq(items.into_iter().map(Lazy))
            }
            Some(b'"') => {
                let text: Key<'_> = serde_json::from_str(text).map_err(S::Error::custom)?;
                match redact_url(&text.0) {
                    Some(safe) => s.serialize_str(&safe),
                    None => s.serialize_str(&text.0),
                }
            }
            // A number, `true`, `false` or `null`: written as a `Value` writes it.
            _ => serde_json::from_str::<Value>(text)
                .map_err(S::Error::custom)?
                .serialize(s),
        }
    }
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
    cut(&out.buf)
}

/// What [`Prefix`] kept, cut to [`EXCERPT_LIMIT`] bytes on a character boundary.
fn cut(buf: &[u8]) -> String {
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&buf[..e.valid_up_to()]).unwrap_or_default(),
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
        // 14 leads (~3.5 KB) are parsed whole for `excerpt`, 60 (~15 KB) lazily.
        for (pad, count) in (0..4).flat_map(|pad| [(pad, 14), (pad, 60)]) {
            let leads: Vec<Value> = (0..count)
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
            assert!((body.len() > SMALL_BODY) == (count == 60), "{}", body.len());
            let e = excerpt_of(&v);
            assert_eq!(e, whole_then_cut(&body));
            assert_eq!(excerpt(&body).unwrap(), e);
            assert!(e.len() <= EXCERPT_LIMIT && e.len() > EXCERPT_LIMIT - 4);
            assert!(
                !e.contains("s3cr3t") && !e.contains("k3y") && !e.contains("abc1"),
                "{e}"
            );
        }
        let small = br#"{"data":{"secret":"x","a":"https://h.test/p?sig=1"}}"#;
        assert_eq!(excerpt(small).unwrap(), whole_then_cut(small));
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let text = prop_oneof![
            "[a-zé😀\"\\\\\n\t\u{1}/ ]{0,40}",
            "[a-z]{1,8}".prop_map(|h| format!("https://{h}.test/f?a=1&signature={h}")),
            "[a-z]{0,300}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e300f64..1e300).prop_map(Value::from),
            text.prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 400, 12, |inner| {
            let key = prop_oneof![
                "[a-z_]{0,12}",
                Just("secret".to_owned()),
                Just("signing_secret".to_owned()),
                Just("api_key".to_owned()),
                Just("k\"é\\y".to_owned()),
            ];
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..12).prop_map(Value::Array),
                proptest::collection::btree_map(key, inner, 0..12)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]
        /// The excerpt parsed only as far as it reaches is the whole body parsed, redacted,
        /// written and cut, for any JSON, compact or pretty, and at the limit.
        #[test]
        fn the_lazy_excerpt_is_the_whole_body_redacted_then_cut(v in json(), pretty in proptest::prelude::any::<bool>()) {
            let body = if pretty {
                serde_json::to_vec_pretty(&v).unwrap()
            } else {
                serde_json::to_vec(&v).unwrap()
            };
            proptest::prop_assert_eq!(excerpt(&body).unwrap(), whole_then_cut(&body));
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        /// `redact_url` skips text without a `?`: no such text parses as a URL with a query
        /// (full-width and percent-encoded question marks, IDNA hosts, tabs and new lines).
        #[test]
        fn only_text_with_a_question_mark_has_a_query(
            s in "(https?|HTTPS|ftp)://[a-zA-Z0-9.%？﹖\\t\\n@:/#&=_-]{0,30}(%3F|？|﹖|/|#|)[a-z=&]{0,8}"
        ) {
            if !s.contains('?') {
                proptest::prop_assert!(url::Url::parse(&s).ok().and_then(|u| u.query().map(str::to_owned)).is_none(), "{}", s);
            }
        }
    }

    #[test]
    fn the_lazy_excerpt_keeps_what_a_value_keeps() {
        // Equal keys (the last is kept), escaped keys, keys that only differ in case, spaces
        // everywhere, numbers a `Value` writes differently from their text.
        for body in [
            &br#"{"b":1,"a":{"secret":"x","secret":"y"},"b":2}"#[..],
            br#" { "k\u00e9y" : [ 1.0e2 , -0 , 1E-7, 18446744073709551615, -9223372036854775808 ] , "K" : "v" } "#,
            br#"{"secret":{"nested":"not a string, kept"},"api_key":null,"url":"https://h.test/a?token=t&x=1"}"#,
            br#""https://h.test/a?sig=1""#,
            br#"[]"#,
            br#"{}"#,
            br#"12.5"#,
        ] {
            assert_eq!(excerpt(body).unwrap(), whole_then_cut(body), "{}", String::from_utf8_lossy(body));
        }
        // Not JSON after the excerpt's reach: the whole body is still refused.
        let mut long = br#"{"data":["#.to_vec();
        for i in 0..500 {
            long.extend_from_slice(format!(r#"{{"id":"lead_{i}"}},"#).as_bytes());
        }
        long.extend_from_slice(b"oops]}");
        assert_eq!(
            excerpt(&long).unwrap(),
            format!("({} bytes that are not JSON; not kept)", long.len())
        );
        // The one difference: in a body longer than `SMALL_BODY` (parsed lazily), a number
        // out of range (which a `Value` refuses) beyond the excerpt's reach is never parsed, so
        // such a body gets its excerpt. A smaller body is parsed whole ([`Tree`]) and refused.
        let far_at = |pad: usize| {
            let mut far = br#"{"a":""#.to_vec();
            far.extend_from_slice("x".repeat(pad).as_bytes());
            far.extend_from_slice(br#"","b":1e999}"#);
            assert!(serde_json::from_slice::<Value>(&far).is_err());
            far
        };
        let far = far_at(SMALL_BODY);
        assert_eq!(
            excerpt(&far).unwrap(),
            format!(r#"{{"a":"{}"#, "x".repeat(EXCERPT_LIMIT - 6))
        );
        let near = far_at(3000);
        assert_eq!(
            excerpt(&near).unwrap(),
            format!("({} bytes that are not JSON; not kept)", near.len())
        );
        // Within its reach, the whole body decides.
        assert_eq!(
            excerpt(br#"{"b":1e999}"#).unwrap(),
            "(11 bytes that are not JSON; not kept)"
        );
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
