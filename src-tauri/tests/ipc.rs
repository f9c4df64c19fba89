//! Commands called through Tauri's IPC on the mock runtime, as the webview would call them.

use crate::support::{app, invoke};

#[test]
fn diagnostics_reports_versions_and_a_real_keychain_probe() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    let report = invoke(&app, "diagnostics", serde_json::json!({})).expect("diagnostics succeeds");
    assert_eq!(report["core_version"], pb2b_core::CORE_VERSION);
    assert_eq!(report["app_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(report["base_url"], pb2b_core::DEFAULT_BASE_URL);
    assert_eq!(report["arch"], std::env::consts::ARCH);
    assert_eq!(report["data_dir"], dir.path().display().to_string());
    assert!(report["os"].as_str().is_some_and(|os| !os.is_empty()));
    assert_eq!(report["trust_store"], pb2b_core::api::network::TRUST_STORE);
    assert_eq!(
        report["proxy"],
        pb2b_core::api::network::describe(pb2b_core::DEFAULT_BASE_URL).1
    );
    // The test command runs inside a private D-Bus session with an unlocked gnome-keyring, so the
    // probe must succeed there; elsewhere (a bare `cargo test`) it must say why it failed.
    let keychain = &report["keychain"];
    if std::env::var_os("PB2B_EXPECT_KEYCHAIN").is_some() {
        assert_eq!(keychain["reachable"], true, "keychain: {keychain}");
    } else if keychain["reachable"] == false {
        assert!(keychain["detail"].as_str().is_some_and(|d| !d.is_empty()));
    }
}

#[test]
fn an_unknown_command_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    let err = invoke(&app, "no_such_command", serde_json::json!({})).unwrap_err();
    assert!(err.to_string().contains("no_such_command"), "{err}");
}

#[test]
fn errors_cross_ipc_in_the_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    // Refused before anything is sent: plain http to a non-loopback host.
    let err = invoke(
        &app,
        "verify_key",
        serde_json::json!({"baseUrl": "http://example.com/api", "key": "pb2b_live_ab12cd_secret"}),
    )
    .unwrap_err();
    let keys: Vec<&str> = err
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["code", "message", "request_id", "retryable"]);
    assert_eq!(err["code"], "invalid_input");
    assert!(err["message"].as_str().unwrap().contains("https"));
}

#[cfg(unix)]
fn mode(p: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// preferences.json (written in place by tauri-plugin-store) and the log folder are the user's
/// alone, whatever the umask gave them (issue 14, item 7).
#[cfg(unix)]
#[test]
fn preferences_and_logs_are_the_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let app = app(data.clone());
    // Until the user chooses, the automatic sync runs every 15 minutes.
    assert_eq!(
        invoke(&app, "sync_interval", serde_json::json!({})).unwrap(),
        15
    );
    invoke(
        &app,
        "set_sync_interval",
        serde_json::json!({ "minutes": 60 }),
    )
    .expect("saved");
    let prefs = data.join(pb2b_app::settings::PREFERENCES_FILE);
    assert_eq!(mode(&prefs), 0o600);
    assert_eq!(mode(&data), 0o700);
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&prefs).unwrap()).unwrap();
    assert_eq!(saved["sync_interval_minutes"], 60);
    assert_eq!(
        invoke(&app, "sync_interval", serde_json::json!({})).unwrap(),
        60
    );

    // A log folder and file an older version left readable by everyone.
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let old = logs.join("prospectb2b-desktop.2024-01-01.log");
    std::fs::write(&old, "{}\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(pb2b_app::logging::private_log_dir(&logs));
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&old), 0o600);
    let fresh = dir.path().join("new/logs");
    assert!(pb2b_app::logging::private_log_dir(&fresh));
    assert_eq!(mode(&fresh), 0o700);
}

/// No data folder: a clear refusal naming the remedy, never a guessable folder under /tmp.
#[test]
fn a_missing_data_folder_is_refused_not_replaced_by_tmp() {
    let err = pb2b_app::data_dir_or_refuse(Err(tauri::Error::UnknownPath)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("cannot find a folder for its data"),
        "{message}"
    );
    assert!(message.contains("HOME"), "{message}");
    let relative = pb2b_app::data_dir_or_refuse(Ok("relative/dir".into())).unwrap_err();
    assert!(relative.to_string().contains("not an absolute path"));
    let home = std::env::temp_dir().join("abs");
    assert_eq!(
        pb2b_app::data_dir_or_refuse(Ok(home.clone())).unwrap(),
        home
    );
}

/// Issue 14, item 5: the create form sends one submission (one Idempotency-Key) again after a
/// lost answer; the sandbox replays the first answer, so there is one endpoint and its once-shown
/// secret is in the second answer too.
#[test]
fn webhook_create_sent_twice_with_one_submission_makes_one_endpoint_and_shows_its_secret() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = tauri::async_runtime::block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let app = app(dir.path().to_owned());
    invoke(
        &app,
        "save_profile",
        serde_json::json!({"name": "Sandbox", "baseUrl": sandbox.base_url, "key": sandbox.keys.full, "replace": false}),
    )
    .expect("connected to the sandbox");
    let draft = serde_json::json!({"url": "https://hooks.example.com/pb2b", "events": ["lead.created"], "description": null, "enabled": true});
    let submission = invoke(
        &app,
        "webhook_submission",
        serde_json::json!({"draft": draft}),
    )
    .unwrap();
    let key = submission["idempotency_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("webhook-create-"), "{key}");
    let again = invoke(
        &app,
        "webhook_submission",
        serde_json::json!({"draft": draft}),
    )
    .unwrap();
    assert_ne!(
        again["idempotency_key"], submission["idempotency_key"],
        "a new submission has a new key"
    );

    let first = invoke(
        &app,
        "webhook_create",
        serde_json::json!({"submission": submission}),
    )
    .unwrap();
    let second = invoke(
        &app,
        "webhook_create",
        serde_json::json!({"submission": submission}),
    )
    .unwrap();
    let secret = first["secret"]["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{first}");
    assert_eq!(
        second["secret"]["webhook_id"],
        first["secret"]["webhook_id"]
    );
    assert_eq!(
        second["secret"]["secret"], first["secret"]["secret"],
        "the replay shows the secret"
    );

    let endpoints = invoke(&app, "webhooks_list", serde_json::json!({})).unwrap();
    let endpoints = endpoints.as_array().unwrap();
    assert_eq!(endpoints.len(), 1, "one endpoint: {endpoints:?}");
    assert_eq!(endpoints[0]["id"], first["secret"]["webhook_id"]);
    let requests = invoke(&app, "activity", serde_json::json!({"filter": {}})).unwrap();
    let keys: Vec<&serde_json::Value> = requests
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().is_some_and(|p| p.ends_with("/webhooks"))
        })
        .map(|r| &r["idempotency_key"])
        .collect();
    assert_eq!(
        keys,
        [&serde_json::json!(key), &serde_json::json!(key)],
        "both sends carried the submission's key"
    );
    drop(app);
    tauri::async_runtime::block_on(sandbox.shutdown());
}

#[test]
fn every_sync_reports_its_progress_to_every_window_so_another_screen_can_follow_it() {
    use std::sync::{Arc, Mutex};
    use tauri::Listener;
    let dir = tempfile::tempdir().unwrap();
    let sandbox = tauri::async_runtime::block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let app = app(dir.path().to_owned());
    invoke(
        &app,
        "save_profile",
        serde_json::json!({"name": "Sandbox", "baseUrl": sandbox.base_url, "key": sandbox.keys.full, "replace": false}),
    )
    .expect("connected to the sandbox");
    let heard: Arc<Mutex<Vec<(String, serde_json::Value)>>> = Arc::default();
    for name in ["sync-progress", "sync-finished"] {
        let heard = heard.clone();
        app.listen(name, move |event| {
            let payload = serde_json::from_str(event.payload()).unwrap();
            heard.lock().unwrap().push((name.to_owned(), payload));
        });
    }
    assert_eq!(
        invoke(&app, "sync_running", serde_json::json!({})),
        Ok(serde_json::json!(false))
    );
    let report = invoke(
        &app,
        "sync_now",
        serde_json::json!({"options": {}, "onProgress": "__CHANNEL__:7"}),
    )
    .expect("synced");
    let leads = report["progress"]["leads"].as_u64().unwrap();
    assert!(leads > 0, "{report}");

    let heard = heard.lock().unwrap().clone();
    let progress: Vec<&serde_json::Value> = heard
        .iter()
        .filter(|(n, _)| n == "sync-progress")
        .map(|(_, p)| p)
        .collect();
    assert!(!progress.is_empty(), "{heard:?}");
    assert_eq!(progress.last().unwrap()["leads"].as_u64(), Some(leads));
    // The end comes after the last progress, with the same report the caller got.
    assert_eq!(heard.last().unwrap().0, "sync-finished", "{heard:?}");
    assert_eq!(heard.last().unwrap().1["report"], report);
    assert_eq!(
        invoke(&app, "sync_running", serde_json::json!({})),
        Ok(serde_json::json!(false))
    );
}

#[test]
fn show_in_folder_refuses_a_path_the_app_did_not_save() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    // A file that exists, with a format's extension, but was not saved by this app: the webview
    // cannot have the file manager point anywhere it names.
    let planted = dir.path().join("planted.csv");
    std::fs::write(&planted, "id\n").unwrap();
    for path in [planted.display().to_string(), "/etc/passwd".into()] {
        let err = invoke(&app, "reveal_file", serde_json::json!({ "path": path })).unwrap_err();
        assert_eq!(err["code"], "invalid_input", "{err}");
        assert!(
            err["message"]
                .as_str()
                .is_some_and(|m| m.contains("this app did not make it")),
            "{err}"
        );
    }
}

#[test]
fn the_close_answer_is_remembered_and_can_be_changed_back_to_ask() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path().to_owned());
    let prefs = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.path().join("preferences.json")).unwrap())
            .unwrap()
    };
    // Answering the question keeps the window (hidden) and remembers "keep syncing".
    invoke(&app, "answer_close", serde_json::json!({"keep": true})).expect("answered");
    assert_eq!(prefs()["close_to_tray"], true);
    let settings = invoke(&app, "background_settings", serde_json::json!({})).unwrap();
    assert_eq!(settings["close_to_tray"], true);
    // On the Sync screen: quit on close, then ask again.
    let quit = invoke(
        &app,
        "set_close_to_tray",
        serde_json::json!({"keep": false}),
    )
    .unwrap();
    assert_eq!(quit["close_to_tray"], false);
    assert_eq!(prefs()["close_to_tray"], false);
    let ask = invoke(&app, "set_close_to_tray", serde_json::json!({"keep": null})).unwrap();
    assert_eq!(ask["close_to_tray"], serde_json::Value::Null);
    assert_eq!(
        pb2b_app::background::on_close(ask["close_to_tray"].as_bool()),
        pb2b_app::background::CloseAction::Ask
    );
}

#[test]
fn a_lead_edit_is_checked_as_typed_saved_to_the_mirror_and_a_conflict_comes_back_explained() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = tauri::async_runtime::block_on(pb2b_sandbox::start(Default::default())).unwrap();
    let app = app(dir.path().to_owned());
    invoke(
        &app,
        "save_profile",
        serde_json::json!({"name": "Sandbox", "baseUrl": sandbox.base_url, "key": sandbox.keys.full, "replace": false}),
    )
    .expect("connected to the sandbox");
    invoke(
        &app,
        "sync_now",
        serde_json::json!({"options": {}, "onProgress": "__CHANNEL__:7"}),
    )
    .expect("synced");
    let page = invoke(&app, "leads_search", serde_json::json!({"query": {}})).unwrap();
    let lead = page["rows"][0].clone();
    let id = lead["id"].as_str().unwrap().to_owned();

    // As the user types: the create form's rules, changed fields only.
    let errors = invoke(
        &app,
        "lead_edit_validate",
        serde_json::json!({"edit": {"loaded": lead, "values": {"email": "nope", "job_title": "CTO"}}}),
    )
    .unwrap();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["field"], "email");
    assert_eq!(errors[0]["code"], "invalid_email");

    // Saved: the mirror's row shows it at once.
    let out = invoke(
        &app,
        "lead_edit",
        serde_json::json!({"edit": {"loaded": lead, "values": {"job_title": "Chief Edit Officer"}}}),
    )
    .unwrap();
    assert_eq!(out["conflict"], serde_json::Value::Null);
    assert_eq!(out["saved"]["lead"]["job_title"], "Chief Edit Officer");
    assert_eq!(out["saved"]["changed"][0]["field"], "job_title");
    let row = invoke(&app, "lead_detail", serde_json::json!({"id": id})).unwrap();
    assert_eq!(row, out["saved"]["lead"]);

    // Someone edits it in the web app; saving from the stale copy is a conflict, not a write.
    let stale = out["saved"]["lead"].clone();
    tauri::async_runtime::block_on(async {
        let r = reqwest::Client::new()
            .patch(format!("{}/leads/{id}", sandbox.admin_url))
            .header(pb2b_sandbox::ADMIN_TOKEN_HEADER, &sandbox.admin_token)
            .json(&serde_json::json!({"company_name": "Someone Else Ltd"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    });
    let out = invoke(
        &app,
        "lead_edit",
        serde_json::json!({"edit": {"loaded": stale, "values": {"job_title": "Mine"}}}),
    )
    .unwrap();
    assert_eq!(out["saved"], serde_json::Value::Null);
    let conflict = &out["conflict"];
    assert_eq!(conflict["theirs"][0]["field"], "company_name");
    assert_eq!(conflict["theirs"][0]["new"], "Someone Else Ltd");
    assert!(out["message"]
        .as_str()
        .unwrap()
        .contains("Someone else changed"));
    let row = invoke(&app, "lead_detail", serde_json::json!({"id": id})).unwrap();
    assert_eq!(
        row["company_name"], "Someone Else Ltd",
        "the mirror has theirs"
    );
    // Reapply.
    let out = invoke(
        &app,
        "lead_edit",
        serde_json::json!({"edit": conflict["reapply"]}),
    )
    .unwrap();
    assert_eq!(out["saved"]["lead"]["job_title"], "Mine");
    assert_eq!(out["saved"]["lead"]["company_name"], "Someone Else Ltd");

    // Errors cross in the one shape: an unknown lead.
    let mut gone = lead.clone();
    gone["id"] = serde_json::json!("lead_00000000000000000000000000");
    let err = invoke(
        &app,
        "lead_edit",
        serde_json::json!({"edit": {"loaded": gone, "values": {"job_title": "X"}}}),
    )
    .unwrap_err();
    assert_eq!(err["code"], "not_found");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .contains("deleted on the server"));
    drop(app);
    tauri::async_runtime::block_on(sandbox.shutdown());
}
