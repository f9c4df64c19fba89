// The one polite live region screens announce through. Screens themselves are not live regions
// (a repaint is not news); what a screen-reader user should hear goes here:
//
// | kind      | when it is spoken                                                        |
// |-----------|--------------------------------------------------------------------------|
// | outcome   | at once (a sync finished, a delivery arrived, an export is ready)        |
// | progress  | at most once every PROGRESS_EVERY_MS; the newest text wins, older ones are dropped |
const PROGRESS_EVERY_MS = 5000;

let lastProgress = 0;
let pending: string | null = null;
let timer: number | undefined;

function region(): HTMLElement | null {
  return document.getElementById("announcer");
}

function speak(text: string): void {
  const el = region();
  if (!el) return;
  // Re-setting the same text would not be announced again: clear first.
  el.textContent = "";
  window.setTimeout(() => {
    el.textContent = text;
  }, 30);
}

/** Announces an outcome at once (and drops a progress text still waiting). */
export function announce(text: string): void {
  pending = null;
  window.clearTimeout(timer);
  speak(text);
}

/** Announces progress, throttled: at most once every 5 s, the newest text. */
export function announceProgress(text: string): void {
  const wait = lastProgress + PROGRESS_EVERY_MS - Date.now();
  if (wait <= 0) {
    lastProgress = Date.now();
    speak(text);
    return;
  }
  pending = text;
  window.clearTimeout(timer);
  timer = window.setTimeout(() => {
    if (pending === null) return;
    lastProgress = Date.now();
    speak(pending);
    pending = null;
  }, wait);
}
