//! The text rules of the sandbox's fields, written once as the patterns `docs/api/openapi.yaml`
//! declares: the sandbox checks a value with the very pattern a client reads in the document, so
//! a value the document allows is never refused and one it forbids is never accepted
//! (`tests/api.rs` compares each constant with the document's, and schemathesis checks both
//! directions). The patterns use the subset ECMA-262, Python `re` and Rust `regex` read alike:
//! explicit ASCII classes, no look-around, no `\s`/`\d`/`\w`.
//!
//! | value | rule (pattern) | refused as |
//! |---|---|---|
//! | surrounding white space of a text | space, tab, CR, LF only ([`WS`]) are trimmed before storing; lengths count the value as sent | |
//! | optional text (names, phone, title, source) | `TEXT`: at least one character other than space, tab, CR, LF | 422 `too_short` |
//! | `email` | `EMAIL`: `local@host.tld`, dot-atom local part, host as `HOST`, at most 254 characters | 422 `invalid_email` |
//! | `company_domain` | `HOST`: labels of letters, digits, inner hyphens (1..63), a letter-only TLD of 2..63 | 422 `invalid_format` |
//! | `linkedin_url` | `HTTPS_URL`: `https://` + `HOST` without the white space + optional `/`, `?` or `#` part without white space | 422 `invalid_url` |
//! | webhook `url` | `WEBHOOK_URL`: https to a host name, or http(s) to `localhost`, `127.x.y.z`, `[::1]`; optional port 1..65535; optional visible-ASCII path | 422 `invalid_url` |
//! | `Idempotency-Key` | `IDEMPOTENCY_KEY`: 1..255 visible ASCII characters (0x21..0x7E, no space) | 400 `invalid_idempotency_key` |
//! | `cursor` | `CURSOR`: the form of every cursor the server issues; a forged one of that form is still refused (its signature) | 400 `invalid_cursor` |

use regex::Regex;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// The characters trimmed from a text before it is stored.
pub const WS: [char; 4] = [' ', '\t', '\r', '\n'];

pub const TEXT: &str = r"[^ \t\r\n]";

pub const HOST: &str =
    r"^[ \t\r\n]*(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}[ \t\r\n]*$";

pub const EMAIL: &str = r"^[ \t\r\n]*[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}[ \t\r\n]*$";

pub const HTTPS_URL: &str = r"^[ \t\r\n]*https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?:[/?#][^ \t\r\n]*)?[ \t\r\n]*$";

pub const WEBHOOK_URL: &str = r"^[ \t\r\n]*(?:https?://(?:localhost|127\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])|\[::1\])|https://(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(?:[/?#][!-~]*)?[ \t\r\n]*$";

pub const IDEMPOTENCY_KEY: &str = r"^[!-~]{1,255}$";

pub const CURSOR: &str = r"^c1\.[A-Za-z0-9_-]+\.[0-9a-f]{32}$";

/// Every pattern with the name the document gives it under `components/x-patterns`.
pub const ALL: [(&str, &str); 7] = [
    ("text", TEXT),
    ("host", HOST),
    ("email", EMAIL),
    ("https_url", HTTPS_URL),
    ("webhook_url", WEBHOOK_URL),
    ("idempotency_key", IDEMPOTENCY_KEY),
    ("cursor", CURSOR),
];

/// Whether `value` matches `pattern` (one of the constants above; compiled once). The constants
/// are tested to compile (`patterns_compile`); one that did not would refuse every value.
pub fn matches(pattern: &'static str, value: &str) -> bool {
    type Cache = Mutex<HashMap<&'static str, Option<&'static Regex>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let re = {
        let mut cache = CACHE
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *cache
            .entry(pattern)
            .or_insert_with(|| Regex::new(pattern).ok().map(|re| &*Box::leak(Box::new(re))))
    };
    re.is_some_and(|re| re.is_match(value))
}

/// `s` without the surrounding [`WS`].
pub fn trim(s: &str) -> &str {
    s.trim_matches(&WS[..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for (name, p) in ALL {
            assert!(Regex::new(p).is_ok(), "{name}");
        }
    }

    #[test]
    fn the_rules() {
        assert!(matches(EMAIL, "ada@example.com"));
        assert!(matches(EMAIL, " ada@example.com\n"));
        assert!(!matches(EMAIL, ""));
        assert!(!matches(EMAIL, "[email protected]"));
        assert!(!matches(EMAIL, "[email\u{a0}protected]"));
        assert!(!matches(EMAIL, "ada@localhost"));
        assert!(!matches(EMAIL, "a..b@example.com"));
        assert!(!matches(EMAIL, "\u{a0}ada@example.com"));
        assert!(matches(HOST, "Example.COM"));
        assert!(!matches(HOST, "bücher.example"));
        assert!(!matches(HOST, "-a.example"));
        assert!(matches(HTTPS_URL, "https://www.linkedin.com/in/ada"));
        assert!(!matches(HTTPS_URL, "http://www.linkedin.com/in/ada"));
        assert!(!matches(HTTPS_URL, "https://user@linkedin.com/"));
        assert!(matches(WEBHOOK_URL, "http://127.0.0.1:8080/hook"));
        assert!(matches(WEBHOOK_URL, "https://example.com/h"));
        assert!(matches(WEBHOOK_URL, "http://[::1]:9/x?y=1"));
        assert!(!matches(WEBHOOK_URL, ""));
        assert!(!matches(WEBHOOK_URL, "http://example.com/h"));
        assert!(!matches(WEBHOOK_URL, "https://u:p@example.com/h"));
        assert!(!matches(WEBHOOK_URL, "http://127.0.0.1:65536/"));
        assert!(!matches(WEBHOOK_URL, "http://127.0.0.256/"));
        assert!(matches(IDEMPOTENCY_KEY, "lead-create-001"));
        assert!(!matches(IDEMPOTENCY_KEY, "a b"));
        assert!(!matches(IDEMPOTENCY_KEY, "é"));
        assert!(matches(TEXT, " a "));
        assert!(!matches(TEXT, " \t"));
        assert_eq!(trim("\t a \r\n"), "a");
    }
}
