//! A bad optional value never costs the lead (issue 12, item 5), against the sandbox over HTTP:
//! a Google Sheets-like export whose Website column holds international names and web
//! addresses, and other optional cells the contract refuses, imports every lead; the values
//! left out are counted before sending and listed, with why, in both result files. A bad
//! e-mail still makes its row invalid. A file without rows is refused as empty.

use std::path::Path;
use std::sync::Arc;

use pb2b_core::api::{Client, ClientConfig, ListLeadsQuery, NoopObserver};
use pb2b_core::error::Code;
use pb2b_core::import::{self, ReadProgress, RunOptions};
use pb2b_core::secret::SecretString;
use pb2b_core::store::Store;
use pb2b_sandbox::SandboxConfig;
use tokio_util::sync::CancellationToken;

fn owner() -> pb2b_core::workspace::Owner {
    pb2b_core::workspace::Owner {
        workspace_id: "ws_sandbox".into(),
        workspace_name: "Sandbox workspace".into(),
        key_prefix: "pb2b_test_tests".into(),
    }
}

/// Reads a result file (BOM removed) as header and rows.
fn read_csv(p: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let bytes = std::fs::read(p).unwrap();
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|x| x.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

const SHEET: &str = "\
Full Name,Email,Website,LinkedIn URL,Phone,Status
Jürgen Müller,juergen@example.com,https://www.Müller-Bäckerei.de/kontakt,https://www.linkedin.com/in/juergen,+49 89 123,new
Ada Lovelace,ada@example.com,Acme Inc,https://linkedin.com/in/ada lovelace,+44 20 7946 0958,hot
Grace Hopper,grace@example.com,https://example.org:8443/about?x=1,,,contacted
Alan Turing,alan@example.com,münchen.de,,,
Bad Row,not-an-email,example.com,,,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idn_website_and_bad_optional_values_never_cost_the_lead() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sheet.csv");
    std::fs::write(&path, SHEET).unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();

    // Before sending: the preview and the dry run count the rows that lose a value.
    let mut mapping = import::preview(Some(&store), &path, None, 10)
        .unwrap()
        .mapping;
    // Status is never guessed (exports use other words): set by hand, as the app lets you.
    mapping.columns[5].target = import::ColumnTarget::Field {
        field: "status".into(),
    };
    let pv = import::preview(Some(&store), &path, Some(&mapping), 10).unwrap();
    assert!(pv.mapping_problems.is_empty(), "{:?}", pv.mapping_problems);
    assert_eq!(
        (
            pv.counts.will_create,
            pv.counts.invalid,
            pv.counts.with_dropped_fields
        ),
        (4, 1, 1)
    );
    assert_eq!(
        pv.rows[0].lead.company_domain.as_deref(),
        Some("xn--mller-bckerei-hfb76a.de")
    );
    let ada = &pv.rows[1];
    assert!(ada.errors.is_empty());
    let fields: Vec<&str> = ada.dropped.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["company_domain", "linkedin_url", "status"]);
    let dry = import::validate_file(
        &path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(
        (
            dry.counts.will_create,
            dry.counts.invalid,
            dry.counts.with_dropped_fields
        ),
        (4, 1, 1)
    );
    assert!(dry.issues.iter().any(|i| i.row_number == 3
        && i.code == "dropped_fields"
        && i.message.contains("Acme Inc")));

    // Import: every lead with a valid e-mail is created.
    let job = import::stage(
        &store,
        &owner(),
        &path,
        &pv.mapping,
        &|_: &ReadProgress| {},
        &CancellationToken::new(),
    )
    .unwrap();
    assert_eq!(job.counts.with_dropped_fields, 1);
    let c = Client::new(
        ClientConfig::new(&sb.base_url),
        SecretString::new(sb.keys.full.clone()),
        Arc::new(NoopObserver),
    )
    .unwrap();
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
    assert_eq!(
        (
            summary.counts.created,
            summary.counts.failed,
            summary.counts.skipped
        ),
        (4, 0, 1),
        "{summary:?}"
    );
    assert_eq!(summary.counts.with_dropped_fields, 1);

    // The server holds what was sent: hosts in ASCII, the dropped values left out.
    let page = c
        .list_leads(&ListLeadsQuery {
            limit: Some(100),
            updated_after: None,
            cursor: None,
        })
        .await
        .unwrap();
    let by_email = |e: &str| page.data.iter().find(|l| l.email == e).unwrap().clone();
    assert_eq!(
        by_email("juergen@example.com").company_domain.as_deref(),
        Some("xn--mller-bckerei-hfb76a.de")
    );
    assert_eq!(
        by_email("alan@example.com").company_domain.as_deref(),
        Some("xn--mnchen-3ya.de")
    );
    assert_eq!(
        by_email("grace@example.com").company_domain.as_deref(),
        Some("example.org")
    );
    let ada = by_email("ada@example.com");
    assert_eq!(ada.company_domain, None);
    assert_eq!(ada.linkedin_url, None);
    assert_eq!(ada.phone.as_deref(), Some("+44 20 7946 0958"));
    assert_eq!(ada.status, "new");

    // The success file lists the dropped values and why, per row.
    let ok = dir.path().join("created.csv");
    assert_eq!(import::write_success_file(&store, &job.id, &ok).unwrap(), 4);
    let (header, rows) = read_csv(&ok);
    let col = |n: &str| header.iter().position(|h| h == n).unwrap();
    let (row_col, dropped_col) = (col("row_number"), col("dropped_fields"));
    let ada_row = rows.iter().find(|r| r[row_col] == "3").unwrap();
    let cell = &ada_row[dropped_col];
    assert!(
        cell.starts_with("company_domain \"Acme Inc\" (must be")
            && cell.contains("; linkedin_url \"https://linkedin.com/in/ada lovelace\" (")
            && cell.contains("; status \"hot\" (must be one of"),
        "{cell}"
    );
    for r in rows.iter().filter(|r| r[row_col] != "3") {
        assert_eq!(r[dropped_col], "", "{r:?}");
    }
    // The error report: the invalid e-mail, its cells as read, and the same column.
    let errors = dir.path().join("errors.csv");
    assert_eq!(
        import::write_error_report(&store, &job.id, &errors).unwrap(),
        1
    );
    let (header, rows) = read_csv(&errors);
    assert_eq!(header.last().map(String::as_str), Some("dropped_fields"));
    assert_eq!(rows[0][1], "not-an-email");
    assert_eq!(rows[0][header.len() - 4], "invalid_row");
    sb.shutdown().await;
}

#[test]
fn an_empty_file_says_it_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
    let cancel = CancellationToken::new();
    let cases = [
        ("zero.csv", "", "The file is empty"),
        ("blank.csv", "\n\r\n  \n", "The file is empty"),
        ("bom.csv", "\u{feff}", "The file is empty"),
        ("header.csv", "Email,Name\n", "has a header but no rows"),
        (
            "header-blank.csv",
            "Email,Name\n\n,\n  ,  \n",
            "has a header but no rows",
        ),
    ];
    for (name, text, says) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let e = import::preview(Some(&store), &path, None, 5).unwrap_err();
        assert_eq!(e.code, Code::EmptyFile, "{name}: {e}");
        assert!(e.message.contains(says), "{name}: {}", e.message);
        let mapping = import::auto_map(&["Email".to_owned()], false);
        let e = import::validate_file(&path, &mapping, &|_| {}, &cancel).unwrap_err();
        assert_eq!(e.code, Code::EmptyFile, "{name}: {e}");
        let e = import::stage(&store, &owner(), &path, &mapping, &|_| {}, &cancel).unwrap_err();
        assert_eq!(e.code, Code::EmptyFile, "{name}: {e}");
        assert!(e.message.contains(says), "{name}: {}", e.message);
    }
    // Nothing was journaled for them.
    assert!(import::list_imports(&store).unwrap_or_default().is_empty());
}
