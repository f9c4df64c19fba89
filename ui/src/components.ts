import { clear, copyText, h, toast } from "./dom";
import { api } from "./ipc";
import type { ErrorReport } from "./bindings/ErrorReport";

/// What a save made: the outcome line (it names the file) and "Show in folder", which opens the
/// file manager on it (the app shows only files it made). A failure to show it appears below.
export function savedFileNote(text: string, path: string, attrs: Record<string, string> = {}): HTMLElement {
  const box = h("div", { class: "saved-file row", "data-saved-path": path });
  const problem = h("div", {});
  box.append(
    h("p", { class: "ok-text", ...attrs }, text),
    h("button", {
      type: "button",
      class: "reveal",
      onclick: async () => {
        clear(problem);
        try {
          await api.revealFile(path);
        } catch (err) {
          problem.append(errorPanel(err as ErrorReport));
        }
      },
    }, "Show in folder"),
    problem,
  );
  return box;
}

/// The one way an error is shown: message, code, and the request_id with a copy button.
/// `not_connected` is not a failure but the empty state of every workspace screen before a
/// connection: it says what to do next and has the button that goes there.
export function errorPanel(report: ErrorReport, retry?: () => void): HTMLElement {
  if (report.code === "not_connected") return notConnectedPanel();
  const requestId = report.request_id;
  return h(
    "section",
    { class: "card error", role: "alert", "data-error-code": report.code },
    h("h2", {}, "Something went wrong"),
    h("p", {}, report.message),
    h("p", { class: "muted" }, "Error code: ", h("code", {}, report.code)),
    requestId
      ? h(
          "div",
          { class: "request-id" },
          h("span", {}, `request_id ${requestId}`),
          h(
            "button",
            {
              type: "button",
              "aria-label": "Copy request_id",
              onclick: async () => {
                toast((await copyText(requestId)) ? "request_id copied" : "Copy failed");
              },
            },
            "Copy",
          ),
        )
      : null,
    report.retryable && retry
      ? h("div", { class: "row" }, h("button", { type: "button", onclick: retry }, "Try again"))
      : null,
  );
}

function notConnectedPanel(): HTMLElement {
  return h(
    "section",
    { class: "card empty", "data-error-code": "not_connected", "aria-label": "No workspace connected" },
    h("h2", {}, "No workspace connected"),
    h(
      "p",
      {},
      "Connect a workspace with its API key, or try the local sandbox (nothing leaves this computer). This screen fills in once connected.",
    ),
    h(
      "div",
      { class: "row" },
      h("button", { type: "button", class: "primary", onclick: () => (location.hash = "#/connect") }, "Connect a workspace"),
    ),
  );
}

/// A label and its control kept on one line when a row of filters wraps.
export function fieldPair(label: HTMLElement, control: HTMLElement): HTMLElement {
  return h("span", { class: "field-pair" }, label, control);
}

export function fact(label: string, value: Node | string): [HTMLElement, HTMLElement] {
  return [h("dt", {}, label), h("dd", { "data-fact": label }, value)];
}

/// A modal confirmation (a real <dialog>, keyboard and screen-reader friendly). Resolves true when
/// confirmed.
export function confirmDialog(message: string, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-label": confirmLabel });
    const done = (value: boolean) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(
      h("p", {}, message),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: "danger", onclick: () => done(true) }, confirmLabel),
        h("button", { type: "button", onclick: () => done(false) }, "Cancel"),
      ),
    );
    dialog.addEventListener("cancel", () => done(false));
    document.body.append(dialog);
    dialog.showModal();
  });
}

/// A modal asking for one line of text. Resolves the text, or null when cancelled.
export function promptDialog(label: string, value: string, submitLabel: string): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h("input", { type: "text", id: "prompt-input", value });
    const dialog = h("dialog", { "aria-label": label });
    const done = (result: string | null) => {
      dialog.close();
      dialog.remove();
      resolve(result);
    };
    const form = h(
      "form",
      { method: "dialog" },
      h("label", { for: "prompt-input" }, label),
      input,
      h(
        "div",
        { class: "row" },
        h("button", { type: "submit", class: "primary" }, submitLabel),
        h("button", { type: "button", onclick: () => done(null) }, "Cancel"),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      done(input.value);
    });
    dialog.addEventListener("cancel", () => done(null));
    dialog.append(form);
    document.body.append(dialog);
    dialog.showModal();
    input.select();
  });
}

let gatedCount = 0;

/// A button that is disabled with the reason shown beside it when the key may not perform it.
export function gatedButton(
  label: string,
  permission: { allowed: boolean; reason: string | null },
  onclick: () => void,
  attrs: Record<string, string> = {},
): HTMLElement {
  // Unique per button: the same label appears on every webhook card.
  const reasonId = `why-${++gatedCount}`;
  const button = h(
    "button",
    { type: "button", ...attrs, disabled: !permission.allowed, "aria-describedby": permission.allowed ? undefined : reasonId, onclick },
    label,
  );
  return permission.allowed
    ? button
    : h("span", { class: "gated" }, button, h("span", { class: "muted why", id: reasonId, "data-denied": label }, permission.reason ?? "Not allowed"));
}
