// Import: create one lead safely, or drop a CSV/TSV/TXT file anywhere on the window (or choose
// one) to see its mapping and counts before anything is sent, then import it with progress,
// pause/resume/cancel, and results files. Rows already sent are never sent twice, even after a
// crash: the core's journal and per-row Idempotency-Keys see to that.
import { announce, announceProgress } from "../announce";
import { on } from "../bindings/events";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { api } from "../ipc";
import { clear, h, toast } from "../dom";
import { timeElement } from "../time";
import { confirmDialog, errorPanel, gatedButton } from "../components";
import { can, connection } from "../state";
import { Submission, buttonOf } from "../submission";
import type { ColumnTarget } from "../bindings/ColumnTarget";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { ImportJob } from "../bindings/ImportJob";
import type { ImportProgress } from "../bindings/ImportProgress";
import type { LeadSubmission } from "../bindings/LeadSubmission";
import type { Mapping } from "../bindings/Mapping";
import type { NewLead } from "../bindings/NewLead";
import type { Preview } from "../bindings/Preview";

const LEAD_FIELDS: [keyof NewLead, string][] = [
  ["full_name", "Full name"],
  ["email", "Email"],
  ["company_name", "Company"],
  ["first_name", "First name"],
  ["last_name", "Last name"],
  ["job_title", "Job title"],
  ["phone", "Phone"],
  ["company_domain", "Company domain"],
  ["linkedin_url", "LinkedIn URL"],
];
const TARGETS = ["email", "full_name", "first_name", "last_name", "company_name", "company_domain", "job_title", "phone", "linkedin_url", "status", "source"];

function targetValue(t: ColumnTarget): string {
  return t.kind === "field" ? `field:${t.field}` : t.kind === "custom" ? `custom:${t.name}` : "ignore";
}

function parseTarget(v: string, header: string): ColumnTarget {
  if (v.startsWith("field:")) return { kind: "field", field: v.slice(6) };
  if (v.startsWith("custom:")) return { kind: "custom", name: v.slice(7) || header };
  return { kind: "ignore" };
}

function createLeadForm(): HTMLElement {
  const permission = can("create_lead");
  const inputs = new Map<string, HTMLInputElement>();
  const problems = new Map<string, HTMLElement>();
  const result = h("div", { id: "lead-result", "aria-live": "polite" });
  const submission = new Submission<LeadSubmission>(() => api.leadSubmission(lead()));

  function lead(): NewLead {
    const l: Record<string, string> = {};
    for (const [field, input] of inputs) if (input.value.trim()) l[field] = input.value.trim();
    return { email: "", ...l } as NewLead;
  }

  async function validate(): Promise<boolean> {
    const errors = await api.leadValidate(lead());
    for (const [field, el] of problems) el.textContent = errors.filter((e) => e.field === field).map((e) => e.message).join(" ");
    return errors.length === 0;
  }

  const fields = LEAD_FIELDS.map(([field, label]) => {
    const input = h("input", { id: `lead-${field}`, type: field === "email" ? "email" : "text", autocomplete: "off" });
    const problem = h("p", { class: "field-error", id: `lead-${field}-error` });
    input.setAttribute("aria-describedby", `lead-${field}-error`);
    input.addEventListener("input", () => {
      submission.reset(); // an edited lead is a new submission with a new key
      void validate();
    });
    inputs.set(field, input);
    problems.set(field, problem);
    return h("div", { class: "field" }, h("label", { for: `lead-${field}` }, label), input, problem);
  });

  const button = gatedButton("Create lead", permission, () => void send(), { class: "primary", id: "lead-create" });
  const send = async () => {
    clear(result);
    try {
      // Nothing is sent while a field is wrong; the key is kept until an answer arrives.
      const created = await submission.send(buttonOf(button), async (s) => ((await validate()) ? api.leadCreate(s) : null));
      if (!created) return;
      result.append(h("p", { class: "ok-text", "data-created-lead": created.lead.id },
        `${created.replayed ? "Already created (this submission was replayed, no duplicate made)" : "Created"}: ${created.lead.id} · request_id ${created.request_id}`));
    } catch (err) {
      // The same submission (same Idempotency-Key) is reused by "Try again".
      result.append(errorPanel(err as ErrorReport, () => void send()));
    }
  };
  return h("section", { class: "card", "aria-label": "Create one lead" },
    h("h2", {}, "Create one lead"),
    h("div", { class: "form-grid" }, ...fields),
    button,
    result);
}

export async function renderImport(root: HTMLElement): Promise<void> {
  const permission = can("import_leads");
  const dropZone = h("div", { class: "drop-zone", id: "drop-zone", tabindex: "0" },
    h("p", {}, "Drop a CSV, TSV or TXT file anywhere on this window"),
    h("button", { type: "button", id: "import-choose", onclick: () => void choose() }, "Choose file…"));
  const previewBox = h("div", { id: "import-preview" });
  const runBox = h("div", { id: "import-run" });
  const historyBox = h("div", { id: "import-history" });
  let path: string | null = null;
  let mapping: Mapping | null = null;
  let current: string | null = null;

  async function choose(): Promise<void> {
    const picked = await api.importPickFile().catch(() => null);
    if (picked) await load(picked, null);
  }

  async function load(file: string, withMapping: Mapping | null): Promise<void> {
    path = file;
    clear(previewBox);
    previewBox.setAttribute("aria-busy", "true");
    try {
      const preview = await api.importPreview(file, withMapping);
      mapping = preview.mapping;
      showPreview(preview);
    } catch (err) {
      previewBox.append(errorPanel(err as ErrorReport));
    } finally {
      previewBox.setAttribute("aria-busy", "false");
    }
  }

  function showPreview(p: Preview): void {
    clear(previewBox);
    const mappingRows = p.mapping.columns.map((c) => {
      const select = h("select", { id: `map-${c.index}`, "aria-label": `Map column ${c.header}` },
        ...TARGETS.map((t) => h("option", { value: `field:${t}` }, t)),
        h("option", { value: `custom:${c.header}` }, `custom field “${c.header}”`),
        h("option", { value: "ignore" }, "ignore"));
      select.value = targetValue(c.target);
      select.addEventListener("change", () => {
        if (!mapping || !path) return;
        mapping = { columns: mapping.columns.map((m) => (m.index === c.index ? { ...m, target: parseTarget(select.value, c.header), confidence: 100 } : m)) };
        void load(path, mapping);
      });
      return h("tr", {}, h("td", {}, c.header), h("td", {}, select), h("td", {}, `${c.confidence}%`));
    });
    const shown: (keyof NewLead)[] = ["full_name", "email", "company_name", "job_title"];
    const sample = p.rows.slice(0, 8).map((r) =>
      h("tr", { class: r.errors.length || r.duplicate ? "invalid" : "" },
        h("td", {}, String(r.row_number)),
        ...shown.map((f) => h("td", {}, String(r.lead[f] ?? ""))),
        h("td", {}, r.duplicate ? "duplicate email" : r.errors.map((e) => e.message).join("; "))));
    const c = p.counts;
    const startButton = gatedButton(`Import ${c.will_create} leads`, permission, () => void start(), { class: "primary", id: "import-start" });
    previewBox.append(
      h("section", { class: "card", "aria-label": "Preview" },
        h("h2", {}, path?.split(/[\\/]/).pop() ?? "File"),
        h("p", { class: "muted" }, `${p.format.encoding}${p.format.bom ? " with BOM" : ""}, separated by ${p.format.delimiter === "\t" ? "tabs" : `“${p.format.delimiter}”`} · ${p.complete ? "" : "about "}${p.counts.rows} rows${p.remembered ? " · mapping remembered from a file with the same columns" : ""}`),
        h("p", { class: "counts", "data-counts": `${c.will_create}/${c.invalid}/${c.duplicate}` },
          h("span", { class: "badge ok" }, `${c.will_create} will be created`), " ",
          h("span", { class: "badge bad" }, `${c.invalid} invalid`), " ",
          h("span", { class: "badge warn" }, `${c.duplicate} duplicate emails`),
          c.blank_lines || c.ragged_rows ? h("span", { class: "muted" }, ` · ${c.blank_lines} blank lines, ${c.ragged_rows} rows with missing or extra cells`) : null),
        p.complete ? null : h("p", { class: "muted" }, "Counts from the start of the file; the full check runs when you import."),
        ...p.mapping_problems.map((m) => h("p", { class: "field-error" }, m)),
        h("h3", {}, "Columns"),
        h("table", { class: "log" }, h("thead", {}, h("tr", {}, h("th", {}, "Column in the file"), h("th", {}, "Becomes"), h("th", {}, "Confidence"))), h("tbody", {}, ...mappingRows)),
        h("h3", {}, "First rows as they will be sent"),
        h("table", { class: "log" }, h("thead", {}, h("tr", {}, ...["Row", "Name", "Email", "Company", "Title", "Problem"].map((t) => h("th", {}, t)))), h("tbody", {}, ...sample)),
        h("p", { class: "muted" }, "Invalid rows and duplicate emails are skipped and listed in the error report."),
        startButton),
    );
  }

  async function start(): Promise<void> {
    if (!path || !mapping) return;
    clear(runBox);
    try {
      const job = await api.importStart(path, mapping);
      current = job.id;
      showRun(job.id, null);
      clear(previewBox);
    } catch (err) {
      runBox.append(errorPanel(err as ErrorReport));
    }
  }

  const bar = h("progress", { id: "import-progress", "aria-label": "Import progress" });
  const line = h("p", { id: "import-progress-text", class: "muted" });
  function showRun(id: string, p: ImportProgress | null): void {
    if (!runBox.contains(bar)) {
      clear(runBox);
      runBox.append(h("section", { class: "card", "aria-label": "Import progress" }, bar, line,
        h("div", { class: "row" },
          h("button", { type: "button", onclick: () => void api.importPause(id) }, "Pause"),
          h("button", { type: "button", onclick: () => void api.importResume(id).catch((e) => runBox.append(errorPanel(e as ErrorReport))) }, "Resume"),
          h("button", { type: "button", class: "danger", onclick: async () => {
            if (await confirmDialog("Cancel this import? Rows not sent yet are skipped; created leads stay.", "Cancel import")) {
              await api.importCancel(id).catch((e) => runBox.append(errorPanel(e as ErrorReport)));
              void history();
            }
          } }, "Cancel import"))));
    }
    if (!p) return;
    const done = p.counts.created + p.counts.failed + p.counts.skipped;
    bar.max = Math.max(1, p.counts.total);
    bar.value = done;
    const eta = p.eta_seconds === null ? "" : ` · about ${Math.ceil(p.eta_seconds)} s left`;
    const waiting = p.waiting_seconds > 0 ? ` · waiting ${p.waiting_seconds.toFixed(0)} s for the rate limit` : "";
    line.textContent = `${done} of ${p.counts.total} rows · ${p.counts.created} created · ${p.counts.failed} failed · ${p.counts.skipped} skipped · ${p.rows_per_sec.toFixed(0)} rows/s${eta}${waiting}`;
    announceProgress(`Importing: ${done} of ${p.counts.total} rows`);
  }

  function jobCard(job: ImportJob): HTMLElement {
    const c = job.counts;
    const unfinished = ["staging", "ready", "running", "paused"].includes(job.status);
    return h("li", { class: "card", "data-import": job.id, "data-import-status": job.status },
      h("div", { class: "row" }, h("strong", {}, job.file_name), h("span", { class: "badge" }, job.status),
        h("span", { class: "muted" }, `${c.created} created · ${c.failed} failed · ${c.skipped} skipped of ${c.total} · `, timeElement(job.created_at))),
      h("div", { class: "row" },
        unfinished ? h("button", { type: "button", onclick: () => void api.importResume(job.id).then(() => { current = job.id; showRun(job.id, null); }, (e) => historyBox.append(errorPanel(e as ErrorReport))) }, "Resume") : null,
        c.failed + c.skipped > 0 ? h("button", { type: "button", "data-results": "errors", onclick: () => void results(job.id, "errors") }, "Download error report") : null,
        c.created > 0 ? h("button", { type: "button", onclick: () => void results(job.id, "success") }, "Download success file") : null,
        c.failed > 0 && !unfinished ? h("button", { type: "button", onclick: () => void api.importRetryFailed(job.id).then(() => { current = job.id; showRun(job.id, null); }, (e) => historyBox.append(errorPanel(e as ErrorReport))) }, "Retry failed rows") : null));
  }

  async function results(id: string, kind: "errors" | "success"): Promise<void> {
    try {
      const file = await api.importResultsFile(id, kind);
      toast(`Saved ${file}`);
      historyBox.prepend(h("p", { class: "ok-text", "data-results-path": file }, `Saved ${file}`));
    } catch (err) {
      historyBox.append(errorPanel(err as ErrorReport));
    }
  }

  /// An import made by an older version, which did not record its workspace: the user says
  /// whether it is the open workspace's (the core then looks its rows in flight up on the server
  /// before sending anything again).
  function unassignedCard(job: ImportJob): HTMLElement {
    const c = job.counts;
    const workspace = connection()?.check?.me.workspace.name ?? "this workspace";
    return h("li", { class: "card", "data-unassigned-import": job.id },
      h("div", { class: "row" }, h("strong", {}, job.file_name),
        h("span", { class: "muted" }, `${c.created} created · ${c.pending + c.in_flight} not sent · ${c.failed} failed · `, timeElement(job.created_at))),
      h("div", { class: "row" },
        h("button", {
          type: "button",
          onclick: async () => {
            const ok = await confirmDialog(
              `Was ${job.file_name} imported into “${workspace}”? Only say yes if it was: its remaining rows will be sent to this workspace.`,
              `Yes, it belongs to ${workspace}`,
            );
            if (!ok) return;
            try {
              await api.importAssign(job.id);
              await history();
            } catch (err) {
              historyBox.append(errorPanel(err as ErrorReport));
            }
          },
        }, `Belongs to ${workspace}…`)));
  }

  async function history(): Promise<void> {
    try {
      const [jobs, unassigned] = await Promise.all([api.importsList(), api.importsUnassigned()]);
      clear(historyBox);
      if (jobs.length) historyBox.append(h("h2", {}, "Imports"), h("ul", { class: "profiles", "aria-label": "Imports" }, ...jobs.map(jobCard)));
      if (unassigned.length) {
        historyBox.append(
          h("h2", {}, "Imports from an older version"),
          h("p", { class: "muted" }, "These imports were made before imports recorded their workspace. Tell which belong to the open workspace; the others stay untouched until you open theirs."),
          h("ul", { class: "profiles", "aria-label": "Imports from an older version" }, ...unassigned.map(unassignedCard)),
        );
      }
    } catch (err) {
      historyBox.append(errorPanel(err as ErrorReport));
    }
  }

  root.append(
    h("h1", { tabindex: "-1" }, "Import"),
    h("p", { class: "lead" }, "Add one lead, or import a whole file. Every valid row becomes exactly one lead — even if the network, the server or this computer fails half-way."),
    createLeadForm(),
    h("section", { class: "card", "aria-label": "Import a file" }, h("h2", {}, "Import a file"), dropZone),
    previewBox,
    runBox,
    historyBox,
  );

  const unlisteners = [
    await on("import-progress", (p) => {
      if (p.import_id === current) showRun(p.import_id, p);
    }),
    await on("import-finished", () => {
      line.textContent += " — finished";
      announce(line.textContent);
      line.setAttribute("data-import-finished", "true");
      void history();
    }),
    await getCurrentWebview().onDragDropEvent((event) => {
      if (event.payload.type === "over" || event.payload.type === "enter") dropZone.classList.add("over");
      else dropZone.classList.remove("over");
      if (event.payload.type === "drop" && event.payload.paths.length) void load(event.payload.paths[0], null);
    }),
  ];
  const observer = new MutationObserver(() => {
    if (!root.contains(dropZone)) {
      for (const u of unlisteners) u();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  // For tests and power users: `#/import?file=/path` opens that file's preview.
  const fromHash = new URLSearchParams(location.hash.split("?")[1] ?? "").get("file");
  if (fromHash) await load(fromHash, null);
  await history();
}
