/**
 * A circuit breaker for one algorithm instance.
 *
 * - closed: every pick asks the algorithm. `maxFailures` failures in a row open it.
 * - open: no pick asks the algorithm (each uses the fallback at no cost). After
 *   `retryAfter` ms the next pick makes one trial call (half-open), and nobody waits for
 *   it: that pick uses the fallback too.
 * - half-open: the trial's success closes the breaker; its failure opens it again, for
 *   twice as long each time (up to `maxRetryAfter`), so a policy that burns its time or
 *   memory limit on every call costs less and less.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

/** What a pick may do: ask the algorithm, make the one trial call, or not call at all. */
export type Admission = 'call' | 'trial' | 'skip';

export interface BreakerOptions {
  /** ms before the first trial call (default 5 s). */
  retryAfter?: number;
  /** The longest wait between trials (default 60 s). */
  maxRetryAfter?: number;
  /** The clock (tests). */
  now?: () => number;
}

export class CircuitBreaker {
  state: BreakerState = 'closed';
  failuresInARow = 0;
  /** When the next trial may start (ms since the epoch), while open. */
  retryAt = 0;
  private readonly retryAfter: number;
  private readonly maxRetryAfter: number;
  private readonly now: () => number;
  private wait: number;

  constructor(
    private readonly maxFailures: number,
    options: BreakerOptions = {},
  ) {
    this.retryAfter = options.retryAfter ?? 5_000;
    this.maxRetryAfter = Math.max(options.maxRetryAfter ?? 60_000, this.retryAfter);
    this.now = options.now ?? Date.now;
    this.wait = this.retryAfter;
  }

  admit(): Admission {
    if (this.state === 'closed') return 'call';
    if (this.state === 'half-open' || this.now() < this.retryAt) return 'skip';
    this.state = 'half-open';
    return 'trial';
  }

  /** The trial could not start (the isolate was busy or restarting): the next pick may try. */
  trialNotStarted(): void {
    if (this.state === 'half-open') this.state = 'open';
  }

  /** A good answer. True when it closed an open breaker (the algorithm works again). */
  success(): boolean {
    const reopened = this.state !== 'closed';
    this.state = 'closed';
    this.failuresInARow = 0;
    this.wait = this.retryAfter;
    return reopened;
  }

  /**
   * A failed call: `'opened'` when this failure opened the breaker, `'still'` after a
   * failed trial, `'ignored'` for a call started before the breaker opened.
   */
  failure(): 'counted' | 'opened' | 'still' | 'ignored' {
    if (this.state === 'open') return 'ignored';
    this.failuresInARow++;
    if (this.state === 'half-open') {
      this.open(true);
      return 'still';
    }
    if (this.failuresInARow < this.maxFailures) return 'counted';
    this.open(false);
    return 'opened';
  }

  private open(again: boolean): void {
    if (again) this.wait = Math.min(this.wait * 2, this.maxRetryAfter);
    this.state = 'open';
    this.retryAt = this.now() + this.wait;
  }
}
