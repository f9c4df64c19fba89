//! Small helpers: time, ids, randomness, signing, e-mail and CSV.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

type HmacSha256 = Hmac<Sha256>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's civil calendar algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2026-03-10T12:00:00.000Z`.
pub fn fmt_ts(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s, milli) = (
        rem / 3_600_000,
        (rem / 60_000) % 60,
        (rem / 1000) % 60,
        rem % 1000,
    );
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`) into epoch milliseconds
/// (sub-millisecond digits are truncated). Returns None for anything else.
pub fn parse_ts(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !s.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b'T' || b[10] == b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (y, mo, d, h, mi, sec) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mdays = match mo {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d > mdays {
        return None;
    }
    let mut i = 19;
    let mut millis = 0i64;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        if frac.is_empty() || frac.len() > 9 {
            return None;
        }
        let mut padded = frac.to_string();
        while padded.len() < 3 {
            padded.push('0');
        }
        millis = padded[..3].parse().ok()?;
    }
    let offset_min = match &s[i..] {
        "Z" | "z" => 0,
        rest if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let rb = rest.as_bytes();
            if rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[4..6].parse().ok()?;
            if !rest[1..3].bytes().all(|c| c.is_ascii_digit())
                || !rest[4..6].bytes().all(|c| c.is_ascii_digit())
                || oh > 23
                || om > 59
            {
                return None;
            }
            let v = oh * 60 + om;
            if rest.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let sec = sec.min(59);
    let days = days_from_civil(y, mo, d);
    Some(
        days * 86_400_000 + h * 3_600_000 + mi * 60_000 + sec * 1000 + millis - offset_min * 60_000,
    )
}

/// A tiny deterministic generator (SplitMix64) for fault draws and generated demo data.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

static ID_COUNTER: AtomicU64 = AtomicU64::new(0);

fn os_random_u64() -> u64 {
    let mut buf = [0u8; 8];
    if getrandom::fill(&mut buf).is_err() {
        // Fall back to time and a counter: ids stay unique, only less unpredictable.
        return (now_ms() as u64) ^ ID_COUNTER.fetch_add(1, Ordering::Relaxed).rotate_left(32);
    }
    u64::from_le_bytes(buf)
}

thread_local! {
    static FAST: std::cell::RefCell<SplitMix> = std::cell::RefCell::new(SplitMix::new(os_random_u64()));
}

fn fast_u64() -> u64 {
    FAST.with(|r| r.borrow_mut().next_u64())
}

const ALNUM_LOWER: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// `prefix` + `n` random characters from [0-9a-z] (not secret: ids and request ids).
pub fn new_id(prefix: &str, n: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + n);
    s.push_str(prefix);
    let mut v = fast_u64();
    for i in 0..n {
        if i % 12 == 11 {
            v = fast_u64();
        }
        s.push(ALNUM_LOWER[(v % 36) as usize] as char);
        v /= 36;
    }
    s
}

pub fn new_request_id() -> String {
    format!(
        "req_{:016x}{:08x}",
        fast_u64(),
        (fast_u64() & 0xffff_ffff) as u32
    )
}

/// Secret random bytes from the OS, hex encoded.
pub fn secret_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        for chunk in buf.chunks_mut(8) {
            let v = os_random_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
    hex::encode(buf)
}

pub fn hmac_hex(key: &[u8], msg: &[u8]) -> String {
    // new_from_slice accepts keys of any length for HMAC; the error branch cannot happen.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// Constant-time comparison of a hex HMAC.
pub fn hmac_verify(key: &[u8], msg: &[u8], hex_sig: &str) -> bool {
    let Ok(sig) = hex::decode(hex_sig) else {
        return false;
    };
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.verify_slice(&sig).is_ok()
        }
        Err(_) => false,
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(Sha256::digest(data))
}

/// An e-mail address as the contract's `email` pattern allows it (see `crate::rules`).
pub fn valid_email(s: &str) -> bool {
    s.chars().count() <= 254 && crate::rules::matches(crate::rules::EMAIL, s)
}

/// A bare DNS host name as the contract's `company_domain` pattern allows it (see `crate::rules`).
pub fn valid_hostname(domain: &str) -> bool {
    domain.chars().count() <= 253 && crate::rules::matches(crate::rules::HOST, domain)
}

/// One CSV field (RFC 4180 quoting).
pub fn csv_field(out: &mut String, v: &str) {
    if v.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&v.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let ms = parse_ts("2026-03-10T12:00:00.000Z").unwrap_or(-1);
        assert_eq!(fmt_ts(ms), "2026-03-10T12:00:00.000Z");
        assert_eq!(parse_ts("2026-03-10T13:00:00.5+01:00"), Some(ms + 500));
        assert_eq!(parse_ts("2026-02-30T00:00:00Z"), None);
        assert_eq!(parse_ts("yesterday"), None);
        assert_eq!(parse_ts("2026-03-10T12:00:00.000Zjunk"), None);
        assert_eq!(fmt_ts(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn emails() {
        assert!(valid_email("ada@example.com"));
        assert!(!valid_email("[email\u{a0}protected]"));
        assert!(!valid_email("[email protected]"));
        assert!(!valid_email("ada@localhost"));
        assert!(!valid_email("a..b@example.com"));
    }
}
