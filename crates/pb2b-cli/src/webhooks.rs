//! `pb2b webhooks ...`: endpoints, deliveries, retries and the signature check (issue 7).
//!
//! The signing secret is printed only by `create` and `rotate` (once, as the API returns it).
//! `verify` exits 0 only when the signature holds: 1 when it does not match or the timestamp is
//! outside the tolerance window, 2 when the input is malformed.

use std::io::Read;

use clap::{Args, Subcommand};
use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::secret::SecretString;
use pb2b_core::webhooks::{
    self, new_idempotency_key, parse_event_list, CreatedWebhook, DeliveryPage, DeliveryRow,
    VerdictKind, WebhookChanges, WebhookDraft, WebhookEndpoint, WebhookManager,
};
use serde::Serialize;

use super::{Cli, Env};
use crate::confirm::confirm;
use crate::output::Out;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Every endpoint: id, URL, events, enabled, secret prefix.
    List,
    /// Subscribe a URL to events. Prints the signing secret once: it is never shown again.
    Create {
        /// https URL (http only to 127.0.0.1/localhost when the API is a local sandbox).
        #[arg(long)]
        url: String,
        /// Comma separated, e.g. lead.created,export.completed.
        #[arg(long)]
        events: String,
        /// A note for people (shown in lists).
        #[arg(long)]
        description: Option<String>,
        /// Create it disabled.
        #[arg(long)]
        disabled: bool,
        #[command(flatten)]
        secret: SecretOpts,
    },
    /// Change an endpoint's URL, events, description, or enable/disable it.
    Update {
        /// The endpoint's id (wh_…).
        id: String,
        /// The new https URL.
        #[arg(long)]
        url: Option<String>,
        /// Comma separated; replaces the list.
        #[arg(long)]
        events: Option<String>,
        /// An empty string clears it.
        #[arg(long)]
        description: Option<String>,
        /// Start sending deliveries again.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop sending deliveries (they are not queued meanwhile).
        #[arg(long)]
        disable: bool,
    },
    /// Delete an endpoint (pending deliveries stop) and its saved secret, if any.
    Delete {
        /// The endpoint's id (wh_…).
        id: String,
        /// Do not ask first (required when not run from a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// A new signing secret, printed once; the old one stops signing at once.
    Rotate {
        /// The endpoint's id (wh_…).
        id: String,
        #[command(flatten)]
        secret: SecretOpts,
        /// Do not ask first (required when not run from a terminal).
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// An endpoint's deliveries, newest first.
    Deliveries {
        /// The endpoint's id (wh_…).
        id: String,
        /// How many, at most (one page).
        #[arg(long, default_value_t = 25)]
        limit: u32,
        /// The next_cursor of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Retry a delivery by hand (one new attempt, at once).
    Retry {
        /// The endpoint's id (wh_…).
        id: String,
        /// The delivery to send again (from `deliveries`).
        delivery_id: String,
        /// Reuse this key when retrying the same command (default: a fresh one).
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Check a delivery's signature; the raw body is read from standard input. Exit 0 only when
    /// it holds.
    Verify {
        /// The environment variable holding the signing secret.
        #[arg(long, required_unless_present = "saved", conflicts_with = "saved")]
        secret_env: Option<String>,
        /// Use the secret saved in the keychain for this webhook id.
        #[arg(long)]
        saved: Option<String>,
        /// The X-ProspectB2B-Timestamp header.
        #[arg(long)]
        timestamp: String,
        /// The X-ProspectB2B-Signature header (v1=<hex>, possibly several).
        #[arg(long)]
        signature: String,
        /// The tolerance window in seconds.
        #[arg(long, default_value_t = 300)]
        tolerance: u64,
    },
}

#[derive(Debug, Args)]
pub struct SecretOpts {
    /// Also keep the secret in the OS keychain (for `verify --saved`).
    #[arg(long)]
    save_secret: bool,
    /// Reuse this key when retrying the same command (default: a fresh one).
    #[arg(long)]
    idempotency_key: Option<String>,
}

fn print_json(value: &impl Serialize) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(err) => eprintln!("error: could not print JSON: {err}"),
    }
}

fn print_endpoint(e: &WebhookEndpoint) {
    println!(
        "{}  {}  {}  {}  secret {}…{}",
        e.id,
        if e.enabled { "enabled " } else { "disabled" },
        e.url,
        e.events.join(","),
        e.secret_prefix,
        if e.secret_saved { " (in keychain)" } else { "" }
    );
}

fn print_delivery(d: &DeliveryRow) {
    println!(
        "{}  {:<18} {:<9} attempts {}  {}  {}",
        d.id,
        d.event,
        d.status,
        d.attempt_count,
        d.response_status_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "—".into()),
        d.status_text
    );
}

fn print_created(json: bool, created: &CreatedWebhook, saved: bool) {
    let dialog = created.dialog();
    if json {
        print_json(&serde_json::json!({
            "endpoint": dialog.endpoint,
            "secret": dialog.secret,
            "saved_to_keychain": saved,
            "request_id": created.request_id,
        }));
        return;
    }
    print_endpoint(&created.endpoint);
    // The one place the CLI shows a signing secret.
    println!("signing secret  {}", created.secret.secret().expose());
    println!("{}", webhooks::ONCE_SHOWN_NOTICE);
    if saved {
        println!(
            "The secret is also saved in the keychain (pb2b webhooks verify --saved {}).",
            created.endpoint.id
        );
    }
}

fn read_body() -> Result<Vec<u8>, ErrorReport> {
    let mut body = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut body)
        .map_err(|err| {
            ErrorReport::local(
                codes::INVALID_INPUT,
                format!("Could not read the body from standard input: {err}"),
                false,
            )
        })?;
    Ok(body)
}

pub async fn run(
    cmd: &WebhooksCommand,
    cli: &Cli,
    env: &Env,
    out: &Out,
) -> Result<(), ErrorReport> {
    let _ = out;
    let json = cli.json;
    if let WebhooksCommand::Verify {
        secret_env,
        saved,
        timestamp,
        signature,
        tolerance,
    } = cmd
    {
        let secret = match (secret_env, saved) {
            (Some(var), _) => SecretString::new(
                std::env::var(var)
                    .map_err(|_| {
                        ErrorReport::local(
                            codes::INVALID_INPUT,
                            format!("The environment variable {var} is not set."),
                            false,
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            (None, Some(id)) => webhooks::saved_secret(&env.keychain, id)?.ok_or_else(|| {
                ErrorReport::local(
                    codes::KEY_NOT_FOUND,
                    format!("No signing secret is saved in the keychain for {id}."),
                    false,
                )
            })?,
            (None, None) => {
                return Err(ErrorReport::local(
                    codes::INVALID_INPUT,
                    "Give --secret-env VAR or --saved WEBHOOK_ID.",
                    false,
                ))
            }
        };
        let body = read_body()?;
        let verdict = webhooks::verify(
            &secret,
            timestamp,
            signature,
            &body,
            std::time::Duration::from_secs(*tolerance),
            webhooks::now_unix(),
        );
        return match verdict.kind {
            VerdictKind::Valid => {
                if json {
                    print_json(&verdict);
                } else {
                    println!("valid: {}", verdict.reason);
                }
                Ok(())
            }
            VerdictKind::Malformed => Err(ErrorReport::local(
                codes::INVALID_INPUT,
                verdict.reason,
                false,
            )),
            kind => Err(ErrorReport::local(kind.code(), verdict.reason, false)),
        };
    }

    let credentials = env.credentials(cli)?;
    let client = env.folder.client(&credentials)?;
    let m = WebhookManager::new(&client, credentials.is_sandbox(), Some(&env.keychain));
    let save = |created: &CreatedWebhook, wanted: bool| -> Result<bool, ErrorReport> {
        if wanted {
            webhooks::save_secret(&env.keychain, &created.secret)?;
        }
        Ok(wanted)
    };
    match cmd {
        WebhooksCommand::List => {
            let all = m.list().await?;
            if json {
                print_json(&all);
            } else if all.is_empty() {
                println!("No webhook endpoints. Create one with `pb2b webhooks create --url URL --events lead.created`.");
            } else {
                all.iter().for_each(print_endpoint);
            }
        }
        WebhooksCommand::Create {
            url,
            events,
            description,
            disabled,
            secret,
        } => {
            let draft = WebhookDraft {
                url: url.clone(),
                events: parse_event_list(events)?,
                description: description.clone(),
                enabled: Some(!disabled),
            };
            let idem = secret
                .idempotency_key
                .clone()
                .unwrap_or_else(|| new_idempotency_key("create"));
            let created = m.create(&draft, &idem).await?;
            let saved = save(&created, secret.save_secret)?;
            print_created(json, &created, saved);
        }
        WebhooksCommand::Update {
            id,
            url,
            events,
            description,
            enable,
            disable,
        } => {
            let changes = WebhookChanges {
                url: url.clone(),
                events: events.as_deref().map(parse_event_list).transpose()?,
                enabled: match (enable, disable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                description: description.clone(),
            };
            let e = m.update(id, &changes).await?;
            if json {
                print_json(&e);
            } else {
                print_endpoint(&e);
            }
        }
        WebhooksCommand::Delete { id, yes } => {
            confirm(&format!("Delete webhook endpoint {id}?"), *yes)?;
            m.delete(id).await?;
            if json {
                print_json(&serde_json::json!({ "deleted": id }));
            } else {
                println!("Deleted {id}.");
            }
        }
        WebhooksCommand::Rotate { id, secret, yes } => {
            confirm(
                &format!(
                    "Rotate the signing secret of {id}? The old secret stops signing at once."
                ),
                *yes,
            )?;
            let idem = secret
                .idempotency_key
                .clone()
                .unwrap_or_else(|| new_idempotency_key("rotate"));
            let created = m.rotate_secret(id, &idem).await?;
            let saved = save(&created, secret.save_secret)?;
            print_created(json, &created, saved);
        }
        WebhooksCommand::Deliveries { id, limit, cursor } => {
            let page: DeliveryPage = m.deliveries(id, cursor.clone(), Some(*limit)).await?;
            if json {
                print_json(&page);
            } else {
                if page.deliveries.is_empty() {
                    println!("No deliveries yet.");
                }
                page.deliveries.iter().for_each(print_delivery);
                if let Some(c) = page.next_cursor.filter(|_| page.has_more) {
                    println!("more: --cursor {c}");
                }
            }
        }
        WebhooksCommand::Retry {
            id,
            delivery_id,
            idempotency_key,
        } => {
            let idem = idempotency_key
                .clone()
                .unwrap_or_else(|| new_idempotency_key("retry"));
            let d = m.retry_delivery(id, delivery_id, &idem).await?;
            if json {
                print_json(&d);
            } else {
                print_delivery(&d);
                println!("One new attempt is being made; run `pb2b webhooks deliveries {id}` to see how it ended.");
            }
        }
        WebhooksCommand::Verify { .. } => {}
    }
    Ok(())
}
