//! The import reader, mapping, validation and result files against a corpus of real-world-shaped
//! files made here (Excel semicolon Windows-1252, Excel Unicode Text, Google Sheets, HubSpot,
//! Salesforce, Apollo, quoted newlines, BOM, ragged rows, empty, header only, formula injection),
//! a proptest round trip through csv::Writer, and the fuzz entry point over random bytes.

use std::path::PathBuf;

use pb2b_core::import::{self, auto_map, reader, ColumnTarget, Mapping, ReadProgress, TableReader};
use pb2b_core::store::Store;
use proptest::prelude::*;
use tokio_util::sync::CancellationToken;

fn write(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn utf16(text: &str, le: bool) -> Vec<u8> {
    let mut out = if le {
        vec![0xFF, 0xFE]
    } else {
        vec![0xFE, 0xFF]
    };
    for u in text.encode_utf16() {
        let b = if le { u.to_le_bytes() } else { u.to_be_bytes() };
        out.extend_from_slice(&b);
    }
    out
}

fn field(m: &Mapping, header: &str) -> ColumnTarget {
    m.columns
        .iter()
        .find(|c| c.header == header)
        .map(|c| c.target.clone())
        .unwrap()
}

fn f(name: &str) -> ColumnTarget {
    ColumnTarget::Field { field: name.into() }
}

fn no_progress(_: &ReadProgress) {}

#[test]
fn excel_semicolon_windows_1252_with_accents() {
    let dir = tempfile::tempdir().unwrap();
    let text = "Prénom;Nom;Adresse e-mail;Société;Téléphone\r\nJosé;Müller;jose@example.fr;Crème Brûlée SA;+33 1 23 45 67 89\r\nFrançoise;Lefèvre;francoise@example.fr;\"Société Générale; Paris\";\r\n;;;;\r\n";
    let (bytes, _, bad) = encoding_rs::WINDOWS_1252.encode(text);
    assert!(!bad);
    let p = write(&dir, "excel.csv", &bytes);
    let pv = import::preview(None, &p, None, 10).unwrap();
    assert_eq!(pv.format.encoding, "windows-1252");
    assert_eq!(pv.format.delimiter, ";");
    assert_eq!(pv.headers[0], "Prénom");
    assert_eq!(field(&pv.mapping, "Prénom"), f("first_name"));
    assert_eq!(field(&pv.mapping, "Nom"), f("last_name"));
    assert_eq!(field(&pv.mapping, "Adresse e-mail"), f("email"));
    assert_eq!(field(&pv.mapping, "Société"), f("company_name"));
    assert_eq!(field(&pv.mapping, "Téléphone"), f("phone"));
    assert_eq!(pv.rows.len(), 2);
    assert_eq!(pv.rows[0].lead.full_name.as_deref(), Some("José Müller"));
    assert_eq!(
        pv.rows[1].lead.company_name.as_deref(),
        Some("Société Générale; Paris")
    );
    assert_eq!(pv.counts.will_create, 2);
    assert_eq!(pv.counts.blank_lines, 1);
    assert!(pv.complete);
}

#[test]
fn excel_unicode_text_utf16_tab_and_big_endian() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "First Name\tLast Name\tEmail\tCompany\r\nŁukasz\tNowak\tlukasz@example.pl\tŻabka\r\n";
    for le in [true, false] {
        let p = write(&dir, "unicode.txt", &utf16(text, le));
        let (headers, rows, _) = reader::read_all(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(headers, ["First Name", "Last Name", "Email", "Company"]);
        assert_eq!(
            rows,
            vec![vec!["Łukasz", "Nowak", "lukasz@example.pl", "Żabka"]]
        );
        let pv = import::preview(None, &p, None, 5).unwrap();
        assert_eq!(pv.format.encoding, if le { "UTF-16LE" } else { "UTF-16BE" });
        assert_eq!(pv.format.delimiter, "\t");
        assert_eq!(pv.rows[0].lead.full_name.as_deref(), Some("Łukasz Nowak"));
        assert!(pv.rows[0].errors.is_empty());
    }
}

#[test]
fn google_sheets_hubspot_salesforce_apollo_headers_map() {
    let sheets = auto_map(
        &[
            "Name",
            "Email",
            "Company",
            "Job Title",
            "LinkedIn URL",
            "Notes",
        ]
        .map(String::from),
        true,
    );
    assert_eq!(field(&sheets, "Name"), f("full_name"));
    assert_eq!(field(&sheets, "LinkedIn URL"), f("linkedin_url"));
    assert_eq!(
        field(&sheets, "Notes"),
        ColumnTarget::Custom {
            name: "Notes".into()
        }
    );
    let hubspot = auto_map(
        &[
            "Record ID",
            "First Name",
            "Last Name",
            "Email",
            "Phone Number",
            "Company Name",
            "Job Title",
            "Website URL",
            "Lead Status",
        ]
        .map(String::from),
        false,
    );
    assert_eq!(field(&hubspot, "Email"), f("email"));
    assert_eq!(field(&hubspot, "Company Name"), f("company_name"));
    assert_eq!(field(&hubspot, "Website URL"), f("company_domain"));
    assert_eq!(field(&hubspot, "Phone Number"), f("phone"));
    // Lead Status uses HubSpot's own words: never guessed onto the contract's status.
    assert_eq!(field(&hubspot, "Lead Status"), ColumnTarget::Ignore);
    let salesforce = auto_map(
        &[
            "Lead ID",
            "First Name",
            "Last Name",
            "Title",
            "Account Name",
            "Email",
            "Phone",
            "Lead Source",
        ]
        .map(String::from),
        false,
    );
    assert_eq!(field(&salesforce, "Account Name"), f("company_name"));
    assert_eq!(field(&salesforce, "Title"), f("job_title"));
    let apollo = auto_map(
        &[
            "First Name",
            "Last Name",
            "Title",
            "Company",
            "Company Name for Emails",
            "Email",
            "Email Status",
            "Mobile Phone",
            "Person Linkedin Url",
            "Website",
            "Company Linkedin Url",
        ]
        .map(String::from),
        false,
    );
    assert_eq!(field(&apollo, "Email"), f("email"));
    assert_eq!(field(&apollo, "Email Status"), ColumnTarget::Ignore);
    assert_eq!(field(&apollo, "Company"), f("company_name"));
    assert_eq!(field(&apollo, "Person Linkedin Url"), f("linkedin_url"));
    assert_eq!(field(&apollo, "Company Linkedin Url"), ColumnTarget::Ignore);
    assert!(apollo.problems().is_empty());
    let conf = apollo.columns.iter().find(|c| c.header == "Email").unwrap();
    assert_eq!(conf.confidence, 100);
}

#[test]
fn quoted_newlines_bom_blank_lines_and_ragged_rows() {
    let text = "\u{FEFF}Email,Name,Note\r\nada@example.com,\"Lovelace, Ada\",\"line one\r\nline \"\"two\"\"\"\r\n\r\n\r\ngrace@example.com,Grace\r\nalan@example.com,Alan,x,extra\r\n";
    let mut r = TableReader::from_bytes(text.as_bytes().to_vec()).unwrap();
    assert_eq!(r.headers(), ["Email", "Name", "Note"]);
    let mut rec = csv::ByteRecord::new();
    let a = r.read_row(&mut rec).unwrap().unwrap();
    assert_eq!(a.line, 2);
    assert_eq!(reader::cells(&rec)[2], "line one\r\nline \"two\"");
    let b = r.read_row(&mut rec).unwrap().unwrap();
    assert_eq!(
        b.line, 3,
        "a row spanning two lines is one row; empty lines are none"
    );
    assert!(b.ragged);
    let c = r.read_row(&mut rec).unwrap().unwrap();
    assert_eq!(c.line, 4);
    assert!(c.ragged);
    assert!(r.read_row(&mut rec).unwrap().is_none());
    let st = r.stats();
    assert_eq!((st.rows, st.blank_lines, st.ragged_rows), (3, 2, 2));
    assert_eq!(r.format().encoding, "UTF-8");
    assert!(r.format().bom);
}

#[test]
fn excel_sep_line_names_the_delimiter_and_is_not_the_header() {
    for text in [
        "sep=;\r\nEmail;Name\r\na@example.com;A, B\r\n",
        "sep=,\nEmail,Name\na@example.com,\"A; B\"\n",
    ] {
        let (headers, rows, _) = reader::read_all(text.as_bytes()).unwrap();
        assert_eq!(headers, ["Email", "Name"], "{text:?}");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0][0], "a@example.com");
    }
}

#[test]
fn empty_file_and_header_only_are_reported_as_empty() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(&dir, "empty.csv", b"");
    let err = import::preview(None, &empty, None, 10).unwrap_err();
    assert_eq!(err.code, "empty_file");
    assert!(err.message.starts_with("The file is empty"), "{err}");
    let mapping = import::auto_map(&["Email".to_owned()], false);
    let err = import::validate_file(&empty, &mapping, &no_progress, &CancellationToken::new())
        .unwrap_err();
    assert_eq!(err.code, "empty_file");

    let header = write(&dir, "header.csv", b"Email,First Name\n");
    let err = import::preview(None, &header, None, 10).unwrap_err();
    assert_eq!(err.code, "empty_file");
    assert!(err.message.contains("has a header but no rows"), "{err}");
    let err = import::validate_file(&header, &mapping, &no_progress, &CancellationToken::new())
        .unwrap_err();
    assert_eq!(err.code, "empty_file");
    let missing = import::preview(None, &dir.path().join("nope.csv"), None, 10).unwrap_err();
    assert_eq!(missing.code, "io_error");
}

#[test]
fn full_validation_counts_invalid_and_duplicate_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("Email,Full Name,Company,Website,LinkedIn\n");
    for i in 0..500 {
        text.push_str(&format!(
            "user{i}@example.com,User {i},Acme {i},https://www.acme{i}.com/,linkedin.com/in/u{i}\n"
        ));
    }
    text.push_str("USER3@example.com,Dup,Acme,,\n"); // duplicate (case-insensitive)
    text.push_str("not-an-email,Bad,Acme,,\n"); // invalid
    text.push_str(",No email,Acme,,\n"); // invalid: required
    text.push_str("ok@example.com,Bad domain,Acme,acme,\n"); // sent without its domain
    let p = write(&dir, "v.csv", text.as_bytes());
    let pv = import::preview(None, &p, None, 3).unwrap();
    assert_eq!(pv.rows[0].lead.company_domain.as_deref(), Some("acme0.com"));
    assert_eq!(
        pv.rows[0].lead.linkedin_url.as_deref(),
        Some("https://linkedin.com/in/u0")
    );
    let s =
        import::validate_file(&p, &pv.mapping, &no_progress, &CancellationToken::new()).unwrap();
    assert_eq!(s.counts.rows, 504);
    assert_eq!(s.counts.will_create, 501);
    assert_eq!(s.counts.duplicate, 1);
    assert_eq!(s.counts.invalid, 2);
    assert_eq!(s.counts.with_dropped_fields, 1);
    assert_eq!(s.issues.len(), 3);
    assert!(s.issues.iter().any(|i| i.code == "dropped_fields"
        && i.message
            .starts_with("sent without company_domain \"acme\"")));
    assert!(s
        .issues
        .iter()
        .any(|i| i.message.contains("email is required")));
    // The preview's counts on a whole small file agree with the full pass.
    assert_eq!(pv.counts.will_create, 501);
    assert_eq!(pv.counts.duplicate, 1);
    assert_eq!(pv.counts.invalid, 2);
    assert_eq!(pv.counts.with_dropped_fields, 1);
}

#[test]
fn mapping_is_remembered_per_header_set_and_rows_are_journaled() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let p = write(
        &dir,
        "a.csv",
        b"Mail,Org,Tier\na@example.com,Acme,gold\nb@example.com,Beta,silver\nb@example.com,Dup,x\nbad,Bad,x\n",
    );
    let pv = import::preview(Some(&store), &p, None, 10).unwrap();
    assert!(!pv.remembered);
    let mut mapping = pv.mapping.clone();
    // Override by hand: Org is the company, Tier a custom field named "tier".
    for c in &mut mapping.columns {
        if c.header == "Org" {
            c.target = f("company_name");
        }
        if c.header == "Tier" {
            c.target = ColumnTarget::Custom {
                name: "tier".into(),
            };
        }
    }
    let job = import::stage(
        &store,
        &owner(),
        &p,
        &mapping,
        &no_progress,
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(job.status, "ready");
    assert_eq!(job.counts.total, 4);
    assert_eq!(job.counts.pending, 2);
    assert_eq!(job.counts.skipped, 2);
    // Same headers in another order: the remembered mapping comes back.
    let p2 = write(&dir, "b.csv", b"Tier,Org,Mail\ngold,Acme,c@example.com\n");
    let pv2 = import::preview(Some(&store), &p2, None, 10).unwrap();
    assert!(pv2.remembered);
    assert_eq!(field(&pv2.mapping, "Org"), f("company_name"));
    assert_eq!(
        pv2.rows[0].lead.custom_fields.as_ref().unwrap()["tier"],
        "gold"
    );
    assert_eq!(import::unfinished_imports(&store).unwrap().len(), 1);
    let cancelled = import::cancel_import(&store, &job.id).unwrap();
    assert_eq!(cancelled.status, "cancelled");
    assert_eq!(cancelled.counts.skipped, 4);
    assert!(import::unfinished_imports(&store).unwrap().is_empty());
}

#[test]
fn error_report_keeps_the_original_cells_and_neutralises_its_own_columns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_memory().unwrap();
    let p = write(
        &dir,
        "evil.csv",
        "Email,Company,Note\n=cmd|' /C calc'!A0,\"=HYPERLINK(\"\"http://evil\"\",\"\"x\"\")\",+1\nok@example.com,@SUM(A1),\"\tx\"\n-2,Acme,\"\rz\"\n"
            .as_bytes(),
    );
    let pv = import::preview(None, &p, None, 10).unwrap();
    let job = import::stage(
        &store,
        &owner(),
        &p,
        &pv.mapping,
        &no_progress,
        &CancellationToken::new(),
    )
    .unwrap();
    let out = dir.path().join("errors.csv");
    let n = import::write_error_report(&store, &job.id, &out).unwrap();
    assert_eq!(n, 2, "two invalid rows");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM for Excel");
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let headers: Vec<String> = r.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        headers,
        [
            "Email",
            "Company",
            "Note",
            "row_number",
            "error_code",
            "error_message",
            "request_id",
            "dropped_fields"
        ]
    );
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    // The original cells exactly as read: the corrected report imports the same values
    // (import_delivery::a_corrected_error_report_reimports_the_original_values).
    assert_eq!(&rows[0][0], "=cmd|' /C calc'!A0");
    assert_eq!(&rows[0][1], "=HYPERLINK(\"http://evil\",\"x\")");
    assert_eq!(&rows[0][2], "+1");
    assert_eq!(&rows[0][3], "2");
    assert_eq!(&rows[0][4], "invalid_row");
    assert_eq!(&rows[1][0], "-2");
    assert_eq!(&rows[1][2], "\rz");
    // The columns this app adds are formula-safe.
    for row in &rows {
        for cell in row.iter().skip(3) {
            assert!(
                !cell.starts_with(['=', '+', '-', '@', '\t', '\r']),
                "{cell:?}"
            );
        }
    }
    // The valid row's cells are neutralised in the success file too (none created yet here).
    let ok = dir.path().join("ok.csv");
    assert_eq!(import::write_success_file(&store, &job.id, &ok).unwrap(), 0);
}

#[test]
fn a_cancelled_validation_returns_partial_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("Email\n");
    for i in 0..70_000 {
        text.push_str(&format!("u{i}@example.com\n"));
    }
    let p = write(&dir, "big.csv", text.as_bytes());
    let m = auto_map(&["Email".to_string()], false);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let s = import::validate_file(&p, &m, &no_progress, &cancel).unwrap();
    assert!(s.cancelled);
    assert_eq!(s.counts.rows, 65_536);
}

fn cell_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,8}",
        "[a-zA-Z0-9 ,;\t|\"\r\néüß€Ł@=+-]{0,12}",
    ]
}

fn table_strategy() -> impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)> {
    (2usize..6).prop_flat_map(|cols| {
        (
            proptest::collection::vec("[A-Za-z][A-Za-z0-9]{0,7}", cols..=cols),
            proptest::collection::vec(
                proptest::collection::vec(cell_strategy(), cols..=cols),
                0..20,
            ),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Any table written by csv::Writer (any of the four delimiters, UTF-8 with or without BOM,
    /// UTF-16 LE) reads back identically. Headers are distinct names; every row has a non-empty
    /// first cell (an all-blank row is skipped by design).
    #[test]
    fn csv_writer_tables_read_back_identically(
        (headers, rows) in table_strategy(),
        delim in proptest::sample::select(vec![b',', b';', b'\t', b'|']),
        encoding in 0u8..3,
    ) {
        let mut seen = std::collections::HashSet::new();
        let headers: Vec<String> = headers
            .into_iter()
            .enumerate()
            .map(|(i, h)| if seen.insert(h.to_lowercase()) { h } else { format!("H{i}x") })
            .collect();
        let rows: Vec<Vec<String>> = rows
            .into_iter()
            .enumerate()
            .map(|(i, mut r)| { r[0] = format!("r{i}{}", r[0]); r })
            .collect();
        let mut w = csv::WriterBuilder::new().delimiter(delim).from_writer(Vec::new());
        w.write_record(&headers).unwrap();
        for r in &rows {
            w.write_record(r).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        let input = match encoding {
            0 => bytes,
            1 => [b"\xEF\xBB\xBF".as_slice(), &bytes].concat(),
            _ => utf16(&text, true),
        };
        let (h, got, stats) = reader::read_all(&input).unwrap();
        prop_assert_eq!(h, headers);
        prop_assert_eq!(got, rows);
        prop_assert_eq!(stats.ragged_rows, 0);
    }

    /// The fuzz entry point never panics on arbitrary bytes (the cargo-fuzz target `reader`
    /// under crates/pb2b-core/fuzz runs the same function without bounds).
    #[test]
    fn fuzz_entry_never_panics_on_random_bytes(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        import::fuzz_entry(&data);
    }

    /// ... nor on mutations of a realistic file (quotes, BOMs and delimiters in random places).
    #[test]
    fn fuzz_entry_never_panics_on_mutated_files(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), proptest::sample::select(vec![b'"', b'\n', b'\r', b',', b';', 0xFF, 0xFE, 0xEF, 0xBB, 0xBF, 0, b'\t'])), 0..30),
    ) {
        let mut data = b"\xEF\xBB\xBFEmail,First Name,Last Name,Company\r\nada@example.com,Ada,Lovelace,\"Analytical, Ltd\"\r\n\"multi\nline\",x,y,z\r\n".to_vec();
        for (i, b) in edits {
            let at = i.index(data.len());
            data.insert(at, b);
        }
        import::fuzz_entry(&data);
    }
}

/// The workspace these imports are journaled for (the in-process sandbox's).
fn owner() -> pb2b_core::workspace::Owner {
    pb2b_core::workspace::Owner {
        workspace_id: "ws_sandbox".into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test_tests".into(),
    }
}

#[test]
fn a_quote_that_never_closes_is_named_and_reading_stops() {
    // Row 3 opens a quote; 20 MiB of rows follow, all inside that "cell".
    let mut bytes = b"Name,Email\nAda,ada@example.com\n\"Grace,grace@example.com\n".to_vec();
    let filler = b"Someone,someone@example.com\n";
    while bytes.len() < 20 * 1024 * 1024 {
        bytes.extend_from_slice(filler);
    }
    let mut r = pb2b_core::import::TableReader::from_bytes(bytes).unwrap();
    let mut rec = csv::ByteRecord::new();
    assert!(r.read_row(&mut rec).unwrap().is_some(), "row 2 reads");
    let err = r.read_row(&mut rec).unwrap_err();
    assert_eq!(err.code, "invalid_input");
    assert!(
        err.message
            .starts_with("Row 3 opens a quote that never closes"),
        "{}",
        err.message
    );
    // It stopped after about the bound, not at the end of the file.
    let read = r.stats().bytes_read;
    assert!(
        read < 12 * 1024 * 1024,
        "read {read} bytes of a 20 MiB file"
    );
}
