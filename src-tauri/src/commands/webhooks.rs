//! Webhooks: endpoints, the once-shown signing secret (its dialog, copy with clipboard clearing,
//! "Save to keychain"), deliveries and manual retry, the signature checker, and the local test
//! receiver that shows deliveries live.

use std::time::Duration;

use pb2b_core::error::{codes, ErrorReport};
use pb2b_core::webhooks::{
    self, check_signature, check_url, new_idempotency_key, DeliveryPage, DeliveryRow, LiveEvent,
    ReceiverConfig, SecretDialog, SignatureCheck, SignatureVerdict, TestReceiver, UrlCheck,
    WebhookChanges, WebhookDraft, WebhookEndpoint, WebhookEventInfo, WebhookManager,
    WebhookSubmission,
};
use tauri::ipc::Channel;
use tauri::{AppHandle, Manager, Runtime, State};

use crate::clipboard::CLIPBOARD_SECONDS;
use crate::state::AppState;

async fn client_and_sandbox(
    state: &AppState,
) -> Result<(pb2b_core::api::Client, bool), ErrorReport> {
    let ws = state.workspace().await?;
    Ok((ws.client().clone(), ws.is_sandbox()))
}

/// Whether the local test receiver can be used: only while connected to the sandbox (the rule is
/// the core's `is_sandbox_base_url`, not the UI's).
#[tauri::command]
pub async fn receiver_available(state: State<'_, AppState>) -> Result<bool, ErrorReport> {
    Ok(client_and_sandbox(&state).await?.1)
}

/// The 9 published events with what each means, for the event picker.
#[tauri::command]
pub fn webhook_events() -> Vec<WebhookEventInfo> {
    webhooks::events()
}

/// Checks a URL before anything is sent (https, or http on loopback while on the sandbox).
#[tauri::command]
pub async fn webhook_check_url(
    state: State<'_, AppState>,
    url: String,
) -> Result<UrlCheck, ErrorReport> {
    let (_, sandbox) = client_and_sandbox(&state).await?;
    Ok(check_url(&url, sandbox))
}

/// Every endpoint (secret prefix only, and whether the secret is saved in the keychain).
#[tauri::command]
pub async fn webhooks_list(
    state: State<'_, AppState>,
) -> Result<Vec<WebhookEndpoint>, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .list()
        .await
}

/// Keeps a freshly shown secret for "Save to keychain" and "Copy" while its dialog is open, and
/// returns the dialog's payload: the only IPC answer that ever carries a signing secret.
async fn hold(state: &AppState, created: webhooks::CreatedWebhook) -> SecretDialog {
    let dialog = created.dialog();
    *state.shown_secret.lock().await = Some(created.secret);
    dialog
}

/// A new submission of the create form: the draft with an Idempotency-Key made once; every
/// later submit of it (a second click, "Try again" after a timeout) sends the same key.
#[tauri::command]
pub fn webhook_submission(draft: WebhookDraft) -> WebhookSubmission {
    WebhookSubmission::new(draft)
}

/// Creates an endpoint from a submission (POST /webhooks with its Idempotency-Key: a replay
/// answers the same endpoint and secret); answers the once-shown secret dialog.
#[tauri::command]
pub async fn webhook_create(
    state: State<'_, AppState>,
    submission: WebhookSubmission,
) -> Result<SecretDialog, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    let created = WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .create(&submission.draft, &submission.idempotency_key)
        .await?;
    Ok(hold(&state, created).await)
}

/// Rotates an endpoint's secret (the old one stops working at once); answers the dialog.
#[tauri::command]
pub async fn webhook_rotate(
    state: State<'_, AppState>,
    id: String,
) -> Result<SecretDialog, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    let created = WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .rotate_secret(&id, &new_idempotency_key("webhook-rotate"))
        .await?;
    Ok(hold(&state, created).await)
}

/// Saves the secret of the open dialog to the OS keychain.
#[tauri::command]
pub async fn webhook_save_secret(state: State<'_, AppState>) -> Result<(), ErrorReport> {
    let shown = state.shown_secret.lock().await;
    let secret = shown.as_ref().ok_or_else(|| {
        ErrorReport::local(
            codes::INVALID_INPUT,
            "The secret is no longer available: rotate it to get a new one.",
            false,
        )
    })?;
    webhooks::save_secret(&state.keychain, secret)
}

/// Copies the secret of the open dialog to the clipboard, marked concealed and kept out of
/// clipboard history (see `crate::clipboard`), and clears the clipboard after 60 s (and at exit)
/// if it still holds the secret. The secret comes from app state, never from the webview.
#[tauri::command]
pub async fn webhook_copy_secret<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<u64, ErrorReport> {
    {
        let shown = state.shown_secret.lock().await;
        let secret = shown.as_ref().ok_or_else(|| {
            ErrorReport::local(
                codes::INVALID_INPUT,
                "The secret is no longer available: rotate it to get a new one.",
                false,
            )
        })?;
        state.clipboard.copy(secret.secret())?;
    }
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(Duration::from_secs(CLIPBOARD_SECONDS)).await;
        if let Some(state) = app.try_state::<AppState>() {
            state.clipboard.clear_if_ours();
        }
    });
    Ok(CLIPBOARD_SECONDS)
}

/// Closes the secret dialog: the app forgets the secret (unless it was saved to the keychain).
#[tauri::command]
pub async fn webhook_dismiss_secret(state: State<'_, AppState>) -> Result<(), ErrorReport> {
    state.shown_secret.lock().await.take();
    Ok(())
}

/// Changes URL, events, enabled or description.
#[tauri::command]
pub async fn webhook_update(
    state: State<'_, AppState>,
    id: String,
    changes: WebhookChanges,
) -> Result<WebhookEndpoint, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .update(&id, &changes)
        .await
}

/// Deletes an endpoint (and its saved secret).
#[tauri::command]
pub async fn webhook_delete(state: State<'_, AppState>, id: String) -> Result<(), ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .delete(&id)
        .await
}

/// An endpoint's deliveries, newest first.
#[tauri::command]
pub async fn webhook_deliveries(
    state: State<'_, AppState>,
    id: String,
    cursor: Option<String>,
) -> Result<DeliveryPage, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .deliveries(&id, cursor, Some(50))
        .await
}

/// Retries one delivery by hand.
#[tauri::command]
pub async fn webhook_retry_delivery(
    state: State<'_, AppState>,
    id: String,
    delivery_id: String,
) -> Result<DeliveryRow, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .retry_delivery(&id, &delivery_id, &new_idempotency_key("delivery-retry"))
        .await
}

/// The signature checker: pasted headers and raw body against a secret (typed, or saved in the
/// keychain).
#[tauri::command]
pub async fn webhook_check_signature(
    state: State<'_, AppState>,
    check: SignatureCheck,
) -> Result<SignatureVerdict, ErrorReport> {
    let keychain = state.keychain.clone();
    super::blocking(move || check_signature(&check, Some(&keychain))).await
}

/// "Try it with a local receiver": starts a receiver on a loopback port, registers an endpoint
/// for it (sandbox only), and streams every delivery with its signature verdict to `on_delivery`
/// (and, when the view fell behind, how many it missed: it never stops silently).
/// Answers the once-shown secret dialog of the new endpoint.
#[tauri::command]
pub async fn receiver_start(
    state: State<'_, AppState>,
    events: Vec<String>,
    on_delivery: Channel<LiveEvent>,
) -> Result<SecretDialog, ErrorReport> {
    let (client, sandbox) = client_and_sandbox(&state).await?;
    if !sandbox {
        return Err(ErrorReport::local(
            codes::INVALID_INPUT,
            "The local test receiver works with the local sandbox only: the real service cannot reach this computer.",
            false,
        ));
    }
    let mut slot = state.receiver.lock().await;
    if let Some(old) = slot.take() {
        old.stop().await;
    }
    let receiver = TestReceiver::start(ReceiverConfig::default()).await?;
    let mut deliveries = receiver.subscribe();
    tauri::async_runtime::spawn(async move {
        while let Some(event) = deliveries.next().await {
            if on_delivery.send(event).is_err() {
                break;
            }
        }
    });
    let created = WebhookManager::new(&client, sandbox, Some(&state.keychain))
        .create_for_receiver(&receiver, &events, &new_idempotency_key("receiver"))
        .await?;
    *slot = Some(receiver);
    drop(slot);
    Ok(hold(&state, created).await)
}

/// Stops the local test receiver.
#[tauri::command]
pub async fn receiver_stop(state: State<'_, AppState>) -> Result<(), ErrorReport> {
    if let Some(receiver) = state.receiver.lock().await.take() {
        receiver.stop().await;
    }
    Ok(())
}
