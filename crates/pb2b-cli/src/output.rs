//! Printing: JSON on stdout with `--json` (errors as `{"error": {...}}`), words otherwise
//! (errors on stderr). Never a key: nothing printed here has a field that could hold one.

use pb2b_core::diagnostics::Diagnostics;
use pb2b_core::error::ErrorReport;
use pb2b_core::profiles::{Profile, ProfileSettings};
use pb2b_core::session::KeyCheck;
use pb2b_core::store::LoggedRequest;
use serde::Serialize;

pub struct Out {
    json: bool,
}

impl Out {
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    fn json(&self, value: &impl Serialize) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(err) => eprintln!("error: could not print JSON: {err}"),
        }
    }

    pub fn error(&self, report: &ErrorReport) {
        if self.json {
            self.json(&serde_json::json!({ "error": report }));
        } else {
            eprintln!("error: {}", report.message);
            eprintln!("       code {}", report.code);
            if let Some(id) = &report.request_id {
                eprintln!("       request_id {id}");
            }
        }
    }

    pub fn key_check(&self, check: &KeyCheck) {
        if self.json {
            return self.json(check);
        }
        let me = &check.me;
        println!("workspace   {} ({})", me.workspace.name, me.workspace.id);
        println!("key         {} · {}", me.name, me.key_prefix);
        println!("role        {}", me.membership.role);
        println!(
            "access      {}",
            if me.read_only {
                "read-only"
            } else {
                "read and write"
            }
        );
        println!(
            "expires     {}",
            me.expires_at.as_deref().unwrap_or("never")
        );
        println!("request_id  {}", check.request_id);
        println!("scopes:");
        for scope in &check.scopes {
            println!("  {:<18} {}", scope.scope, scope.description);
        }
        println!("may:");
        for p in &check.permissions {
            let action = serde_json::to_value(p.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            match &p.reason {
                None => println!("  yes  {action}"),
                Some(reason) => println!("  no   {action} — {reason}"),
            }
        }
    }

    pub fn login(&self, profile: &Profile, check: &KeyCheck) {
        if self.json {
            return self.json(&serde_json::json!({ "profile": profile, "check": check }));
        }
        println!(
            "Saved “{}” ({}, key {}) and made it active.",
            profile.name, profile.base_url, profile.key_hint
        );
        self.key_check(check);
    }

    pub fn profiles(&self, settings: &ProfileSettings) {
        if self.json {
            return self.json(settings);
        }
        if settings.profiles.is_empty() {
            println!("No profiles. Run `pb2b login` to add one.");
        }
        for p in &settings.profiles {
            let mark = if settings.active.as_deref() == Some(p.name.as_str()) {
                "*"
            } else {
                " "
            };
            println!("{mark} {:<24} {:<48} {}", p.name, p.base_url, p.key_hint);
        }
    }

    pub fn activity(&self, rows: &[LoggedRequest]) {
        if self.json {
            return self.json(&rows);
        }
        for r in rows {
            println!(
                "{}  {:<7} {:<40} {:>4} {:>6} ms  {}  {}",
                r.at,
                r.method,
                r.path,
                r.status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "—".into()),
                r.duration_ms,
                r.request_id.as_deref().unwrap_or("—"),
                r.error_code.as_deref().unwrap_or(""),
            );
        }
    }

    pub fn diagnostics(&self, report: &Diagnostics) {
        if self.json {
            return self.json(report);
        }
        println!("app version   {}", report.app_version);
        println!("core version  {}", report.core_version);
        println!("os            {} ({})", report.os, report.arch);
        println!("data folder   {}", report.data_dir);
        println!(
            "keychain      {} — {}: {}",
            if report.keychain.reachable {
                "reachable"
            } else {
                "NOT reachable"
            },
            report.keychain.backend,
            report.keychain.detail
        );
        println!("base URL      {}", report.base_url);
        println!("trust store   {}", report.trust_store);
        println!("proxy         {}", report.proxy);
    }
}
