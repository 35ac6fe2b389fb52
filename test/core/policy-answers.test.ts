/**
 * Properties of what an algorithm or policy answers: whatever it returns (numbers, NaN,
 * strings of any length, objects, arrays, huge strings, undefined, proxies), the chooser
 * never throws, always gives a candidate, and reports the answer as a bad one, in a few
 * words. fast-check with a fixed seed (FC_SEED overrides it) and bounded runs; the same
 * promises as the fuzz target bench/fuzz/policy-answer.ts, whose checks are used here.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import path from 'node:path';
import { checkAnswerPromises, decodeAnswer, NODES } from '../../bench/fuzz/policy-answer.ts';
import { isDeferred, type CallResult, type DeferredChooser } from '../../core/algorithm-runner.ts';
import type { ClientView } from '../../core/types.ts';
import { guardChooser } from '../../core/algorithms.ts';
import { createSandboxRunner } from '../../core/index.ts';
import { checkAnswer, MAX_ANSWER_LENGTH, MAX_ERROR_LINE } from '../../core/policy-answer.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { waitFor } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { testClient } from '../helpers/views.ts';

const SEED = Number(process.env.FC_SEED ?? 20_240_612);
const runs = (numRuns: number): fc.Parameters<unknown> => ({ seed: SEED, numRuns, includeErrorInReport: true });

/** Answers of every kind, long strings and the candidates' own ids among them. */
const answer: fc.Arbitrary<unknown> = fc.oneof(
  fc.anything({ withBigInt: true, withNullPrototype: true, withBoxedValues: true, withSparseArray: true }),
  fc.constantFrom(undefined, null, Number.NaN, Infinity, -Infinity, -0, 0, true, ''),
  fc.double(),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.integer({ min: 0, max: 3 }).map((i) => NODES[i]!.id),
  fc.tuple(fc.integer({ min: 0, max: 3 }), fc.string({ minLength: 1, maxLength: 4 })).map(([i, s]) => NODES[i]!.id + s),
  fc.integer({ min: MAX_ANSWER_LENGTH - 2, max: 3_000_000 }).map((n) => 'x'.repeat(n)),
  fc.array(fc.string(), { maxLength: 5 }),
  fc.constant(Symbol('s')),
  fc.constant(() => 'a'),
);

const host = suite('policy answers: checked in this process (checkAnswer, the guard, the prelude twin)');

host('any value at all: never throws, a candidate or a bad answer in a few words, the same words in the isolate', () => {
  fc.assert(
    fc.property(answer, (a) => {
      checkAnswerPromises(a);
    }),
    runs(3000),
  );
});

host('any bytes the fuzz target decodes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      checkAnswerPromises(decodeAnswer(Buffer.from(bytes)));
    }),
    runs(2000),
  );
});

host('examples: the words', () => {
  const nodes = NODES.slice(0, 2);
  const problem = (a: unknown) => {
    const c = checkAnswer(a, nodes);
    return c.ok ? `ok ${c.index}` : c.problem;
  };
  assert.is(problem('node-10'), 'ok 1');
  assert.is(problem(Number.NaN), 'answered the number NaN, which is no node id (a string)');
  assert.is(problem(undefined), 'answered undefined, which is no node id (a string)');
  assert.is(problem({ id: 'a' }), 'answered an object, which is no node id (a string)');
  assert.is(problem(['a']), 'answered an array, which is no node id (a string)');
  assert.is(problem('gone'), 'answered "gone", which is no candidate');
  assert.is(problem('x'.repeat(20e6)), 'answered a string of 20000000 characters (the limit is 1024), which is no node id');
  assert.is(problem(`${'y'.repeat(100)}`), `answered "${'y'.repeat(64)}…", which is no candidate`);
  // Found by the fuzz target: Array.isArray throws on a revoked proxy.
  const { proxy, revoke } = Proxy.revocable([], {});
  revoke();
  assert.is(problem(proxy), 'answered an object, which is no node id (a string)');
  // Found by the fuzz target: 64 control characters quoted as JSON take 6 characters each.
  assert.ok(problem('\0'.repeat(100)).length < 500);
});

/** Answers a sandboxed algorithm can make, as data for it to rebuild. */
type Made = { t: 'u' | 'nan' | 'inf' | 'obj' | 'big' | 'sym' | 'fn' | 'boxed' } | { t: 'v'; v: unknown } | { t: 'huge'; n: number } | { t: 'id'; i: number };

const made: fc.Arbitrary<Made> = fc.oneof(
  fc.constantFrom<Made>({ t: 'u' }, { t: 'nan' }, { t: 'inf' }, { t: 'obj' }, { t: 'big' }, { t: 'sym' }, { t: 'fn' }, { t: 'boxed' }),
  fc.jsonValue({ maxDepth: 2 }).map((v): Made => ({ t: 'v', v })),
  fc.integer({ min: MAX_ANSWER_LENGTH - 1, max: 20_000_000 }).map((n): Made => ({ t: 'huge', n })),
  fc.integer({ min: 0, max: 3 }).map((i): Made => ({ t: 'id', i })),
);

const ECHO = `export default { name: 'echo', create() { return { pick(nodes, client) {
  const a = JSON.parse(client.listener);
  switch (a.t) {
    case 'u': return undefined;
    case 'nan': return NaN;
    case 'inf': return Infinity;
    case 'obj': return { id: nodes[0].id };
    case 'big': return 10n;
    case 'sym': return Symbol('s');
    case 'fn': return () => nodes[0].id;
    case 'boxed': return new String(nodes[0].id);
    case 'huge': return 'x'.repeat(a.n);
    case 'id': return nodes[a.i % nodes.length].id;
    default: return a.v;
  }
} }; } };
`;

/** The same answer, made here. */
function rebuilt(m: Made): unknown {
  switch (m.t) {
    case 'u': return undefined;
    case 'nan': return Number.NaN;
    case 'inf': return Infinity;
    case 'obj': return { id: NODES[0]!.id };
    case 'big': return 10n;
    case 'sym': return Symbol('s');
    case 'fn': return () => NODES[0]!.id;
    case 'boxed': return new String(NODES[0]!.id);
    case 'huge': return 'x'.repeat(m.n);
    case 'id': return NODES[m.i % NODES.length]!.id;
    default: return m.v;
  }
}

/** One pick's result, once the isolate is free (the guard's own late call may still run). */
async function askWhenIdle(chooser: DeferredChooser, client: ClientView): Promise<CallResult> {
  for (;;) {
    const r = chooser.request(NODES, client, 0);
    if (r.now) return r.now;
    if (r.later) return r.later;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

const sandboxed = suite('policy answers: from a real isolate');

sandboxed('checked in the isolate before anything is copied out; the guard reports each bad one, never throws', async () => {
  const dir = tmpDir({ 'echo.mjs': ECHO });
  const runner = createSandboxRunner({ cpuTimeout: 1000, memoryLimit: 64, baseDir: dir });
  try {
    const chooser = await runner.create(path.join(dir, 'echo.mjs'), { cluster: 'c' });
    assert.ok(isDeferred(chooser));
    const logger = recordingLogger();
    const guard = guardChooser(chooser, logger, 1_000_000);
    let bad = 0;
    await fc.assert(
      fc.asyncProperty(made, async (m) => {
        const client = { ...testClient, listener: JSON.stringify(m) };
        const res = await askWhenIdle(chooser, client);
        const expected = rebuilt(m);
        const check = checkAnswer(expected, NODES);
        const what = `${JSON.stringify(m).slice(0, 100)} gave ${JSON.stringify(res).slice(0, 300)}`;
        if (typeof expected === 'string' && expected.length <= MAX_ANSWER_LENGTH) {
          const index = NODES.findIndex((n) => n.id === expected);
          assert.equal(res, { ok: true, id: expected, ms: res.ok ? res.ms : 0, ...(index < 0 ? {} : { index }) }, what);
        }
        else assert.equal(res, { ok: false, cause: 'answer', error: check.ok ? '' : check.problem }, what);
        const chosen = guard.choose(NODES, client);
        assert.ok(NODES.includes(chosen));
        if (!check.ok) bad++;
      }),
      runs(60),
    );
    await waitFor(() => guard.health.failures.answer === bad, 5000, 'every bad answer counted');
    assert.is(guard.health.totalFailures, bad, 'and nothing else');
    for (const line of logger.lines) assert.ok(String(line.fields.err ?? '').length <= MAX_ERROR_LINE, 'log lines capped');
  } finally {
    runner.dispose();
  }
});

host.run();
sandboxed.run();
