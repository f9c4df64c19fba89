// The Leads table's columns: which exist, which are shown, how wide, remembered between starts
// (in the webview's storage: column ids and pixel widths only, never lead data).
//
// | rule            | value                                                                  |
// |-----------------|------------------------------------------------------------------------|
// | shown at first  | Name, Email, Company, Status, Updated                                  |
// | width           | MIN_WIDTH..MAX_WIDTH px; the last shown column takes what is left (1fr) |
// | keyboard resize | ArrowLeft / ArrowRight on a column's separator: STEP px                 |
// | at least        | one column stays shown                                                 |
import { timeElement } from "./time";
import type { Lead } from "./bindings/Lead";
import type { LeadSortField } from "./bindings/LeadSortField";

export interface Column {
  id: string;
  label: string;
  /** The sort field, when the mirror can sort by this column. */
  sort: LeadSortField | null;
  cell: (l: Lead) => string | Node;
  width: number;
}

export const MIN_WIDTH = 60;
export const MAX_WIDTH = 640;
export const STEP = 16;
const STORAGE = "pb2b.leads.columns";

export const ALL_COLUMNS: Column[] = [
  { id: "full_name", label: "Name", sort: "full_name", cell: (l) => l.full_name ?? [l.first_name, l.last_name].filter(Boolean).join(" "), width: 190 },
  { id: "email", label: "Email", sort: "email", cell: (l) => l.email, width: 230 },
  { id: "company_name", label: "Company", sort: "company_name", cell: (l) => l.company_name ?? "", width: 170 },
  { id: "job_title", label: "Job title", sort: null, cell: (l) => l.job_title ?? "", width: 160 },
  { id: "phone", label: "Phone", sort: null, cell: (l) => l.phone ?? "", width: 150 },
  { id: "company_domain", label: "Domain", sort: null, cell: (l) => l.company_domain ?? "", width: 160 },
  { id: "status", label: "Status", sort: "status", cell: (l) => l.status, width: 110 },
  { id: "source", label: "Source", sort: null, cell: (l) => l.source, width: 100 },
  { id: "created_at", label: "Created", sort: "created_at", cell: (l) => timeElement(l.created_at), width: 170 },
  { id: "updated_at", label: "Updated", sort: "updated_at", cell: (l) => timeElement(l.updated_at), width: 170 },
];

// Their default widths add up to 870 px, which fits the window's default size (1180 px less the
// navigation, the margins and the scroll bar) without a sideways scroll.
const DEFAULT_SHOWN = ["full_name", "email", "company_name", "status", "updated_at"];

interface Saved {
  shown: string[];
  widths: Record<string, number>;
}

function clamp(width: number): number {
  return Math.round(Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, width)));
}

export class ColumnLayout {
  shown: string[];
  widths: Record<string, number>;

  constructor() {
    let saved: Partial<Saved> = {};
    try {
      saved = JSON.parse(localStorage.getItem(STORAGE) ?? "{}") as Partial<Saved>;
    } catch {
      saved = {};
    }
    const known = (id: string) => ALL_COLUMNS.some((c) => c.id === id);
    const shown = (saved.shown ?? []).filter(known);
    this.shown = shown.length ? shown : [...DEFAULT_SHOWN];
    this.widths = {};
    for (const c of ALL_COLUMNS) {
      const w = saved.widths?.[c.id];
      this.widths[c.id] = typeof w === "number" && Number.isFinite(w) ? clamp(w) : c.width;
    }
  }

  /** The shown columns, in the table's order. */
  columns(): Column[] {
    return ALL_COLUMNS.filter((c) => this.shown.includes(c.id));
  }

  /** CSS grid-template-columns for the header and every row. */
  template(): string {
    const cols = this.columns();
    return cols.map((c, i) => (i === cols.length - 1 ? `minmax(${this.widths[c.id]}px, 1fr)` : `${this.widths[c.id]}px`)).join(" ");
  }

  /** Shows or hides a column; the last shown one cannot be hidden. Returns whether it changed. */
  toggle(id: string, show: boolean): boolean {
    if (show && !this.shown.includes(id)) this.shown.push(id);
    else if (!show && this.shown.includes(id) && this.shown.length > 1) this.shown = this.shown.filter((s) => s !== id);
    else return false;
    this.save();
    return true;
  }

  resize(id: string, width: number): void {
    this.widths[id] = clamp(width);
    this.save();
  }

  private save(): void {
    try {
      localStorage.setItem(STORAGE, JSON.stringify({ shown: this.shown, widths: this.widths } satisfies Saved));
    } catch {
      // Storage refused: the layout lasts until the app closes.
    }
  }
}
