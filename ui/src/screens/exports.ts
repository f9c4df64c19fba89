// Exports: start a server-side export, watch it become ready (the app polls with backoff and
// resumes after a restart), download it with a progress bar, then open it or show it in its
// folder. Each job keeps its request_ids for support.
import { on } from "../bindings/events";
import { api } from "../ipc";
import { clear, copyText, h, toast } from "../dom";
import { confirmDialog, errorPanel, gatedButton } from "../components";
import { can } from "../state";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { ExportJob } from "../bindings/ExportJob";

const FIELDS = ["id", "email", "full_name", "first_name", "last_name", "company_name", "company_domain", "job_title", "phone", "linkedin_url", "status", "source", "created_at", "updated_at"];

function size(bytes: number | null): string {
  if (bytes === null) return "—";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export async function renderExports(root: HTMLElement): Promise<void> {
  const jobs = new Map<string, ExportJob>();
  const downloads = new Map<string, { bytes: number; total: number | null }>();
  const waits = new Map<string, string>();
  const list = h("div", { id: "export-jobs" });
  const errorBox = h("div", {});
  const updatedAfter = h("input", { type: "date", id: "export-updated-after" });
  const fieldBoxes = FIELDS.map((f) => h("input", { type: "checkbox", id: `field-${f}`, value: f }));
  const permission = can("export_leads");

  function row(job: ExportJob): HTMLElement {
    const progress = downloads.get(job.job_id);
    const status = job.local_path ? "downloaded" : job.status;
    return h(
      "li",
      { class: "card export-job", "data-export-job": job.job_id, "data-status": status },
      h("div", { class: "row" },
        h("strong", {}, job.file_name ?? job.export_id ?? job.job_id),
        h("span", { class: `badge ${status === "failed" || status === "expired" ? "bad" : status === "downloaded" || status === "completed" ? "ok" : "warn"}` }, status),
        h("span", { class: "muted" }, `${job.row_count ?? "—"} rows · ${size(job.byte_size)} · ${job.polling === "active" ? `polling (${job.probe_count} probes)` : job.polling}`),
      ),
      waits.get(job.job_id) ? h("p", { class: "muted" }, waits.get(job.job_id) ?? "") : null,
      progress && !job.local_path
        ? h("progress", { value: String(progress.bytes), max: String(progress.total ?? progress.bytes + 1), "aria-label": "Download progress" })
        : null,
      job.local_path ? h("p", { class: "mono", "data-local-path": job.local_path }, job.local_path) : null,
      job.error ? errorPanel(job.error) : null,
      h("div", { class: "row" },
        job.local_path ? h("button", { type: "button", onclick: () => void act(() => api.exportOpen(job.job_id)) }, "Open") : null,
        job.local_path ? h("button", { type: "button", onclick: () => void act(() => api.exportReveal(job.job_id)) }, "Show in folder") : null,
        job.polling === "active" ? h("button", { type: "button", onclick: () => void act(async () => { upsert(await api.exportStopPolling(job.job_id)); }) }, "Stop polling") : null,
        job.polling === "stopped" && !job.local_path ? h("button", { type: "button", onclick: () => void act(() => api.exportResume(job.job_id)) }, "Resume") : null,
        h("button", {
          type: "button",
          onclick: async () => toast((await copyText(job.request_ids.join("\n"))) ? `${job.request_ids.length} request_ids copied` : "Copy failed"),
        }, "Copy request_ids"),
        h("button", {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (await confirmDialog("Remove this export from the list? A downloaded file stays where it is.", "Remove")) {
              await act(async () => {
                await api.exportRemove(job.job_id);
                jobs.delete(job.job_id);
                paint();
              });
            }
          },
        }, "Remove"),
      ),
    );
  }

  function paint(): void {
    clear(list);
    const sorted = [...jobs.values()].sort((a, b) => b.created_at.localeCompare(a.created_at));
    if (sorted.length === 0) {
      list.append(h("p", { class: "muted" }, "No exports yet."));
      return;
    }
    list.append(h("ul", { class: "profiles", "aria-label": "Export jobs" }, ...sorted.map(row)));
  }

  function upsert(job: ExportJob): void {
    jobs.set(job.job_id, job);
    paint();
  }

  async function act(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      clear(errorBox);
      errorBox.append(errorPanel(err as ErrorReport));
    }
  }

  const start = gatedButton("Start export", permission, () =>
    void act(async () => {
      const fields = fieldBoxes.filter((b) => b.checked).map((b) => b.value);
      const after = updatedAfter.value ? new Date(`${updatedAfter.value}T00:00:00Z`).toISOString() : null;
      upsert(await api.exportStart(after, fields.length ? fields : null));
    }),
  { class: "primary", id: "export-start" });

  root.append(
    h("h1", { tabindex: "-1" }, "Exports"),
    h("p", { class: "lead" }, "Export the workspace's leads as CSV on the server. You can close the app while it is prepared: polling resumes at the next start, and the file lands in your Downloads folder."),
    h("section", { class: "card", "aria-label": "New export" },
      h("div", { class: "row" }, h("label", { for: "export-updated-after" }, "Only leads updated after"), updatedAfter),
      h("details", {}, h("summary", {}, "Columns (all when none is ticked)"),
        h("div", { class: "row" }, ...FIELDS.flatMap((f, i) => [fieldBoxes[i], h("label", { for: `field-${f}` }, f)]))),
      start),
    errorBox,
    list,
  );

  const unlisten = await on("export-event", (e) => {
    if (e.kind === "job") {
      waits.delete(e.job.job_id);
      upsert(e.job);
    } else if (e.kind === "downloading") {
      downloads.set(e.job_id, { bytes: e.bytes, total: e.total });
      paint();
    } else if (e.kind === "waiting") {
      waits.set(e.job_id, `Next check in ${Math.round(e.delay_ms / 100) / 10} s${e.retry_after ? " (the server asked us to wait)" : ""}`);
      paint();
    }
  });
  const observer = new MutationObserver(() => {
    if (!root.contains(list)) {
      unlisten();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  try {
    for (const job of await api.exportsList()) jobs.set(job.job_id, job);
    paint();
  } catch (err) {
    errorBox.append(errorPanel(err as ErrorReport));
  }
}
