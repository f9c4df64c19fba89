// One form submission, one Idempotency-Key (the rule for every form that creates something:
// "Create lead", "Create endpoint"). The key comes from the core (a `*Submission` command) on the
// first submit and is kept, so every later submit of the same values (a second click, "Try
// again", a retry after a timeout) sends the same key and the server replays its first answer
// instead of creating a duplicate. It is forgotten when the answer arrives, or when the user edits
// a value (the same key with other values would be refused). While a submission is in flight its
// button is disabled, so a double click sends nothing twice.
export class Submission<S> {
  private current: Promise<S> | null = null;
  private inFlight = 0;

  constructor(private readonly make: () => Promise<S>) {}

  /** The values changed (or the form was reset): the next submit makes a new key. */
  reset(): void {
    this.current = null;
  }

  /**
   * Sends the kept submission (made on first use) with `send`, `button` disabled meanwhile (only
   * an allowed button is ever clicked, so it is enabled again afterwards). An answer forgets the
   * submission; a failure keeps it for the next submit.
   */
  async send<R>(button: HTMLButtonElement | null, send: (submission: S) => Promise<R>): Promise<R> {
    this.inFlight += 1;
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
    }
    // Taken before the first await: submits that overlap share this one key.
    const kept = (this.current ??= this.make());
    try {
      const answer = await send(await kept);
      if (this.current === kept) this.current = null;
      return answer;
    } catch (err) {
      // A key that could not even be made is not kept.
      if (this.current === kept && !(await kept.then(() => true, () => false))) this.current = null;
      throw err;
    } finally {
      this.inFlight -= 1;
      if (button && this.inFlight === 0) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
      }
    }
  }
}

/** The button itself of what `gatedButton` made (a button, or a span around it with the reason). */
export function buttonOf(el: HTMLElement): HTMLButtonElement | null {
  return el instanceof HTMLButtonElement ? el : el.querySelector("button");
}
