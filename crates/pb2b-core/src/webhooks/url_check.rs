//! URL checks before anything is sent: https required; plain http only for loopback addresses
//! while connected to the sandbox.

use serde::Serialize;
use ts_rs::TS;
use url::{Host, Url};

use crate::error::{codes, ErrorReport};

/// The longest URL the contract accepts.
pub const MAX_URL_LEN: usize = 2048;

/// The verdict on a URL typed into the form (checked on every keystroke if the UI likes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "UrlCheck.ts")]
pub struct UrlCheck {
    /// Whether the URL may be sent.
    pub ok: bool,
    /// The URL as it will be sent (trimmed, normalized), when `ok`.
    pub url: Option<String>,
    /// Why it was refused, in words, when not `ok`.
    pub reason: Option<String>,
}

/// Whether a URL's host is a loopback address (127.0.0.0/8, ::1 or `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Whether an API base URL is a local sandbox (an http(s) URL on a loopback address): how the
/// CLI, which has no "Local sandbox" profile, tells that it talks to a sandbox.
pub fn is_sandbox_base_url(base_url: &str) -> bool {
    Url::parse(base_url.trim())
        .map(|u| is_loopback(&u))
        .unwrap_or(false)
}

fn refuse(reason: impl Into<String>) -> UrlCheck {
    UrlCheck {
        ok: false,
        url: None,
        reason: Some(reason.into()),
    }
}

/// Checks an endpoint URL. `connected_to_sandbox`: the active connection is the local sandbox
/// (the only case where plain `http://` to a loopback address is accepted).
pub fn check_url(raw: &str, connected_to_sandbox: bool) -> UrlCheck {
    let raw = raw.trim();
    if raw.is_empty() {
        return refuse("Enter the URL that should receive the events.");
    }
    if raw.len() > MAX_URL_LEN {
        return refuse(format!("The URL is longer than {MAX_URL_LEN} characters."));
    }
    let url = match Url::parse(raw) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => {
            return refuse("Enter a full URL starting with https://, for example https://example.com/webhooks/prospectb2b.")
        }
        Err(e) => return refuse(format!("This is not a valid URL ({e}).")),
    };
    let host = match url.host_str() {
        Some(h) if !h.is_empty() => h.to_owned(),
        _ => return refuse("The URL has no host name."),
    };
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("Remove the user name and password from the URL: the URL is stored and shown in the delivery list, so it must not carry credentials. Check the signature instead.");
    }
    match url.scheme() {
        "https" => {}
        "http" => {
            if !is_loopback(&url) {
                return refuse(format!(
                    "Use https://: events are only sent to https URLs, so that nobody on the way can read or change them (plain http is accepted only for this computer's own addresses while connected to the local sandbox; {host} is not one)."
                ));
            }
            if !connected_to_sandbox {
                return refuse("Use https://: plain http to this computer's own address (localhost, 127.0.0.1, ::1) is accepted only while connected to the local sandbox, which delivers on this computer; ProspectB2B itself cannot reach your computer's loopback address.");
            }
        }
        other => {
            return refuse(format!(
                "The URL must start with https:// (not {other}://)."
            ))
        }
    }
    UrlCheck {
        ok: true,
        url: Some(url.to_string()),
        reason: None,
    }
}

/// [`check_url`] as a `Result`: the URL to send, or an `invalid_input` error with the reason.
pub fn validate_url(raw: &str, connected_to_sandbox: bool) -> Result<String, ErrorReport> {
    let check = check_url(raw, connected_to_sandbox);
    match (check.ok, check.url, check.reason) {
        (true, Some(url), _) => Ok(url),
        (_, _, reason) => Err(ErrorReport::local(
            codes::INVALID_INPUT,
            reason.unwrap_or_else(|| "The URL was refused.".into()),
            false,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted_everywhere() {
        let c = check_url("  https://example.com/hooks?x=1 ", false);
        assert!(c.ok, "{c:?}");
        assert_eq!(c.url.as_deref(), Some("https://example.com/hooks?x=1"));
        assert!(check_url("https://127.0.0.1:9/x", true).ok);
    }

    #[test]
    fn http_only_for_loopback_on_the_sandbox() {
        for u in [
            "http://127.0.0.1:8080/x",
            "http://127.5.6.7/x",
            "http://[::1]:9/x",
            "http://LOCALHOST:3000/",
        ] {
            assert!(check_url(u, true).ok, "{u}");
            let c = check_url(u, false);
            assert!(!c.ok, "{u}");
            assert!(c.reason.unwrap().contains("sandbox"), "{u}");
        }
        for u in [
            "http://example.com/x",
            "http://10.0.0.1/x",
            "http://localhost.evil.com/",
        ] {
            let c = check_url(u, true);
            assert!(!c.ok, "{u}");
            assert!(c.reason.unwrap().contains("https"), "{u}");
        }
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        let long = format!("https://example.com/{}", "a".repeat(3000));
        for u in [
            "",
            "   ",
            "example.com/hooks",
            "ftp://example.com/x",
            "https://user:pw@example.com/x",
            "https://",
            "javascript:alert(1)",
            "mailto:a@b.c",
            "\u{0}\u{7f}",
            long.as_str(),
        ] {
            let c = check_url(u, true);
            assert!(!c.ok, "{u}");
            assert!(!c.reason.unwrap_or_default().is_empty(), "{u}");
            assert_eq!(
                validate_url(u, true).unwrap_err().code,
                codes::INVALID_INPUT
            );
        }
    }

    #[test]
    fn sandbox_base_urls() {
        assert!(is_sandbox_base_url("http://127.0.0.1:8787/api/public/v1"));
        assert!(!is_sandbox_base_url(crate::DEFAULT_BASE_URL));
        assert!(!is_sandbox_base_url("not a url"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,200}", sandbox in proptest::bool::ANY) {
            let c = check_url(&s, sandbox);
            proptest::prop_assert_eq!(c.ok, c.url.is_some());
        }
    }
}
