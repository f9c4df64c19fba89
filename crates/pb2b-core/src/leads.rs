//! Create one lead safely, and edit one.
//!
//! The form (UI) and the CLI build a [`NewLead`], call [`validate`] as the user types (the same
//! rules the contract's `LeadCreate` states, so the UI never holds a rule of its own), and submit
//! a [`LeadSubmission`]: the lead plus an `Idempotency-Key` made once when the user presses
//! Submit. Every automatic retry (the client's retry layer) and every manual "Try again" of that
//! submission sends the same key, so a double click or a retry after a timeout never makes two
//! leads; the server answers a replay with the same lead and `Idempotent-Replayed: true`.
//! When the user changes a value after a failed attempt, the form makes a new submission
//! ([`LeadSubmission::new`]): the same key with other values would be refused with 409
//! `idempotency_key_reused`, which [`create`] explains in plain words. The created lead is
//! written into the workspace's mirror at once, as an edit's answer is: an import reviewed right
//! after (against a mirror synced minutes ago) then finds it and does not create it again.
//!
//! ```ignore
//! let errors = leads::validate(&lead);            // Vec<FieldError>, empty when valid
//! let submission = LeadSubmission::new(lead);       // key made once
//! match leads::create(&client, Some(&mirror), &submission).await {
//!     Ok(CreatedLead { lead, request_id, replayed }) => ..,
//!     Err(CreateLeadError { error, fields }) => ..  // fields: server errors per field
//! }
//! ```
//!
//! Edit one lead ([`edit`], PATCH `/leads/{id}`): the Leads drawer and `pb2b leads update`.
//!
//! | Rule | Where |
//! |---|---|
//! | An edit is checked with the create form's rules ([`validate`]), for the changed fields only | [`validate_edit`] |
//! | Only changed fields are sent; `""` clears an optional field (email, status, source cannot be cleared) | [`edit_changes`], [`edit_patch`] |
//! | Nothing changed: nothing is sent | [`edit`] |
//! | The lead changed on the server since it was loaded: nothing is sent; the error lists the fields someone else changed, old → new, and carries the edit to reapply on the server's version | [`edit`] (`lead_changed`) |
//! | 404 (before or on sending): the lead was deleted on the server; it leaves the mirror | [`edit`] |
//! | The server's answer (or the fresher version a conflict found) replaces the mirror's row | [`edit`] |
//! | PATCH is not retried (no Idempotency-Key), per `api/retry.rs` | the client |

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::api::{ApiError, ApiErrorKind, Client, Lead, LeadPatch, NewLead, Patch, LEAD_STATUSES};
use crate::error::{codes, Code, ErrorReport};
use crate::sync::Mirror;

/// One problem with one field: `field` is the contract's name (`email`, `custom_fields.tier`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "FieldError.ts")]
pub struct FieldError {
    pub field: String,
    /// `required`, `invalid_email`, `too_long`, `too_short`, `invalid_format`, `invalid_url`,
    /// `invalid_value`, `too_many`, or a server code.
    pub code: String,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, code: &str, message: impl Into<String>) -> Self {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// A lead to create and the Idempotency-Key that names this submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "LeadSubmission.ts")]
pub struct LeadSubmission {
    /// `lead-<32 hex>`; made once by [`LeadSubmission::new`], kept for every retry.
    pub idempotency_key: String,
    pub lead: NewLead,
}

impl LeadSubmission {
    /// A new submission with a fresh random key.
    pub fn new(lead: NewLead) -> Self {
        LeadSubmission {
            idempotency_key: format!("lead-{}", random_hex(16)),
            lead,
        }
    }
}

/// `n` random bytes as `2n` lowercase hex digits (OS randomness, falling back to fastrand if the
/// OS refuses): the one source of the core's random ids and idempotency keys.
pub(crate) fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    if getrandom::fill(&mut buf).is_err() {
        buf.iter_mut().for_each(|b| *b = fastrand::u8(..));
    }
    hex::encode(buf)
}

/// The answer to a successful [`create`].
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "CreatedLead.ts")]
pub struct CreatedLead {
    pub lead: Lead,
    pub request_id: String,
    /// The server replayed the stored answer of an earlier attempt with the same key.
    pub replayed: bool,
}

/// A failed [`create`]: the one error shape plus the fields it concerns (local validation or the
/// server's `details.fields`), so the form puts each message under its field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export_to = "CreateLeadError.ts")]
pub struct CreateLeadError {
    pub error: ErrorReport,
    pub fields: Vec<FieldError>,
}

impl From<CreateLeadError> for ErrorReport {
    fn from(e: CreateLeadError) -> Self {
        e.error
    }
}

impl std::fmt::Display for CreateLeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// The contract's maximum length (characters) of each string field of `LeadCreate`.
pub const FIELD_MAX_LEN: [(&str, usize); 10] = [
    ("email", 254),
    ("full_name", 200),
    ("first_name", 100),
    ("last_name", 100),
    ("phone", 50),
    ("job_title", 200),
    ("company_name", 200),
    ("company_domain", 253),
    ("linkedin_url", 500),
    ("source", 100),
];

/// The contract's lead fields, in form order.
pub const LEAD_FIELDS: [&str; 12] = [
    "full_name",
    "email",
    "company_name",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_domain",
    "linkedin_url",
    "status",
    "source",
    "custom_fields",
];

/// `s.trim()`, without decoding characters when both ends are visible ASCII (the usual cell).
#[inline]
pub(crate) fn trim_fast(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_graphic() && b.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// The bytes an e-mail's local part may hold: ASCII letters, digits and ``.!#$%&'*+/=?^_`{|}~-``.
const LOCAL_PART: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = (c as u8).is_ascii_alphanumeric();
        c += 1;
    }
    let extra = b".!#$%&'*+/=?^_`{|}~-";
    let mut i = 0;
    while i < extra.len() {
        t[extra[i] as usize] = true;
        i += 1;
    }
    t
};

/// `local@domain.tld`, ASCII, no spaces or brackets (the contract's rule): a local part of
/// 1..=64 [`LOCAL_PART`] bytes, not starting or ending with a dot nor holding two in a row, then
/// `@` and a [`valid_hostname`] (which has a dot: two labels at least), 254 bytes in all.
///
/// One scan: the local part is checked up to the first byte it may not hold, which must be the
/// `@` (`@` and every non-ASCII byte are outside [`LOCAL_PART`], and outside the host name's
/// bytes too, so the whole address is ASCII with one `@`). `tests::email_scan_equals_the_rule_as_written`
/// compares it with the rule written out step by step.
pub fn valid_email(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() > 254 {
        return false;
    }
    let mut i = 0;
    let mut prev_dot = false;
    while i < b.len() && LOCAL_PART[b[i] as usize] {
        let dot = b[i] == b'.';
        if dot && (i == 0 || prev_dot) {
            return false;
        }
        prev_dot = dot;
        i += 1;
    }
    if i == 0 || i > 64 || prev_dot || b.get(i) != Some(&b'@') {
        return false;
    }
    valid_hostname(&s[i + 1..])
}

/// The bytes a host name may hold: ASCII letters, digits, `-` and `.`.
const HOST_BYTE: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        c += 1;
    }
    t
};

/// The host name at the start of `b`, up to its end or its first `/`, `?` or `#`: `Some(end)`
/// when `b[..end]` is a [`valid_hostname`], `None` when it is not. One pass, with one
/// predictable branch per byte besides the dots (any byte a host may not hold, other than
/// those three, makes it invalid); each label is checked when its dot is reached.
#[inline]
fn host_end(b: &[u8]) -> Option<usize> {
    #[inline(always)]
    fn label_ok(l: &[u8]) -> bool {
        matches!((l.first(), l.last()), (Some(&f), Some(&e)) if f != b'-' && e != b'-')
            && l.len() <= 63
    }
    let (mut start, mut labels) = (0, 0u32);
    let mut end = 0;
    while end < b.len() && HOST_BYTE[b[end] as usize] {
        if b[end] == b'.' {
            if !label_ok(&b[start..end]) {
                return None;
            }
            labels += 1;
            start = end + 1;
        }
        end += 1;
    }
    if end < b.len() && !matches!(b[end], b'/' | b'?' | b'#') {
        return None;
    }
    // The last label is the top-level domain: 2+ letters, after one label at least.
    let tld = &b[start..end];
    (end <= 253
        && labels >= 1
        && label_ok(tld)
        && tld.len() >= 2
        && tld.iter().all(u8::is_ascii_alphabetic))
    .then_some(end)
}

/// A bare host name (`example.com`) with a letter-only TLD of 2+ characters: labels of 1..=63
/// letters, digits and hyphens, not starting or ending with a hyphen, two at least, 253 bytes
/// in all. `tests::host_scan_equals_the_rule_as_written` compares the one scan ([`host_end`])
/// with the rule written out label by label.
#[inline]
pub fn valid_hostname(domain: &str) -> bool {
    host_end(domain.as_bytes()) == Some(domain.len())
}

/// [`FIELD_MAX_LEN`] of a field, at compile time (`usize::MAX` for a field it does not list).
const fn max_len(field: &str) -> usize {
    let mut i = 0;
    while i < FIELD_MAX_LEN.len() {
        let (name, max) = FIELD_MAX_LEN[i];
        if name.len() == field.len() {
            let (a, b) = (name.as_bytes(), field.as_bytes());
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return max;
            }
        }
        i += 1;
    }
    usize::MAX
}

/// The format rule a string field follows besides its length.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Any,
    Host,
    HttpsUrl,
}

/// Checks one string field: `max` is its [`max_len`] (a constant at every call).
#[inline(always)]
fn check_str(
    errs: &mut Vec<FieldError>,
    field: &str,
    max: usize,
    format: Format,
    value: Option<&str>,
) {
    let Some(v) = value else { return };
    let v = trim_fast(v);
    if v.is_empty() {
        if field != "email" {
            errs.push(FieldError::new(
                field,
                "too_short",
                "must not be empty (leave it out instead)",
            ));
        }
        return;
    }
    // The lead is normalised ([`check`]): the value is checked exactly as it is sent.
    // Characters are never more than bytes: only a long value needs counting.
    if v.len() > max && v.chars().count() > max {
        errs.push(FieldError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
        return;
    }
    match format {
        Format::Host if !valid_hostname(v) => errs.push(FieldError::new(
            field,
            "invalid_format",
            "must be a web address or host name such as example.com (letters, digits and hyphens, ending in a letters-only top-level domain)",
        )),
        Format::HttpsUrl if !valid_https_url(v) => {
            errs.push(FieldError::new(
                field,
                "invalid_url",
                "must be an https URL to a host name, without spaces",
            ));
        }
        _ => {}
    }
}

/// The contract's `https_url` pattern: `https://`, a host name as [`valid_hostname`] (no port,
/// no user), then optionally `/`, `?` or `#` and anything but space, tab, CR and LF.
pub fn valid_https_url(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("https://") else {
        return false;
    };
    // Bytes, not chars: every byte looked for is ASCII, which never occurs inside a multi-byte
    // character. The host is checked in the scan that finds its end (a byte a host may not
    // hold before the first `/`, `?` or `#` makes it invalid wherever that end is).
    match host_end(rest.as_bytes()) {
        Some(end) => !rest.as_bytes()[end..]
            .iter()
            .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')),
        None => false,
    }
}

/// The company domain as it is sent: a web address or a host name becomes its host, lower
/// case, international names in their ASCII (IDNA, `xn--`) form.
///
/// | input | sent |
/// |---|---|
/// | `https://www.Acme.com/about?x` | `acme.com` (scheme, user, port, path, query dropped) |
/// | `acme.co.uk:443`, `//acme.com/x` | `acme.co.uk`, `acme.com` |
/// | `www.acme.com`, `acme.com.` | `acme.com` (one leading `www.` and trailing dots dropped, as before) |
/// | `https://www.Müller-Bäckerei.de/kontakt` | `xn--mller-bckerei-hfb76a.de` (UTS 46 via the `idna` crate) |
/// | `Acme Inc` | `acme inc` (still not a host: [`validate`] refuses it, an import drops it) |
/// | `acme.com:80:80`, `www.www.acme.com` | `acme.com` (repeated until it gives itself back) |
///
/// A fixed point: a normalised value normalises to itself, so what [`normalize`] sends is what
/// the checks see.
pub fn normalize_domain(v: &str) -> String {
    let mut out = String::new();
    normalize_domain_into(v, &mut out);
    out
}

/// [`normalize_domain`] into `out` (cleared first), reusing its buffer: an import normalises
/// every row's domain.
pub(crate) fn normalize_domain_into(v: &str, out: &mut String) {
    out.clear();
    let plain = normalize_domain_once(v, out);
    // A plain host's lower case holds only lower-case letters, digits, dots and hyphens: only
    // its ends are left to look at.
    let done = if plain {
        !out.is_empty() && !out.ends_with('.') && !out.starts_with("www.")
    } else {
        is_normalized_domain(out)
    };
    debug_assert_eq!(done, is_normalized_domain(out), "{v:?}");
    if done {
        return;
    }
    // One pass can expose what another would strip (a second port, a second `www.`, a space
    // after `www.`, a full-width colon IDNA turned into `:`); repeat until nothing changes. Each
    // pass that changes an already-normalised ASCII value shortens it; the bound only guards
    // against a pathological non-ASCII value IDNA keeps refusing.
    let mut next = String::new();
    for _ in 0..16 {
        next.clear();
        let _ = normalize_domain_once(out, &mut next);
        if next == *out {
            break;
        }
        std::mem::swap(out, &mut next);
        if is_normalized_domain(out) {
            break;
        }
    }
}

/// One pass of [`normalize_domain`], appended to `out`. `true` when the host was plain: ASCII
/// letters, digits, dots and hyphens only, up to its end (no user, port or other byte), so
/// what was appended is its lower case less a leading `www.` and trailing dots.
fn normalize_domain_once(v: &str, out: &mut String) -> bool {
    let s = trim_fast(v);
    // The first `://` (bytes: every byte looked for here is ASCII).
    let b = s.as_bytes();
    let mut scheme = None;
    let mut from = 0;
    while let Some(p) = b[from..].iter().position(|&c| c == b':') {
        if b[from + p + 1..].starts_with(b"//") {
            scheme = Some(from + p);
            break;
        }
        from += p + 1;
    }
    let rest = match scheme {
        Some(i)
            if i > 0
                && s[..i]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-')) =>
        {
            &s[i + 3..]
        }
        _ => s.strip_prefix("//").unwrap_or(s),
    };
    // The host ends at the first `/`, `?` or `#`; it starts after its last `@`, and a port after
    // its last `:` (when that `:` is after the `@`) is dropped. One forward scan finds all three.
    let rb = rest.as_bytes();
    let (mut end, mut at, mut colon) = (rb.len(), None, None);
    let mut plain = true;
    let mut i = 0;
    loop {
        // Host bytes (the usual ones) skipped in a tight loop.
        while i < rb.len() && HOST_BYTE[rb[i] as usize] {
            i += 1;
        }
        match rb.get(i) {
            None => break,
            Some(b'/' | b'?' | b'#') => {
                end = i;
                break;
            }
            Some(&c) => {
                plain = false;
                match c {
                    b'@' => at = Some(i),
                    b':' => colon = Some(i),
                    _ => {}
                }
            }
        }
        i += 1;
    }
    let mut host = &rest[..end];
    let colon = colon.filter(|&c| at.is_none_or(|a| c > a));
    let colon = match at {
        Some(i) => {
            host = &host[i + 1..];
            colon.map(|c| c - (i + 1))
        }
        None => colon,
    };
    if let Some(i) = colon {
        if host.as_bytes()[i + 1..].iter().all(u8::is_ascii_digit) {
            host = &host[..i];
        }
    }
    let host = trim_fast(host);
    // Trailing dots off (bytes: `.` is ASCII).
    let host = &host[..host.len() - host.bytes().rev().take_while(|&b| b == b'.').count()];
    if plain || host.is_ascii() {
        // Lower case, then one leading `www.` off: the same as stripping it case-insensitively
        // first (the host has no trailing dot left to trim).
        let host = match host.as_bytes().get(..4) {
            Some(w) if w.eq_ignore_ascii_case(b"www.") => &host[4..],
            _ => host,
        };
        let start = out.len();
        out.push_str(host);
        out[start..].make_ascii_lowercase();
        return plain;
    }
    // Full-width dots and other UTS 46 mappings included; a name IDNA refuses stays as typed
    // (lower case) and fails the host check with the reason.
    let ascii = idna::domain_to_ascii(host).unwrap_or_else(|_| host.to_lowercase());
    let ascii = ascii.trim_end_matches('.');
    out.push_str(ascii.strip_prefix("www.").unwrap_or(ascii));
    false
}

/// Whether [`normalize_domain`] gives `v` back unchanged, decided without allocating: lower-case
/// ASCII letters, digits, dots and hyphens, no trailing dot, no leading `www.`. (The common case
/// of a row already holding a host; the import checks every row's domain.)
#[inline]
fn is_normalized_domain(v: &str) -> bool {
    !v.is_empty()
        && v.bytes()
            .all(|b| HOST_BYTE[b as usize] && !b.is_ascii_uppercase())
        && !v.ends_with('.')
        && !v.starts_with("www.")
}

/// Whether [`normalize_linkedin`] gives `v` back unchanged (trimmed, already `https://`),
/// decided without allocating.
fn is_normalized_linkedin(v: &str) -> bool {
    v.starts_with("https://") && trim_fast(v).len() == v.len()
}

/// `linkedin.com/in/x` or `http://…` → `https://…`.
pub fn normalize_linkedin(v: &str) -> String {
    let s = v.trim();
    if let Some(rest) = s.strip_prefix("http://") {
        return format!("https://{rest}");
    }
    if !s.starts_with("https://") && s.to_ascii_lowercase().contains("linkedin.com") {
        return format!("https://{s}");
    }
    s.to_owned()
}

/// Checks custom fields: at most 50 keys of 1..64 characters, string values up to 1000
/// characters, values string/number/boolean/null.
pub fn validate_custom_fields(m: &Map<String, Value>, errs: &mut Vec<FieldError>) {
    if m.len() > 50 {
        errs.push(FieldError::new(
            "custom_fields",
            "too_many",
            "at most 50 custom fields",
        ));
    }
    for (k, v) in m {
        let name = format!("custom_fields.{k}");
        if k.is_empty() || k.chars().count() > 64 {
            errs.push(FieldError::new(
                &name,
                "invalid_format",
                "custom field names have 1..64 characters",
            ));
        }
        match v {
            Value::String(s) if s.chars().count() > 1000 => errs.push(FieldError::new(
                &name,
                "too_long",
                "at most 1000 characters",
            )),
            Value::Array(_) | Value::Object(_) => errs.push(FieldError::new(
                &name,
                "invalid_type",
                "values are strings, numbers, booleans or null",
            )),
            _ => {}
        }
    }
}

/// Every problem the contract would refuse, per field (empty when the lead can be sent), with
/// the lead taken as [`create`] sends it ([`normalize`]d: a web address in `company_domain` is
/// fine, it is sent as its host).
pub fn validate(lead: &NewLead) -> Vec<FieldError> {
    let mut lead = lead.clone();
    normalize(&mut lead);
    check(&lead)
}

/// [`validate`] of a lead already [`normalize`]d: every value is checked as it is, which is
/// how it is sent (both normalisers are fixed points, so normalising again would change nothing).
fn check(lead: &NewLead) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let email = trim_fast(&lead.email);
    if email.is_empty() {
        errs.push(FieldError::new("email", "required", "email is required"));
    } else if email.len() > 254 {
        errs.push(FieldError::new(
            "email",
            "too_long",
            "at most 254 characters",
        ));
    } else if !valid_email(email) {
        errs.push(FieldError::new(
            "email",
            "invalid_email",
            format!("'{email}' is not a valid e-mail address"),
        ));
    }
    check_str(
        &mut errs,
        "full_name",
        const { max_len("full_name") },
        Format::Any,
        lead.full_name.as_deref(),
    );
    check_str(
        &mut errs,
        "first_name",
        const { max_len("first_name") },
        Format::Any,
        lead.first_name.as_deref(),
    );
    check_str(
        &mut errs,
        "last_name",
        const { max_len("last_name") },
        Format::Any,
        lead.last_name.as_deref(),
    );
    check_str(
        &mut errs,
        "phone",
        const { max_len("phone") },
        Format::Any,
        lead.phone.as_deref(),
    );
    check_str(
        &mut errs,
        "job_title",
        const { max_len("job_title") },
        Format::Any,
        lead.job_title.as_deref(),
    );
    check_str(
        &mut errs,
        "company_name",
        const { max_len("company_name") },
        Format::Any,
        lead.company_name.as_deref(),
    );
    check_str(
        &mut errs,
        "company_domain",
        const { max_len("company_domain") },
        Format::Host,
        lead.company_domain.as_deref(),
    );
    check_str(
        &mut errs,
        "linkedin_url",
        const { max_len("linkedin_url") },
        Format::HttpsUrl,
        lead.linkedin_url.as_deref(),
    );
    check_str(
        &mut errs,
        "source",
        const { max_len("source") },
        Format::Any,
        lead.source.as_deref(),
    );
    if let Some(s) = &lead.status {
        if !LEAD_STATUSES.contains(&s.trim()) {
            errs.push(FieldError::new(
                "status",
                "invalid_value",
                format!("must be one of {}", LEAD_STATUSES.join(", ")),
            ));
        }
    }
    if let Some(m) = &lead.custom_fields {
        validate_custom_fields(m, &mut errs);
    }
    errs
}

/// A value left out of a lead because the contract would refuse it (an import sends the lead
/// without it and lists it in the result files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "DroppedField.ts")]
pub struct DroppedField {
    /// The contract's name (`company_domain`, `custom_fields.notes`).
    pub field: String,
    /// The value as it was given (before normalisation).
    pub value: String,
    /// The [`FieldError`] code that ruled it out.
    pub code: String,
    /// Why, in words.
    pub message: String,
}

impl DroppedField {
    /// `company_domain "Acme Inc" (must be …)`: one value for a report cell.
    pub fn describe(&self) -> String {
        format!("{} \"{}\" ({})", self.field, self.value, self.message)
    }
}

/// The fields whose problem makes a whole lead invalid; a problem with any other field drops
/// that value only. `email` is the one field the contract requires; the name fields are who
/// the lead is, so a name that cannot be sent is not silently left out either (a row without
/// any name is still sent, as the contract allows).
pub const REQUIRED_FIELDS: [&str; 4] = ["email", "full_name", "first_name", "last_name"];

/// A lead made ready to send by [`prepare`].
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Normalised, without the dropped values.
    pub lead: NewLead,
    /// Problems with [`REQUIRED_FIELDS`]: the lead cannot be sent while there is one.
    pub errors: Vec<FieldError>,
    /// Optional values left out, with why.
    pub dropped: Vec<DroppedField>,
}

/// The one rule set, as an import applies it to each row: [`normalize`] the lead, check it as
/// [`validate`] does, then leave out every optional value the contract would refuse (listed in
/// `dropped`) instead of refusing the lead; only problems with [`REQUIRED_FIELDS`] stop it.
/// The form uses [`validate`] (the same checks) and refuses instead, because a person is
/// there to correct the value.
pub fn prepare(mut lead: NewLead) -> Prepared {
    let mut errors = Vec::new();
    let mut dropped = Vec::new();
    prepare_in_place(
        &mut lead,
        &mut errors,
        &mut dropped,
        &mut PrepareBuffers::default(),
    );
    Prepared {
        lead,
        errors,
        dropped,
    }
}

/// What [`prepare_in_place`] keeps from one lead to the next so that a lead needs no new
/// allocation: the buffer a domain is normalised into (and then holds the value as given).
#[derive(Debug, Default)]
pub struct PrepareBuffers {
    domain: String,
}

/// [`prepare`] of `lead` where it is, `errors` and `dropped` cleared and refilled: an import
/// prepares every row of a file into the same buffers. The one implementation of [`prepare`].
pub fn prepare_in_place(
    lead: &mut NewLead,
    errors: &mut Vec<FieldError>,
    dropped: &mut Vec<DroppedField>,
    buffers: &mut PrepareBuffers,
) {
    errors.clear();
    dropped.clear();
    // The values as given, where normalising changed them (a dropped value is listed as given):
    // the domain's in `buffers.domain` when `raw_domain`.
    let (mut raw_domain, mut raw_linkedin) = normalize_keeping(lead, &mut buffers.domain);
    for e in check(lead) {
        if REQUIRED_FIELDS.contains(&e.field.as_str()) || e.field == "custom_fields" {
            errors.push(e);
            continue;
        }
        if dropped.iter().any(|d| d.field == e.field) {
            continue;
        }
        let value = match e.field.as_str() {
            "company_domain" => lead.company_domain.take().map(|v| {
                if std::mem::take(&mut raw_domain) {
                    std::mem::take(&mut buffers.domain)
                } else {
                    v
                }
            }),
            "linkedin_url" => lead
                .linkedin_url
                .take()
                .map(|v| raw_linkedin.take().unwrap_or(v)),
            "phone" => lead.phone.take(),
            "job_title" => lead.job_title.take(),
            "company_name" => lead.company_name.take(),
            "status" => lead.status.take(),
            "source" => lead.source.take(),
            f => match f.strip_prefix("custom_fields.") {
                Some(name) => lead
                    .custom_fields
                    .as_mut()
                    .and_then(|m| m.remove(name))
                    .map(|v| match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    }),
                None => {
                    errors.push(e);
                    continue;
                }
            },
        };
        dropped.push(DroppedField {
            field: e.field,
            value: value.unwrap_or_default(),
            code: e.code,
            message: e.message,
        });
    }
    if lead.custom_fields.as_ref().is_some_and(Map::is_empty) {
        lead.custom_fields = None;
    }
}

/// Sets one field from its contract name (`custom_fields.<name>` or an unknown name goes to
/// `custom_fields`); used by the CLI's `--field KEY=VALUE`.
pub fn set_field(lead: &mut NewLead, key: &str, value: &str) {
    let v = Some(value.to_owned());
    match key {
        "email" => lead.email = value.to_owned(),
        "full_name" => lead.full_name = v,
        "first_name" => lead.first_name = v,
        "last_name" => lead.last_name = v,
        "phone" => lead.phone = v,
        "job_title" => lead.job_title = v,
        "company_name" => lead.company_name = v,
        "company_domain" => lead.company_domain = v,
        "linkedin_url" => lead.linkedin_url = v,
        "status" => lead.status = v,
        "source" => lead.source = v,
        other => {
            let name = other.strip_prefix("custom_fields.").unwrap_or(other);
            lead.custom_fields
                .get_or_insert_with(Map::new)
                .insert(name.to_owned(), Value::String(value.to_owned()));
        }
    }
}

/// The server's `details.fields[]` as [`FieldError`]s.
pub fn server_field_errors(err: &ApiError) -> Vec<FieldError> {
    err.details
        .as_ref()
        .and_then(|d| d.get("fields"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|f| {
                    let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    let code = s("code");
                    let message = s("message");
                    FieldError {
                        field: s("field"),
                        message: if message.is_empty() {
                            code.clone()
                        } else {
                            message
                        },
                        code,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The plain-language explanation of 409 `idempotency_key_reused` on the lead form.
pub const KEY_REUSED_MESSAGE: &str = "This submission was already sent with different values, so ProspectB2B refused it to avoid creating a second lead by mistake. If you changed the form after sending it, submit it again as a new lead (the app makes a new request key); check the Leads list first, because the first version may already exist.";

/// Turns an API error into the form's error: field errors on their fields, 409 explained.
pub fn create_error(err: ApiError) -> CreateLeadError {
    let fields = server_field_errors(&err);
    let reused = err.kind == ApiErrorKind::IdempotencyKeyReused;
    let mut error = ErrorReport::from(err);
    if reused {
        error.message = KEY_REUSED_MESSAGE.to_owned();
    }
    CreateLeadError { error, fields }
}

/// POST `/leads` with the submission's key. Checks [`validate`] first (nothing is sent when a
/// field is wrong: `invalid_input` with the fields). The client retries transient failures with
/// the same key; a manual retry calls this again with the same submission. The answer goes into
/// `mirror` (the workspace's), so a review before the next sync sees the lead.
pub async fn create(
    client: &Client,
    mirror: Option<&Mirror>,
    submission: &LeadSubmission,
) -> Result<CreatedLead, CreateLeadError> {
    let fields = validate(&submission.lead);
    if !fields.is_empty() {
        let list: Vec<String> = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        return Err(CreateLeadError {
            error: ErrorReport::local(
                codes::INVALID_INPUT,
                format!("Fix these fields first: {}.", list.join("; ")),
                false,
            ),
            fields,
        });
    }
    let mut lead = submission.lead.clone();
    normalize(&mut lead);
    match client.create_lead(&lead, &submission.idempotency_key).await {
        Ok(resp) => {
            if let Some(m) = mirror {
                // A cache write: when it fails, the next sync reads the lead anyway, and the
                // review's freshness rule syncs first when the mirror is more than minutes old.
                let _ = m.put_lead(&resp.data);
            }
            Ok(CreatedLead {
                lead: resp.data,
                request_id: resp.request_id,
                replayed: resp.replayed,
            })
        }
        Err(e) => Err(create_error(e)),
    }
}

/// Makes a lead what is sent: every string trimmed (the server trims too; trimmed values make
/// equal payloads equal), the company domain as [`normalize_domain`], the LinkedIn URL as
/// [`normalize_linkedin`]. Idempotent.
pub fn normalize(lead: &mut NewLead) {
    normalize_keeping(lead, &mut String::new());
}

/// [`normalize`], keeping the values of `company_domain` and `linkedin_url` as they were before
/// where it changed them: the domain's in `raw_domain` (then `true`; the buffer is reused, the
/// normalised value swapped into the lead), the LinkedIn URL's returned (`None`: unchanged).
/// Calls neither normaliser on a value that is already normal.
fn normalize_keeping(lead: &mut NewLead, raw_domain: &mut String) -> (bool, Option<String>) {
    let t = |o: &mut Option<String>| {
        if let Some(s) = o {
            let trimmed = trim_fast(s);
            if trimmed.len() != s.len() {
                *s = trimmed.to_owned();
            }
        }
    };
    if trim_fast(&lead.email).len() != lead.email.len() {
        lead.email = lead.email.trim().to_owned();
    }
    t(&mut lead.full_name);
    t(&mut lead.first_name);
    t(&mut lead.last_name);
    t(&mut lead.phone);
    t(&mut lead.job_title);
    t(&mut lead.company_name);
    t(&mut lead.status);
    t(&mut lead.source);
    // Both normalisers trim first, so the untrimmed value gives the same result.
    let domain = match &mut lead.company_domain {
        Some(d) if !is_normalized_domain(d) => {
            normalize_domain_into(d, raw_domain);
            let changed = *raw_domain != *d;
            if changed {
                std::mem::swap(d, raw_domain);
            }
            changed
        }
        _ => false,
    };
    let linkedin = match &mut lead.linkedin_url {
        Some(u) if !is_normalized_linkedin(u) => {
            let n = normalize_linkedin(u);
            (n != *u).then(|| std::mem::replace(u, n))
        }
        _ => None,
    };
    (domain, linkedin)
}

/// The old name of [`normalize`].
pub fn trim_lead(lead: &mut NewLead) {
    normalize(lead)
}

/// A lead edit: the lead as the form loaded it and the form's values per field (`email`,
/// `job_title`, `custom_fields.tier`, ...). A field absent from `values` is untouched; `""`
/// clears it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export_to = "LeadEdit.ts")]
pub struct LeadEdit {
    pub loaded: Lead,
    pub values: std::collections::BTreeMap<String, String>,
}

/// One field's change: `old` and `new` as text (`null` when unset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "FieldChange.ts")]
pub struct FieldChange {
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// The answer to a successful [`edit`]: the lead as the server now holds it and what was sent.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "EditedLead.ts")]
pub struct EditedLead {
    pub lead: Lead,
    /// The fields sent (empty: nothing changed, nothing was sent).
    pub changed: Vec<FieldChange>,
    pub request_id: Option<String>,
}

/// The lead changed on the server since the form loaded it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "EditConflict.ts")]
pub struct EditConflict {
    /// The server's version (the mirror holds it now).
    pub server: Lead,
    /// The fields someone else changed: `old` as loaded, `new` as the server has it.
    pub theirs: Vec<FieldChange>,
    /// This user's changes, to reapply on the server's version.
    pub mine: Vec<FieldChange>,
    /// The same edit based on the server's version: send it to reapply.
    pub reapply: LeadEdit,
}

/// What the app's Save answers: the saved lead, or the conflict to show (the other failures
/// cross as the one error shape).
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[ts(export_to = "EditOutcome.ts")]
pub struct EditOutcome {
    pub saved: Option<EditedLead>,
    /// The conflict, with its plain-language `message`.
    pub conflict: Option<EditConflict>,
    pub message: Option<String>,
}

impl EditOutcome {
    /// Splits an [`edit`] result: a conflict is an outcome to show, other failures are errors.
    pub fn from_result(r: Result<EditedLead, EditLeadError>) -> Result<Self, ErrorReport> {
        match r {
            Ok(saved) => Ok(EditOutcome {
                saved: Some(saved),
                conflict: None,
                message: None,
            }),
            Err(EditLeadError {
                error,
                conflict: Some(conflict),
                ..
            }) => Ok(EditOutcome {
                saved: None,
                conflict: Some(conflict),
                message: Some(error.message),
            }),
            Err(e) => Err(e.error),
        }
    }
}

/// A failed [`edit`]: the one error shape, the fields it concerns, and the conflict (code
/// `lead_changed`) when the lead changed on the server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EditLeadError {
    pub error: ErrorReport,
    pub fields: Vec<FieldError>,
    pub conflict: Option<EditConflict>,
    /// The lead no longer exists on the server (404); it left the mirror.
    pub deleted: bool,
}

impl From<EditLeadError> for ErrorReport {
    fn from(e: EditLeadError) -> Self {
        e.error
    }
}

impl std::fmt::Display for EditLeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// The fields an edit form shows, in form order (custom fields are edited by name).
pub const EDITABLE_FIELDS: [&str; 11] = [
    "full_name",
    "email",
    "company_name",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_domain",
    "linkedin_url",
    "status",
    "source",
];

/// A lead's field as text (`custom_fields.<name>` reads a custom field; numbers and booleans as
/// JSON text); `None` when unset.
pub fn lead_field(lead: &Lead, field: &str) -> Option<String> {
    match field {
        "email" => Some(lead.email.clone()),
        "full_name" => lead.full_name.clone(),
        "first_name" => lead.first_name.clone(),
        "last_name" => lead.last_name.clone(),
        "phone" => lead.phone.clone(),
        "job_title" => lead.job_title.clone(),
        "company_name" => lead.company_name.clone(),
        "company_domain" => lead.company_domain.clone(),
        "linkedin_url" => lead.linkedin_url.clone(),
        "status" => Some(lead.status.clone()),
        "source" => Some(lead.source.clone()),
        other => {
            let name = other.strip_prefix("custom_fields.").unwrap_or(other);
            match lead.custom_fields.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => Some(v.to_string()),
            }
        }
    }
}

/// The contract name of a field (`tier` → `custom_fields.tier`, as [`set_field`] reads it).
fn field_name(key: &str) -> String {
    if EDITABLE_FIELDS.contains(&key) || key.starts_with("custom_fields.") {
        key.to_owned()
    } else {
        format!("custom_fields.{key}")
    }
}

/// The fields whose value (trimmed; `""` is unset) differs from the loaded lead.
pub fn edit_changes(edit: &LeadEdit) -> Vec<FieldChange> {
    let mut out = Vec::new();
    for (key, value) in &edit.values {
        let field = field_name(key);
        let old = lead_field(&edit.loaded, &field);
        let trimmed = value.trim();
        let mut new = (!trimmed.is_empty()).then(|| trimmed.to_owned());
        if field == "company_domain" {
            new = new.map(|d| d.to_ascii_lowercase());
        }
        if new != old && !out.iter().any(|c: &FieldChange| c.field == field) {
            out.push(FieldChange { field, old, new });
        }
    }
    out
}

/// The changed fields' problems, by the same rules as [`validate`] (one place): the changes are
/// applied to a [`NewLead`] and only the errors of changed fields are kept. Clearing email,
/// status or source is refused (the contract cannot unset them).
pub fn validate_edit(edit: &LeadEdit) -> Vec<FieldError> {
    let changes = edit_changes(edit);
    let mut lead = NewLead {
        email: edit.loaded.email.clone(),
        ..NewLead::default()
    };
    let mut errs = Vec::new();
    for c in &changes {
        match (&c.new, c.field.as_str()) {
            (Some(v), f) => set_field(&mut lead, f, v),
            (None, "email") => lead.email = String::new(),
            (None, f @ ("status" | "source")) => errs.push(FieldError::new(
                f,
                "required",
                format!("{f} cannot be empty; choose a value"),
            )),
            (None, _) => {}
        }
    }
    errs.extend(
        validate(&lead)
            .into_iter()
            .filter(|e| changes.iter().any(|c| c.field == e.field)),
    );
    errs
}

/// The PATCH body for the changes: only changed fields; custom fields go as the whole map (the
/// contract replaces it), the loaded one with the changes applied.
pub fn edit_patch(edit: &LeadEdit, changes: &[FieldChange]) -> LeadPatch {
    let mut p = LeadPatch::default();
    let mut custom: Option<Map<String, Value>> = None;
    for c in changes {
        let v = || match &c.new {
            Some(s) => Patch::Set(s.clone()),
            None => Patch::Clear,
        };
        match c.field.as_str() {
            "email" => p.email = c.new.clone(),
            "full_name" => p.full_name = v(),
            "first_name" => p.first_name = v(),
            "last_name" => p.last_name = v(),
            "phone" => p.phone = v(),
            "job_title" => p.job_title = v(),
            "company_name" => p.company_name = v(),
            "company_domain" => p.company_domain = v(),
            "linkedin_url" => p.linkedin_url = v(),
            "status" => p.status = c.new.clone(),
            "source" => p.source = c.new.clone(),
            other => {
                let name = other.strip_prefix("custom_fields.").unwrap_or(other);
                let m = custom.get_or_insert_with(|| edit.loaded.custom_fields.clone());
                match &c.new {
                    Some(s) => m.insert(name.to_owned(), Value::String(s.clone())),
                    None => m.remove(name),
                };
            }
        }
    }
    p.custom_fields = custom;
    p
}

/// The fields that differ between two versions of a lead (custom fields by name).
pub fn lead_diff(a: &Lead, b: &Lead) -> Vec<FieldChange> {
    let mut names: Vec<String> = EDITABLE_FIELDS.iter().map(|f| f.to_string()).collect();
    let mut custom: Vec<&String> = a
        .custom_fields
        .keys()
        .chain(b.custom_fields.keys())
        .collect();
    custom.sort();
    custom.dedup();
    names.extend(custom.into_iter().map(|k| format!("custom_fields.{k}")));
    names
        .into_iter()
        .filter_map(|field| {
            let old = lead_field(a, &field);
            let new = lead_field(b, &field);
            (old != new).then_some(FieldChange { field, old, new })
        })
        .collect()
}

fn edit_err(error: ErrorReport) -> EditLeadError {
    EditLeadError {
        error,
        fields: Vec::new(),
        conflict: None,
        deleted: false,
    }
}

/// The message of a lead deleted on the server.
pub const DELETED_MESSAGE: &str = "This lead was deleted on the server (someone removed it after the list was loaded), so the edit could not be saved. It has been removed from the Leads list; create it again if it is still needed.";

fn api_edit_error(err: ApiError, mirror: Option<&Mirror>, id: &str) -> EditLeadError {
    let fields = server_field_errors(&err);
    let deleted = err.kind == ApiErrorKind::NotFound;
    let mut error = ErrorReport::from(err);
    if deleted {
        error.message = DELETED_MESSAGE.to_owned();
        if let Some(m) = mirror {
            let _ = m.remove_lead(id);
        }
    }
    EditLeadError {
        error,
        fields,
        conflict: None,
        deleted,
    }
}

/// Saves an edit: checks [`validate_edit`] (nothing is sent when a field is wrong), sends
/// nothing when nothing changed, reads the lead fresh and refuses with `lead_changed` when
/// someone else changed a field since it was loaded (the conflict lists theirs and mine and
/// carries the edit to reapply), then PATCHes only the changed fields. The mirror's row takes
/// the server's answer at once.
pub async fn edit(
    client: &Client,
    mirror: Option<&Mirror>,
    edit: &LeadEdit,
) -> Result<EditedLead, EditLeadError> {
    let id = edit.loaded.id.as_str();
    let fields = validate_edit(edit);
    if !fields.is_empty() {
        let list: Vec<String> = fields
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        let mut e = edit_err(ErrorReport::local(
            codes::INVALID_INPUT,
            format!("Fix these fields first: {}.", list.join("; ")),
            false,
        ));
        e.fields = fields;
        return Err(e);
    }
    let mine = edit_changes(edit);
    if mine.is_empty() {
        return Ok(EditedLead {
            lead: edit.loaded.clone(),
            changed: mine,
            request_id: None,
        });
    }
    let fresh = client
        .get_lead(id)
        .await
        .map_err(|e| api_edit_error(e, mirror, id))?
        .data;
    if fresh.updated_at != edit.loaded.updated_at {
        let theirs = lead_diff(&edit.loaded, &fresh);
        if !theirs.is_empty() {
            if let Some(m) = mirror {
                let _ = m.put_lead(&fresh);
            }
            let names: Vec<String> = theirs
                .iter()
                .map(|c| {
                    format!(
                        "{}: {} → {}",
                        c.field,
                        c.old.as_deref().unwrap_or("(empty)"),
                        c.new.as_deref().unwrap_or("(empty)")
                    )
                })
                .collect();
            let reapply = LeadEdit {
                loaded: fresh.clone(),
                values: mine
                    .iter()
                    .map(|c| (c.field.clone(), c.new.clone().unwrap_or_default()))
                    .collect(),
            };
            let mut e = edit_err(ErrorReport::local(
                Code::LeadChanged,
                format!(
                    "Someone else changed this lead after you opened it ({}). Nothing was saved. Reapply your changes on their version, or keep theirs.",
                    names.join("; ")
                ),
                false,
            ));
            e.conflict = Some(EditConflict {
                server: fresh,
                theirs,
                mine,
                reapply,
            });
            return Err(e);
        }
    }
    let patch = edit_patch(edit, &mine);
    let resp = client
        .update_lead(id, &patch)
        .await
        .map_err(|e| api_edit_error(e, mirror, id))?;
    if let Some(m) = mirror {
        let _ = m.put_lead(&resp.data);
    }
    Ok(EditedLead {
        lead: resp.data,
        changed: mine,
        request_id: Some(resp.request_id),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_each_field() {
        let lead = NewLead {
            email: "[email protected]".into(),
            full_name: Some("  ".into()),
            phone: Some("1".repeat(51)),
            company_domain: Some("https://acme .com".into()),
            linkedin_url: Some("https://linkedin.com:443/in/x".into()),
            status: Some("hot".into()),
            ..Default::default()
        };
        let fields: Vec<(String, String)> = validate(&lead)
            .into_iter()
            .map(|f| (f.field, f.code))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("email".into(), "invalid_email".into()),
                ("full_name".into(), "too_short".into()),
                ("phone".into(), "too_long".into()),
                ("company_domain".into(), "invalid_format".into()),
                ("linkedin_url".into(), "invalid_url".into()),
                ("status".into(), "invalid_value".into()),
            ]
        );
        let ok = NewLead {
            email: " ada@example.com ".into(),
            full_name: Some("Ada Lovelace".into()),
            ..Default::default()
        };
        assert!(validate(&ok).is_empty());
        assert_eq!(validate(&NewLead::default())[0].code, "required");
    }

    #[test]
    fn submission_keys_are_unique_and_stable() {
        let a = LeadSubmission::new(NewLead::default());
        let b = LeadSubmission::new(NewLead::default());
        assert_ne!(a.idempotency_key, b.idempotency_key);
        assert!(a.idempotency_key.starts_with("lead-") && a.idempotency_key.len() == 37);
        let again = a.clone();
        assert_eq!(again.idempotency_key, a.idempotency_key);
    }

    #[test]
    fn unknown_cli_fields_go_to_custom_fields() {
        let mut lead = NewLead::default();
        set_field(&mut lead, "job_title", "CTO");
        set_field(&mut lead, "tier", "gold");
        set_field(&mut lead, "custom_fields.region", "EU");
        assert_eq!(lead.job_title.as_deref(), Some("CTO"));
        let cf = lead.custom_fields.unwrap();
        assert_eq!(cf["tier"], "gold");
        assert_eq!(cf["region"], "EU");
    }

    #[test]
    fn domains_are_normalised_to_their_ascii_host() {
        let cases = [
            ("https://www.Acme.com/about?x", "acme.com"),
            ("acme.co.uk:443", "acme.co.uk"),
            ("//acme.com/x", "acme.com"),
            ("http://user:pw@Shop.Acme.com:8080/#top", "shop.acme.com"),
            ("www.acme.com.", "acme.com"),
            (
                "https://www.Müller-Bäckerei.de/kontakt",
                "xn--mller-bckerei-hfb76a.de",
            ),
            ("münchen.de", "xn--mnchen-3ya.de"),
            ("例え．テスト", "xn--r8jz45g.xn--zckzah"),
            ("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
            ("Acme Inc", "acme inc"),
        ];
        for (input, sent) in cases {
            assert_eq!(normalize_domain(input), sent, "{input}");
            // Idempotent: what is sent normalises to itself.
            assert_eq!(normalize_domain(sent), sent, "{sent}");
        }
        assert!(valid_hostname(&normalize_domain(
            "https://münchen.de/impressum"
        )));
        // The contract's TLD is letters only: an IDN TLD (xn--p1ai) still fails.
        assert!(!valid_hostname(&normalize_domain("пример.рф")));
        // The form's rules: a web address is a valid domain, it is sent as its host.
        let lead = NewLead {
            email: "ada@example.com".into(),
            company_domain: Some("https://www.München.de/".into()),
            ..Default::default()
        };
        assert!(validate(&lead).is_empty());
        let mut sent = lead.clone();
        normalize(&mut sent);
        assert_eq!(sent.company_domain.as_deref(), Some("xn--mnchen-3ya.de"));
    }

    #[test]
    fn domain_normalisation_is_a_fixed_point_and_the_check_sees_what_is_sent() {
        // One pass exposed what a second would strip: `acme.com:80:80` became `acme.com:80`
        // (sent, and refused by the server) while the check normalised it again to `acme.com`.
        let cases = [
            ("acme.com:80:80", "acme.com"),
            ("acme.com:80:443/", "acme.com"),
            ("www.www.acme.com", "acme.com"),
            ("www. acme.com", "acme.com"),
            ("https://www.www.Acme.com.:8080./x", "acme.com"),
            ("acme.com.:80", "acme.com"),
            ("acme.com：80", "acme.com"),
        ];
        for (input, sent) in cases {
            assert_eq!(normalize_domain(input), sent, "{input}");
        }
        let odd = [
            "acme.com:80:80",
            "a@b@acme.com:1:2",
            "http://http://acme.com",
            "www.www.www.",
            "www.:80",
            " www. www.acme.com. . ",
            "acme.com：80：80",
            "ＷＷＷ．acme．com",
            "x://www.acme.com:1",
            "İstanbul.com",
            "münchen.de:80:80",
        ];
        for u in [
            "http:// x",
            "HTTP://linkedin.com/in/a",
            " linkedin.com/in/a ",
            "https://x ",
        ] {
            let once = normalize_linkedin(u);
            assert_eq!(normalize_linkedin(&once), once, "{u:?}");
        }
        for input in cases.iter().map(|(i, _)| *i).chain(odd) {
            let once = normalize_domain(input);
            assert_eq!(normalize_domain(&once), once, "{input:?} -> {once:?}");
            // What an import sends is what its check validated: a kept domain is a host name.
            let p = prepare(NewLead {
                email: "ada@example.com".into(),
                company_domain: Some(input.into()),
                ..Default::default()
            });
            match p.lead.company_domain.as_deref() {
                Some(d) => {
                    assert_eq!(d, once, "{input:?}");
                    assert!(valid_hostname(d), "{input:?} sent as {d:?}");
                }
                None => assert!(!valid_hostname(&once), "{input:?} dropped"),
            }
        }
    }

    #[test]
    fn linkedin_urls_follow_the_contract_pattern() {
        assert!(valid_https_url("https://www.linkedin.com/in/ada?x=1"));
        assert!(valid_https_url("https://linkedin.com"));
        assert!(!valid_https_url("http://linkedin.com/in/ada"));
        assert!(!valid_https_url("https://linkedin.com:443/in/ada"));
        assert!(!valid_https_url("https://linkedin.com/in/ada lovelace"));
        assert!(!valid_https_url("https://localhost/in/ada"));
    }

    #[test]
    fn prepare_drops_bad_optional_values_and_keeps_required_errors() {
        let mut custom = Map::new();
        custom.insert("notes".into(), Value::String("x".repeat(1001)));
        custom.insert("tier".into(), Value::String("gold".into()));
        let p = prepare(NewLead {
            email: " ada@example.com ".into(),
            full_name: Some("Ada Lovelace".into()),
            company_domain: Some("Acme Inc".into()),
            linkedin_url: Some("https://linkedin.com/in/ada lovelace".into()),
            phone: Some("1".repeat(51)),
            status: Some("hot".into()),
            job_title: Some("CTO".into()),
            custom_fields: Some(custom),
            ..Default::default()
        });
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        let d: Vec<(&str, &str, &str)> = p
            .dropped
            .iter()
            .map(|d| (d.field.as_str(), d.value.as_str(), d.code.as_str()))
            .collect();
        assert_eq!(
            d,
            vec![
                ("phone", "1".repeat(51).as_str(), "too_long"),
                ("company_domain", "Acme Inc", "invalid_format"),
                (
                    "linkedin_url",
                    "https://linkedin.com/in/ada lovelace",
                    "invalid_url"
                ),
                ("status", "hot", "invalid_value"),
                ("custom_fields.notes", "x".repeat(1001).as_str(), "too_long"),
            ]
        );
        assert!(p.dropped[1]
            .describe()
            .starts_with("company_domain \"Acme Inc\" (must be"));
        // The rest is sent, normalised; what is left passes the form's rules.
        assert_eq!(p.lead.email, "ada@example.com");
        assert_eq!(p.lead.job_title.as_deref(), Some("CTO"));
        assert_eq!(p.lead.company_domain, None);
        assert_eq!(p.lead.custom_fields.as_ref().map(Map::len), Some(1));
        assert!(validate(&p.lead).is_empty());
        // An IDN web address is kept, as its ASCII host.
        let p = prepare(NewLead {
            email: "ada@example.com".into(),
            company_domain: Some("https://www.münchen.de/impressum".into()),
            ..Default::default()
        });
        assert!(p.dropped.is_empty() && p.errors.is_empty());
        assert_eq!(p.lead.company_domain.as_deref(), Some("xn--mnchen-3ya.de"));
        // Required fields still make the lead invalid.
        let p = prepare(NewLead {
            email: "not-an-email".into(),
            full_name: Some("n".repeat(201)),
            company_domain: Some("acme".into()),
            ..Default::default()
        });
        let e: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(e, vec!["email", "full_name"]);
        assert_eq!(p.dropped.len(), 1);
    }

    /// The scans as they were written before they were made one pass each (commit 32f87ee): the
    /// rules spelled out step by step, the oracle of the property tests below.
    mod as_written {
        use super::super::{trim_fast, LOCAL_PART};

        pub fn valid_email(s: &str) -> bool {
            if s.len() > 254 || !s.is_ascii() {
                return false;
            }
            let Some((local, domain)) = s.split_once('@') else {
                return false;
            };
            if local.is_empty() || local.len() > 64 || domain.contains('@') {
                return false;
            }
            let local_ok = local.bytes().all(|c| LOCAL_PART[c as usize]);
            if !local_ok
                || local.starts_with('.')
                || local.ends_with('.')
                || local.as_bytes().windows(2).any(|w| w == b"..")
            {
                return false;
            }
            valid_hostname(domain) && domain.contains('.')
        }

        pub fn valid_hostname(domain: &str) -> bool {
            if domain.is_empty() || domain.len() > 253 {
                return false;
            }
            let (mut labels, mut tld): (u32, &[u8]) = (0, b"");
            for l in domain.as_bytes().split(|&b| b == b'.') {
                if l.is_empty()
                    || l.len() > 63
                    || l.starts_with(b"-")
                    || l.ends_with(b"-")
                    || !l.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
                {
                    return false;
                }
                labels += 1;
                tld = l;
            }
            labels >= 2 && tld.len() >= 2 && tld.iter().all(|c| c.is_ascii_alphabetic())
        }

        pub fn valid_https_url(s: &str) -> bool {
            let Some(rest) = s.strip_prefix("https://") else {
                return false;
            };
            let end = rest
                .bytes()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            valid_hostname(&rest[..end])
                && !rest.as_bytes()[end..]
                    .iter()
                    .any(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        }

        pub fn is_normalized_domain(v: &str) -> bool {
            !v.is_empty()
                && v.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
                && !v.ends_with('.')
                && !v.starts_with("www.")
        }

        pub fn normalize_domain(v: &str) -> String {
            let mut out = String::new();
            normalize_domain_once(v, &mut out);
            if is_normalized_domain(&out) {
                return out;
            }
            let mut next = String::new();
            for _ in 0..16 {
                next.clear();
                normalize_domain_once(&out, &mut next);
                if next == out {
                    break;
                }
                std::mem::swap(&mut out, &mut next);
                if is_normalized_domain(&out) {
                    break;
                }
            }
            out
        }

        fn normalize_domain_once(v: &str, out: &mut String) {
            let s = trim_fast(v);
            let b = s.as_bytes();
            let mut scheme = None;
            let mut from = 0;
            while let Some(p) = b[from..].iter().position(|&c| c == b':') {
                if b[from + p + 1..].starts_with(b"//") {
                    scheme = Some(from + p);
                    break;
                }
                from += p + 1;
            }
            let rest = match scheme {
                Some(i)
                    if i > 0
                        && s[..i]
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b)) =>
                {
                    &s[i + 3..]
                }
                _ => s.strip_prefix("//").unwrap_or(s),
            };
            let end = rest
                .bytes()
                .position(|b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            let mut host = &rest[..end];
            let (mut at, mut colon) = (None, None);
            for (i, &c) in host.as_bytes().iter().enumerate().rev() {
                if c == b'@' {
                    at = Some(i);
                    break;
                }
                if c == b':' && colon.is_none() {
                    colon = Some(i);
                }
            }
            if let Some(i) = at {
                host = &host[i + 1..];
                colon = colon.map(|c| c - (i + 1));
            }
            if let Some(i) = colon {
                if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) {
                    host = &host[..i];
                }
            }
            let host = trim_fast(host).trim_end_matches('.');
            if host.is_ascii() {
                let host = match host.as_bytes().get(..4) {
                    Some(w) if w.eq_ignore_ascii_case(b"www.") => &host[4..],
                    _ => host,
                };
                let start = out.len();
                out.push_str(host);
                out[start..].make_ascii_lowercase();
                return;
            }
            let ascii = idna::domain_to_ascii(host).unwrap_or_else(|_| host.to_lowercase());
            let ascii = ascii.trim_end_matches('.');
            out.push_str(ascii.strip_prefix("www.").unwrap_or(ascii));
        }
    }

    /// Host-like text: labels of letters (upper and lower case, IDNA-able and not), digits,
    /// hyphens, and the bytes the scans look for (`.` `/` `?` `#` `@` `:` spaces), some labels
    /// near the 63-byte limit, some values near the 253-byte one.
    fn hostish() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            6 => "[a-zA-Z0-9-]{1,12}",
            1 => "[a-z]{60,66}",
            2 => proptest::sample::select(vec![
                ".", ".", ".", "-", "/", "?", "#", "@", ":", ":80", ":443", " ", "\t", "www.",
                "WWW.", "https://", "http://", "//", "ü", "ß", "İ", "．", "：", "\u{FFFD}",
                "xn--", "müller-bäckerei", "EXAMPLE", "com", "co.uk", "..", "_", "%", "é",
                "mailto:", "user:pw@", "\u{3002}",
            ])
            .prop_map(str::to_owned),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

        #[test]
        fn host_scan_equals_the_rule_as_written(h in hostish()) {
            proptest::prop_assert_eq!(valid_hostname(&h), as_written::valid_hostname(&h), "{:?}", h);
            let url = format!("https://{h}");
            proptest::prop_assert_eq!(valid_https_url(&url), as_written::valid_https_url(&url), "{:?}", url);
            proptest::prop_assert_eq!(valid_https_url(&h), as_written::valid_https_url(&h), "{:?}", h);
            proptest::prop_assert_eq!(
                is_normalized_domain(&h),
                as_written::is_normalized_domain(&h),
                "{:?}", h
            );
        }

        #[test]
        fn email_scan_equals_the_rule_as_written(
            local in "[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~@ é-]{0,70}",
            h in hostish(),
        ) {
            let e = format!("{local}@{h}");
            proptest::prop_assert_eq!(valid_email(&e), as_written::valid_email(&e), "{:?}", e);
            proptest::prop_assert_eq!(valid_email(&local), as_written::valid_email(&local), "{:?}", local);
            proptest::prop_assert_eq!(valid_email(&h), as_written::valid_email(&h), "{:?}", h);
        }

        /// The domain as sent and whether it passes, against normalising then checking as
        /// written before: IDNA, ports, user info, trailing dots, upper case, characters no
        /// host may hold (U+FFFD, what invalid bytes in a file become).
        #[test]
        fn domain_normalised_and_checked_as_written(h in hostish()) {
            let old = as_written::normalize_domain(&h);
            let new = normalize_domain(&h);
            proptest::prop_assert_eq!(&new, &old, "{:?}", h);
            proptest::prop_assert_eq!(valid_hostname(&new), as_written::valid_hostname(&old));
            let p = prepare(NewLead {
                email: "ada@example.com".into(),
                company_domain: Some(h.clone()),
                ..Default::default()
            });
            let kept = as_written::valid_hostname(&old) && old.chars().count() <= 253;
            match p.lead.company_domain.as_deref() {
                Some(d) => {
                    proptest::prop_assert!(kept, "{:?} sent as {:?}", h, d);
                    proptest::prop_assert_eq!(d, old.as_str());
                }
                None => {
                    proptest::prop_assert!(h.trim().is_empty() || !kept, "{:?} dropped", h);
                }
            }
        }
    }
}
