//! Who may talk to the sandbox, checked once in [`crate::api::entry`] before any routing.
//!
//! The sandbox listens on `127.0.0.1` only, but a loopback port is reachable from every web page
//! the user opens: a page can send simple requests (a `POST` with no preflight) to it, and with
//! DNS rebinding (its own name resolving to 127.0.0.1) read the answers too. Both arrive with the
//! page's own name in `Host`. So:
//!
//! | Request                                              | Answer                          |
//! |------------------------------------------------------|---------------------------------|
//! | `Host` (or the URI authority) is not `127.0.0.1:PORT` or `localhost:PORT` (the bound port) | 403 `forbidden`, on every path |
//! | `/_sandbox/*` without `X-Sandbox-Admin-Token`         | 401 `unauthorized`              |
//! | `/_sandbox/*` with another token than this run's      | 403 `forbidden`                 |
//! | otherwise                                             | routed (public API: Bearer key) |
//!
//! `localhost` is accepted: a rebinding attack needs a name of the attacker's, and `localhost`
//! never is one. The admin token is random per start and never stored: the owner of the sandbox
//! (the stand-alone binary's ready line, or the embedded sandbox's [`crate::Sandbox`]) holds it.

use crate::api::ApiError;
use axum::extract::Request;
use axum::http::{header, StatusCode};

/// The request header that carries the admin token.
pub const ADMIN_TOKEN_HEADER: &str = "x-sandbox-admin-token";

/// The longest `Host` value quoted back in an error message.
const QUOTE_MAX: usize = 80;

/// Refuses a request whose `Host` is not the sandbox's own address (`port` is the bound port).
pub fn check_host(req: &Request, port: u16) -> Result<(), ApiError> {
    let named = match req.uri().authority() {
        Some(a) => Some(a.as_str().to_owned()),
        None => req
            .headers()
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
    };
    if let Some(host) = &named {
        if is_own_host(host, port) {
            return Ok(());
        }
    }
    let quoted: String = named
        .as_deref()
        .unwrap_or("(none)")
        .chars()
        .take(QUOTE_MAX)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!(
            "This sandbox answers only requests addressed to 127.0.0.1:{port} or localhost:{port}, \
             and this one named Host {quoted}. Use the base URL the sandbox printed."
        ),
    ))
}

fn is_own_host(host: &str, port: u16) -> bool {
    let (name, named_port) = match host.rsplit_once(':') {
        Some((name, p)) => match p.parse::<u16>() {
            Ok(p) => (name, p),
            Err(_) => return false,
        },
        None => (host, 80),
    };
    named_port == port && (name == "127.0.0.1" || name.eq_ignore_ascii_case("localhost"))
}

/// Refuses an admin request that does not carry this run's token.
pub fn check_admin_token(req: &Request, token: &str) -> Result<(), ApiError> {
    let Some(sent) = req.headers().get(ADMIN_TOKEN_HEADER) else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "The sandbox admin surface needs the X-Sandbox-Admin-Token header: use the \
             admin_token the sandbox printed when it started.",
        ));
    };
    if !ct_eq(sent.as_bytes(), token.as_bytes()) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "X-Sandbox-Admin-Token is not this sandbox's: each start prints a new admin_token.",
        ));
    }
    Ok(())
}

/// Compares without an early exit on the first differing byte.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_host_is_the_bound_address_only() {
        assert!(is_own_host("127.0.0.1:8787", 8787));
        assert!(is_own_host("localhost:8787", 8787));
        assert!(is_own_host("LocalHost:8787", 8787));
        assert!(is_own_host("127.0.0.1", 80));
        assert!(!is_own_host("127.0.0.1", 8787));
        assert!(!is_own_host("127.0.0.1:8788", 8787));
        assert!(!is_own_host("evil.example:8787", 8787));
        assert!(!is_own_host("localhost.evil.example:8787", 8787));
        assert!(!is_own_host("127.0.0.1:8787:1", 8787));
        assert!(!is_own_host("[::1]:8787", 8787));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
