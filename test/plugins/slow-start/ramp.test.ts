/**
 * The slow-start ramp (plugins/slow-start/ramp.ts): linear in steps from 1/n to 1 over
 * the window, never 0, 1 from the end of the window on, and the times at which it moves.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { MAX_STEPS, MIN_STEP_MS, nextChangeAt, rampScale, stepsFor } from '../../../plugins/slow-start/ramp.ts';

const SEED = Number(process.env.FC_SEED ?? 20_261_130);
const runs = { seed: SEED, numRuns: 2000 };

const ramp = suite('slow-start: ramp');

ramp('steps: 20 for long windows, one per 250 ms for short ones, at least 2', () => {
  assert.is(stepsFor(30_000), 20);
  assert.is(stepsFor(5_000), 20);
  assert.is(stepsFor(2_000), 8);
  assert.is(stepsFor(1_000), 4);
  assert.is(stepsFor(100), 2);
});

ramp('a 30 s window: 5 % at first, +5 % every 1.5 s, 100 % at 30 s', () => {
  const at = (s: number) => rampScale(s * 1000, 30_000);
  assert.is(at(0), 0.05);
  assert.is(at(1.499), 0.05);
  assert.is(at(2.999), 0.05);
  assert.is(at(3), 0.1);
  assert.is(at(15), 0.5);
  assert.is(at(29.999), 0.95);
  assert.is(at(30), 1);
  assert.is(at(3600), 1);
});

ramp('a 2 s window: eighths', () => {
  assert.equal([0, 400, 500, 1000, 1500, 1999, 2000].map((ms) => rampScale(ms, 2000)), [0.125, 0.125, 0.25, 0.5, 0.75, 0.875, 1]);
});

ramp('no window, or a clock that went back: full weight, or the first step', () => {
  assert.is(rampScale(0, 0), 1);
  assert.is(rampScale(10, Number.NaN), 1);
  assert.is(rampScale(-5_000, 10_000), 1 / 20);
});

ramp('property: within (0, 1], never decreasing, within one step of linear, exactly 1 at the end', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3_600_000 }), fc.double({ min: 0, max: 1.5, noNaN: true }), fc.double({ min: 0, max: 1.5, noNaN: true }), (d, a, b) => {
      const [x, y] = [Math.min(a, b) * d, Math.max(a, b) * d];
      const sx = rampScale(x, d);
      const sy = rampScale(y, d);
      const n = stepsFor(d);
      const linear = Math.min(1, x / d);
      return sx > 0 && sx <= 1 && sx <= sy && Math.abs(sx - linear) <= 1 / n + 1e-12 && rampScale(d, d) === 1 && n <= MAX_STEPS && (n === 2 || d / n >= MIN_STEP_MS);
    }),
    runs,
  );
});

ramp('property: nextChangeAt is the first later time the scale differs', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 600_000 }), fc.double({ min: 0, max: 1.2, noNaN: true }), (d, f) => {
      const since = 1_000_000;
      const now = since + Math.floor(f * d);
      const next = nextChangeAt(since, now, d);
      const scale = rampScale(now - since, d);
      if (next === undefined) return scale === 1;
      return next > now && rampScale(next - since, d) > scale && rampScale(next - 1 - since, d) === scale;
    }),
    runs,
  );
});

ramp.run();
