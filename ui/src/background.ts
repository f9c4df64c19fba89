// Working in the background: the question asked the first time the window is closed (keep
// syncing in the tray, or quit), and the Sync screen's "Background" settings where the answer
// and Start at login can be changed later. The rules are src-tauri/src/background.rs's.
import { errorPanel } from "./components";
import { h } from "./dom";
import { api } from "./ipc";
import type { BackgroundSettings } from "./bindings/BackgroundSettings";
import type { ErrorReport } from "./bindings/ErrorReport";
import { on } from "./bindings/events";

/// Asks once, when the window is closed and no choice was made: the answer is remembered.
export function askCloseToTray(): void {
  if (document.getElementById("close-dialog")) return;
  const dialog = h("dialog", { id: "close-dialog", "aria-labelledby": "close-dialog-title", "aria-describedby": "close-dialog-text" });
  const errorBox = h("div", {});
  const answer = async (keep: boolean) => {
    try {
      await api.answerClose(keep);
      dialog.close();
      dialog.remove();
    } catch (err) {
      errorBox.replaceChildren(errorPanel(err as ErrorReport));
    }
  };
  const keep = h("button", { type: "button", id: "close-keep", class: "primary", onclick: () => void answer(true) }, "Keep syncing in the tray");
  dialog.append(
    h("h2", { id: "close-dialog-title" }, "Keep syncing when the window is closed?"),
    h(
      "p",
      { id: "close-dialog-text" },
      "ProspectB2B Desktop can stay in the tray (menu bar) and keep syncing automatically. Open it again from the tray icon or by starting the app. You can change this later on the Sync screen.",
    ),
    errorBox,
    h(
      "div",
      { class: "row" },
      keep,
      h("button", { type: "button", id: "close-quit", onclick: () => void answer(false) }, "Quit"),
    ),
  );
  // Escape keeps the window open and asks again next time.
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  keep.focus();
}

/// Listens for the app's question for the life of the window.
export function followCloseRequests(): void {
  void on("close-requested", () => askCloseToTray()).catch(() => {});
}

/// The Sync screen's "Background" section.
export function backgroundSection(): { section: HTMLElement; load: () => Promise<void> } {
  const close = h(
    "select",
    { id: "background-close" },
    h("option", { value: "ask" }, "Ask me"),
    h("option", { value: "tray" }, "Keep syncing in the tray"),
    h("option", { value: "quit" }, "Quit the app"),
  );
  const login = h("input", { type: "checkbox", id: "background-login" });
  const errorBox = h("div", {});
  const show = (s: BackgroundSettings) => {
    close.value = s.close_to_tray === null ? "ask" : s.close_to_tray ? "tray" : "quit";
    login.checked = s.start_at_login;
  };
  const apply = async (change: () => Promise<BackgroundSettings>) => {
    errorBox.replaceChildren();
    try {
      show(await change());
    } catch (err) {
      errorBox.append(errorPanel(err as ErrorReport));
    }
  };
  close.addEventListener("change", () =>
    void apply(() => api.setCloseToTray(close.value === "ask" ? null : close.value === "tray")),
  );
  login.addEventListener("change", () => void apply(() => api.setStartAtLogin(login.checked)));
  const section = h(
    "section",
    { class: "card", "aria-labelledby": "background-title" },
    h("h2", { id: "background-title" }, "Background"),
    h("div", { class: "row" }, h("label", { for: "background-close" }, "When the window is closed"), close),
    h("div", { class: "row" }, login, h("label", { for: "background-login" }, "Start ProspectB2B Desktop when I log in")),
    errorBox,
  );
  return {
    section,
    load: async () => {
      try {
        show(await api.backgroundSettings());
      } catch (err) {
        errorBox.replaceChildren(errorPanel(err as ErrorReport));
      }
    },
  };
}
