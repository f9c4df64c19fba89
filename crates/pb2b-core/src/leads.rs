//! Create one lead safely.
//!
//! The form (UI) and the CLI build a [`NewLead`], call [`validate`] as the user types (the same
//! rules the contract's `LeadCreate` states, so the UI never holds a rule of its own), and submit
//! a [`LeadSubmission`]: the lead plus an `Idempotency-Key` made once when the user presses
//! Submit. Every automatic retry (the client's retry layer) and every manual "Try again" of that
//! submission sends the same key, so a double click or a retry after a timeout never makes two
//! leads; the server answers a replay with the same lead and `Idempotent-Replayed: true`.
//! When the user changes a value after a failed attempt, the form makes a new submission
//! ([`LeadSubmission::new`]): the same key with other values would be refused with 409
//! `idempotency_key_reused`, which [`create`] explains in plain words.
//!
//! ```ignore
//! let errors = leads::validate(&lead);            // Vec<FieldError>, empty when valid
//! let submission = LeadSubmission::new(lead);       // key made once
//! match leads::create(&client, &submission).await {
//!     Ok(CreatedLead { lead, request_id, replayed }) => ..,
//!     Err(CreateLeadError { error, fields }) => ..  // fields: server errors per field
//! }
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use crate::api::{ApiError, ApiErrorKind, Client, Lead, NewLead, LEAD_STATUSES};
use crate::error::{codes, ErrorReport};

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

/// `local@domain.tld`, ASCII, no spaces or brackets (the contract's rule).
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
    let local_ok = local
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || b".!#$%&'*+/=?^_`{|}~-".contains(&c));
    if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return false;
    }
    valid_hostname(domain) && domain.contains('.')
}

/// A bare host name (`example.com`) with a letter-only TLD of 2+ characters.
pub fn valid_hostname(domain: &str) -> bool {
    if domain.is_empty() || domain.len() > 253 {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return false;
    }
    for l in &labels {
        if l.is_empty()
            || l.len() > 63
            || l.starts_with('-')
            || l.ends_with('-')
            || !l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            return false;
        }
    }
    let tld = labels[labels.len() - 1];
    tld.len() >= 2 && tld.bytes().all(|c| c.is_ascii_alphabetic())
}

fn check_str(errs: &mut Vec<FieldError>, field: &str, value: Option<&str>) {
    let Some(v) = value else { return };
    let v = v.trim();
    let max = FIELD_MAX_LEN
        .iter()
        .find(|(n, _)| *n == field)
        .map(|(_, m)| *m)
        .unwrap_or(usize::MAX);
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
    if v.chars().count() > max {
        errs.push(FieldError::new(
            field,
            "too_long",
            format!("at most {max} characters"),
        ));
        return;
    }
    match field {
        "company_domain" if !valid_hostname(&v.to_ascii_lowercase()) => errs.push(FieldError::new(
            field,
            "invalid_format",
            "must be a bare host name such as example.com",
        )),
        "linkedin_url" => {
            let ok = url::Url::parse(v)
                .map(|u| u.scheme() == "https" && u.host_str().is_some())
                .unwrap_or(false);
            if !ok {
                errs.push(FieldError::new(
                    field,
                    "invalid_url",
                    "must be an absolute https URL",
                ));
            }
        }
        _ => {}
    }
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

/// Every problem the contract would refuse, per field (empty when the lead can be sent).
pub fn validate(lead: &NewLead) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let email = lead.email.trim();
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
    check_str(&mut errs, "full_name", lead.full_name.as_deref());
    check_str(&mut errs, "first_name", lead.first_name.as_deref());
    check_str(&mut errs, "last_name", lead.last_name.as_deref());
    check_str(&mut errs, "phone", lead.phone.as_deref());
    check_str(&mut errs, "job_title", lead.job_title.as_deref());
    check_str(&mut errs, "company_name", lead.company_name.as_deref());
    check_str(&mut errs, "company_domain", lead.company_domain.as_deref());
    check_str(&mut errs, "linkedin_url", lead.linkedin_url.as_deref());
    check_str(&mut errs, "source", lead.source.as_deref());
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
/// the same key; a manual retry calls this again with the same submission.
pub async fn create(
    client: &Client,
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
    trim_lead(&mut lead);
    match client.create_lead(&lead, &submission.idempotency_key).await {
        Ok(resp) => Ok(CreatedLead {
            lead: resp.data,
            request_id: resp.request_id,
            replayed: resp.replayed,
        }),
        Err(e) => Err(create_error(e)),
    }
}

/// Trims every string (the server trims too; trimmed values make equal payloads equal) and
/// lower-cases the company domain.
pub fn trim_lead(lead: &mut NewLead) {
    let t = |o: &mut Option<String>| {
        if let Some(s) = o {
            let trimmed = s.trim();
            if trimmed.len() != s.len() {
                *s = trimmed.to_owned();
            }
        }
    };
    lead.email = lead.email.trim().to_owned();
    t(&mut lead.full_name);
    t(&mut lead.first_name);
    t(&mut lead.last_name);
    t(&mut lead.phone);
    t(&mut lead.job_title);
    t(&mut lead.company_name);
    t(&mut lead.company_domain);
    t(&mut lead.linkedin_url);
    t(&mut lead.status);
    t(&mut lead.source);
    if let Some(d) = &mut lead.company_domain {
        *d = d.to_ascii_lowercase();
    }
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
            company_domain: Some("https://acme.com".into()),
            linkedin_url: Some("http://linkedin.com/in/x".into()),
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
}
