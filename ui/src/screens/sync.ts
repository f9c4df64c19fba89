// Sync: mirror the workspace's leads locally. Sync now (with progress and cancel), full resync,
// re-sync from a date, the automatic interval, and the last run's outcome and watermark.
import { announce, announceProgress } from "../announce";
import { on } from "../bindings/events";
import { api } from "../ipc";
import { clear, h } from "../dom";
import { timeElement } from "../time";
import { errorPanel, fact } from "../components";
import { can } from "../state";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { SyncOptions } from "../bindings/SyncOptions";
import type { SyncStatus } from "../bindings/SyncStatus";

export async function renderSync(root: HTMLElement): Promise<void> {
  const statusBox = h("div", { id: "sync-status" });
  const runBox = h("div", { id: "sync-run" });
  const progress = h("progress", { id: "sync-progress", "aria-label": "Sync progress" });
  const progressText = h("p", { class: "muted", id: "sync-progress-text" });
  const syncButton = h("button", { type: "button", class: "primary", id: "sync-now" }, "Sync now");
  const fullButton = h("button", { type: "button", id: "sync-full" }, "Full resync");
  const sinceInput = h("input", { type: "date", id: "sync-since" });
  const sinceButton = h("button", { type: "button", id: "sync-since-run" }, "Re-sync from date");
  const cancelButton = h("button", { type: "button", id: "sync-cancel", hidden: true }, "Cancel");
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

  const permission = can("read_leads");

  function showStatus(status: SyncStatus | null): void {
    clear(statusBox);
    if (!status) {
      statusBox.append(h("p", { class: "muted" }, "Connect a workspace to mirror its leads."));
      return;
    }
    const outcome = status.last_outcome ?? "never synced";
    statusBox.append(
      h(
        "section",
        { class: "card", "aria-label": "Mirror status" },
        h("dl", { class: "facts" },
          ...fact("Leads in the mirror", String(status.total_leads)),
          ...fact("Last sync", status.last_finished_at ?? status.last_started_at ? timeElement((status.last_finished_at ?? status.last_started_at) as string) : "Never"),
          ...fact("Outcome", h("span", { "data-sync-outcome": outcome }, outcome)),
          ...fact("Last run", status.last ? `${status.last.leads} read · ${status.last.new} new · ${status.last.updated} updated` : "—"),
          ...fact("Watermark", status.watermark ? `${status.watermark.updated_at} · ${status.watermark.id}` : "—"),
          ...fact("Interrupted run", status.interrupted ? "Yes — the next sync resumes it" : "No"),
        ),
      ),
    );
    if (status.last_error) statusBox.append(errorPanel(status.last_error));
  }

  async function refresh(): Promise<void> {
    try {
      showStatus(await api.syncStatus());
    } catch (err) {
      clear(statusBox);
      statusBox.append(errorPanel(err as ErrorReport));
    }
  }

  async function run(options: SyncOptions): Promise<void> {
    for (const b of [syncButton, fullButton, sinceButton]) b.disabled = true;
    cancelButton.hidden = false;
    clear(runBox);
    progress.removeAttribute("value");
    progressText.textContent = "Starting…";
    runBox.append(progress, progressText);
    try {
      const report = await api.syncNow(options, (p) => {
        progressText.textContent = `${p.pages} pages · ${p.leads} leads read · ${p.new} new · ${p.updated} updated${p.resumed ? " (resumed)" : ""}`;
        announceProgress(`Syncing: ${p.leads} leads read`);
      });
      progress.value = 1;
      progress.max = 1;
      progressText.textContent = `${report.outcome === "completed" ? "Done" : "Cancelled"}: ${report.progress.leads} leads read, ${report.progress.new} new, ${report.progress.updated} updated, ${report.requests} requests.`;
      progressText.setAttribute("data-sync-done", report.outcome);
      announce(progressText.textContent);
    } catch (err) {
      clear(runBox);
      runBox.append(errorPanel(err as ErrorReport, () => void run(options)));
    } finally {
      for (const b of [syncButton, fullButton, sinceButton]) b.disabled = !permission.allowed;
      cancelButton.hidden = true;
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
  interval.addEventListener("change", async () => {
    try {
      await api.setSyncInterval(Number(interval.value));
    } catch (err) {
      runBox.append(errorPanel(err as ErrorReport));
    }
  });
  for (const b of [syncButton, fullButton, sinceButton]) b.disabled = !permission.allowed;

  root.append(
    h("h1", { tabindex: "-1" }, "Sync"),
    h("p", { class: "lead" }, "Keep a local copy of every lead in this workspace, exactly as the server has it, for your CRM or warehouse. Only changes are fetched after the first sync."),
    h("div", { class: "row" }, syncButton, fullButton, cancelButton),
    h("p", { class: "muted why", "data-denied": permission.allowed ? undefined : "sync" }, permission.allowed ? "" : permission.reason ?? ""),
    h("div", { class: "row" }, h("label", { for: "sync-since" }, "Re-sync from"), sinceInput, sinceButton),
    h("div", { class: "row" }, h("label", { for: "sync-interval" }, "Automatic sync"), interval),
    runBox,
    statusBox,
  );
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
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  await refresh();
}
