// Webhooks: endpoints and their events, the signing secret shown once, deliveries with manual
// retry, a signature checker, and a local test receiver that shows deliveries arriving live.
import { announceProgress } from "../announce";
import { api } from "../ipc";
import { clear, h, toast } from "../dom";
import { timeElement } from "../time";
import { confirmDialog, errorPanel, gatedButton } from "../components";
import { can } from "../state";
import { Submission } from "../submission";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { LiveEvent } from "../bindings/LiveEvent";
import type { SecretDialog } from "../bindings/SecretDialog";
import type { WebhookEndpoint } from "../bindings/WebhookEndpoint";
import type { WebhookEventInfo } from "../bindings/WebhookEventInfo";
import type { WebhookSubmission } from "../bindings/WebhookSubmission";

/// The once-shown secret, in a modal that says so. Copy goes through the app (the clipboard is
/// cleared after 60 s if it still holds the secret); Save keeps it in the OS keychain.
function showSecret(dialogData: SecretDialog, onClose: () => void): void {
  const dialog = h("dialog", { "aria-label": "Signing secret", id: "secret-dialog" });
  const status = h("p", { class: "muted", role: "status" });
  const close = async () => {
    await api.webhookDismissSecret().catch(() => {});
    dialog.close();
    dialog.remove();
    onClose();
  };
  dialog.append(
    h("h2", {}, "Signing secret — shown once"),
    h("p", {}, dialogData.secret.notice),
    h("p", {}, h("code", { class: "secret", "data-secret-prefix": dialogData.secret.prefix }, dialogData.secret.secret)),
    h("div", { class: "row" },
      h("button", { type: "button", onclick: async () => {
        try {
          const seconds = await api.webhookCopySecret();
          status.textContent = `Copied. The clipboard is cleared in ${seconds} s.`;
        } catch (err) {
          status.textContent = (err as ErrorReport).message;
        }
      } }, "Copy"),
      h("button", { type: "button", onclick: async () => {
        try {
          await api.webhookSaveSecret();
          status.textContent = "Saved in the system keychain. The signature checker can use it.";
        } catch (err) {
          status.textContent = (err as ErrorReport).message;
        }
      } }, "Save to keychain"),
      h("button", { type: "button", class: "primary", onclick: () => void close() }, "Done"),
    ),
    status,
  );
  dialog.addEventListener("cancel", (e) => {
    e.preventDefault();
    void close();
  });
  document.body.append(dialog);
  dialog.showModal();
}

export async function renderWebhooks(root: HTMLElement): Promise<void> {
  const permission = can("manage_webhooks");
  const list = h("div", { id: "webhook-list" });
  const deliveriesBox = h("div", { id: "webhook-deliveries" });
  const errorBox = h("div", {});
  const urlInput = h("input", { id: "webhook-url", type: "url", placeholder: "https://example.com/webhooks/prospectb2b", spellcheck: "false" });
  const urlCheck = h("p", { class: "field-error", id: "webhook-url-check", role: "status" });
  urlInput.setAttribute("aria-describedby", "webhook-url-check");
  const picker = h("fieldset", { class: "events" }, h("legend", {}, "Events"));
  picker.addEventListener("change", () => creation.reset());
  const submit = h("button", { type: "button", class: "primary", id: "webhook-save", disabled: !permission.allowed }, "Create endpoint");
  const cancelEdit = h("button", { type: "button", hidden: true }, "Cancel editing");
  let editing: WebhookEndpoint | null = null;
  let events: WebhookEventInfo[] = [];
  // One Idempotency-Key per "Create endpoint" submission, kept until the answer arrives: a second
  // click after a timeout gets the first endpoint (and its secret) again, not a second one.
  const creation = new Submission<WebhookSubmission>(() =>
    api.webhookSubmission({ url: urlInput.value.trim(), events: chosenEvents(), description: null, enabled: true }));

  async function act(work: () => Promise<void>): Promise<void> {
    clear(errorBox);
    try {
      await work();
    } catch (err) {
      errorBox.append(errorPanel(err as ErrorReport));
    }
  }

  function chosenEvents(): string[] {
    return [...picker.querySelectorAll<HTMLInputElement>("input[type=checkbox]:checked")].map((b) => b.value);
  }

  let urlTimer: number | undefined;
  urlInput.addEventListener("input", () => {
    creation.reset(); // an edited draft is a new submission with a new key
    window.clearTimeout(urlTimer);
    urlTimer = window.setTimeout(async () => {
      if (!urlInput.value.trim()) {
        urlCheck.textContent = "";
        return;
      }
      try {
        const check = await api.webhookCheckUrl(urlInput.value);
        urlCheck.textContent = check.ok ? "" : check.reason ?? "";
      } catch (err) {
        urlCheck.textContent = (err as ErrorReport).message;
      }
    }, 150);
  });

  function resetForm(): void {
    creation.reset();
    editing = null;
    urlInput.value = "";
    urlCheck.textContent = "";
    for (const b of picker.querySelectorAll<HTMLInputElement>("input[type=checkbox]")) b.checked = false;
    submit.textContent = "Create endpoint";
    cancelEdit.hidden = true;
  }
  cancelEdit.addEventListener("click", resetForm);

  submit.addEventListener("click", () =>
    void act(async () => {
      if (editing) {
        await api.webhookUpdate(editing.id, { url: urlInput.value.trim(), events: chosenEvents(), enabled: null, description: null });
        toast("Endpoint saved");
        resetForm();
        await refresh();
      } else {
        const dialog = await creation.send(submit, (s) => api.webhookCreate(s));
        resetForm();
        showSecret(dialog, () => void refresh());
        await refresh();
      }
    }),
  );

  async function showDeliveries(endpoint: WebhookEndpoint): Promise<void> {
    clear(deliveriesBox);
    try {
      const page = await api.webhookDeliveries(endpoint.id);
      const rows = page.deliveries.map((d) =>
        h("tr", { "data-delivery": d.id, "data-delivery-status": d.status },
          h("td", {}, d.event),
          h("td", { class: "mono" }, d.id),
          h("td", {}, h("span", { class: `badge ${d.status === "succeeded" ? "ok" : d.status === "failed" ? "bad" : "warn"}` }, d.status_text)),
          h("td", {}, String(d.attempt_count)),
          h("td", {}, d.response_status_code === null ? "—" : String(d.response_status_code)),
          h("td", { class: "mono" }, d.response_body_snippet ?? d.error_message ?? "—"),
          h("td", {}, d.next_attempt_at ? timeElement(d.next_attempt_at) : "—"),
          h("td", {}, h("button", { type: "button", class: "small", onclick: async () => {
            if (await confirmDialog(`Deliver ${d.event} (${d.id}) again?`, "Retry delivery")) {
              await act(async () => {
                await api.webhookRetryDelivery(endpoint.id, d.id);
                toast("Retry queued");
                await showDeliveries(endpoint);
              });
            }
          } }, "Retry")),
        ),
      );
      deliveriesBox.append(
        h("section", { class: "card", "aria-label": "Deliveries" },
          h("div", { class: "row" }, h("h2", {}, `Deliveries to ${endpoint.url}`), h("button", { type: "button", onclick: () => void showDeliveries(endpoint) }, "Refresh")),
          rows.length === 0
            ? h("p", { class: "muted" }, "No deliveries yet.")
            : h("table", { class: "log" },
                h("thead", {}, h("tr", {}, ...["Event", "Delivery", "Status", "Attempts", "Response", "Response body / error", "Next retry", ""].map((t) => h("th", { scope: "col" }, t)))),
                h("tbody", {}, ...rows))),
      );
    } catch (err) {
      deliveriesBox.append(errorPanel(err as ErrorReport));
    }
  }

  function card(w: WebhookEndpoint): HTMLElement {
    return h("li", { class: "card webhook", "data-webhook": w.id },
      h("div", { class: "row" },
        h("strong", { class: "mono" }, w.url),
        h("span", { class: `badge ${w.enabled ? "ok" : "warn"}` }, w.enabled ? "Enabled" : "Disabled"),
        w.secret_saved ? h("span", { class: "badge ok" }, "Secret in keychain") : null),
      h("p", { class: "muted" }, `${w.events.join(", ")} · secret ${w.secret_prefix}… · created `, timeElement(w.created_at)),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => void showDeliveries(w) }, "Deliveries"),
        gatedButton("Edit", permission, () => {
          editing = w;
          urlInput.value = w.url;
          for (const b of picker.querySelectorAll<HTMLInputElement>("input[type=checkbox]")) b.checked = w.events.includes(b.value);
          submit.textContent = "Save changes";
          cancelEdit.hidden = false;
          urlInput.focus();
        }),
        gatedButton(w.enabled ? "Disable" : "Enable", permission, () => void act(async () => {
          await api.webhookUpdate(w.id, { enabled: !w.enabled, url: null, events: null, description: null });
          await refresh();
        })),
        gatedButton("Rotate secret", permission, () => void act(async () => {
          if (await confirmDialog("Rotate the signing secret? The old secret stops working at once.", "Rotate")) {
            showSecret(await api.webhookRotate(w.id), () => void refresh());
          }
        })),
        gatedButton("Delete", permission, () => void act(async () => {
          if (await confirmDialog(`Delete the endpoint ${w.url}? Deliveries to it stop.`, "Delete")) {
            await api.webhookDelete(w.id);
            clear(deliveriesBox);
            await refresh();
          }
        })),
      ),
    );
  }

  async function refresh(): Promise<void> {
    await act(async () => {
      const endpoints = await api.webhooksList();
      clear(list);
      list.append(endpoints.length === 0
        ? h("p", { class: "muted" }, "No endpoints yet.")
        : h("ul", { class: "profiles", "aria-label": "Endpoints" }, ...endpoints.map(card)));
    });
  }

  // Signature checker.
  const sigHeaders = h("textarea", { id: "sig-headers", rows: "4", placeholder: "X-ProspectB2B-Timestamp: 1764300000\nX-ProspectB2B-Signature: v1=…" });
  const sigBody = h("textarea", { id: "sig-body", rows: "4", placeholder: "The raw request body, exactly as received" });
  const sigSecret = h("input", { id: "sig-secret", type: "password", autocomplete: "off", placeholder: "whsec_… (or leave empty to use a saved one)" });
  const sigSaved = h("input", { id: "sig-saved", type: "text", placeholder: "Webhook id with a saved secret (optional)" });
  const verdictBox = h("div", { id: "sig-verdict", "aria-live": "polite" });
  const checkButton = h("button", { type: "button", onclick: () => void act(async () => {
    const verdict = await api.webhookCheckSignature({
      headers: sigHeaders.value,
      body: sigBody.value,
      secret: sigSecret.value || null,
      saved_webhook_id: sigSaved.value.trim() || null,
      tolerance_seconds: null,
    });
    clear(verdictBox);
    verdictBox.append(h("p", { class: verdict.valid ? "ok-text" : "field-error", "data-verdict": verdict.kind }, `${verdict.valid ? "Valid" : "Not valid"}: ${verdict.reason}`));
  }) }, "Check signature");

  // Local test receiver.
  const receiverList = h("ul", { class: "profiles", id: "receiver-deliveries", "aria-label": "Received deliveries" });
  const onSandbox = await api.receiverAvailable().catch(() => false);
  const receiverPermission = onSandbox ? permission : { allowed: false, reason: "Only while connected to the local sandbox" };
  const receiverStart = gatedButton("Start test receiver", receiverPermission, () => void act(async () => {
    clear(receiverList);
    const dialog = await api.receiverStart(["lead.created", "lead.updated", "export.completed", "export.failed"], (d: LiveEvent) => {
      if (d.kind === "skipped") {
        receiverList.prepend(h("li", { class: "card muted", "data-skipped": String(d.count) },
          `${d.count} ${d.count === 1 ? "delivery" : "deliveries"} arrived faster than this view could show them and were skipped (the receiver keeps only the latest); showing the latest.`));
        return;
      }
      announceProgress(`A delivery arrived: ${d.event ?? "no event header"}, signature ${d.verdict.valid ? "valid" : "not valid"}`);
      receiverList.prepend(h("li", { class: "card", "data-received": d.delivery_id ?? String(d.seq), "data-verdict": d.verdict.kind },
        h("div", { class: "row" },
          h("strong", {}, d.event ?? "(no event header)"),
          h("span", { class: `badge ${d.verdict.valid ? "ok" : "bad"}` }, d.verdict.valid ? "Signature valid" : "Signature NOT valid"),
          h("span", { class: "muted" }, timeElement(d.received_at), ` · ${d.delivery_id ?? ""}`)),
        h("p", { class: "muted" }, d.verdict.reason),
        h("pre", { class: "mono excerpt" }, d.body.slice(0, 600))));
    });
    showSecret(dialog, () => void refresh());
    await refresh();
  }), { id: "receiver-start" });

  root.append(
    h("h1", { tabindex: "-1" }, "Webhooks"),
    h("p", { class: "lead" }, "ProspectB2B calls your endpoint when something happens, signed with a secret that is shown once. Set endpoints up, see each delivery, retry failed ones, and check signatures."),
    errorBox,
    h("section", { class: "card", "aria-label": "Endpoint" },
      h("h2", {}, "Endpoint"),
      h("div", { class: "field" }, h("label", { for: "webhook-url" }, "URL"), urlInput, urlCheck),
      picker,
      h("div", { class: "row" }, submit, cancelEdit),
      permission.allowed ? null : h("p", { class: "muted why", "data-denied": "Create endpoint" }, permission.reason ?? "")),
    list,
    deliveriesBox,
    h("section", { class: "card", "aria-label": "Test receiver" },
      h("h2", {}, "Try it with a local test receiver"),
      h("p", { class: "muted" }, "Registers an endpoint on this computer and shows every delivery as it arrives, with its signature checked. Create or edit a lead (or start an export) to see one."),
      h("div", { class: "row" }, receiverStart, h("button", { type: "button", onclick: () => void act(() => api.receiverStop()) }, "Stop receiver")),
      receiverList),
    h("section", { class: "card", "aria-label": "Signature checker" },
      h("h2", {}, "Signature checker"),
      h("div", { class: "field" }, h("label", { for: "sig-headers" }, "Headers"), sigHeaders),
      h("div", { class: "field" }, h("label", { for: "sig-body" }, "Raw body"), sigBody),
      h("div", { class: "field" }, h("label", { for: "sig-secret" }, "Signing secret"), sigSecret),
      h("div", { class: "field" }, h("label", { for: "sig-saved" }, "Or a webhook id whose secret is in the keychain"), sigSaved),
      checkButton,
      verdictBox),
  );

  try {
    events = await api.webhookEvents();
    for (const e of events) {
      picker.append(h("div", { class: "event-choice" },
        h("input", { type: "checkbox", id: `event-${e.name}`, value: e.name }),
        h("label", { for: `event-${e.name}` }, e.name),
        h("span", { class: "muted" }, ` — ${e.description}`)));
    }
  } catch (err) {
    errorBox.append(errorPanel(err as ErrorReport));
  }
  await refresh();
}
