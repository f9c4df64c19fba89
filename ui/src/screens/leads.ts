// Leads: the local mirror in a virtualised table (only the visible rows exist in the DOM, so
// 100,000 leads scroll smoothly), with search, sort, a status filter, one lead's detail, and
// export of what is shown to CSV or JSON Lines.
import { api } from "../ipc";
import { clear, h, toast } from "../dom";
import { timeElement } from "../time";
import { errorPanel, fact, fieldPair, gatedButton, savedFileNote } from "../components";
import { can } from "../state";
import type { EditConflict } from "../bindings/EditConflict";
import type { FieldChange } from "../bindings/FieldChange";
import type { LeadEdit } from "../bindings/LeadEdit";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { Lead } from "../bindings/Lead";
import type { LeadQuery } from "../bindings/LeadQuery";
import { ALL_COLUMNS, ColumnLayout, STEP } from "../columns";

const ROW = 34;
const STATUSES = ["new", "contacted", "qualified", "unqualified", "customer", "lost"];
const EDIT_FIELDS: [string, string][] = [
  ["full_name", "Full name"], ["email", "Email"], ["company_name", "Company"], ["first_name", "First name"],
  ["last_name", "Last name"], ["phone", "Phone"], ["job_title", "Job title"], ["company_domain", "Company domain"],
  ["linkedin_url", "LinkedIn URL"], ["status", "Status"], ["source", "Source"],
];
const PAGE = 100;

export async function renderLeads(root: HTMLElement): Promise<void> {
  const search = h("input", { id: "leads-search", type: "search", placeholder: "Search name, email, company, phone…", "aria-controls": "leads-grid" });
  const statusFilter = h("select", { id: "leads-status" }, h("option", { value: "" }, "Any status"),
    ...["new", "contacted", "qualified", "unqualified", "customer", "lost"].map((s) => h("option", { value: s }, s)));
  const count = h("p", { class: "muted", id: "leads-count" });
  // A grid (role grid) of a header row and the rows in view: the grid holds the focus and names
  // the focused row with aria-activedescendant; aria-rowcount says how many rows there are in
  // all, since only those in view exist in the page.
  // The grid is also the scroll container (so the keyboard reaches everything it scrolls); its
  // header row stays on top (sticky) above the rows.
  const layout = new ColumnLayout();
  const header = h("div", { class: "grid-header", role: "row", "aria-rowindex": "1" });
  const spacer = h("div", { class: "grid-spacer", role: "rowgroup" });
  const viewport = h(
    "div",
    { class: "grid-viewport", id: "leads-grid", role: "grid", "aria-label": "Leads", "aria-colcount": String(layout.columns().length), "aria-rowcount": "1", tabindex: "0" },
    h("div", { class: "grid-head", role: "rowgroup" }, header),
    spacer,
  );
  const grid = viewport;
  // The lead's detail opens as a drawer over the table's right side; Escape or Close shuts it.
  const detail = h("aside", { id: "lead-detail", class: "drawer", "aria-label": "Lead details", hidden: true });
  const errorBox = h("div", {});

  let query: LeadQuery = { query: "", sort: { field: "updated_at", descending: true }, filter: {}, offset: 0, limit: PAGE };
  let total = 0;
  let generation = 0;
  const pages = new Map<number, Lead[] | Promise<void>>();
  let focused = 0;

  function rowAt(index: number): Lead | undefined {
    const page = pages.get(Math.floor(index / PAGE));
    return Array.isArray(page) ? page[index % PAGE] : undefined;
  }

  function loadPage(page: number): void {
    if (pages.has(page)) return;
    const gen = generation;
    const promise = api
      .leadsSearch({ ...query, offset: page * PAGE, limit: PAGE })
      .then((result) => {
        if (gen !== generation) return;
        pages.set(page, result.rows);
        total = result.total;
        paint();
      })
      .catch((err) => {
        pages.delete(page);
        clear(errorBox);
        errorBox.append(errorPanel(err as ErrorReport, () => void reset()));
      });
    pages.set(page, promise);
  }

  function paint(): void {
    spacer.style.height = `${total * ROW}px`;
    grid.setAttribute("aria-rowcount", String(total + 1));
    count.textContent = `${total.toLocaleString()} lead${total === 1 ? "" : "s"}`;
    const top = Math.floor(viewport.scrollTop / ROW);
    const bottom = Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW);
    const first = Math.max(0, top - 10);
    const last = Math.min(total, bottom + 10);
    // (Rows start below the sticky header, so the range above is a little generous at the top.)
    // The pages of the rows in view are asked for first; a page needed only for the 10-row
    // margins waits until nothing is loading (the next paint, when an answer comes, asks for
    // it): the mirror answers one query at a time, so after a jump the margin's page would
    // otherwise delay the rows in view by a whole query.
    for (let i = Math.max(0, top); i < Math.min(total, bottom); i += 1) {
      if (!rowAt(i)) loadPage(Math.floor(i / PAGE));
    }
    const loading = [...pages.values()].some((p) => !Array.isArray(p));
    for (const child of [...spacer.children]) child.remove();
    const template = layout.template();
    for (let i = first; i < last; i++) {
      const lead = rowAt(i);
      if (!lead) {
        if (!loading) loadPage(Math.floor(i / PAGE));
        continue;
      }
      const row = h(
        "div",
        {
          class: `grid-row${i === focused ? " focused" : ""}`,
          id: `lead-row-${i}`,
          role: "row",
          "aria-rowindex": String(i + 2),
          "aria-selected": i === focused ? "true" : "false",
          "data-lead-id": lead.id,
        },
        ...layout.columns().map((c) => h("div", { role: "gridcell" }, c.cell(lead))),
      );
      row.style.gridTemplateColumns = template;
      row.style.transform = `translateY(${i * ROW}px)`;
      row.addEventListener("click", () => {
        focused = i;
        void showDetail(lead.id);
        paint();
      });
      spacer.append(row);
    }
    if (rowAt(focused)) grid.setAttribute("aria-activedescendant", `lead-row-${focused}`);
    else grid.removeAttribute("aria-activedescendant");
  }

  function closeDetail(): void {
    detail.hidden = true;
    clear(detail);
    grid.focus();
  }

  async function showDetail(id: string): Promise<void> {
    clear(detail);
    detail.hidden = false;
    try {
      const lead = await api.leadDetail(id);
      if (!lead) return;
      const custom = Object.entries(lead.custom_fields ?? {});
      detail.append(
        h("section", { class: "card" },
          h("div", { class: "row drawer-head" },
            h("h2", {}, lead.full_name ?? lead.email),
            gatedButton("Edit", can("update_lead"), () => editDetail(lead), { id: "lead-edit" }),
            h("button", { type: "button", class: "drawer-close", "aria-label": "Close lead details", onclick: () => closeDetail() }, "Close")),
          h("dl", { class: "facts" },
            ...fact("Email", lead.email),
            ...fact("Company", lead.company_name ?? "—"),
            ...fact("Domain", lead.company_domain ?? "—"),
            ...fact("Job title", lead.job_title ?? "—"),
            ...fact("Phone", lead.phone ?? "—"),
            ...fact("LinkedIn", lead.linkedin_url ?? "—"),
            ...fact("Status", lead.status),
            ...fact("Source", lead.source),
            ...fact("Created", timeElement(lead.created_at)),
            ...fact("Updated", timeElement(lead.updated_at)),
            ...fact("Id", lead.id),
            ...custom.flatMap(([k, v]) => fact(k, String(v))),
          )),
      );
    } catch (err) {
      detail.append(errorPanel(err as ErrorReport));
    }
  }

  // Edit mode: the editable fields as inputs, checked as the user types by the core's rules (the
  // create form's), Save sends only what changed; Enter saves, Escape cancels. A change someone
  // else made meanwhile comes back as a conflict panel: their changes old → new, then Reapply
  // mine (on their version) or Keep theirs.
  function editDetail(lead: Lead, values?: Record<string, string>): void {
    clear(detail);
    const inputs = new Map<string, HTMLInputElement | HTMLSelectElement>();
    const problems = new Map<string, HTMLElement>();
    const result = h("div", { id: "lead-edit-result", "aria-live": "polite" });
    const current = (): LeadEdit => {
      const v: Record<string, string> = {};
      for (const [field, input] of inputs) v[field] = input.value;
      return { loaded: lead, values: v };
    };
    async function validate(): Promise<boolean> {
      const errors = await api.leadEditValidate(current());
      for (const [field, el] of problems) el.textContent = errors.filter((e) => e.field === field).map((e) => e.message).join(" ");
      for (const [field, input] of inputs) input.setAttribute("aria-invalid", String(errors.some((e) => e.field === field)));
      return errors.length === 0;
    }
    const fields = EDIT_FIELDS.map(([field, label]) => {
      const id = `lead-edit-${field}`;
      const value = values?.[field] ?? ((lead as unknown as Record<string, string | null>)[field] ?? "");
      const input = field === "status"
        ? h("select", { id }, ...STATUSES.map((st) => h("option", { value: st, selected: st === value }, st)))
        : h("input", { id, type: field === "email" ? "email" : "text", autocomplete: "off", value });
      const problem = h("p", { class: "field-error", id: `${id}-error` });
      input.setAttribute("aria-describedby", `${id}-error`);
      input.addEventListener("input", () => void validate());
      inputs.set(field, input);
      problems.set(field, problem);
      return h("div", { class: "field" }, h("label", { for: id }, label), input, problem);
    });
    const permission = can("update_lead");
    const save = h("button", { type: "submit", class: "primary", id: "lead-edit-save", disabled: !permission.allowed, "aria-describedby": permission.allowed ? undefined : "lead-edit-why" }, "Save");
    const cancel = h("button", { type: "button", id: "lead-edit-cancel", onclick: () => void showDetail(lead.id) }, "Cancel");
    const form = h("form", { class: "card", id: "lead-edit-form", "aria-label": "Edit lead", novalidate: true },
      h("h2", {}, `Edit ${lead.full_name ?? lead.email}`),
      ...fields,
      h("div", { class: "row" }, save, cancel,
        permission.allowed ? null : h("span", { class: "muted why", id: "lead-edit-why" }, permission.reason ?? "Not allowed")),
      result);
    form.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        void showDetail(lead.id);
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (permission.allowed) void send(current());
    });
    async function send(edit: LeadEdit): Promise<void> {
      clear(result);
      if (!(await validate())) return;
      save.disabled = true;
      try {
        const out = await api.leadEdit(edit);
        if (out.saved) {
          toast(out.saved.changed.length ? `Saved: ${out.saved.changed.map((c) => c.field).join(", ")}` : "Nothing changed");
          reset();
          await showDetail(out.saved.lead.id);
          return;
        }
        if (out.conflict) {
          reset();
          result.append(conflictPanel(out.message ?? "", out.conflict));
        }
      } catch (err) {
        const report = err as ErrorReport;
        if (report.code === "not_found") reset();
        result.append(errorPanel(report));
      } finally {
        save.disabled = !permission.allowed;
      }
    }
    function conflictPanel(message: string, conflict: EditConflict): HTMLElement {
      const line = (c: FieldChange) => h("tr", {},
        h("th", { scope: "row" }, c.field),
        h("td", {}, c.old ?? "(empty)"),
        h("td", {}, c.new ?? "(empty)"));
      return h("section", { class: "card error", id: "lead-edit-conflict", role: "alert", "aria-labelledby": "lead-edit-conflict-title" },
        h("h3", { id: "lead-edit-conflict-title" }, "Changed on the server meanwhile"),
        h("p", {}, message),
        h("table", { class: "conflict" },
          h("caption", {}, "Their changes"),
          h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "When you opened it"), h("th", { scope: "col" }, "Now on the server"))),
          h("tbody", {}, ...conflict.theirs.map(line))),
        h("div", { class: "row" },
          h("button", { type: "button", class: "primary", id: "lead-edit-reapply", onclick: () => void send(conflict.reapply) }, "Reapply my changes"),
          h("button", { type: "button", id: "lead-edit-keep", onclick: () => void showDetail(conflict.server.id) }, "Keep theirs")));
    }
    detail.append(form);
    (inputs.get("full_name") as HTMLElement).focus();
  }

  function reset(): void {
    generation += 1;
    pages.clear();
    focused = 0;
    viewport.scrollTop = 0;
    clear(errorBox);
    loadPage(0);
  }

  function renderHeader(): void {
    clear(header);
    header.style.gridTemplateColumns = layout.template();
    viewport.setAttribute("aria-colcount", String(layout.columns().length));
    for (const column of layout.columns()) {
      const field = column.sort;
      const label = field
        ? h("button", {
            type: "button",
            onclick: () => {
              const active = query.sort?.field === field;
              query = { ...query, sort: { field, descending: active ? !query.sort?.descending : false } };
              markSort();
              reset();
            },
          }, column.label, h("span", { class: "sort-mark" }))
        : h("span", { class: "plain-header" }, column.label);
      // A separator on the column's right edge: drag it, or focus it and use the arrow keys.
      const handle = h("div", {
        class: "col-resize",
        role: "separator",
        tabindex: "0",
        "aria-orientation": "vertical",
        "aria-label": `Resize ${column.label}`,
        "aria-valuemin": "60",
        "aria-valuemax": "640",
        "aria-valuenow": String(layout.widths[column.id]),
        "data-resize": column.id,
      });
      handle.addEventListener("keydown", (e) => {
        const delta = e.key === "ArrowRight" ? STEP : e.key === "ArrowLeft" ? -STEP : 0;
        if (!delta) return;
        e.preventDefault();
        e.stopPropagation();
        layout.resize(column.id, layout.widths[column.id] + delta);
        relayout(column.id);
      });
      handle.addEventListener("pointerdown", (e) => {
        e.preventDefault();
        handle.setPointerCapture(e.pointerId);
        const startX = e.clientX;
        const startWidth = layout.widths[column.id];
        // While dragging only the widths change (the handle must survive: it holds the pointer).
        const move = (m: PointerEvent) => {
          layout.resize(column.id, startWidth + m.clientX - startX);
          applyWidths();
          handle.setAttribute("aria-valuenow", String(layout.widths[column.id]));
        };
        const up = () => {
          handle.removeEventListener("pointermove", move);
          handle.removeEventListener("pointerup", up);
          relayout(column.id);
        };
        handle.addEventListener("pointermove", move);
        handle.addEventListener("pointerup", up);
      });
      header.append(h("div", { role: "columnheader", "data-column": column.id, "data-sort": field ?? undefined }, label, handle));
    }
    markSort();
  }

  /** The sort's arrow and aria-sort on the headers, in place (a sort keeps the header and the
   *  focus on the button pressed; rebuilding it also made the page lay out again before the
   *  new page arrived). */
  function markSort(): void {
    for (const cell of header.querySelectorAll<HTMLElement>("[data-sort]")) {
      const active = query.sort?.field === cell.dataset.sort;
      const descending = Boolean(query.sort?.descending);
      cell.setAttribute("aria-sort", active ? (descending ? "descending" : "ascending") : "none");
      const mark = cell.querySelector(".sort-mark");
      if (mark) mark.textContent = active ? (descending ? " ↓" : " ↑") : "";
    }
  }

  function applyWidths(): void {
    const template = layout.template();
    header.style.gridTemplateColumns = template;
    for (const row of spacer.children) (row as HTMLElement).style.gridTemplateColumns = template;
  }

  /** New widths or columns: header and rows take the layout; focus stays on the handle used. */
  function relayout(focusHandle: string | null): void {
    renderHeader();
    paint();
    if (focusHandle) header.querySelector<HTMLElement>(`[data-resize="${focusHandle}"]`)?.focus();
  }

  // "Columns": choose which are shown.
  const chooser = h(
    "details",
    { class: "column-chooser" },
    h("summary", {}, "Columns"),
    h(
      "fieldset",
      {},
      h("legend", { class: "visually-hidden" }, "Columns shown"),
      ...ALL_COLUMNS.map((c) => {
        const box = h("input", { type: "checkbox", id: `col-${c.id}`, value: c.id, checked: layout.shown.includes(c.id) });
        box.addEventListener("change", () => {
          if (!layout.toggle(c.id, box.checked)) box.checked = layout.shown.includes(c.id);
          relayout(null);
        });
        return h("label", { for: `col-${c.id}`, class: "check" }, box, c.label);
      }),
    ),
  );

  // Search as you type without a typing delay: a keystroke searches at once; while a search
  // runs, only the latest text waits for it (keystrokes in between are skipped), so fast typing
  // never queues searches behind each other. bench/ui/leads-search.mjs times it on screen.
  let wanted: string | null = null;
  let searching = false;
  async function runSearches(): Promise<void> {
    searching = true;
    while (wanted !== null) {
      query = { ...query, query: wanted };
      wanted = null;
      reset();
      await pages.get(0);
    }
    searching = false;
  }
  search.addEventListener("input", () => {
    wanted = search.value;
    if (!searching) void runSearches();
  });
  statusFilter.addEventListener("change", () => {
    query = { ...query, filter: statusFilter.value ? { status: statusFilter.value } : {} };
    reset();
  });
  viewport.addEventListener("scroll", () => paint());
  detail.addEventListener("keydown", (e) => {
    if (e.key === "Escape") closeDetail();
  });
  grid.addEventListener("keydown", (e) => {
    const step = e.key === "ArrowDown" ? 1 : e.key === "ArrowUp" ? -1 : e.key === "PageDown" ? 10 : e.key === "PageUp" ? -10 : 0;
    if (step) {
      e.preventDefault();
      focused = Math.max(0, Math.min(total - 1, focused + step));
      // Keep the focused row in view below the sticky header.
      const headerHeight = spacer.offsetTop;
      const top = spacer.offsetTop + focused * ROW;
      if (top - headerHeight < viewport.scrollTop) viewport.scrollTop = top - headerHeight;
      if (top + ROW > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + ROW - viewport.clientHeight;
      paint();
    } else if (e.key === "Enter") {
      const lead = rowAt(focused);
      if (lead) void showDetail(lead.id);
    } else if (e.key === "Escape" && !detail.hidden) {
      closeDetail();
    }
  });

  const exportButton = (format: "csv" | "jsonl", label: string) =>
    h("button", {
      type: "button",
      id: `leads-export-${format}`,
      onclick: async () => {
        try {
          const result = await api.mirrorExport(format, { ...query, offset: 0 });
          // Cancelled in the save dialog: no file, nothing to say.
          if (!result) return;
          toast(`Exported ${result.count} leads to ${result.path}`);
          clear(errorBox);
          errorBox.append(savedFileNote(`Exported ${result.count} leads to ${result.path}`, result.path, { "data-export-path": result.path }));
        } catch (err) {
          clear(errorBox);
          errorBox.append(errorPanel(err as ErrorReport));
        }
      },
    }, label);

  root.append(
    h("h1", { tabindex: "-1" }, "Leads"),
    h("p", { class: "lead" }, "The local mirror of your workspace's leads (refresh it on the Sync screen). Search, sort, open a lead, or export what you see."),
    h("div", { class: "row filters", role: "search", "aria-label": "Search leads" },
      fieldPair(h("label", { for: "leads-search" }, "Search"), search),
      fieldPair(h("label", { for: "leads-status" }, "Status"), statusFilter),
      exportButton("csv", "Export CSV…"), exportButton("jsonl", "Export JSON Lines…"), chooser),
    count,
    errorBox,
    h("div", { class: "leads-layout" }, h("div", { class: "grid" }, viewport), detail),
  );
  renderHeader();
  reset();
}
