//! `pb2b leads create` and `pb2b import` as real processes against the in-process sandbox:
//! a retried submission makes one lead; --dry-run sends nothing; an import killed with SIGKILL
//! is finished by `--resume` with exactly one lead per row; a bad optional value is dropped,
//! not the row; an empty file is refused as empty; the same file imported twice creates nothing
//! the second time, and `--mode upsert` updates exactly the changed rows, as its review said.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::{json, output, pb2b};
use pb2b_sandbox::SandboxConfig;
use serde_json::Value;

async fn leads(sb: &pb2b_sandbox::Sandbox) -> u64 {
    state(sb).await["leads"].as_u64().unwrap()
}

/// The sandbox's counts (`GET /_sandbox/state`).
async fn state(sb: &pb2b_sandbox::Sandbox) -> Value {
    let v: Value = reqwest::Client::new()
        .get(format!("{}/state", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leads_create_retried_with_its_key_makes_one_lead() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let args = [
        "leads",
        "create",
        "--json",
        "--full-name",
        "Ada Lovelace",
        "--email",
        "ada@example.com",
        "--company-name",
        "Analytical",
        "--field",
        "job_title=Engineer",
        "--field",
        "tier=gold",
        "--idempotency-key",
        "lead-cli-test-1",
    ];
    let first = output({
        let mut c = pb2b(&sb, &data);
        c.args(args);
        c
    })
    .await;
    assert!(first.status.success(), "{first:?}");
    let a = json(&first);
    assert_eq!(a["replayed"], false);
    assert_eq!(a["lead"]["job_title"], "Engineer");
    assert_eq!(a["lead"]["custom_fields"]["tier"], "gold");
    let again = output({
        let mut c = pb2b(&sb, &data);
        c.args(args);
        c
    })
    .await;
    let b = json(&again);
    assert_eq!(b["replayed"], true);
    assert_eq!(b["lead"]["id"], a["lead"]["id"]);
    assert_eq!(leads(&sb).await, 1);
    // A bad e-mail is refused before sending, with the usage exit code.
    let bad = output({
        let mut c = pb2b(&sb, &data);
        c.args(["leads", "create", "--json", "--email", "nope"]);
        c
    })
    .await;
    assert_eq!(bad.status.code(), Some(2));
    assert_eq!(json(&bad)["error"]["code"], "invalid_input");
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_dry_run_then_killed_and_resumed() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        latency_ms: 20,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    // Row by row: the key may not send import jobs (a bulk job of 600 rows lands at once, so
    // there is nothing to interrupt; the bulk path's kills are tests/import_bulk.rs's).
    let scopes: Vec<&str> = pb2b_sandbox::ALL_SCOPES
        .into_iter()
        .filter(|s| *s != "leads.import")
        .collect();
    let resp = reqwest::Client::new()
        .post(format!("{}/keys/full", sb.admin_url))
        .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sb.admin_token)
        .json(&serde_json::json!({ "scopes": scopes }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{resp:?}");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("people.csv");
    let rows = 600;
    let mut s = String::from("Name;E-mail Address;Organization\n");
    for i in 0..rows {
        s.push_str(&format!("Person {i};p{i}@example.com;Org {i}\n"));
    }
    s.push_str("Bad;not-an-email;Org\n");
    std::fs::write(&file, s).unwrap();

    let dry = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(dry.status.success(), "{dry:?}");
    let v = json(&dry);
    assert_eq!(v["validation"]["counts"]["will_create"], rows);
    assert_eq!(v["validation"]["counts"]["invalid"], 1);
    assert_eq!(leads(&sb).await, 0, "a dry run sends nothing");

    let mut child = pb2b(&sb, &data)
        .args(["import", "--json", "--concurrency", "4"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has created some leads (however slow the machine).
    for _ in 0..800 {
        if leads(&sb).await >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = leads(&sb).await;
    assert!(partial > 0 && partial < rows as u64, "{partial}");

    let resumed = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--resume", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(resumed.status.success(), "{resumed:?}");
    let v = json(&resumed);
    assert_eq!(v["summary"]["status"], "completed");
    assert_eq!(v["summary"]["counts"]["created"], rows);
    assert_eq!(v["summary"]["counts"]["skipped"], 1);
    assert_eq!(leads(&sb).await, rows as u64, "exactly one lead per row");
    let report = std::fs::read(v["error_report"].as_str().unwrap()).unwrap();
    assert!(report.starts_with(b"\xEF\xBB\xBF"));
    assert!(String::from_utf8_lossy(&report).contains("not-an-email"));
    sb.shutdown().await;
}

/// A Google Sheets export with an international name and a company name in its Website column:
/// --dry-run counts the row that loses a value, the import creates every lead, and the success
/// file lists the dropped value and why. An empty file exits 2 with `empty_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_drops_a_bad_optional_value_not_the_row_and_refuses_an_empty_file() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("sheet.csv");
    std::fs::write(
        &file,
        "Name,Email,Website\nJürgen,j@example.com,https://www.münchen.de/impressum\nAda,ada@example.com,Acme Inc\n",
    )
    .unwrap();
    let dry = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run"]).arg(&file);
        c
    })
    .await;
    assert!(dry.status.success(), "{dry:?}");
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("2 rows: 2 will be created, 0 invalid"),
        "{text}"
    );
    assert!(
        text.contains("1 rows will be sent without an optional value"),
        "{text}"
    );
    assert!(
        text.contains("row 3: sent without company_domain \"Acme Inc\""),
        "{text}"
    );
    assert_eq!(leads(&sb).await, 0, "a dry run sends nothing");

    let done = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--json"]).arg(&file);
        c
    })
    .await;
    assert!(done.status.success(), "{done:?}");
    let v = json(&done);
    assert_eq!(v["summary"]["counts"]["created"], 2);
    assert_eq!(v["summary"]["counts"]["with_dropped_fields"], 1);
    assert_eq!(leads(&sb).await, 2);
    assert_eq!(
        state(&sb).await["imports"],
        1,
        "the key has leads.import: the rows went as one import job"
    );
    let created = std::fs::read_to_string(v["success_file"].as_str().unwrap()).unwrap();
    let header = created.lines().next().unwrap();
    assert!(
        header.ends_with(",row_number,lead_id,request_id,dropped_fields,result,note"),
        "{header}"
    );
    // The cell as CSV writes it (its quotes doubled).
    assert!(
        created.contains(",\"company_domain \"\"Acme Inc\"\" (must be"),
        "{created}"
    );

    for (name, text, says) in [
        ("empty.csv", "", "The file is empty"),
        ("header.csv", "Name,Email\n", "has a header but no rows"),
    ] {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).unwrap();
        for dry_run in [true, false] {
            let out = output({
                let mut c = pb2b(&sb, &data);
                c.args(["import", "--json"]).arg(&p);
                if dry_run {
                    c.arg("--dry-run");
                }
                c
            })
            .await;
            assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
            let e = json(&out);
            assert_eq!(e["error"]["code"], "empty_file", "{name}");
            assert!(
                e["error"]["message"].as_str().unwrap().contains(says),
                "{e}"
            );
        }
    }
    assert_eq!(leads(&sb).await, 2);
    sb.shutdown().await;
}

/// `pb2b import FILE.xlsx --sheet NAME`: the chosen sheet is the one read (dry run and import),
/// values as the sheet shows them, and a sheet that is not there is a usage error naming those
/// that are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_xlsx_with_a_chosen_sheet() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("book.xlsx");
    let mut wb = rust_xlsxwriter::Workbook::new();
    let first = wb.add_worksheet();
    first.set_name("Notes").unwrap();
    first.write_string(0, 0, "Just notes, no leads").unwrap();
    let sheet = wb.add_worksheet();
    sheet.set_name("Q3 leads").unwrap();
    let phone = rust_xlsxwriter::Format::new().set_num_format("0");
    for (c, h) in ["Email", "Name", "Phone"].iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for i in 0..3u32 {
        sheet
            .write_string(i + 1, 0, format!("x{i}@example.com"))
            .unwrap();
        sheet.write_string(i + 1, 1, format!("Person {i}")).unwrap();
        sheet
            .write_number_with_format(i + 1, 2, 442079460000.0 + f64::from(i), &phone)
            .unwrap();
    }
    wb.save(&file).unwrap();

    let dry = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run", "--json", "--sheet", "Q3 leads"])
            .arg(&file);
        c
    })
    .await;
    assert!(dry.status.success(), "{dry:?}");
    let v = json(&dry);
    assert_eq!(v["validation"]["counts"]["will_create"], 3);
    assert_eq!(v["validation"]["format"]["sheet"], "Q3 leads");

    let missing = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run", "--json", "--sheet", "Q4"])
            .arg(&file);
        c
    })
    .await;
    assert_eq!(missing.status.code(), Some(2));
    let e = json(&missing);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("“Notes”, “Q3 leads”"),
        "{e}"
    );

    let done = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--json", "--sheet", "Q3 leads"])
            .arg(&file);
        c
    })
    .await;
    assert!(done.status.success(), "{done:?}");
    let v = json(&done);
    assert_eq!(v["summary"]["status"], "completed");
    assert_eq!(v["summary"]["counts"]["created"], 3);
    assert_eq!(leads(&sb).await, 3);
    let listed = output({
        let mut c = pb2b(&sb, &data);
        c.args(["leads", "list", "--json"]);
        c
    })
    .await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(text.contains("442079460001"), "{text}");
    sb.shutdown().await;
}

/// `--mode`: the default never duplicates a re-import; `--dry-run` prints the review's counts
/// per class (the mirror synced first), and the import then reports what the review said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_twice_creates_nothing_and_upsert_updates_exactly_the_changed_rows() {
    let sb = pb2b_sandbox::start(SandboxConfig {
        seed_demo: false,
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("team.csv");
    let write = |titles: [&str; 3]| {
        let mut s = String::from("Email,Name,Title\n");
        for (i, t) in titles.iter().enumerate() {
            s.push_str(&format!("p{i}@example.com,Person {i},{t}\n"));
        }
        std::fs::write(&file, s).unwrap();
    };
    let import = |extra: &'static [&'static str]| {
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--json"]).args(extra).arg(&file);
        c
    };
    // A lead the workspace already has, so that the mirror is not empty after the first sync.
    let other = output({
        let mut c = pb2b(&sb, &data);
        c.args(["leads", "create", "--json", "--email", "other@example.com"]);
        c
    })
    .await;
    assert!(other.status.success(), "{other:?}");
    write(["CEO", "CTO", "CFO"]);
    let first = output(import(&[])).await;
    assert!(first.status.success(), "{first:?}");
    let v = json(&first);
    assert_eq!(v["review"]["counts"]["create"], 3);
    assert_eq!(v["review"]["mode"], "create");
    assert_eq!(
        v["review"]["mirror"]["synced_now"], true,
        "an empty mirror is synced first"
    );
    assert_eq!(v["review"]["mirror"]["leads"], 1);
    assert_eq!(v["summary"]["counts"]["created"], 3);
    assert_eq!(leads(&sb).await, 4);

    // The same file again, in the default mode: the review (against a mirror synced first)
    // skips every row, and nothing is created.
    let dry = output(import(&["--dry-run"])).await;
    assert!(dry.status.success(), "{dry:?}");
    let v = json(&dry);
    assert_eq!(v["review"]["counts"]["create"], 0);
    assert_eq!(v["review"]["counts"]["skipped_exists"], 3);
    // Synced a minute after the last sync: the import sent leads since.
    assert_eq!(v["review"]["mirror"]["synced_now"], true);
    assert_eq!(v["review"]["mirror"]["leads"], 4);
    let again = output(import(&[])).await;
    assert!(again.status.success(), "{again:?}");
    let v = json(&again);
    assert_eq!(v["summary"]["counts"]["created"], 0);
    assert_eq!(v["summary"]["counts"]["skipped"], 3);
    assert_eq!(leads(&sb).await, 4, "a re-import never duplicates");

    // One title changed: upsert updates exactly that row; the text output names each class.
    write(["CEO", "VP Engineering", "CFO"]);
    let dry = output({
        let mut c = pb2b(&sb, &data);
        c.args(["import", "--dry-run", "--mode", "upsert"])
            .arg(&file);
        c
    })
    .await;
    assert!(dry.status.success(), "{dry:?}");
    let text = String::from_utf8_lossy(&dry.stdout);
    assert!(
        text.contains("review (upsert mode) against the workspace's 4 leads"),
        "{text}"
    );
    for line in [
        "  create                                   0",
        "  update                                   1",
        "  unchanged                                2",
        "  to send                                  1",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let up = output(import(&["--mode", "upsert"])).await;
    assert!(up.status.success(), "{up:?}");
    let v = json(&up);
    assert_eq!(v["review"]["counts"]["update"], 1);
    assert_eq!(
        v["summary"]["counts"]["updated"], 1,
        "the server agrees with the review"
    );
    assert_eq!(v["summary"]["counts"]["created"], 0);
    assert_eq!(leads(&sb).await, 4);
    let success = std::fs::read_to_string(v["success_file"].as_str().unwrap()).unwrap();
    assert!(
        success.contains("p1@example.com,Person 1,VP Engineering,3,"),
        "{success}"
    );
    sb.shutdown().await;
}
