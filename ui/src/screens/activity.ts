// Activity: every API call the app made, from the local request log — filter by status, path and
// time, search by request_id, copy a request_id, copy a redacted support bundle.
import { api } from "../ipc";
import { clear, copyText, h, toast } from "../dom";
import { timeElement } from "../time";
import { errorPanel, fieldPair, savedFileNote } from "../components";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { LogFilter } from "../bindings/LogFilter";
import type { LoggedRequest } from "../bindings/LoggedRequest";

const STATUS_CHOICES: [string, string][] = [
  ["", "All statuses"],
  ["2", "2xx success"],
  ["4", "4xx refused"],
  ["5", "5xx server error"],
  ["0", "No answer (network)"],
];

function statusBadge(row: LoggedRequest): HTMLElement {
  const s = row.status;
  const cls = s === null ? "bad" : s >= 500 ? "bad" : s >= 400 ? "warn" : "ok";
  return h("span", { class: `badge ${cls}` }, s === null ? "—" : String(s));
}

export async function renderActivity(root: HTMLElement): Promise<void> {
  const statusSelect = h("select", { id: "filter-status" }, ...STATUS_CHOICES.map(([v, label]) => h("option", { value: v }, label)));
  const pathInput = h("input", { id: "filter-path", type: "search", placeholder: "/leads" });
  const requestIdInput = h("input", { id: "filter-request-id", type: "search", placeholder: "req_…" });
  const sinceInput = h("input", { id: "filter-since", type: "datetime-local" });
  const table = h("div", { id: "activity-table" });
  const detail = h("div", { id: "activity-detail" });

  function filter(): LogFilter {
    const f: LogFilter = { limit: 500 };
    if (statusSelect.value !== "") f.status_class = Number(statusSelect.value);
    if (pathInput.value.trim()) f.path_contains = pathInput.value.trim();
    if (requestIdInput.value.trim()) f.request_id = requestIdInput.value.trim();
    if (sinceInput.value) f.since = new Date(sinceInput.value).toISOString();
    return f;
  }

  function showDetail(row: LoggedRequest): void {
    clear(detail);
    const saved = h("div", {});
    detail.append(
      h(
        "section",
        { class: "card", "aria-label": "Request details" },
        h("h2", {}, `${row.method} ${row.path}`),
        h("p", { class: "muted" }, timeElement(row.at), ` · ${row.profile} · attempt ${row.attempt} · ${row.duration_ms} ms`),
        h("div", { class: "row" },
          h("button", {
            type: "button",
            onclick: async () => {
              try {
                const bundle = await api.supportBundle(row.id);
                toast((await copyText(bundle)) ? "Support bundle copied (no keys or secrets in it)" : "Copy failed");
              } catch (err) {
                detail.append(errorPanel(err as ErrorReport));
              }
            },
          }, "Copy support bundle"),
          h("button", {
            type: "button",
            "data-save-bundle": String(row.id),
            onclick: async () => {
              try {
                const file = await api.supportBundleSave(row.id);
                // Cancelled in the save dialog: no file, nothing to say.
                if (file === null) return;
                toast(`Saved ${file} (no keys or secrets in it)`);
                saved.replaceChildren(savedFileNote(`Saved ${file}`, file, { "data-bundle-path": file }));
              } catch (err) {
                saved.replaceChildren(errorPanel(err as ErrorReport));
              }
            },
          }, "Save support bundle…")),
        saved,
        h("h3", {}, "Request headers"),
        h("pre", { class: "mono" }, row.request_headers.map(([k, v]) => `${k}: ${v}`).join("\n") || "—"),
        h("h3", {}, "Response (excerpt)"),
        h("pre", { class: "mono excerpt" }, row.response_excerpt ?? "—"),
      ),
    );
  }

  async function load(): Promise<void> {
    table.setAttribute("aria-busy", "true");
    try {
      const rows = await api.activity(filter());
      clear(table);
      if (rows.length === 0) {
        table.append(h("p", { class: "muted" }, "No API calls match. Calls appear here as soon as the app makes them."));
        return;
      }
      const body = h("tbody", {});
      for (const row of rows) {
        const tr = h(
          "tr",
          { tabindex: "0", "data-request-id": row.request_id ?? "" },
          h("td", {}, timeElement(row.at)),
          h("td", {}, row.method),
          h("td", { class: "mono" }, row.path),
          h("td", {}, statusBadge(row)),
          h("td", {}, `${row.duration_ms} ms`),
          h("td", { class: "mono" },
            row.request_id ?? "—",
            row.request_id
              ? h("button", {
                  type: "button",
                  class: "small",
                  "aria-label": `Copy request_id ${row.request_id}`,
                  onclick: async (e: Event) => {
                    e.stopPropagation();
                    toast((await copyText(row.request_id ?? "")) ? "request_id copied" : "Copy failed");
                  },
                }, "Copy")
              : null),
          h("td", {}, row.replayed ? h("span", { class: "badge ok" }, "replayed") : "", row.error_code ? h("code", {}, ` ${row.error_code}`) : ""),
        );
        tr.addEventListener("click", () => showDetail(row));
        tr.addEventListener("keydown", (e) => {
          if (e.key === "Enter") showDetail(row);
        });
        body.append(tr);
      }
      table.append(
        h("table", { class: "log", "aria-label": "API calls" },
          h("thead", {}, h("tr", {}, ...["Time", "Method", "Path", "Status", "Duration", "request_id", ""].map((t) => h("th", { scope: "col" }, t)))),
          body),
      );
    } catch (err) {
      clear(table);
      table.append(errorPanel(err as ErrorReport, () => void load()));
    } finally {
      table.setAttribute("aria-busy", "false");
    }
  }

  let timer: number | undefined;
  const reload = () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(() => void load(), 200);
  };
  for (const input of [statusSelect, pathInput, requestIdInput, sinceInput]) input.addEventListener("input", reload);

  root.append(
    h("h1", { tabindex: "-1" }, "Activity"),
    h("p", { class: "lead" }, "Every API call this app made, newest first. Give support the request_id of a failing call, or copy its support bundle."),
    h(
      "div",
      { class: "filters row", role: "search", "aria-label": "Filter API calls" },
      fieldPair(h("label", { for: "filter-status" }, "Status"), statusSelect),
      fieldPair(h("label", { for: "filter-path" }, "Path"), pathInput),
      fieldPair(h("label", { for: "filter-request-id" }, "request_id"), requestIdInput),
      fieldPair(h("label", { for: "filter-since" }, "Since"), sinceInput),
      h("button", { type: "button", onclick: () => void load() }, "Refresh"),
    ),
    table,
    detail,
  );
  await load();
}
