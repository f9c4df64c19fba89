// Import: drop a CSV/TSV/TXT or .xlsx file anywhere on the window (or choose one), in steps:
// file, columns (mapping and counts), review (every row classed against the workspace for the
// chosen mode, filterable, savable), send (progress, pause/resume/cancel), results files. One
// lead can be created safely below. Rows already sent are never sent twice, even after a
// crash: the core's journal and per-row Idempotency-Keys see to that.
import { announce, announceProgress } from "../announce";
import { on } from "../bindings/events";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { api } from "../ipc";
import { clear, h, toast } from "../dom";
import { timeElement } from "../time";
import { confirmDialog, errorPanel, gatedButton, savedFileNote } from "../components";
import { can, connection, onConnection } from "../state";
import { Submission, buttonOf } from "../submission";
import type { ColumnTarget } from "../bindings/ColumnTarget";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { ImportJob } from "../bindings/ImportJob";
import type { ImportProgress } from "../bindings/ImportProgress";
import type { LeadSubmission } from "../bindings/LeadSubmission";
import type { Mapping } from "../bindings/Mapping";
import type { NewLead } from "../bindings/NewLead";
import type { Preview } from "../bindings/Preview";
import type { ImportMode } from "../bindings/ImportMode";
import type { ImportReview } from "../bindings/ImportReview";
import type { ResultsKind } from "../bindings/ResultsKind";
import type { ReviewClass } from "../bindings/ReviewClass";
import type { ReviewRow } from "../bindings/ReviewRow";

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
/** The import modes, as the review step offers them (the core's rule table says what each does). */
const MODES: [ImportMode, string, string][] = [
  ["create", "Create new leads only", "Rows whose e-mail is already in the workspace are skipped, so importing a file again never makes duplicates."],
  ["upsert", "Create and update", "New e-mails become leads; for e-mails already there, the file's values replace the lead's."],
  ["update", "Update existing only", "Only leads already in the workspace change; rows with other e-mails are skipped."],
];

/** The review's classes, in the order shown, with their badge style. */
const CLASSES: [ReviewClass, string, string][] = [
  ["create", "Create", "ok"],
  ["update", "Update", "ok"],
  ["unchanged", "Unchanged", ""],
  ["skipped_exists", "Skipped (exists)", "warn"],
  ["skipped_missing", "Skipped (not in the workspace)", "warn"],
  ["ambiguous", "Skipped (several leads have the e-mail)", "warn"],
  ["invalid", "Invalid", "bad"],
  ["duplicate", "Duplicate within the file", "warn"],
];
const classLabel = (c: ReviewClass) => CLASSES.find(([k]) => k === c)?.[1] ?? c;

const STEPS = ["File", "Columns", "Review", "Send", "Results"];

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
  let permission = can("import_leads");
  // The preview on screen, drawn again when the connection (and so the permission) arrives: the
  // app may reopen on this screen before the active profile is restored.
  let shownPreview: Preview | null = null;
  const stopFollowing = onConnection(() => {
    permission = can("import_leads");
    if (shownPreview) showPreview(shownPreview);
  });
  const dropZone = h("div", { class: "drop-zone", id: "drop-zone", tabindex: "0" },
    h("p", {}, "Drop a CSV, TSV, TXT or Excel (.xlsx) file anywhere on this window"),
    h("button", { type: "button", id: "import-choose", onclick: () => void choose() }, "Choose file…"));
  const previewBox = h("div", { id: "import-preview" });
  const reviewBox = h("div", { id: "import-review-box" });
  const runBox = h("div", { id: "import-run" });
  const stepItems = STEPS.map((label, i) => h("li", { "data-step": String(i + 1) }, h("span", { class: "step-number", "aria-hidden": "true" }, String(i + 1)), ` ${label}`));
  const steps = h("ol", { class: "steps", "aria-label": "Import steps" }, ...stepItems);
  /** Marks step `n` (1..5) as the current one; earlier steps as done. */
  function setStep(n: number): void {
    stepItems.forEach((li, i) => {
      if (i + 1 === n) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
      li.classList.toggle("done", i + 1 < n);
    });
    steps.setAttribute("data-current-step", String(n));
  }
  setStep(1);
  let mode: ImportMode = "create";
  // The review's table: its class filter and the rows shown so far.
  let filter: ReviewClass | null = null;
  let shownRows = 0;
  const historyBox = h("div", { id: "import-history" });
  let path: string | null = null;
  let mapping: Mapping | null = null;
  // The sheet of an .xlsx workbook (null: the first, or a text file).
  let sheet: string | null = null;
  let current: string | null = null;

  async function choose(): Promise<void> {
    const picked = await api.importPickFile().catch(() => null);
    if (picked) await load(picked, null);
  }

  async function load(file: string, withMapping: Mapping | null, withSheet: string | null = null): Promise<void> {
    if (file !== path) sheet = null;
    if (withSheet !== null) sheet = withSheet;
    path = file;
    current = null;
    shownPreview = null;
    clear(previewBox);
    clear(reviewBox);
    setStep(2);
    previewBox.setAttribute("aria-busy", "true");
    try {
      const preview = await api.importPreview(file, withMapping, sheet);
      sheet = preview.format.sheet;
      mapping = preview.mapping;
      showPreview(preview);
    } catch (err) {
      previewBox.append(errorPanel(err as ErrorReport));
    } finally {
      previewBox.setAttribute("aria-busy", "false");
    }
  }

  function showPreview(p: Preview): void {
    shownPreview = p;
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
        h("td", {}, r.errors.length ? r.errors.map((e) => `${e.field}: ${e.message}`).join("; ")
          : r.duplicate ? "duplicate email"
          : r.dropped.length ? `sent without ${r.dropped.map((d) => `${d.field} “${d.value}” (${d.message})`).join("; ")}`
          : "")));
    const c = p.counts;
    const sheetPicker = p.format.sheets.length > 1
      ? h("p", { class: "row" },
        h("label", { for: "import-sheet" }, "Sheet"), " ",
        (() => {
          const select = h("select", { id: "import-sheet" }, ...p.format.sheets.map((s) => h("option", { value: s }, s)));
          select.value = p.format.sheet ?? p.format.sheets[0];
          // Another sheet has other columns: its mapping is suggested afresh.
          select.addEventListener("change", () => { if (path) void load(path, null, select.value); });
          return select;
        })())
      : null;
    const formatText = p.format.sheet !== null
      ? `Excel workbook, sheet “${p.format.sheet}”`
      : `${p.format.encoding}${p.format.bom ? " with BOM" : ""}, separated by ${p.format.delimiter === "\t" ? "tabs" : `“${p.format.delimiter}”`}`;
    const reviewButton = gatedButton(`Review ${c.rows === 1 ? "1 row" : `${p.complete ? "" : "about "}${p.estimated_rows} rows`} against the workspace`, permission, () => void stageAndReview(), { class: "primary", id: "import-review" });
    previewBox.append(
      h("section", { class: "card", "aria-label": "Preview" },
        h("h2", {}, path?.split(/[\\/]/).pop() ?? "File"),
        sheetPicker,
        h("p", { class: "muted" }, `${formatText} · ${p.complete ? "" : "about "}${p.counts.rows} rows${p.remembered ? " · mapping remembered from a file with the same columns" : ""}`),
        h("p", { class: "counts", "data-counts": `${c.will_create}/${c.invalid}/${c.duplicate}` },
          h("span", { class: "badge ok" }, `${c.will_create} will be created`), " ",
          h("span", { class: "badge bad" }, `${c.invalid} invalid`), " ",
          h("span", { class: "badge warn" }, `${c.duplicate} duplicate emails`),
          c.with_dropped_fields ? h("span", { class: "badge warn", "data-dropped": String(c.with_dropped_fields) }, ` ${c.with_dropped_fields} will lose an optional value`) : null,
          c.blank_lines || c.ragged_rows ? h("span", { class: "muted" }, ` · ${c.blank_lines} blank lines, ${c.ragged_rows} rows with missing or extra cells`) : null),
        p.complete ? null : h("p", { class: "muted" }, "Counts from the start of the file; the full check runs when you import."),
        ...p.mapping_problems.map((m) => h("p", { class: "field-error" }, m)),
        h("h3", {}, "Columns"),
        h("table", { class: "log" }, h("thead", {}, h("tr", {}, h("th", {}, "Column in the file"), h("th", {}, "Becomes"), h("th", {}, "Confidence"))), h("tbody", {}, ...mappingRows)),
        h("h3", {}, "First rows as they will be sent"),
        h("table", { class: "log" }, h("thead", {}, h("tr", {}, ...["Row", "Name", "Email", "Company", "Title", "Problem"].map((t) => h("th", {}, t)))), h("tbody", {}, ...sample)),
        h("p", { class: "muted" }, "Invalid rows and duplicate emails are skipped and listed in the error report. An optional value the API would refuse (a website that is not a host name, say) is left out and the lead is still sent; the result files list each one in their dropped_fields column. Next, every row is compared with the leads already in the workspace; nothing is sent before you choose to."),
        reviewButton),
    );
  }

  /** Step 3: the file is journaled (nothing sent), then reviewed for the chosen mode. */
  async function stageAndReview(): Promise<void> {
    if (!path || !mapping) return;
    clear(reviewBox);
    reviewBox.append(h("p", { class: "muted", id: "review-status" }, "Reading the whole file…"));
    try {
      const job = await api.importStage(path, mapping, sheet);
      current = job.id;
      shownPreview = null;
      clear(previewBox);
      await openReview(job.id, job.file_name);
    } catch (err) {
      clear(reviewBox);
      reviewBox.append(errorPanel(err as ErrorReport, () => void stageAndReview()));
    }
  }

  /** Shows the review step of a staged import (a new one, or one staged earlier and not sent). */
  async function openReview(id: string, fileName: string): Promise<void> {
    current = id;
    setStep(3);
    clear(reviewBox);
    const modes = h("fieldset", { class: "modes" },
      h("legend", {}, "When an e-mail is already in the workspace"),
      ...MODES.map(([value, label, help]) => {
        const input = h("input", { type: "radio", name: "import-mode", id: `mode-${value}`, value, "aria-describedby": `mode-${value}-help` });
        input.checked = value === mode;
        input.addEventListener("change", () => {
          if (!input.checked) return;
          mode = value;
          void runReview(id);
        });
        return h("div", { class: "mode" }, h("div", { class: "row" }, input, h("label", { for: `mode-${value}` }, label)),
          h("p", { class: "muted", id: `mode-${value}-help` }, help));
      }));
    const results = h("div", { id: "review-result" });
    reviewBox.append(h("section", { class: "card", "aria-label": "Review", id: "import-review-card" },
      h("h2", {}, `Review: ${fileName}`),
      modes,
      h("p", { class: "muted", id: "review-status", role: "status" }),
      results));
    await runReview(id);
  }

  async function runReview(id: string): Promise<void> {
    const status = reviewBox.querySelector<HTMLElement>("#review-status");
    const results = reviewBox.querySelector<HTMLElement>("#review-result");
    if (!status || !results) return;
    clear(results);
    for (const input of reviewBox.querySelectorAll<HTMLInputElement>("input[name=import-mode]")) input.disabled = true;
    status.textContent = "Comparing every row with the workspace's leads…";
    // The mirror may be synced first: its progress comes as the app's sync events.
    const stop = await on("sync-progress", (p) => {
      status.textContent = `Syncing the workspace's leads first: ${p.leads} read…`;
    });
    try {
      const review = await api.importReview(id, mode);
      showReview(id, review, status, results);
    } catch (err) {
      status.textContent = "";
      results.append(errorPanel(err as ErrorReport, () => void runReview(id)));
    } finally {
      stop();
      for (const input of reviewBox.querySelectorAll<HTMLInputElement>("input[name=import-mode]")) input.disabled = false;
    }
  }

  function showReview(id: string, review: ImportReview, status: HTMLElement, results: HTMLElement): void {
    const m = review.mirror;
    clear(status);
    status.append(`Compared with the workspace's ${m.leads} leads as synced `,
      m.synced_at ? timeElement(m.synced_at) : "never",
      m.synced_now ? " (synced just now for this review)." : ".");
    const c = review.counts;
    const toSend = c.create + c.update;
    filter = null;
    const table = h("tbody", { id: "review-rows" });
    const more = h("button", { type: "button", id: "review-more", hidden: true, onclick: () => void loadRows(id, table, more, false) }, "Show more rows");
    const classButtons = CLASSES.filter(([k]) => c[k] > 0 || k === "create").map(([k, label, tone]) => {
      const b = h("button", { type: "button", class: `badge ${tone} filter`, "data-review-class": k, "aria-pressed": "false" }, `${label}: ${c[k]}`);
      b.addEventListener("click", () => {
        filter = filter === k ? null : k;
        for (const other of results.querySelectorAll("[data-review-class]")) other.setAttribute("aria-pressed", String(other === b && filter !== null));
        void loadRows(id, table, more, true);
      });
      return b;
    });
    // Nothing to send (a re-import in the default mode): the same button, disabled, says so.
    const allowed = can("import_leads");
    const send = gatedButton(toSend ? `Send ${toSend} ${toSend === 1 ? "row" : "rows"}` : "Nothing to send",
      toSend ? allowed : { allowed: false, reason: allowed.allowed ? "Every row is skipped in this mode." : allowed.reason },
      () => void sendImport(id), { class: "primary", id: "import-send" });
    results.append(
      h("p", { class: "counts", "data-review-counts": CLASSES.map(([k]) => c[k]).join("/") }, ...classButtons.flatMap((b) => [b, " "])),
      h("p", { class: "muted" }, "Choose a class to see only its rows. Only Create and Update rows are sent; the others go to the error report with why."),
      h("table", { class: "log", id: "review-table", "aria-label": "Reviewed rows" },
        h("thead", {}, h("tr", {}, ...["Row", "E-mail", "Class", "Changes, or why"].map((t) => h("th", {}, t)))), table),
      more,
      h("div", { class: "row" },
        h("button", { type: "button", id: "review-save", onclick: () => void results_(id, "review", results) }, "Save the review…"),
        send));
    announce(`Review: ${toSend} rows to send`);
    void loadRows(id, table, more, true);
  }

  async function loadRows(id: string, table: HTMLElement, more: HTMLButtonElement, fresh: boolean): Promise<void> {
    if (fresh) {
      clear(table);
      shownRows = 0;
    }
    try {
      const page = await api.importReviewRows(id, filter, shownRows, 50);
      table.append(...page.rows.map(reviewRow));
      shownRows += page.rows.length;
      more.hidden = shownRows >= page.total;
      table.setAttribute("data-total", String(page.total));
    } catch (err) {
      table.append(h("tr", {}, h("td", { colspan: "4" }, errorPanel(err as ErrorReport))));
    }
  }

  function reviewRow(r: ReviewRow): HTMLElement {
    const detail = r.changes.length
      ? r.changes.map((ch) => `${ch.field}: ${ch.old ?? "(empty)"} → ${ch.new ?? "(empty)"}`).join("; ")
      : r.reason;
    return h("tr", { "data-review-row": String(r.row_number), "data-class": r.class },
      h("td", {}, String(r.row_number)), h("td", {}, r.email), h("td", {}, classLabel(r.class)), h("td", {}, detail));
  }

  /** Step 4: sends the reviewed import. */
  async function sendImport(id: string): Promise<void> {
    try {
      await api.importResume(id);
      clear(reviewBox);
      setStep(4);
      showRun(id, null);
    } catch (err) {
      reviewBox.append(errorPanel(err as ErrorReport));
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
    const done = p.counts.created + p.counts.updated + p.counts.unchanged + p.counts.failed + p.counts.skipped;
    bar.max = Math.max(1, p.counts.total);
    bar.value = done;
    const eta = p.eta_seconds === null ? "" : ` · about ${Math.ceil(p.eta_seconds)} s left`;
    const waiting = p.waiting_seconds > 0 ? ` · waiting ${p.waiting_seconds.toFixed(0)} s for the rate limit` : "";
    line.textContent = `${done} of ${p.counts.total} rows · ${p.counts.created} created · ${p.counts.updated} updated · ${p.counts.failed} failed · ${p.counts.skipped} skipped · ${p.rows_per_sec.toFixed(0)} rows/s${eta}${waiting}`;
    announceProgress(`Importing: ${done} of ${p.counts.total} rows`);
  }

  function jobCard(job: ImportJob): HTMLElement {
    const c = job.counts;
    const unfinished = ["staging", "ready", "running", "paused"].includes(job.status);
    // Staged and not sent yet: it goes through the review (again), which the core requires.
    const neverSent = job.status === "ready" && c.created + c.updated + c.unchanged + c.failed + c.in_flight === 0;
    return h("li", { class: "card", "data-import": job.id, "data-import-status": job.status },
      h("div", { class: "row" }, h("strong", {}, job.file_name), h("span", { class: "badge" }, job.status),
        h("span", { class: "muted" }, `${c.created} created · ${c.updated} updated · ${c.unchanged} unchanged · ${c.failed} failed · ${c.skipped} skipped of ${c.total}${c.with_dropped_fields ? ` · ${c.with_dropped_fields} without an optional value` : ""} · `, timeElement(job.created_at))),
      h("div", { class: "row" },
        neverSent
          ? h("button", { type: "button", "data-review-import": job.id, onclick: () => void openReview(job.id, job.file_name).then(() => reviewBox.scrollIntoView()) }, "Review and send…")
          : null,
        unfinished && !neverSent ? h("button", { type: "button", onclick: () => void api.importResume(job.id).then(() => { current = job.id; showRun(job.id, null); }, (e) => historyBox.append(errorPanel(e as ErrorReport))) }, "Resume") : null,
        c.failed + c.skipped > 0 ? h("button", { type: "button", "data-results": "errors", onclick: () => void results_(job.id, "errors", historyBox) }, "Save error report…") : null,
        c.created + c.updated + c.unchanged > 0 ? h("button", { type: "button", "data-results": "success", onclick: () => void results_(job.id, "success", historyBox) }, "Save success file…") : null,
        c.failed > 0 && !unfinished ? h("button", { type: "button", onclick: () => void api.importRetryFailed(job.id).then(() => { current = job.id; showRun(job.id, null); }, (e) => historyBox.append(errorPanel(e as ErrorReport))) }, "Retry failed rows") : null));
  }

  async function results_(id: string, kind: ResultsKind, where: HTMLElement): Promise<void> {
    try {
      const file = await api.importResultsFile(id, kind);
      // Cancelled in the save dialog: no file, nothing to say.
      if (file === null) return;
      toast(`Saved ${file}`);
      where.prepend(savedFileNote(`Saved ${file}`, file, { "data-results-path": file }));
    } catch (err) {
      where.append(errorPanel(err as ErrorReport));
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
    h("p", { class: "lead" }, "Import a whole file, or add one lead. Every row is compared with the leads already in the workspace before anything is sent, and every row sent counts once — even if the network, the server or this computer fails half-way."),
    steps,
    h("section", { class: "card", "aria-label": "Import a file" }, h("h2", {}, "Import a file"), dropZone),
    previewBox,
    reviewBox,
    runBox,
    historyBox,
    createLeadForm(),
  );

  const unlisteners = [
    await on("import-progress", (p) => {
      if (p.import_id === current) showRun(p.import_id, p);
    }),
    await on("import-finished", () => {
      line.textContent += " — finished";
      announce(line.textContent);
      line.setAttribute("data-import-finished", "true");
      setStep(5);
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
      stopFollowing();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  // For tests and power users: `#/import?file=/path` opens that file's preview.
  const fromHash = new URLSearchParams(location.hash.split("?")[1] ?? "").get("file");
  if (fromHash) await load(fromHash, null);
  await history();
}
