/** Set-up once per suite, whose failure fails every test of it with the real reason. */
import type { Test } from 'uvu';

/**
 * `start` before the suite, `stop` after it (and at once when `start` fails half-way).
 * uvu drops an error thrown by `before` (its runner returns from a finally block), so the
 * error is kept and thrown by every test instead.
 */
export function startedOnce<C>(suite: Test<C>, start: (context: C) => Promise<void>, stop: (context: Partial<C>) => Promise<void>): void {
  let failure: Error | undefined;
  suite.before(async (context) => {
    try {
      await start(context);
    } catch (err) {
      failure = err as Error;
      await stop(context).catch(() => {});
    }
  });
  suite.before.each(() => {
    if (failure) throw failure;
  });
  suite.after((context) => stop(context));
}
