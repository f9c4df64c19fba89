//! Column mapping: header names as real exports spell them (Excel, Google Sheets, HubSpot,
//! Salesforce, Apollo, French and German spreadsheets) to lead fields, with a confidence; applying
//! a mapping to one row gives the lead to send or the field errors that stop it.

use csv::ByteRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use ts_rs::TS;

use super::reader::{cell_of, record_text};
use crate::api::NewLead;
use crate::leads::{self, DroppedField, FieldError};

/// Where one column goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[ts(export_to = "ColumnTarget.ts")]
pub enum ColumnTarget {
    /// A lead field by its contract name (`email`, `full_name`, `first_name`, `last_name`,
    /// `phone`, `job_title`, `company_name`, `company_domain`, `linkedin_url`, `status`, `source`).
    Field { field: String },
    /// `custom_fields.<name>`.
    Custom { name: String },
    /// Not sent.
    Ignore,
}

/// One column of the file and its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "ColumnMapping.ts")]
pub struct ColumnMapping {
    /// 0-based column index in the file.
    pub index: u32,
    pub header: String,
    pub target: ColumnTarget,
    /// 0..=100: 100 an exact known header name, lower a partial match; 0 not recognised. A
    /// mapping set by hand or remembered has 100.
    pub confidence: u8,
}

/// The whole mapping of a file. When no column maps to `full_name`, the row's `first_name` and
/// `last_name` values are joined into `full_name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export_to = "Mapping.ts")]
pub struct Mapping {
    pub columns: Vec<ColumnMapping>,
}

/// The lead fields a column can map to.
pub const MAPPABLE_FIELDS: [&str; 11] = [
    "email",
    "full_name",
    "first_name",
    "last_name",
    "phone",
    "job_title",
    "company_name",
    "company_domain",
    "linkedin_url",
    "status",
    "source",
];

/// Exact header names (normalised: lower case, letters and digits only) and their confidence.
const SYNONYMS: &[(&str, &str, u8)] = &[
    ("email", "email", 100),
    ("emailaddress", "email", 100),
    ("workemail", "email", 100),
    ("businessemail", "email", 100),
    ("primaryemail", "email", 95),
    ("emailprimary", "email", 95),
    ("contactemail", "email", 95),
    ("mail", "email", 90),
    ("courriel", "email", 95),
    ("adresseemail", "email", 95),
    ("personalemail", "email", 80),
    ("emails", "email", 80),
    ("fullname", "full_name", 100),
    ("name", "full_name", 90),
    ("contactname", "full_name", 95),
    ("leadname", "full_name", 90),
    ("contact", "full_name", 70),
    ("nomcomplet", "full_name", 95),
    ("firstname", "first_name", 100),
    ("first", "first_name", 90),
    ("givenname", "first_name", 95),
    ("fname", "first_name", 85),
    ("forename", "first_name", 90),
    ("prénom", "first_name", 95),
    ("prenom", "first_name", 95),
    ("vorname", "first_name", 95),
    ("lastname", "last_name", 100),
    ("last", "last_name", 90),
    ("surname", "last_name", 95),
    ("familyname", "last_name", 95),
    ("lname", "last_name", 85),
    ("nom", "last_name", 85),
    ("nomdefamille", "last_name", 95),
    ("nachname", "last_name", 95),
    ("company", "company_name", 100),
    ("companyname", "company_name", 100),
    ("accountname", "company_name", 100),
    ("organization", "company_name", 100),
    ("organisation", "company_name", 100),
    ("organizationname", "company_name", 100),
    ("employer", "company_name", 85),
    ("account", "company_name", 80),
    ("entreprise", "company_name", 95),
    ("société", "company_name", 95),
    ("societe", "company_name", 95),
    ("firma", "company_name", 90),
    ("unternehmen", "company_name", 95),
    ("jobtitle", "job_title", 100),
    ("title", "job_title", 95),
    ("position", "job_title", 85),
    ("role", "job_title", 75),
    ("designation", "job_title", 80),
    ("poste", "job_title", 90),
    ("fonction", "job_title", 90),
    ("phone", "phone", 100),
    ("phonenumber", "phone", 100),
    ("mobile", "phone", 90),
    ("mobilephone", "phone", 95),
    ("mobilephonenumber", "phone", 95),
    ("workphone", "phone", 95),
    ("directphone", "phone", 90),
    ("workdirectphone", "phone", 90),
    ("firstphone", "phone", 90),
    ("telephone", "phone", 95),
    ("téléphone", "phone", 95),
    ("tel", "phone", 85),
    ("linkedin", "linkedin_url", 95),
    ("linkedinurl", "linkedin_url", 100),
    ("linkedinprofile", "linkedin_url", 100),
    ("linkedinprofileurl", "linkedin_url", 100),
    ("personlinkedinurl", "linkedin_url", 100),
    ("website", "company_domain", 95),
    ("websiteurl", "company_domain", 95),
    ("companywebsite", "company_domain", 95),
    ("domain", "company_domain", 100),
    ("companydomain", "company_domain", 100),
    ("emaildomain", "company_domain", 70),
    ("siteweb", "company_domain", 90),
    ("web", "company_domain", 80),
];

/// Partial matches: a normalised header containing the word, and its confidence.
const CONTAINS: &[(&str, &str, u8)] = &[
    ("email", "email", 60),
    ("linkedin", "linkedin_url", 55),
    ("phone", "phone", 55),
    ("website", "company_domain", 55),
    ("domain", "company_domain", 50),
    ("company", "company_name", 50),
    ("title", "job_title", 50),
    ("firstname", "first_name", 60),
    ("lastname", "last_name", 60),
];

/// `"E-mail Address"` → `"emailaddress"`.
pub fn normalize_header(h: &str) -> String {
    h.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The best guess for one header: `(field, confidence)`.
pub fn guess(header: &str) -> Option<(&'static str, u8)> {
    let n = normalize_header(header);
    if n.is_empty() {
        return None;
    }
    if let Some((_, f, c)) = SYNONYMS.iter().find(|(s, _, _)| *s == n) {
        return Some((f, *c));
    }
    CONTAINS
        .iter()
        .find(|(w, _, _)| n.contains(w))
        .map(|(_, f, c)| (*f, *c))
}

/// A custom field name from a header (at most 64 characters).
pub fn custom_name(header: &str) -> String {
    let t = header.trim();
    let name: String = t.chars().take(64).collect();
    if name.is_empty() {
        "column".into()
    } else {
        name
    }
}

/// Maps headers automatically: each lead field goes to the column with the best confidence
/// (the first on a tie); the rest go to `custom_fields` when `unmapped_to_custom`, else are
/// ignored. `status` and `source` are never guessed (exports use other vocabularies), only set
/// by hand. A corrected error report (its headers end with
/// [`super::ERROR_REPORT_COLUMNS`]) imports its original columns only.
pub fn auto_map(headers: &[String], unmapped_to_custom: bool) -> Mapping {
    // Reports written before `dropped_fields` existed end with the first four columns.
    let report_from = [super::ERROR_REPORT_COLUMNS.len(), 4]
        .into_iter()
        .find_map(|added| {
            (headers.len() > added
                && headers[headers.len() - added..]
                    .iter()
                    .zip(super::ERROR_REPORT_COLUMNS)
                    .all(|(h, c)| h.trim() == c))
            .then(|| headers.len() - added)
        });
    let guesses: Vec<Option<(&str, u8)>> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| match report_from {
            Some(from) if i >= from => None,
            _ => guess(h),
        })
        .collect();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, h) in headers.iter().enumerate() {
        if report_from.is_some_and(|from| i >= from) {
            columns.push(ColumnMapping {
                index: i as u32,
                header: h.clone(),
                target: ColumnTarget::Ignore,
                confidence: 0,
            });
            continue;
        }
        let mut target = None;
        let mut confidence = 0;
        if let Some((f, c)) = guesses[i] {
            let beaten = guesses.iter().enumerate().any(|(j, g)| {
                j != i
                    && matches!(g, Some((f2, c2)) if *f2 == f && (*c2 > c || (*c2 == c && j < i)))
            });
            if !beaten {
                target = Some(ColumnTarget::Field {
                    field: f.to_owned(),
                });
                confidence = c;
            }
        }
        let target = target.unwrap_or(if unmapped_to_custom {
            ColumnTarget::Custom {
                name: custom_name(h),
            }
        } else {
            ColumnTarget::Ignore
        });
        columns.push(ColumnMapping {
            index: i as u32,
            header: h.clone(),
            target,
            confidence,
        });
    }
    Mapping { columns }
}

impl Mapping {
    /// The column mapped to a lead field.
    pub fn column_of(&self, field: &str) -> Option<u32> {
        self.columns.iter().find_map(|c| match &c.target {
            ColumnTarget::Field { field: f } if f == field => Some(c.index),
            _ => None,
        })
    }

    /// Problems with the mapping itself: no email column, a field mapped twice, an unknown
    /// field, more than 50 custom fields. Empty when it can be used.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.column_of("email").is_none() {
            out.push("No column is mapped to email, which every lead needs.".to_owned());
        }
        let mut seen = std::collections::HashSet::new();
        let mut custom = std::collections::HashSet::new();
        for c in &self.columns {
            match &c.target {
                ColumnTarget::Field { field } => {
                    if !MAPPABLE_FIELDS.contains(&field.as_str()) {
                        out.push(format!("“{field}” is not a lead field."));
                    } else if !seen.insert(field.clone()) {
                        out.push(format!("More than one column is mapped to {field}."));
                    }
                }
                ColumnTarget::Custom { name } => {
                    if name.is_empty() || name.chars().count() > 64 {
                        out.push(format!(
                            "The custom field name “{name}” must have 1 to 64 characters."
                        ));
                    } else if !custom.insert(name.clone()) {
                        out.push(format!(
                            "More than one column is mapped to custom field {name}."
                        ));
                    }
                }
                ColumnTarget::Ignore => {}
            }
        }
        if custom.len() > 50 {
            out.push(format!(
                "{} columns go to custom fields; a lead has at most 50.",
                custom.len()
            ));
        }
        out
    }
}

pub use crate::leads::{normalize_domain, normalize_linkedin};

/// One row, mapped: the lead to send, or why not.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MappedRow {
    pub lead: NewLead,
    pub errors: Vec<FieldError>,
    /// Optional values left out of `lead` because the contract would refuse them.
    pub dropped: Vec<DroppedField>,
    /// Lower-cased e-mail, for duplicate detection.
    pub email_key: String,
}

/// Applies the mapping to one record and prepares the lead ([`leads::prepare`]: normalised, a
/// bad optional value left out and listed, a bad required one making the row invalid).
pub fn map_row(mapping: &Mapping, rec: &ByteRecord) -> MappedRow {
    let mut m = RowMapper::new(mapping);
    m.map(rec);
    m.row
}

/// [`map_row`] for a pass over many rows of one mapping: the mapping is resolved once, and each
/// row is mapped into the same [`MappedRow`], whose strings keep their capacity from one row to
/// the next, so a row with the usual cells costs no allocation. The one implementation of
/// [`map_row`].
#[derive(Debug)]
pub struct RowMapper {
    /// `(column index, where its value goes)`, in the mapping's column order.
    plan: Vec<(usize, Slot)>,
    /// Whether a column maps to `full_name`.
    full_name_column: bool,
    row: MappedRow,
    buffers: leads::PrepareBuffers,
}

/// Where one column's value goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    Email,
    FullName,
    FirstName,
    LastName,
    Phone,
    JobTitle,
    CompanyName,
    CompanyDomain,
    LinkedinUrl,
    Status,
    Source,
    Custom(String),
}

impl Slot {
    fn of(target: &ColumnTarget) -> Option<Slot> {
        Some(match target {
            ColumnTarget::Ignore => return None,
            ColumnTarget::Custom { name } => Slot::Custom(name.clone()),
            ColumnTarget::Field { field } => match field.as_str() {
                "email" => Slot::Email,
                "full_name" => Slot::FullName,
                "first_name" => Slot::FirstName,
                "last_name" => Slot::LastName,
                "phone" => Slot::Phone,
                "job_title" => Slot::JobTitle,
                "company_name" => Slot::CompanyName,
                "company_domain" => Slot::CompanyDomain,
                "linkedin_url" => Slot::LinkedinUrl,
                "status" => Slot::Status,
                "source" => Slot::Source,
                _ => return None,
            },
        })
    }

    /// The optional field of `lead` this slot fills (`None` for email and custom fields).
    fn field<'l>(&self, lead: &'l mut NewLead) -> Option<&'l mut Option<String>> {
        Some(match self {
            Slot::Email | Slot::Custom(_) => return None,
            Slot::FullName => &mut lead.full_name,
            Slot::FirstName => &mut lead.first_name,
            Slot::LastName => &mut lead.last_name,
            Slot::Phone => &mut lead.phone,
            Slot::JobTitle => &mut lead.job_title,
            Slot::CompanyName => &mut lead.company_name,
            Slot::CompanyDomain => &mut lead.company_domain,
            Slot::LinkedinUrl => &mut lead.linkedin_url,
            Slot::Status => &mut lead.status,
            Slot::Source => &mut lead.source,
        })
    }
}

/// `slot` set to `v` (`None` when empty), in the slot's buffer when it has one.
#[inline]
fn set_opt(slot: &mut Option<String>, v: &str) {
    if v.is_empty() {
        *slot = None;
    } else if let Some(s) = slot {
        s.clear();
        s.push_str(v);
    } else {
        *slot = Some(v.to_owned());
    }
}

impl RowMapper {
    /// A mapper of rows by `mapping`.
    pub fn new(mapping: &Mapping) -> RowMapper {
        let plan: Vec<(usize, Slot)> = mapping
            .columns
            .iter()
            .filter_map(|c| Slot::of(&c.target).map(|s| (c.index as usize, s)))
            .collect();
        RowMapper {
            full_name_column: plan.iter().any(|(_, s)| *s == Slot::FullName),
            plan,
            row: MappedRow::default(),
            buffers: leads::PrepareBuffers::default(),
        }
    }

    /// The row [`map`](Self::map) mapped last.
    pub fn row(&self) -> &MappedRow {
        &self.row
    }

    /// Maps one record: the result equals [`map_row`]'s for the same record, whatever rows
    /// this mapper mapped before (a field no column maps stays `None`; every mapped one is
    /// set on every row).
    pub fn map(&mut self, rec: &ByteRecord) -> &MappedRow {
        let text = record_text(rec);
        let lead = &mut self.row.lead;
        let mut custom: Option<Map<String, Value>> = None;
        lead.email.clear();
        for (i, slot) in &self.plan {
            let v = cell_of(rec, text, *i);
            match slot {
                Slot::Email => {
                    // The last email column wins, as for every field.
                    let v = v.strip_prefix("mailto:").unwrap_or(&v);
                    lead.email.clear();
                    lead.email.push_str(leads::trim_fast(v));
                }
                Slot::Custom(name) => {
                    if !v.is_empty() {
                        custom
                            .get_or_insert_with(Map::new)
                            .insert(name.clone(), Value::String(v.into_owned()));
                    }
                }
                _ => {
                    if let Some(field) = slot.field(lead) {
                        set_opt(field, &v);
                        if *slot == Slot::Status {
                            if let Some(s) = field {
                                s.make_ascii_lowercase();
                            }
                        }
                    }
                }
            }
        }
        if !self.full_name_column || lead.full_name.is_none() {
            // No full name in the row: first and last name joined, in the buffer of the last
            // row's join when it has one.
            match (&lead.first_name, &lead.last_name) {
                (Some(f), Some(l)) => {
                    let s = lead.full_name.get_or_insert_with(String::new);
                    s.clear();
                    s.push_str(f);
                    s.push(' ');
                    s.push_str(l);
                }
                (Some(v), None) | (None, Some(v)) => set_opt(&mut lead.full_name, v),
                (None, None) => lead.full_name = None,
            }
        }
        lead.custom_fields = custom;
        leads::prepare_in_place(
            lead,
            &mut self.row.errors,
            &mut self.row.dropped,
            &mut self.buffers,
        );
        self.row.email_key.clear();
        self.row.email_key.push_str(&lead.email);
        self.row.email_key.make_ascii_lowercase();
        &self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_corrected_error_report_ignores_only_the_reports_own_trailing_columns() {
        let m = auto_map(
            &h(&[
                "Email",
                "Notes",
                "row_number",
                "error_code",
                "error_message",
                "request_id",
                "dropped_fields",
            ]),
            true,
        );
        let t: Vec<_> = m.columns.iter().map(|c| c.target.clone()).collect();
        assert_eq!(
            t[0],
            ColumnTarget::Field {
                field: "email".into()
            }
        );
        assert_eq!(
            t[1],
            ColumnTarget::Custom {
                name: "Notes".into()
            }
        );
        assert!(t[2..].iter().all(|c| *c == ColumnTarget::Ignore), "{t:?}");
        // A report written before `dropped_fields` existed too.
        let m = auto_map(
            &h(&[
                "Email",
                "Notes",
                "row_number",
                "error_code",
                "error_message",
                "request_id",
            ]),
            true,
        );
        assert_eq!(
            m.columns[1].target,
            ColumnTarget::Custom {
                name: "Notes".into()
            }
        );
        assert!(m.columns[2..]
            .iter()
            .all(|c| c.target == ColumnTarget::Ignore));
        // A file of the person's own with a request_id column keeps it.
        let m = auto_map(&h(&["Email", "request_id"]), true);
        assert_eq!(
            m.columns[1].target,
            ColumnTarget::Custom {
                name: "request_id".into()
            }
        );
    }

    #[test]
    fn real_world_headers_map() {
        let m = auto_map(
            &h(&[
                "E-mail Address",
                "First Name",
                "Last Name",
                "Account Name",
                "Title",
                "Phone Number",
                "LinkedIn URL",
                "Website",
                "Favourite colour",
            ]),
            true,
        );
        let t: Vec<_> = m.columns.iter().map(|c| c.target.clone()).collect();
        let f = |s: &str| ColumnTarget::Field { field: s.into() };
        assert_eq!(
            t,
            vec![
                f("email"),
                f("first_name"),
                f("last_name"),
                f("company_name"),
                f("job_title"),
                f("phone"),
                f("linkedin_url"),
                f("company_domain"),
                ColumnTarget::Custom {
                    name: "Favourite colour".into()
                }
            ]
        );
        assert!(m.problems().is_empty());
        // The exact name wins over a partial match wherever it stands.
        let m = auto_map(&h(&["Email Status", "Email"]), false);
        assert_eq!(m.column_of("email"), Some(1));
        assert_eq!(m.columns[0].target, ColumnTarget::Ignore);
    }

    #[test]
    fn a_reused_row_mapper_maps_every_row_as_a_fresh_one_does() {
        let rows: &[&[&[u8]]] = &[
            &[
                b"ada@example.com",
                b"Ada",
                b"Lovelace",
                b"",
                b"Acme",
                b"https://www.Acme.com/x",
                b"https://linkedin.com/in/ada",
                b"Lead",
                b"x",
            ],
            &[
                b"mailto: BOB@Example.com ",
                b"",
                b"Bob",
                b"Bob B.",
                b"",
                b"Acme Inc",
                b"linkedin.com/in/bob",
                b"HOT",
                b"",
            ],
            &[
                b"carol@example.com",
                b"Carol",
                b"",
                b"",
                b"C",
                b"acme.com:80:80",
                b"https://linkedin.com/in/c d",
                b"",
                b"notes",
            ],
            &[b"not-an-email", b"", b"", b"", b"", b"", b"", b"", b""],
            &[
                b"dan@example.com",
                b"D\xe9an",
                b"Smith",
                b"",
                b"\xff",
                b"www.example.org",
                b"",
                b"contacted",
                b"y",
            ],
            &[b"eve@example.com"],
            &[
                b"ada@example.com",
                b"Ada",
                b"Lovelace",
                b"Ada L.",
                b"Acme",
                b"acme.com",
                b"https://linkedin.com/in/ada",
                b"new",
                b"z",
            ],
        ];
        let headers = [
            "Email",
            "First Name",
            "Last Name",
            "Full Name",
            "Company",
            "Website",
            "LinkedIn",
            "Status",
            "Notes",
        ];
        let mut with_full = auto_map(&h(&headers), true);
        with_full.columns[7].target = ColumnTarget::Field {
            field: "status".into(),
        };
        let mut without_full = with_full.clone();
        without_full.columns[3].target = ColumnTarget::Ignore;
        for mapping in [&with_full, &without_full] {
            let mut mapper = RowMapper::new(mapping);
            for _ in 0..2 {
                for cells in rows {
                    let mut rec = ByteRecord::new();
                    for c in *cells {
                        rec.push_field(c);
                    }
                    let fresh = map_row(mapping, &rec);
                    assert_eq!(*mapper.map(&rec), fresh, "{cells:?}");
                }
            }
        }
    }

    #[test]
    fn values_are_normalised() {
        assert_eq!(normalize_domain("https://www.Acme.com/about?x"), "acme.com");
        assert_eq!(normalize_domain("acme.co.uk:443"), "acme.co.uk");
        assert_eq!(
            normalize_linkedin("linkedin.com/in/ada"),
            "https://linkedin.com/in/ada"
        );
    }
}
