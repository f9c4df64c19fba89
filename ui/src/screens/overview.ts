// Overview: the workspace at a glance — leads by status and source, created per week, the last
// and next sync, recent imports and exports, webhook deliveries of the last 7 days. Figures come
// from one call (pb2b_core::overview); charts are Chart.js on canvas (no eval, no injected style
// sheets, so the strict CSP holds), coloured from the theme's CSS variables and redrawn when the
// OS switches between light and dark. Each chart has a text equivalent (a table) for screen
// readers. A workspace that was never synced starts its first sync here, by itself.
import { announce, announceProgress } from "../announce";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { on } from "../bindings/events";
import { api } from "../ipc";
import { clear, h } from "../dom";
import { errorPanel } from "../components";
import { can, connection, setConnection } from "../state";
import { timeElement } from "../time";
import type { SyncProgress } from "../bindings/SyncProgress";
import type { ErrorReport } from "../bindings/ErrorReport";
import type { Overview } from "../bindings/Overview";
import type { Tally } from "../bindings/Tally";
import type { SyncSchedule } from "../bindings/SyncSchedule";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, LineController, LineElement, PointElement, Tooltip, Legend);

const number = new Intl.NumberFormat();

function themeColour(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

/** A chart in a figure, with a caption and the same figures as a (visually hidden) table. */
function chartFigure(id: string, caption: string, rows: [string, string][], head: [string, string]): {
  figure: HTMLElement;
  canvas: HTMLCanvasElement;
} {
  const canvas = h("canvas", { id: `chart-${id}`, role: "img", "aria-label": `${caption} (chart; the table below has the figures)` });
  const table = h(
    "table",
    { class: "visually-hidden", "data-chart-table": id },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, head[0]), h("th", { scope: "col" }, head[1]))),
    h("tbody", {}, ...rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v)))),
  );
  const figure = h(
    "figure",
    { class: "card chart-card", "data-chart": id },
    h("figcaption", {}, caption),
    h("div", { class: "chart-box" }, canvas),
    table,
  );
  return { figure, canvas };
}

function tallyRows(t: Tally[]): [string, string][] {
  return t.map((x) => [x.value, number.format(x.count)]);
}

function weekLabel(isoDate: string): string {
  return new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" }).format(new Date(`${isoDate}T00:00:00Z`));
}

function stat(label: string, value: Node | string, id: string): HTMLElement {
  return h("div", { class: "card stat", "data-stat": id }, h("div", { class: "muted" }, label), h("div", { class: "stat-value" }, value));
}

export async function renderOverview(root: HTMLElement): Promise<void> {
  const body = h("div", { id: "overview-body" });
  const syncLine = h("p", { class: "muted", id: "overview-sync-line" });
  // The last announcement, kept for tests and for sighted users of a screen reader's log.
  const announced = h("p", { class: "visually-hidden", id: "overview-announce" });
  root.append(
    h("h1", { tabindex: "-1" }, "Overview"),
    h("p", { class: "lead", id: "overview-lead" }, "Your workspace at a glance, from this computer's mirror."),
    announced,
    syncLine,
    body,
  );

  let charts: Chart[] = [];
  let syncing = false;
  // The automatic first sync is tried once per visit: a failure shows its error and a retry
  // button instead of trying again and again.
  let autoTried = false;
  function destroyCharts(): void {
    for (const c of charts) c.destroy();
    charts = [];
  }

  function draw(canvas: HTMLCanvasElement, config: ChartConfiguration): void {
    charts.push(new Chart(canvas, config));
  }

  function render(o: Overview, schedule: SyncSchedule | null): void {
    destroyCharts();
    clear(body);
    const lead = document.getElementById("overview-lead");
    if (lead) lead.textContent = `${o.workspace_name} at a glance, from this computer's mirror.`;
    const s = o.sync;
    const never = !s.last_finished_at;
    const total = o.deliveries.days.reduce((n, d) => n + d.succeeded + d.failed, 0);
    const ok = o.deliveries.days.reduce((n, d) => n + d.succeeded, 0);
    body.append(
      h(
        "div",
        { class: "stats" },
        stat("Leads", number.format(o.leads_total), "leads"),
        stat("Last sync", s.last_finished_at ? timeElement(s.last_finished_at) : "Never", "last-sync"),
        // The time the app's automatic sync waits for (pb2b_core::sync::schedule).
        stat("Next sync", schedule?.next_at ? timeElement(schedule.next_at) : schedule ? "Off (Sync screen)" : "Not known", "next-sync"),
        stat(
          "Webhook deliveries, 7 days",
          o.deliveries.error ? "Not available" : total === 0 ? "None" : `${Math.round((ok / total) * 100)}% succeeded`,
          "deliveries",
        ),
      ),
    );
    if (never && o.leads_total === 0) {
      const permission = can("read_leads");
      const button = h("button", { type: "button", class: "primary", id: "overview-sync" }, "Sync now");
      button.disabled = syncing || !permission.allowed;
      button.addEventListener("click", () => void firstSync());
      body.append(
        h(
          "section",
          { class: "card empty", "aria-label": "No leads yet" },
          h("h2", {}, "No leads on this computer yet"),
          h("p", {}, syncing ? "The first sync is running: leads appear here as soon as it ends." : "Sync copies the workspace's leads here, so you can search them offline and see them below."),
          permission.allowed ? button : h("p", { class: "muted" }, permission.reason ?? ""),
        ),
      );
      return;
    }
    const grid = h("div", { class: "charts" });
    body.append(grid);
    const status = chartFigure("status", "Leads by status", tallyRows(o.by_status), ["Status", "Leads"]);
    const source = chartFigure("source", "Leads by source", tallyRows(o.by_source), ["Source", "Leads"]);
    const weeks = chartFigure(
      "weeks",
      "Leads created per week (last 12 weeks)",
      o.created_per_week.map((w) => [`Week of ${weekLabel(w.week_start)}`, number.format(w.count)]),
      ["Week", "Leads created"],
    );
    const deliveries = chartFigure(
      "deliveries",
      "Webhook deliveries, last 7 days",
      o.deliveries.days.map((d) => [d.day, `${d.succeeded} succeeded, ${d.failed} failed`]),
      ["Day", "Deliveries"],
    );
    grid.append(status.figure, source.figure, weeks.figure, deliveries.figure);

    const text = themeColour("--text");
    const grid_ = themeColour("--border");
    const accent = themeColour("--accent");
    const good = themeColour("--ok");
    const bad = themeColour("--bad");
    const common = {
      animation: false as const,
      responsive: true,
      maintainAspectRatio: false,
      color: text,
      plugins: { legend: { display: false, labels: { color: text } } },
      scales: {
        x: { ticks: { color: text }, grid: { color: grid_ } },
        y: { ticks: { color: text, precision: 0 }, grid: { color: grid_ }, beginAtZero: true },
      },
    };
    const horizontal = (t: Tally[], canvas: HTMLCanvasElement) =>
      draw(canvas, {
        type: "bar",
        data: { labels: t.map((x) => x.value), datasets: [{ label: "Leads", data: t.map((x) => x.count), backgroundColor: accent }] },
        options: { ...common, indexAxis: "y" },
      });
    horizontal(o.by_status, status.canvas);
    horizontal(o.by_source, source.canvas);
    draw(weeks.canvas, {
      type: "line",
      data: {
        labels: o.created_per_week.map((w) => weekLabel(w.week_start)),
        datasets: [{ label: "Leads created", data: o.created_per_week.map((w) => w.count), borderColor: accent, backgroundColor: accent, tension: 0.25 }],
      },
      options: common,
    });
    if (o.deliveries.error) {
      deliveries.figure.append(errorPanel(o.deliveries.error));
    }
    draw(deliveries.canvas, {
      type: "bar",
      data: {
        labels: o.deliveries.days.map((d) => weekLabel(d.day)),
        datasets: [
          { label: "Succeeded", data: o.deliveries.days.map((d) => d.succeeded), backgroundColor: good },
          { label: "Failed", data: o.deliveries.days.map((d) => d.failed), backgroundColor: bad },
        ],
      },
      options: {
        ...common,
        plugins: { legend: { display: true, labels: { color: text } } },
        scales: { x: { ...common.scales.x, stacked: true }, y: { ...common.scales.y, stacked: true } },
      },
    });

    const recent = h("div", { class: "charts" });
    const imports = h(
      "section",
      { class: "card", "aria-label": "Recent imports", "data-recent": "imports" },
      h("h2", {}, "Recent imports"),
      o.recent_imports.length === 0
        ? h("p", { class: "muted" }, "No imports yet. ", h("a", { href: "#/import" }, "Import a CSV"))
        : h(
            "ul",
            { class: "plain" },
            ...o.recent_imports.map((j) =>
              h("li", {}, h("strong", {}, j.file_name), " · ", j.status, ` · ${number.format(j.counts.created)} created, ${j.counts.updated ? `${number.format(j.counts.updated)} updated, ` : ""}${number.format(j.counts.failed)} failed · `, timeElement(j.created_at)),
            ),
          ),
    );
    const exports = h(
      "section",
      { class: "card", "aria-label": "Recent exports", "data-recent": "exports" },
      h("h2", {}, "Recent exports"),
      o.recent_exports.length === 0
        ? h("p", { class: "muted" }, "No exports yet. ", h("a", { href: "#/exports" }, "Start an export"))
        : h(
            "ul",
            { class: "plain" },
            ...o.recent_exports.map((j) =>
              h("li", {}, h("strong", {}, j.file_name ?? j.export_id ?? j.job_id), " · ", j.status, j.row_count !== null ? ` · ${number.format(j.row_count)} rows · ` : " · ", timeElement(j.created_at)),
            ),
          ),
    );
    recent.append(imports, exports);
    body.append(recent);
  }

  async function refresh(): Promise<void> {
    try {
      const [o, schedule] = await Promise.all([api.overview(), api.syncSchedule().catch(() => null)]);
      render(o, schedule);
      return maybeFirstSync(o);
    } catch (err) {
      destroyCharts();
      clear(body);
      body.append(errorPanel(err as ErrorReport, () => void refresh()));
    }
  }

  async function firstSync(): Promise<void> {
    if (syncing) return;
    syncing = true;
    syncLine.textContent = "First sync: starting…";
    announced.textContent = "The first sync started.";
    announce(announced.textContent);
    await refresh();
    try {
      const onProgress = (p: SyncProgress) => {
        syncLine.textContent = `First sync: ${number.format(p.leads)} leads read`;
        announceProgress(syncLine.textContent);
      };
      // Another screen (or the interval) may have started it meanwhile: follow that one.
      const report = await api.syncNow({}, onProgress).catch((err: ErrorReport) => {
        if (err.code === "sync_running") return api.joinSync(onProgress);
        throw err;
      });
      syncLine.textContent = "";
      // Followed too late (that sync ended before this screen listened): its outcome is in the
      // mirror's status.
      const status = report ? null : await api.syncStatus().catch(() => null);
      const leads = report?.progress.leads ?? (status?.last_outcome === "completed" ? status.last?.leads : undefined);
      if (leads !== undefined) {
        announced.textContent = `The first sync finished: ${number.format(leads)} leads.`;
        announce(announced.textContent);
      }
    } catch (err) {
      syncLine.textContent = "";
      body.prepend(errorPanel(err as ErrorReport, () => void firstSync()));
    } finally {
      syncing = false;
    }
    await refresh();
  }

  // Never synced, nothing running, and allowed to read leads: the first sync starts by itself.
  async function maybeFirstSync(o: Overview): Promise<void> {
    if (autoTried) return;
    autoTried = true;
    if (!syncing && o.first_sync_due && can("read_leads").allowed) {
      await firstSync();
    }
  }

  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  const onScheme = () => void refresh();
  scheme.addEventListener("change", onScheme);
  // A background (interval) sync refreshes the figures when it ends.
  const unlisten = await on("sync-finished", () => {
    if (!syncing) void refresh();
  }).catch(() => () => {});
  const observer = new MutationObserver(() => {
    if (!root.contains(body)) {
      unlisten();
      scheme.removeEventListener("change", onScheme);
      destroyCharts();
      observer.disconnect();
    }
  });
  observer.observe(root, { childList: true });
  // What the key may do decides the automatic first sync: known before the first figures.
  if (!connection()) setConnection(await api.connectionStatus().catch(() => null));
  await refresh();
}
