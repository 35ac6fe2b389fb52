import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { guardChooser } from '../../core/algorithms.ts';
import type { CallResult, DeferredChooser } from '../../core/algorithm-runner.ts';
import { MAX_ERROR_LINE } from '../../core/policy-answer.ts';
import { recordingLogger } from '../helpers/balancer.ts';
import { nodeView, testClient } from '../helpers/views.ts';

const nodes = [nodeView('a'), nodeView('b'), nodeView('c')];
const guard = suite('algorithms: a failing algorithm never costs the connection');

guard('a good answer gives that very node', () => {
  const chooser = guardChooser({ pick: () => 'b' }, recordingLogger());
  assert.is(chooser.choose(nodes, testClient), nodes[1]);
});

guard('a throwing pick falls back to a rotation over the candidates, and is logged', () => {
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => { throw new Error('policy bug'); } }, logger);
  assert.equal([0, 1, 2, 3].map(() => chooser.choose(nodes, testClient).id), ['a', 'b', 'c', 'a']);
  assert.is(logger.lines.filter((l) => l.level === 'error' && l.fields.err === 'policy bug').length, 4);
});

guard('an answer naming no candidate falls back too, and is logged', () => {
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => 'gone' }, logger);
  assert.is(chooser.choose(nodes, testClient).id, 'a');
  assert.is(logger.lines[0]!.fields.answer, 'gone');
  assert.is(guardChooser({ pick: () => undefined }, logger).choose(nodes, testClient).id, 'a');
});

guard('with a stand-in (inProcessFallback), a failed or late choice is the stand-in\'s, not the rotation\'s', () => {
  const stand = { pick: (_n: unknown, client: { address: string }) => (client.address.endsWith('1') ? 'c' : 'b') };
  const failing = guardChooser({ pick: () => { throw new Error('late'); } }, recordingLogger(), 1000, { fallback: stand });
  assert.equal([0, 1, 2].map(() => failing.choose(nodes, { ...testClient, address: '10.0.0.1' }).id), ['c', 'c', 'c']);
  assert.is(failing.choose(nodes, { ...testClient, address: '10.0.0.2' }).id, 'b');
  assert.is(failing.health.fallbackChoices, 4);
  // A stand-in that names no candidate, or throws, leaves it to the rotation.
  const lost = guardChooser({ pick: () => 'gone' }, recordingLogger(), 1000, { fallback: { pick: () => 'gone too' } });
  assert.is(lost.choose(nodes, testClient).id, 'a');
  const broken = guardChooser({ pick: () => 'gone' }, recordingLogger(), 1000, { fallback: { pick: () => { throw new Error('x'); } } });
  assert.is(broken.choose(nodes, testClient).id, 'a');
});

guard.run();

const fallback = suite('algorithms: the fallback honours load factors');

fallback('a failing algorithm falls back to smooth weighted round robin', () => {
  const chooser = guardChooser({ pick: () => { throw new Error('down'); } }, recordingLogger(), 1000);
  const weighted = [nodeView('a', 3), nodeView('b', 1)];
  assert.equal(Array.from({ length: 8 }, () => chooser.choose(weighted, testClient).id), ['a', 'a', 'b', 'a', 'a', 'a', 'b', 'a']);
});

fallback.run();

const breaker = suite('algorithms: a broken algorithm stops being called (circuit breaker)');

breaker('after maxFailures in a row no call is made; a trial every retry period, backing off; a good trial closes it', () => {
  let calls = 0;
  let good = false;
  let now = 0;
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => (calls++, good ? 'b' : 'gone') }, logger, 3, { now: () => now, retryAfter: 5000, maxRetryAfter: 12_000 });
  for (let i = 0; i < 10; i++) chooser.choose(nodes, testClient);
  assert.is(calls, 3, 'open after 3 failures: the 7 other choices asked nothing');
  assert.equal([chooser.health.state, chooser.health.broken, chooser.health.fallbackChoices], ['broken', true, 10]);
  assert.is(chooser.health.nextTrial, new Date(5000).toISOString());
  now = 5000;
  chooser.choose(nodes, testClient);
  chooser.choose(nodes, testClient);
  assert.is(calls, 4, 'one trial, then open again');
  assert.is(chooser.health.nextTrial, new Date(15_000).toISOString(), 'the wait doubled');
  now = 15_000;
  chooser.choose(nodes, testClient);
  assert.is(chooser.health.nextTrial, new Date(27_000).toISOString(), 'doubled again, up to maxRetryAfter');
  good = true;
  now = 27_000;
  assert.is(chooser.choose(nodes, testClient).id, 'b', 'a good trial (called in this process) is used');
  assert.equal([chooser.health.state, chooser.health.failuresInARow], ['ok', 0]);
  assert.is(logger.lines.filter((l) => l.msg.startsWith('algorithm is broken')).length, 1);
  assert.is(logger.lines.filter((l) => l.msg.startsWith('algorithm still broken')).length, 2);
  assert.ok(logger.lines.some((l) => l.msg === 'algorithm works again'));
  assert.is(chooser.rank(nodes, testClient), undefined);
});

/** A DeferredChooser stub: answers `results` in turn (a string id, or a CallResult), `late` ones through `later`. */
function stub(results: (string | CallResult)[], late = new Set<number>()): DeferredChooser & { waits: number[] } {
  let i = 0;
  const waits: number[] = [];
  return {
    callLimit: 50,
    waits,
    pick: () => 'a',
    request(_nodes, _client, waitMs) {
      waits.push(waitMs);
      const k = i++;
      const r = results[k % results.length]!;
      const res: CallResult = typeof r === 'string' ? { ok: true, id: r, ms: 0 } : r;
      return late.has(k) ? { later: Promise.resolve(res) } : { now: res };
    },
  };
}

breaker('each failure is reported by its real cause, in health and in the log', async () => {
  const logger = recordingLogger();
  const chooser = guardChooser(
    stub([
      { ok: false, cause: 'cpu', error: 'p.ts: exceeded its CPU time limit of 50 ms' },
      { ok: false, cause: 'deadline', error: 'p.ts:3:5: waited past its time limit of 50 ms (Atomics.wait) without answering' },
      { ok: false, cause: 'memory', error: 'p.ts: ran out of memory (limit 8 MiB); it restarts with fresh state' },
      { ok: false, cause: 'throw', error: 'p.ts:7:1: boom' },
      { ok: false, cause: 'answer', error: 'answered the number NaN, which is no node id (a string)' },
      'gone',
      { ok: false, cause: 'disposed', error: 'replaced by a reload' },
    ]),
    logger,
    100,
  );
  for (let i = 0; i < 7; i++) chooser.choose(nodes, testClient);
  assert.equal(chooser.health.failures, { cpu: 1, deadline: 1, memory: 1, throw: 1, answer: 2 }, 'a reload is no failure');
  assert.equal(
    logger.lines.map((l) => l.fields.cause),
    ['cpu', 'deadline', 'memory', 'throw', 'answer', 'answer'],
  );
  assert.is(logger.lines[5]!.fields.err, 'answered "gone", which is no candidate');
});

breaker('a late answer: that choice waits at most the deadline; choices stop waiting until an answer in time', async () => {
  const s = stub([{ ok: true, id: 'b', ms: 60 }, 'b', 'b'], new Set([0]));
  const chooser = guardChooser(s, recordingLogger(), 5);
  assert.is(chooser.choose(nodes, testClient).id, 'a', 'late: the rotation chose');
  await Promise.resolve();
  assert.is(chooser.choose(nodes, testClient).id, 'b', 'not waited for, but in already: used');
  chooser.choose(nodes, testClient);
  assert.equal(s.waits, [5, 0, 5], 'the deadline: 5 ms; none while the last answer was late; 5 ms again after one in time');
  assert.is(chooser.health.lateAnswers, 1);
  assert.is(chooser.health.totalFailures, 0, 'late is no failure');
});

breaker('error text is capped for logs and status, whatever was thrown', () => {
  const logger = recordingLogger();
  const chooser = guardChooser({ pick: () => { throw new Error('x'.repeat(1e6)); } }, logger);
  chooser.choose(nodes, testClient);
  assert.ok((chooser.health.lastError ?? '').length <= MAX_ERROR_LINE + 40);
  assert.ok(String(logger.lines[0]!.fields.err).length <= MAX_ERROR_LINE + 40);
  const odd = guardChooser({ pick: () => { throw { toString() { throw new Error('no'); } }; } }, recordingLogger());
  assert.is(odd.choose(nodes, testClient).id, 'a');
  assert.is(odd.health.lastError, 'a value that cannot be shown');
});

breaker.run();
