// Times in the user's locale and time zone (Intl), with the exact UTC time on hover and in the
// element's datetime attribute. Every timestamp the UI shows goes through here.
import { h } from "./dom";

const local = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "30 Nov 2026, 14:05" in the user's zone; unparseable input is shown as it came. */
export function formatLocal(iso: string): string {
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? iso : local.format(new Date(ms));
}

/** A <time> element: local time as text, UTC as its title and datetime. */
export function timeElement(iso: string): HTMLTimeElement {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return h("time", {}, iso);
  const utc = new Date(ms).toISOString();
  return h("time", { datetime: utc, title: `${utc.replace("T", " ").replace(/\.\d+Z$/, "")} UTC` }, local.format(new Date(ms)));
}
