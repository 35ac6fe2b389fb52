/**
 * A task run every `interval` ms, measured from the start of each run so it does not
 * drift, each run bounded by `timeout`, never two at once. Used by the load probe and the
 * active health check. Timers are unref'ed: polling never keeps the process alive.
 */

/** One run in flight. */
export interface Attempt {
  abort(): void;
  /** What the run still waits for, for the timeout's message. */
  waitingFor?(): string;
}

/** Ends a run: an error, or success with an optional answer. Later calls are ignored. */
export type Settle = (err: Error | undefined, answer?: string) => void;

export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  private inFlight: Attempt | undefined;
  private stopped = false;

  constructor(
    private readonly interval: number,
    private readonly timeout: number,
    /** Start one run; it calls `settle` once (a throw counts as a failed run). */
    private readonly attempt: (settle: Settle) => Attempt,
    /** Every run's outcome, unless stopped meanwhile. */
    private readonly settled: (err: Error | undefined, answer: string | undefined) => void,
  ) {}

  /** The first run right away, but on a timer: the caller (a plugin's init) is not slowed. */
  start(): void {
    this.schedule(0);
  }

  /** No more runs; a run in flight is aborted and its outcome dropped. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.deadline);
    this.inFlight?.abort();
    this.inFlight = undefined;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  private run(): void {
    if (this.stopped) return;
    const started = Date.now();
    let done = false;
    const settle: Settle = (err, answer) => {
      if (done) return;
      done = true;
      clearTimeout(this.deadline);
      this.inFlight = undefined;
      if (this.stopped) return;
      this.settled(err, answer);
      this.schedule(Math.max(0, started + this.interval - Date.now()));
    };
    let attempt: Attempt;
    try {
      attempt = this.attempt(settle);
    } catch (err) {
      // net.connect and http.get throw synchronously on options they cannot use.
      return settle(err instanceof Error ? err : new Error(String(err)));
    }
    if (done) return;
    this.inFlight = attempt;
    this.deadline = setTimeout(() => {
      const waiting = attempt.waitingFor?.();
      attempt.abort();
      settle(new Error(`timed out after ${this.timeout} ms${waiting ? ` waiting for ${waiting}` : ''}`));
    }, this.timeout);
    this.deadline.unref();
  }
}
