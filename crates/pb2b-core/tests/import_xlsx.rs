//! `.xlsx` imports: workbooks built here with rust_xlsxwriter (leading-zero text, a phone number
//! stored as a number with a `0` format, a zip as a number with `00000`, dates, date-times,
//! booleans, empty cells, blank rows, two sheets), read by the same reader as a CSV, and one
//! imported end to end into the sandbox over loopback: exactly one lead per valid row, values as
//! the sheet shows them. Also: the chosen sheet is part of the import, other spreadsheet formats
//! and corrupt workbooks are refused with a remedy.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use csv::ByteRecord;
use pb2b_core::api::{Client, ClientConfig, ListLeadsQuery, NoopObserver, RetryPolicy};
use pb2b_core::import::{self, reader, ReadProgress, RunOptions, TableReader};
use pb2b_core::secret::SecretString;
use pb2b_core::store::Store;
use pb2b_sandbox::SandboxConfig;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
use tokio_util::sync::CancellationToken;

/// The workbook: sheet "Leads" (every cell type) and sheet "Partners" (other columns).
fn workbook(dir: &Path) -> PathBuf {
    let mut wb = Workbook::new();
    let phone_fmt = Format::new().set_num_format("0");
    let zip_fmt = Format::new().set_num_format("00000");
    let date_fmt = Format::new().set_num_format("yyyy-mm-dd");
    let dt_fmt = Format::new().set_num_format("yyyy-mm-dd hh:mm");
    let money_fmt = Format::new().set_num_format("#,##0.00");
    let ws = wb.add_worksheet();
    ws.set_name("Leads").unwrap();
    for (c, h) in [
        "Email",
        "Full Name",
        "Phone",
        "Zip",
        "Signed up",
        "Active",
        "Revenue",
        "Company",
    ]
    .iter()
    .enumerate()
    {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    // Row 2: a phone as a number with a "0" format, a zip as text with a leading zero.
    ws.write_string(1, 0, "ada@example.com").unwrap();
    ws.write_string(1, 1, "Ada Lovelace").unwrap();
    ws.write_number_with_format(1, 2, 442079460000.0, &phone_fmt)
        .unwrap();
    ws.write_string(1, 3, "01234").unwrap();
    let d = ExcelDateTime::from_ymd(2024, 3, 5).unwrap();
    ws.write_datetime_with_format(1, 4, &d, &date_fmt).unwrap();
    ws.write_boolean(1, 5, true).unwrap();
    ws.write_number_with_format(1, 6, 1234.5, &money_fmt)
        .unwrap();
    ws.write_string(1, 7, "Analytical Engines").unwrap();
    // Row 3: a phone as text, a zip as a number shown with leading zeros, a date-time, FALSE,
    // a plain number, no company (an empty cell).
    ws.write_string(2, 0, "bob@example.com").unwrap();
    ws.write_string(2, 1, "Bob Byte").unwrap();
    ws.write_string(2, 2, "+44 20 7946 0001").unwrap();
    ws.write_number_with_format(2, 3, 501.0, &zip_fmt).unwrap();
    let dt = ExcelDateTime::from_ymd(2024, 3, 5)
        .unwrap()
        .and_hms(14, 30, 0)
        .unwrap();
    ws.write_datetime_with_format(2, 4, &dt, &dt_fmt).unwrap();
    ws.write_boolean(2, 5, false).unwrap();
    ws.write_number(2, 6, 1.5).unwrap();
    // Row 4 left out entirely (a blank row); row 5: no e-mail (invalid).
    ws.write_string(4, 1, "No Mail").unwrap();
    ws.write_string(4, 7, "Nowhere Ltd").unwrap();
    // Row 6: a big number under General, no exponent.
    ws.write_string(5, 0, "cy@example.com").unwrap();
    ws.write_string(5, 1, "Cy Press").unwrap();
    ws.write_number(5, 2, 15551234567.0).unwrap();
    ws.write_string(5, 7, "Presses").unwrap();
    let other = wb.add_worksheet();
    other.set_name("Partners").unwrap();
    other.write_string(0, 0, "Partner Email").unwrap();
    other.write_string(0, 1, "Name").unwrap();
    other.write_string(1, 0, "pat@example.com").unwrap();
    other.write_string(1, 1, "Pat Partner").unwrap();
    let p = dir.join("leads.xlsx");
    wb.save(&p).unwrap();
    p
}

/// Rows of a sheet: (row number as the sheet shows it, cells).
type Rows = Vec<(u64, Vec<String>)>;

fn read(path: &Path, sheet: Option<&str>) -> (Vec<String>, Rows, reader::ReadStats) {
    let mut r = TableReader::open_sheet(path, sheet).unwrap();
    let mut rows = Vec::new();
    let mut rec = ByteRecord::new();
    while let Some(info) = r.read_row(&mut rec).unwrap() {
        rows.push((info.line, reader::cells(&rec)));
    }
    (r.headers().to_vec(), rows, r.stats())
}

#[test]
fn cells_read_as_the_sheet_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let p = workbook(dir.path());
    let (headers, rows, stats) = read(&p, None);
    assert_eq!(
        headers,
        [
            "Email",
            "Full Name",
            "Phone",
            "Zip",
            "Signed up",
            "Active",
            "Revenue",
            "Company"
        ]
    );
    let r = TableReader::open(&p).unwrap();
    assert_eq!(r.format().sheet.as_deref(), Some("Leads"));
    assert_eq!(r.format().sheets, ["Leads", "Partners"]);
    drop(r);
    // Row numbers as the sheet shows them (row 4 is blank and skipped).
    let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [2, 3, 5, 6]);
    assert_eq!(stats.rows, 4);
    assert_eq!(stats.blank_lines, 1);
    let ada = &rows[0].1;
    assert_eq!(ada[0], "ada@example.com");
    assert_eq!(
        ada[2], "442079460000",
        "a phone stored as a number with format 0"
    );
    assert_eq!(ada[3], "01234", "text keeps its leading zero");
    assert_eq!(ada[4], "2024-03-05", "a date is an ISO date");
    assert_eq!(ada[5], "TRUE");
    assert_eq!(ada[6], "1234.50", "digits format: decimals, no grouping");
    assert_eq!(ada[7], "Analytical Engines");
    let bob = &rows[1].1;
    assert_eq!(bob[2], "+44 20 7946 0001");
    assert_eq!(
        bob[3], "00501",
        "a number shown with leading zeros keeps them"
    );
    assert_eq!(bob[4], "2024-03-05T14:30:00");
    assert_eq!(bob[5], "FALSE");
    assert_eq!(bob[6], "1.5");
    // An empty trailing cell: the row is short (ragged), read as empty.
    assert_eq!(reader::cell(&ByteRecord::from(bob.clone()), 7), "");
    let no_mail = &rows[2].1;
    assert_eq!(no_mail[0], "", "an empty cell is empty");
    assert_eq!(no_mail[1], "No Mail");
    assert_eq!(rows[3].1[2], "15551234567", "General: no exponent");
}

#[test]
fn a_chosen_sheet_and_the_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let p = workbook(dir.path());
    let (headers, rows, _) = read(&p, Some("Partners"));
    assert_eq!(headers, ["Partner Email", "Name"]);
    assert_eq!(
        rows,
        [(
            2,
            vec!["pat@example.com".to_owned(), "Pat Partner".to_owned()]
        )]
    );
    // Case does not matter; a sheet that is not there names the ones that are.
    assert_eq!(read(&p, Some("partners")).0, headers);
    let e = TableReader::open_sheet(&p, Some("Nope")).unwrap_err();
    assert!(e.message.contains("“Leads”, “Partners”"), "{}", e.message);
    // The preview and the dry run read the chosen sheet.
    let pv = import::preview_sheet(None, &p, Some("Partners"), None, 10).unwrap();
    assert_eq!(pv.format.sheet.as_deref(), Some("Partners"));
    assert!(pv.complete);
    assert_eq!(pv.rows[0].lead.email, "pat@example.com");
    let s = import::validate_sheet(
        &p,
        None,
        &import::preview(None, &p, None, 0).unwrap().mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(
        (s.counts.rows, s.counts.will_create, s.counts.invalid),
        (4, 3, 1)
    );
    // A text file has no sheets.
    let csv = dir.path().join("a.csv");
    std::fs::write(&csv, "Email\na@example.com\n").unwrap();
    let e = TableReader::open_sheet(&csv, Some("Leads")).unwrap_err();
    assert!(e.message.contains("no sheets"), "{}", e.message);
    // .xls and .ods: refused with a remedy, not read as text.
    for name in ["old.xls", "calc.ods"] {
        let f = dir.path().join(name);
        std::fs::write(&f, b"\xD0\xCF\x11\xE0 not text").unwrap();
        let e = import::preview(None, &f, None, 5).unwrap_err();
        assert_eq!(e.code, pb2b_core::error::Code::InvalidInput);
        assert!(
            e.message.contains("save it as an Excel workbook (.xlsx)"),
            "{}",
            e.message
        );
    }
    // A corrupt workbook (cut short, or not a zip at all): an error with a remedy, no panic.
    let bytes = std::fs::read(&p).unwrap();
    for (name, body) in [
        ("cut.xlsx", bytes[..bytes.len() / 2].to_vec()),
        ("text.xlsx", b"Email\na@example.com\n".to_vec()),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, body).unwrap();
        let e = import::preview(None, &f, None, 5).unwrap_err();
        assert!(
            e.message.contains("save it again as .xlsx"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("export the sheet as CSV"),
            "{}",
            e.message
        );
    }
}

fn client(base_url: &str, key: &str) -> Client {
    let mut c = ClientConfig::new(base_url);
    c.retry = RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_retry_after: Duration::from_secs(5),
    };
    Client::new(c, SecretString::new(key.to_owned()), Arc::new(NoopObserver)).unwrap()
}

fn owner() -> pb2b_core::workspace::Owner {
    pb2b_core::workspace::Owner {
        workspace_id: "ws_sandbox".into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test_tests".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_xlsx_imports_end_to_end_into_the_sandbox() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = workbook(dir.path());
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let c = client(&sb.base_url, &sb.keys.full);
    let pv = import::preview(Some(&store), &p, None, 10).unwrap();
    assert!(pv.mapping_problems.is_empty(), "{:?}", pv.mapping_problems);
    let job = import::stage(
        &store,
        &owner(),
        &p,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(job.format.sheet.as_deref(), Some("Leads"));
    assert_eq!((job.counts.total, job.counts.skipped), (4, 1));
    // The unfinished import of this file's first sheet is this one; another sheet has none.
    let imports = import::Imports::new(store.clone(), c.clone(), owner());
    assert_eq!(imports.unfinished_for_file(&p, None).unwrap().id, job.id);
    assert_eq!(
        imports.unfinished_for_file(&p, Some("Leads")).unwrap().id,
        job.id
    );
    assert!(imports.unfinished_for_file(&p, Some("Partners")).is_err());
    let summary = import::run(
        &c,
        &store,
        &job.id,
        &RunOptions::default(),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(summary.status, "completed");
    assert_eq!(summary.counts.created, 3);
    // Another sheet of the same file is another import, with its own keys.
    let partners = import::preview_sheet(Some(&store), &p, Some("Partners"), None, 10).unwrap();
    let job2 = imports
        .stage_sheet(
            &p,
            Some("Partners"),
            &partners.mapping,
            &|_: &ReadProgress| {},
            &CancellationToken::new(),
        )
        .unwrap();
    assert_ne!(job2.id, job.id);
    assert_eq!(job2.format.sheet.as_deref(), Some("Partners"));
    let s2 = import::run(
        &c,
        &store,
        &job2.id,
        &RunOptions::default(),
        &|_| {},
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(s2.counts.created, 1);

    let page = c
        .list_leads(&ListLeadsQuery {
            limit: Some(100),
            updated_after: None,
            cursor: None,
        })
        .await
        .unwrap();
    let by_email: HashMap<&str, &pb2b_core::api::Lead> =
        page.data.iter().map(|l| (l.email.as_str(), l)).collect();
    assert_eq!(page.data.len(), 4, "exactly one lead per valid row");
    assert_eq!(by_email.len(), 4);
    let ada = by_email["ada@example.com"];
    assert_eq!(ada.full_name.as_deref(), Some("Ada Lovelace"));
    assert_eq!(ada.phone.as_deref(), Some("442079460000"));
    assert_eq!(ada.company_name.as_deref(), Some("Analytical Engines"));
    let custom =
        |l: &pb2b_core::api::Lead, v: &str| l.custom_fields.values().any(|x| x.as_str() == Some(v));
    assert!(custom(ada, "01234"), "{:?}", ada.custom_fields);
    assert!(custom(ada, "2024-03-05"), "{:?}", ada.custom_fields);
    assert!(custom(ada, "TRUE"), "{:?}", ada.custom_fields);
    let bob = by_email["bob@example.com"];
    assert_eq!(bob.phone.as_deref(), Some("+44 20 7946 0001"));
    assert!(custom(bob, "00501"), "{:?}", bob.custom_fields);
    assert!(
        custom(bob, "2024-03-05T14:30:00"),
        "{:?}",
        bob.custom_fields
    );
    assert_eq!(
        by_email["cy@example.com"].phone.as_deref(),
        Some("15551234567")
    );
    assert_eq!(
        by_email["pat@example.com"].full_name.as_deref(),
        Some("Pat Partner")
    );
    sb.shutdown().await;
}
