/**
 * The slow-start ramp: the share of its configured load factor a node gets `elapsed` ms
 * after it came back, for a window of `duration` ms.
 *
 * Linear, in steps: the window is cut into n steps (20, or fewer so that a step lasts at
 * least MIN_STEP_MS, but at least 2); after k whole steps the scale is k/n, never below
 * 1/n, and 1 from the end of the window on. Steps rather than a continuous ramp because
 * every change of a load factor makes the algorithms re-plan (the sandbox's batched
 * picks, round robin's cycle): a few changes per window cost nothing, one per pick would.
 * Multiples of 1/20 also keep round robin's cycle short (factors stay decimal).
 *
 * Pure: the same elapsed time gives the same scale in every process of a group.
 */

export const MAX_STEPS = 20;
export const MIN_STEP_MS = 250;

/** Steps of a window of `duration` ms: 20, fewer for short windows, at least 2. */
export function stepsFor(duration: number): number {
  return Math.max(2, Math.min(MAX_STEPS, Math.floor(duration / MIN_STEP_MS)));
}

/** The scale (0 < scale ≤ 1) `elapsed` ms into a window of `duration` ms. */
export function rampScale(elapsed: number, duration: number): number {
  if (!(duration > 0) || !(elapsed < duration)) return 1;
  const n = stepsFor(duration);
  const k = Math.floor((Math.max(0, elapsed) * n) / duration);
  return Math.max(1, k) / n;
}

/**
 * When (epoch ms) the scale of a ramp that began at `since` next changes after `now`, or
 * undefined when it is already 1 for good.
 */
export function nextChangeAt(since: number, now: number, duration: number): number | undefined {
  if (!(duration > 0) || now - since >= duration) return undefined;
  const n = stepsFor(duration);
  // Step 1 has the same scale as step 0 (1/n): the first change is at step 2.
  const k = Math.max(2, Math.floor((Math.max(0, now - since) * n) / duration) + 1);
  return since + Math.ceil((k * duration) / n);
}
