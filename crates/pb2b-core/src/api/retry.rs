//! When the client tries a request again, and how long it waits first.
//!
//! Retries live here and only here (callers never loop). The rules:
//!
//! | method | retried on |
//! |--------|------------|
//! | GET | connection failures (refused, dropped, timeout), 429, 5xx |
//! | POST / PATCH with an `Idempotency-Key` | the same, plus 409 `idempotency_key_in_use` |
//! | POST / PATCH without one | never: the server may have applied it, and a second try could duplicate it |
//! | DELETE | only when the connection was never made, or on 429: in both cases the server did nothing (the contract checks the rate limit before anything else), so trying again is safe; after a 5xx or a dropped answer the delete may have happened and a retry would answer a confusing 404 |
//!
//! Never retried: 400, 401, 403, 404, 405, 413, 415, 422, 409 `idempotency_key_reused`, TLS
//! failures. The wait is exponential backoff with full jitter (`random(0, min(max_delay,
//! base_delay * 2^(n-1)))`); a `Retry-After` from the server always wins over it. A Retry-After
//! longer than `max_retry_after` is not waited out: the error goes back to the user, who is told
//! how long to wait, instead of a frozen screen.

use std::time::Duration;

/// How many times, and how patiently, the client retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retry).
    pub max_attempts: u32,
    /// The first backoff ceiling.
    pub base_delay: Duration,
    /// The largest backoff ceiling (does not bound `Retry-After`).
    pub max_delay: Duration,
    /// The longest `Retry-After` the client waits out by itself.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }
}

/// How one attempt failed, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// No connection was made (refused, DNS, no route): nothing reached the server.
    Connect,
    /// The request was sent (or may have been) and the answer never came complete.
    Dropped,
    /// No answer within the timeout (the request may have been applied).
    Timeout,
    /// TLS handshake failure: retrying gives the same answer.
    Tls,
    /// An HTTP answer with this status and error code.
    Status(u16, Option<String>),
}

/// The HTTP methods the client uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// Whether a failed attempt may be tried again (attempt counting is separate).
pub fn is_retryable(method: Method, has_idempotency_key: bool, failure: &Failure) -> bool {
    let transient_status = |s: u16| s == 429 || (500..=599).contains(&s);
    match method {
        Method::Get => match failure {
            Failure::Connect | Failure::Dropped | Failure::Timeout => true,
            Failure::Tls => false,
            Failure::Status(s, _) => transient_status(*s),
        },
        Method::Post | Method::Patch => {
            has_idempotency_key
                && match failure {
                    Failure::Connect | Failure::Dropped | Failure::Timeout => true,
                    Failure::Tls => false,
                    Failure::Status(409, code) => code.as_deref() == Some("idempotency_key_in_use"),
                    Failure::Status(s, _) => transient_status(*s),
                }
        }
        Method::Delete => matches!(failure, Failure::Connect | Failure::Status(429, _)),
    }
}

/// The backoff ceiling before retry number `retry` (1 = the wait after the first attempt).
pub fn backoff_ceiling(policy: &RetryPolicy, retry: u32) -> Duration {
    let exp = retry.saturating_sub(1).min(31);
    let factor = 1u32 << exp;
    policy
        .base_delay
        .checked_mul(factor)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay)
}

/// The wait before retry number `retry`, or `None` to give up now. `unit` is a random number in
/// `[0, 1)` (full jitter; injected so the rule is testable); `retry_after` is the server's.
pub fn next_delay(
    policy: &RetryPolicy,
    retry: u32,
    retry_after: Option<Duration>,
    unit: f64,
) -> Option<Duration> {
    if retry >= policy.max_attempts {
        return None;
    }
    if let Some(ra) = retry_after {
        return (ra <= policy.max_retry_after).then_some(ra);
    }
    let ceiling = backoff_ceiling(policy, retry);
    Some(ceiling.mul_f64(unit.clamp(0.0, 1.0)))
}

/// Parses `Retry-After` in seconds (the contract's form). HTTP dates and garbage are ignored.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs.min(24 * 3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: u16) -> Failure {
        Failure::Status(s, None)
    }
    fn code(s: u16, c: &str) -> Failure {
        Failure::Status(s, Some(c.into()))
    }

    #[test]
    fn get_retries_transport_429_and_5xx_only() {
        for f in [
            Failure::Connect,
            Failure::Dropped,
            Failure::Timeout,
            st(429),
            st(500),
            st(503),
        ] {
            assert!(is_retryable(Method::Get, false, &f), "{f:?}");
        }
        for f in [
            Failure::Tls,
            st(400),
            st(401),
            st(403),
            st(404),
            st(409),
            st(422),
        ] {
            assert!(!is_retryable(Method::Get, false, &f), "{f:?}");
        }
    }

    #[test]
    fn writes_retry_only_with_an_idempotency_key() {
        for m in [Method::Post, Method::Patch] {
            for f in [
                Failure::Connect,
                Failure::Dropped,
                Failure::Timeout,
                st(429),
                st(500),
                code(409, "idempotency_key_in_use"),
            ] {
                assert!(is_retryable(m, true, &f), "{m:?} {f:?}");
                assert!(!is_retryable(m, false, &f), "{m:?} {f:?} without key");
            }
            for f in [
                st(400),
                st(401),
                st(403),
                st(404),
                st(422),
                code(409, "idempotency_key_reused"),
                code(409, "export_not_ready"),
                Failure::Tls,
            ] {
                assert!(!is_retryable(m, true, &f), "{m:?} {f:?}");
            }
        }
    }

    #[test]
    fn delete_retries_only_when_the_server_did_nothing() {
        assert!(is_retryable(Method::Delete, false, &Failure::Connect));
        assert!(is_retryable(Method::Delete, false, &st(429)));
        for f in [Failure::Dropped, Failure::Timeout, st(500), st(404)] {
            assert!(!is_retryable(Method::Delete, false, &f), "{f:?}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_up_to_the_cap() {
        let p = RetryPolicy {
            max_attempts: 20,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(5),
        };
        assert_eq!(backoff_ceiling(&p, 1), Duration::from_millis(100));
        assert_eq!(backoff_ceiling(&p, 2), Duration::from_millis(200));
        assert_eq!(backoff_ceiling(&p, 4), Duration::from_millis(800));
        assert_eq!(backoff_ceiling(&p, 5), Duration::from_secs(1));
        assert_eq!(backoff_ceiling(&p, 19), Duration::from_secs(1));
        // Full jitter: 0 ..= ceiling, never above.
        for retry in 1..19 {
            for unit in [0.0, 0.25, 0.5, 0.999_999] {
                let d = next_delay(&p, retry, None, unit).unwrap();
                assert!(d <= backoff_ceiling(&p, retry), "{retry} {unit} {d:?}");
            }
            assert_eq!(next_delay(&p, retry, None, 0.0), Some(Duration::ZERO));
        }
        assert_eq!(
            next_delay(&p, 3, None, 0.5),
            Some(Duration::from_millis(200))
        );
        // Out-of-range units are clamped.
        assert_eq!(
            next_delay(&p, 1, None, 7.0),
            Some(Duration::from_millis(100))
        );
        // Huge retry numbers do not overflow.
        let huge = RetryPolicy {
            max_attempts: u32::MAX,
            ..p
        };
        assert_eq!(backoff_ceiling(&huge, u32::MAX - 1), Duration::from_secs(1));
    }

    #[test]
    fn attempts_are_bounded() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert!(next_delay(&p, 1, None, 0.5).is_some());
        assert!(next_delay(&p, 2, None, 0.5).is_some());
        assert_eq!(next_delay(&p, 3, None, 0.5), None);
        assert_eq!(next_delay(&RetryPolicy::none(), 1, None, 0.5), None);
    }

    #[test]
    fn retry_after_wins_over_backoff_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(10),
        };
        // Longer than max_delay, still honoured exactly, whatever the jitter.
        for unit in [0.0, 0.5, 0.99] {
            assert_eq!(
                next_delay(&p, 1, Some(Duration::from_secs(3)), unit),
                Some(Duration::from_secs(3))
            );
        }
        // Longer than the sane cap: give up and let the user see the wait.
        assert_eq!(next_delay(&p, 1, Some(Duration::from_secs(11)), 0.5), None);
        // Still bounded by attempts.
        assert_eq!(next_delay(&p, 5, Some(Duration::from_secs(1)), 0.5), None);
    }

    #[test]
    fn retry_after_parsing_is_lenient() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(Some(" 1 ")), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            None
        );
        assert_eq!(parse_retry_after(Some("-1")), None);
        assert_eq!(parse_retry_after(Some("")), None);
        assert_eq!(parse_retry_after(None), None);
        assert_eq!(
            parse_retry_after(Some("99999999999")),
            Some(Duration::from_secs(24 * 3600))
        );
    }
}
