// Sync: mirror the workspace's leads on this computer or into the team's PostgreSQL. The
// destination (its password goes to the keychain and never comes back), Test connection, Sync now
// (with progress and cancel), full resync, re-sync from a date, the automatic interval, Verify and
// Repair, and the last run's outcome and watermark.
import { announce, announceProgress } from "../announce";
import { on } from "../bindings/events";
import { api } from "../ipc";
import { clear, h } from "../dom";
import { timeElement } from "../time";
import { errorPanel, fact } from "../components";
import { can, onConnection } from "../state";
import { backgroundSection } from "../background";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { SyncOptions } from "../bindings/SyncOptions";
import type { SyncStatus } from "../bindings/SyncStatus";
import type { SyncProgress } from "../bindings/SyncProgress";
import type { SyncReport } from "../bindings/SyncReport";
import type { SyncDestination } from "../bindings/SyncDestination";
import type { SyncDestinationView } from "../bindings/SyncDestinationView";
import type { VerifyReport } from "../bindings/VerifyReport";

/** The destination form: where syncs write, and the PostgreSQL connection's password field. */
function destinationForm(onSaved: (view: SyncDestinationView) => void): {
  section: HTMLElement;
  show: (view: SyncDestinationView) => void;
} {
  const local = h("input", { type: "radio", name: "sync-destination", id: "dest-local", value: "this_computer" });
  const pg = h("input", { type: "radio", name: "sync-destination", id: "dest-pg", value: "postgres" });
  const url = h("input", { type: "text", id: "dest-url", spellcheck: "false", autocomplete: "off", placeholder: "postgres://user@host:5432/database" });
  const schema = h("input", { type: "text", id: "dest-schema", spellcheck: "false", autocomplete: "off", placeholder: "pb2b" });
  const password = h("input", { type: "password", id: "dest-password", autocomplete: "new-password" });
  const passwordState = h("p", { class: "muted", id: "dest-password-state" });
  const testButton = h("button", { type: "button", id: "dest-test" }, "Test connection");
  const saveButton = h("button", { type: "button", class: "primary", id: "dest-save" }, "Save destination");
  const result = h("div", { id: "dest-result", "aria-live": "polite" });
  const current = h("p", { class: "muted", id: "dest-current" });
  const pgFields = h(
    "div",
    { id: "dest-pg-fields" },
    h("div", { class: "row" }, h("label", { for: "dest-url" }, "Connection string"), url),
    h("div", { class: "row" }, h("label", { for: "dest-schema" }, "Schema"), schema),
    h("div", { class: "row" }, h("label", { for: "dest-password" }, "Password"), password),
    passwordState,
    h("div", { class: "row" }, testButton),
  );

  const chosen = (): SyncDestination =>
    pg.checked ? { kind: "postgres", url: url.value.trim(), schema: schema.value.trim() } : { kind: "this_computer" };
  const toggle = () => {
    pgFields.hidden = !pg.checked;
  };
  local.addEventListener("change", toggle);
  pg.addEventListener("change", toggle);

  function show(view: SyncDestinationView): void {
    const d = view.destination;
    local.checked = d.kind === "this_computer";
    pg.checked = d.kind === "postgres";
    if (d.kind === "postgres") {
      url.value = d.url;
      schema.value = d.schema;
    }
    password.value = "";
    password.placeholder = view.password_saved ? "Saved in the system keychain" : "";
    passwordState.textContent = view.password_saved
      ? "A password is saved in the system keychain. Type a new one to replace it."
      : "No password saved: type it here if the server asks for one. It is kept in the system keychain, never in the app's settings.";
    passwordState.setAttribute("data-password-saved", String(view.password_saved));
    current.textContent = `Syncs write to: ${view.label}`;
    toggle();
  }

  testButton.addEventListener("click", async () => {
    clear(result);
    testButton.disabled = true;
    result.append(h("p", { class: "muted" }, "Connecting…"));
    try {
      const version = await api.testSyncDestination(chosen(), password.value);
      clear(result);
      result.append(h("p", { "data-test-result": "ok" }, `Connected: ${version}`));
    } catch (err) {
      clear(result);
      result.append(errorPanel(err as ErrorReport));
    } finally {
      testButton.disabled = false;
    }
  });
  saveButton.addEventListener("click", async () => {
    clear(result);
    saveButton.disabled = true;
    try {
      const view = await api.setSyncDestination(chosen(), password.value);
      show(view);
      result.append(h("p", { "data-saved": "ok" }, "Destination saved."));
      onSaved(view);
    } catch (err) {
      result.append(errorPanel(err as ErrorReport));
    } finally {
      saveButton.disabled = false;
    }
  });

  const section = h(
    "section",
    { class: "card", "aria-label": "Destination" },
    h("h2", {}, "Destination"),
    h(
      "div",
      { class: "row", role: "radiogroup", "aria-label": "Where syncs write" },
      local,
      h("label", { for: "dest-local" }, "This computer"),
      pg,
      h("label", { for: "dest-pg" }, "PostgreSQL"),
    ),
    pgFields,
    h("div", { class: "row" }, saveButton),
    current,
    result,
  );
  return { section, show };
}

/** What Verify found, and a Repair button when the destination differs. */
function verifyResult(report: VerifyReport, repair: () => void): HTMLElement {
  const summary = `${report.server_leads} leads on the server, ${report.destination_leads} in the destination, ${report.ranges} ranges compared`;
  if (report.equal) {
    const repaired = report.repaired > 0 ? ` ${report.repaired} ranges repaired.` : "";
    return h("p", { "data-verify": "equal" }, `Equal: ${summary}.${repaired}`);
  }
  const first = report.differing[0];
  const range = first ? `updated_at ${first.from ?? "(start)"} .. ${first.to ?? "(end)"}: server ${first.server_leads} leads, destination ${first.destination_leads}` : "";
  return h(
    "div",
    { "data-verify": "differs" },
    h("p", {}, `Differs: ${summary}; ${report.differing.length} ranges differ.`),
    h("p", { id: "verify-first-range" }, `First difference in ${range}.`),
    h("button", { type: "button", id: "sync-repair", onclick: repair }, "Repair"),
    h("p", { class: "muted" }, "Repair re-reads only the ranges that differ from the server and rewrites them."),
  );
}

/** A destination's sync state: its leads, last sync, outcome, last run and watermark. */
function statusCard(title: string, label: string, leadsLabel: string, status: SyncStatus): HTMLElement {
  const outcome = status.last_outcome ?? "never synced";
  const at = status.last_finished_at ?? status.last_started_at;
  return h(
    "section",
    { class: "card", "aria-label": label },
    h("h2", {}, title),
    h("dl", { class: "facts" },
      ...fact(leadsLabel, String(status.total_leads)),
      ...fact("Last sync", at ? timeElement(at) : "Never"),
      ...fact("Outcome", h("span", { "data-sync-outcome": outcome }, status.running ? "running" : outcome)),
      ...fact("Last run", status.last ? `${status.last.leads} read · ${status.last.new} new · ${status.last.updated} updated` : "—"),
      ...fact("Watermark", status.watermark ? h("span", {}, timeElement(status.watermark.updated_at), ` · ${status.watermark.id}`) : "—"),
      ...fact("Interrupted run", status.interrupted ? "Yes — the next sync resumes it" : "No"),
    ),
  );
}

export async function renderSync(root: HTMLElement): Promise<void> {
  const statusBox = h("div", { id: "sync-status" });
  const pgBox = h("div", { id: "sync-destination-status" });
  /** The PostgreSQL destination's label while syncs go there; "" for this computer. */
  let destinationLabel = "";
  const runBox = h("div", { id: "sync-run" });
  const progress = h("progress", { id: "sync-progress", "aria-label": "Sync progress" });
  const progressText = h("p", { class: "muted", id: "sync-progress-text" });
  const syncButton = h("button", { type: "button", class: "primary", id: "sync-now" }, "Sync now");
  const fullButton = h("button", { type: "button", id: "sync-full" }, "Full resync");
  const sinceInput = h("input", { type: "date", id: "sync-since" });
  const sinceButton = h("button", { type: "button", id: "sync-since-run" }, "Re-sync from date");
  const cancelButton = h("button", { type: "button", id: "sync-cancel", hidden: true }, "Cancel");
  const verifyButton = h("button", { type: "button", id: "sync-verify" }, "Verify");
  const verifyBox = h("div", { id: "verify-result", "aria-live": "polite" });
  const destination = destinationForm((view) => {
    clear(verifyBox);
    destinationLabel = view.destination.kind === "postgres" ? view.label : "";
    void refresh();
  });
  const background = backgroundSection();
  const interval = h(
    "select",
    { id: "sync-interval" },
    ...[
      ["0", "Off"],
      ["5", "Every 5 minutes"],
      ["15", "Every 15 minutes"],
      ["60", "Every hour"],
    ].map(([v, label]) => h("option", { value: v }, label)),
  );

  let permission = can("read_leads");
  /** A run of [`run`] is on this screen (its own sync, or one it follows). */
  let running = false;

  /** Verify (or Repair) with its progress; Cancel stops it (it holds the sync's job). */
  async function verify(repair: boolean): Promise<void> {
    for (const b of [syncButton, fullButton, sinceButton, verifyButton]) b.disabled = true;
    cancelButton.hidden = false;
    clear(verifyBox);
    // Progress goes where a sync's does (not in the result's live region: announced throttled).
    clear(runBox);
    const line = h("p", { class: "muted", id: "verify-progress" }, repair ? "Repairing…" : "Comparing with the server…");
    runBox.append(line);
    try {
      const report = await api.syncVerify(repair, (p) => {
        line.textContent =
          p.phase === "reading" ? `Reading the server's list: ${p.done} leads`
          : p.phase === "comparing" ? `Comparing ranges: ${p.done} of ${p.total ?? "?"}`
          : `Repairing ranges: ${p.done} of ${p.total ?? "?"}`;
        announceProgress(line.textContent);
      });
      clear(verifyBox);
      verifyBox.append(verifyResult(report, () => void verify(true)));
    } catch (err) {
      clear(verifyBox);
      verifyBox.append(errorPanel(err as ErrorReport));
    } finally {
      line.remove();
      for (const b of [syncButton, fullButton, sinceButton, verifyButton]) b.disabled = !permission.allowed;
      cancelButton.hidden = true;
    }
  }

  function showStatus(status: SyncStatus | null): void {
    clear(statusBox);
    if (!status) {
      statusBox.append(h("p", { class: "muted" }, "Connect a workspace to mirror its leads."));
      return;
    }
    statusBox.append(statusCard("The mirror on this computer", "Mirror status", "Leads in the mirror", status));
    if (status.last_error) statusBox.append(errorPanel(status.last_error));
  }

  /** The chosen PostgreSQL destination's own card: what its sync state row says. */
  async function showDestinationStatus(): Promise<void> {
    let status: SyncStatus | null;
    try {
      status = await api.syncDestinationStatus();
    } catch (err) {
      clear(pgBox);
      pgBox.append(
        h("section", { class: "card", "aria-label": "PostgreSQL status", "data-destination-status": "error" },
          h("h2", {}, "PostgreSQL"),
          errorPanel(err as ErrorReport, () => void showDestinationStatus())),
      );
      return;
    }
    clear(pgBox);
    if (!status) return;
    const card = statusCard(`PostgreSQL: ${destinationLabel}`, "PostgreSQL status", "Leads in PostgreSQL", status);
    card.setAttribute("data-destination-status", "ok");
    pgBox.append(card);
    if (status.last_error) pgBox.append(errorPanel(status.last_error));
  }

  async function refresh(): Promise<void> {
    try {
      showStatus(await api.syncStatus());
    } catch (err) {
      clear(statusBox);
      statusBox.append(errorPanel(err as ErrorReport));
    }
    if (destinationLabel) await showDestinationStatus();
    else clear(pgBox);
  }

  /**
   * Runs a sync with `options`, or (null) follows the one this app already runs. Pressing a sync
   * button while another screen's sync runs (the Overview's first sync, the interval's) follows
   * that one rather than failing: one sync per workspace at a time, whoever started it.
   * One run per screen: the screen's opening check (is a sync running?) can answer yes for the
   * sync a quick click started meanwhile, and following it too would clear that run's result.
   */
  async function run(options: SyncOptions | null): Promise<void> {
    if (running) return;
    running = true;
    for (const b of [syncButton, fullButton, sinceButton, verifyButton]) b.disabled = true;
    cancelButton.hidden = false;
    clear(runBox);
    progress.removeAttribute("value");
    progressText.textContent = options ? "Starting…" : "A sync is running…";
    runBox.append(progress, progressText);
    const onProgress = (p: SyncProgress) => {
      progressText.textContent = `${p.pages} pages · ${p.leads} leads read · ${p.new} new · ${p.updated} updated${p.resumed ? " (resumed)" : ""}`;
      announceProgress(`Syncing: ${p.leads} leads read`);
    };
    let joined = options === null;
    try {
      let report: SyncReport | null;
      if (options === null) {
        report = await api.joinSync(onProgress);
      } else {
        try {
          report = await api.syncNow(options, onProgress);
        } catch (err) {
          if ((err as ErrorReport).code !== "sync_running") throw err;
          joined = true;
          progressText.textContent = "A sync was already running: following it.";
          report = await api.joinSync(onProgress);
        }
      }
      if (!report) {
        // It ended before this screen could follow it: the status below has its outcome.
        clear(runBox);
        return;
      }
      progress.value = 1;
      progress.max = 1;
      const asked = joined && options?.mode ? " It was already running: start yours again now that it has ended." : "";
      progressText.textContent = `${report.outcome === "completed" ? "Done" : "Cancelled"}: ${report.progress.leads} leads read, ${report.progress.new} new, ${report.progress.updated} updated, ${report.requests} requests.${asked}`;
      progressText.setAttribute("data-sync-done", report.outcome);
      if (joined) progressText.setAttribute("data-sync-joined", "true");
      announce(progressText.textContent);
    } catch (err) {
      clear(runBox);
      runBox.append(errorPanel(err as ErrorReport, () => void run(options ?? {})));
    } finally {
      for (const b of [syncButton, fullButton, sinceButton, verifyButton]) b.disabled = !permission.allowed;
      cancelButton.hidden = true;
      running = false;
      await refresh();
    }
  }

  syncButton.addEventListener("click", () => void run({}));
  fullButton.addEventListener("click", () => void run({ mode: { mode: "full" } }));
  sinceButton.addEventListener("click", () => {
    if (!sinceInput.value) {
      sinceInput.focus();
      return;
    }
    void run({ mode: { mode: "since", since: sinceInput.value } });
  });
  cancelButton.addEventListener("click", () => void api.cancelJob("sync"));
  verifyButton.addEventListener("click", () => void verify(false));
  interval.addEventListener("change", async () => {
    try {
      await api.setSyncInterval(Number(interval.value));
    } catch (err) {
      runBox.append(errorPanel(err as ErrorReport));
    }
  });
  const denied = h("p", { class: "muted why" });
  // The screen may draw before the active profile is restored (the app opens on it): follow it.
  function applyPermission(): void {
    permission = can("read_leads");
    for (const b of [syncButton, fullButton, sinceButton, verifyButton]) b.disabled = !permission.allowed;
    denied.textContent = permission.allowed ? "" : permission.reason ?? "";
    if (permission.allowed) denied.removeAttribute("data-denied");
    else denied.setAttribute("data-denied", "sync");
  }
  applyPermission();
  const stopFollowing = onConnection(() => {
    if (cancelButton.hidden) applyPermission();
  });

  root.append(
    h("h1", { tabindex: "-1" }, "Sync"),
    h("p", { class: "lead" }, "Keep a copy of every lead in this workspace, exactly as the server has it, on this computer or in your team's PostgreSQL. Only changes are fetched after the first sync."),
    destination.section,
    h("div", { class: "row" }, syncButton, fullButton, cancelButton, verifyButton),
    denied,
    h("div", { class: "row" }, h("label", { for: "sync-since" }, "Re-sync from"), sinceInput, sinceButton),
    h("div", { class: "row" }, h("label", { for: "sync-interval" }, "Automatic sync"), interval),
    runBox,
    verifyBox,
    pgBox,
    statusBox,
    background.section,
  );
  await background.load();
  try {
    const view = await api.syncDestination();
    destination.show(view);
    if (view.destination.kind === "postgres") destinationLabel = view.label;
  } catch {
    // not connected: the status below says so; the form stays on "This computer"
    destination.show({ destination: { kind: "this_computer" }, password_saved: false, label: "This computer" });
  }
  try {
    interval.value = String(await api.syncInterval());
  } catch {
    // shown as Off
  }
  // A background (interval) sync updates the status when it ends.
  const unlisten = await on("sync-finished", () => void refresh());
  const observer = new MutationObserver(() => {
    if (!root.contains(statusBox)) {
      unlisten();
      stopFollowing();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  await refresh();
  // Opened while a sync runs (the Overview's first sync, the interval's): show it, with Cancel.
  if (await api.syncRunning().catch(() => false)) void run(null);
}
