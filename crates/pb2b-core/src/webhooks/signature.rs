//! The published signature recipe and its verifier.
//!
//! `X-ProspectB2B-Signature: v1=<hex>` where hex is the lowercase hex HMAC-SHA256, keyed with the
//! whole signing secret (`whsec_...`, as UTF-8 bytes), of `"<X-ProspectB2B-Timestamp>.<raw body>"`.
//! A header may carry several values (`v1=a,v1=b` or `v1=a v1=b`, e.g. during a rotation); the
//! signature holds when any `v1` value matches. Comparison is constant-time
//! (`hmac::Mac::verify_slice`).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use ts_rs::TS;

use crate::secret::SecretString;

/// Header names (compare case-insensitively).
pub const HEADER_EVENT: &str = "X-ProspectB2B-Event";
pub const HEADER_DELIVERY: &str = "X-ProspectB2B-Delivery";
pub const HEADER_TIMESTAMP: &str = "X-ProspectB2B-Timestamp";
pub const HEADER_SIGNATURE: &str = "X-ProspectB2B-Signature";

/// The tolerance window the checker uses unless told otherwise (5 minutes either way).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &SecretString, timestamp: &str, body: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(secret.expose().as_bytes())
        .unwrap_or_else(|_| HmacSha256::new_from_slice(&[]).expect("empty key"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `v1` hex signature of `body` at `timestamp` (for tests, the benchmark and re-signing).
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
}

/// What the checker concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export_to = "VerdictKind.ts")]
pub enum VerdictKind {
    /// A `v1` value matches and the timestamp is inside the tolerance window.
    Valid,
    /// No `v1` value matches: another secret (not this endpoint's current one), or the body or
    /// timestamp changed on the way.
    Mismatch,
    /// The signature matches but the timestamp is older (or further in the future) than the
    /// tolerance window: a replay, or a clock that is off.
    OutsideTolerance,
    /// A header is missing or not in the published form.
    Malformed,
    /// There is no secret to check against.
    NoSecret,
}

impl VerdictKind {
    /// A stable error code for the CLI (`signature_mismatch`, ...).
    pub fn code(self) -> crate::error::Code {
        use crate::error::Code;
        match self {
            VerdictKind::Valid => Code::SignatureValid,
            VerdictKind::Mismatch => Code::SignatureMismatch,
            VerdictKind::OutsideTolerance => Code::SignatureTimestampOutsideTolerance,
            VerdictKind::Malformed => Code::SignatureMalformed,
            VerdictKind::NoSecret => Code::SignatureNoSecret,
        }
    }
}

/// The checker's verdict, with the reason in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "SignatureVerdict.ts")]
pub struct SignatureVerdict {
    pub valid: bool,
    pub kind: VerdictKind,
    /// One or two sentences for a person.
    pub reason: String,
    /// Seconds between the timestamp and now (positive: in the past), when it parsed.
    #[ts(type = "number | null")]
    pub age_seconds: Option<i64>,
}

impl SignatureVerdict {
    fn new(kind: VerdictKind, reason: impl Into<String>, age_seconds: Option<i64>) -> Self {
        Self {
            valid: kind == VerdictKind::Valid,
            kind,
            reason: reason.into(),
            age_seconds,
        }
    }

    /// The verdict when there is no secret to check with.
    pub fn no_secret() -> Self {
        Self::new(
            VerdictKind::NoSecret,
            "No signing secret to check against: give the secret shown when the endpoint was created (or rotated), or pick one saved in the keychain.",
            None,
        )
    }
}

/// Now, in unix seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// The `v1` values of a signature header (`v1=a,v1=b`, `v1=a v1=b`); `None` when the header has
/// no well-formed `v1` value.
fn v1_values(header: &str) -> Result<Vec<Vec<u8>>, String> {
    let mut found_v1 = false;
    let mut values = Vec::new();
    for item in header
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let Some((version, value)) = item.split_once('=') else {
            continue;
        };
        if version.trim() != "v1" {
            continue;
        }
        found_v1 = true;
        let value = value.trim();
        if value.len() == 64 {
            if let Ok(bytes) = hex::decode(value) {
                values.push(bytes);
            }
        }
    }
    if values.is_empty() {
        return Err(if found_v1 {
            format!("The {HEADER_SIGNATURE} header's v1 value is not 64 hexadecimal characters.")
        } else {
            format!("The {HEADER_SIGNATURE} header has no v1= value; it should look like v1=<64 hexadecimal characters>.")
        });
    }
    Ok(values)
}

/// Verifies one delivery: `timestamp` and `signature_header` as received, `body` the raw bytes
/// exactly as received, `now` in unix seconds (use [`now_unix`]). Never panics.
pub fn verify(
    secret: &SecretString,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    tolerance: Duration,
    now: i64,
) -> SignatureVerdict {
    if secret.expose().is_empty() {
        return SignatureVerdict::no_secret();
    }
    let ts_trimmed = timestamp.trim();
    let ts: i64 = match ts_trimmed.parse::<i64>() {
        Ok(t) if !ts_trimmed.is_empty() && ts_trimmed.bytes().all(|b| b.is_ascii_digit()) => t,
        _ => {
            return SignatureVerdict::new(
                VerdictKind::Malformed,
                format!(
                    "The {HEADER_TIMESTAMP} header must be unix seconds (digits only), not “{}”.",
                    shorten(timestamp)
                ),
                None,
            )
        }
    };
    let candidates = match v1_values(signature_header) {
        Ok(v) => v,
        Err(reason) => return SignatureVerdict::new(VerdictKind::Malformed, reason, None),
    };
    let age = now.saturating_sub(ts);
    let expected = mac(secret, ts_trimmed, body);
    let matches = candidates
        .iter()
        .any(|c| expected.clone().verify_slice(c).is_ok());
    if !matches {
        return SignatureVerdict::new(
            VerdictKind::Mismatch,
            "The signature does not match: either the secret is not this endpoint's current signing secret (it changes when rotated), or the body or timestamp changed on the way. Check against the raw body exactly as received, before any JSON parsing or re-encoding.",
            Some(age),
        );
    }
    let tol = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    if age.saturating_abs() > tol {
        let when = if age > 0 {
            format!("{} ago", human_secs(age))
        } else {
            format!("{} in the future", human_secs(-age))
        };
        return SignatureVerdict::new(
            VerdictKind::OutsideTolerance,
            format!("The signature matches, but the timestamp is from {when}, outside the tolerance window of {}: refuse it as a possible replay (or check this computer's clock).", human_secs(tol)),
            Some(age),
        );
    }
    SignatureVerdict::new(
        VerdictKind::Valid,
        "The signature matches and the timestamp is within the tolerance window.",
        Some(age),
    )
}

/// Verifies from a list of received headers (names compared case-insensitively; several
/// signature headers are all considered).
pub fn verify_headers(
    secret: &SecretString,
    headers: &[(String, String)],
    body: &[u8],
    tolerance: Duration,
    now: i64,
) -> SignatureVerdict {
    let find_all = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let timestamps = find_all(HEADER_TIMESTAMP);
    let signatures = find_all(HEADER_SIGNATURE);
    let Some(timestamp) = timestamps.first() else {
        return SignatureVerdict::new(
            VerdictKind::Malformed,
            format!("The {HEADER_TIMESTAMP} header is missing."),
            None,
        );
    };
    if timestamps.len() > 1 {
        return SignatureVerdict::new(
            VerdictKind::Malformed,
            format!("The {HEADER_TIMESTAMP} header appears more than once."),
            None,
        );
    }
    if signatures.is_empty() {
        return SignatureVerdict::new(
            VerdictKind::Malformed,
            format!("The {HEADER_SIGNATURE} header is missing."),
            None,
        );
    }
    verify(
        secret,
        timestamp,
        &signatures.join(","),
        body,
        tolerance,
        now,
    )
}

/// Reads pasted headers, one `Name: value` per line (a request line such as
/// `POST /hooks HTTP/1.1` and anything without a colon are skipped).
pub fn parse_pasted_headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return None;
            }
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect()
}

fn shorten(s: &str) -> String {
    let head: String = s.chars().take(40).collect();
    if head.len() < s.len() {
        format!("{head}…")
    } else {
        head
    }
}

fn human_secs(secs: i64) -> String {
    let secs = secs.saturating_abs();
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7200 {
        format!("{} min", secs / 60)
    } else if secs < 172_800 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} days", secs / 86_400)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> SecretString {
        SecretString::new("whsec_0123456789abcdef0123456789abcdef0123456789abcdef".into())
    }

    #[test]
    fn known_vector() {
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_0123...
        let sig = sign(&secret(), "1700000000", br#"{"a":1}"#);
        assert_eq!(
            sig,
            "d25e2034ef854efc00aad63d909446aec0d5ffe3546c43c10e3bb4ef4bc2f47f"
        );
        let v = verify(
            &secret(),
            "1700000000",
            &format!("v1={sig}"),
            br#"{"a":1}"#,
            DEFAULT_TOLERANCE,
            1_700_000_010,
        );
        assert_eq!(v.kind, VerdictKind::Valid, "{v:?}");
        assert_eq!(v.age_seconds, Some(10));
    }

    #[test]
    fn every_failure_has_its_reason() {
        let body = br#"{"id":"evt_1"}"#;
        let sig = sign(&secret(), "100", body);
        let tol = DEFAULT_TOLERANCE;
        let v = |ts: &str, h: &str, b: &[u8], now| verify(&secret(), ts, h, b, tol, now).kind;
        assert_eq!(
            v("100", &format!("v1={sig}"), body, 100),
            VerdictKind::Valid
        );
        assert_eq!(
            v("100", &format!("v1={sig}"), b"{\"id\":\"evt_2\"}", 100),
            VerdictKind::Mismatch
        );
        assert_eq!(
            v("101", &format!("v1={sig}"), body, 100),
            VerdictKind::Mismatch
        );
        assert_eq!(
            v("100", &format!("v1={sig}"), body, 100 + 301),
            VerdictKind::OutsideTolerance
        );
        assert_eq!(
            v("100", &format!("v1={sig}"), body, 100 - 301),
            VerdictKind::OutsideTolerance
        );
        assert_eq!(
            v("100", &format!("v1={}", sig.to_uppercase()), body, 100),
            VerdictKind::Valid
        );
        assert_eq!(
            v(
                "100",
                &format!("v0=abc, v1={}, v1={sig}", "0".repeat(64)),
                body,
                100
            ),
            VerdictKind::Valid
        );
        assert_eq!(
            v("100", &format!("v1={} v1={sig}", "f".repeat(64)), body, 100),
            VerdictKind::Valid
        );
        assert_eq!(
            v("100", &format!("v1={}", "0".repeat(64)), body, 100),
            VerdictKind::Mismatch
        );
        for bad in [
            "",
            "v1=",
            "v1=zz",
            "sha256=abc",
            &sig,
            &format!("v1={}", &sig[..63]),
        ] {
            assert_eq!(v("100", bad, body, 100), VerdictKind::Malformed, "{bad}");
        }
        for bad_ts in ["", "abc", "-5", "1e9", "99999999999999999999999", " "] {
            assert_eq!(
                v(bad_ts, &format!("v1={sig}"), body, 100),
                VerdictKind::Malformed,
                "{bad_ts}"
            );
        }
        let other = SecretString::new("whsec_other".into());
        assert_eq!(
            verify(&other, "100", &format!("v1={sig}"), body, tol, 100).kind,
            VerdictKind::Mismatch
        );
        assert_eq!(
            verify(
                &SecretString::new(String::new()),
                "100",
                &format!("v1={sig}"),
                body,
                tol,
                100
            )
            .kind,
            VerdictKind::NoSecret
        );
    }

    #[test]
    fn pasted_headers() {
        let body = b"{}";
        let sig = sign(&secret(), "50", body);
        let text = format!("POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\nx-prospectb2b-timestamp: 50\r\nX-ProspectB2B-Signature:v1={sig}\r\n\r\n");
        let headers = parse_pasted_headers(&text);
        assert_eq!(
            verify_headers(&secret(), &headers, body, DEFAULT_TOLERANCE, 60).kind,
            VerdictKind::Valid
        );
        assert_eq!(
            verify_headers(&secret(), &headers[..2], body, DEFAULT_TOLERANCE, 60).kind,
            VerdictKind::Malformed
        );
        let mut twice = headers.clone();
        twice.push(("X-ProspectB2B-Timestamp".into(), "51".into()));
        assert_eq!(
            verify_headers(&secret(), &twice, body, DEFAULT_TOLERANCE, 60).kind,
            VerdictKind::Malformed
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_round_trips(ts in 0i64..4_000_000_000, body in proptest::collection::vec(proptest::num::u8::ANY, 0..300), header in "\\PC{0,120}", key in "[ -~]{1,80}") {
            let secret = SecretString::new(key);
            let sig = sign(&secret, &ts.to_string(), &body);
            let v = verify(&secret, &ts.to_string(), &format!("v1={sig}"), &body, DEFAULT_TOLERANCE, ts);
            proptest::prop_assert!(v.valid);
            let _ = verify(&secret, &header, &header, &body, DEFAULT_TOLERANCE, ts);
            let _ = verify(&secret, &ts.to_string(), &header, &body, Duration::MAX, i64::MIN);
        }
    }
}
