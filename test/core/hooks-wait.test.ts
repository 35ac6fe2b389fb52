/**
 * `waitForNode` through a real balancer: asked when a choice finds no node (none left by
 * filterNodes, or every one refused by claimNode); 'retry' chooses afresh, a Refusal turns
 * the client away with its code, undefined (or a rejection, logged) gives the usual
 * no-node. A waiting client is not lost: its bytes reach the node first, and a client
 * that leaves ends the connection at once, whatever the wait answers later.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Plugin, Refusal } from '../../core/index.ts';
import { PATHS, sleep, withConnRig } from '../helpers/conn-rig.ts';
import { waitFor } from '../helpers/net.ts';

type Answer = 'retry' | Refusal | undefined;

/** At most one connection per node (claim/release), and a wait that `answer()` settles. */
function queue(log: string[]) {
  const open = new Map<string, number>();
  const waiting: ((a: Answer) => void)[] = [];
  const plugin: Plugin = {
    name: 'queue',
    apply(hooks) {
      hooks.claimNode.tap('queue', (ctx, node) => {
        if ((open.get(node.id) ?? 0) >= 1) return { code: 'full', message: `${node.id} full` };
        open.set(node.id, 1);
        ctx.data.queue = node.id;
        return undefined;
      });
      hooks.releaseNode.tap('queue', (ctx, node) => {
        if (ctx.data.queue !== node.id) return;
        ctx.data.queue = undefined;
        open.set(node.id, 0);
      });
      hooks.waitForNode.tapPromise('queue', () => {
        log.push('wait');
        return new Promise<Answer>((resolve) => waiting.push(resolve));
      });
      hooks.closed.tap('queue', (_ctx, t) => void log.push(`closed:${t.outcome}`));
    },
  };
  return { plugin, waiting, answer: (a: Answer) => waiting.shift()!(a) };
}

const test = suite('waitForNode');

for (const path of PATHS) {
  test(`a queued client is served when a node frees up, and its early bytes reach the node first (${path})`, () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const log: string[] = [];
      const q = queue(log);
      const tb = await rig.balancer(path, [node.address], [q.plugin]);
      const first = await rig.client(tb.port);
      await waitFor(() => node.connections === 1, 3000, 'the first client served');
      const second = await rig.client(tb.port);
      await waitFor(() => q.waiting.length === 1, 3000, 'the second client waiting');
      second.socket.write('early;');
      await sleep(50);
      assert.is(node.connections, 1, 'no dial while waiting');
      first.socket.destroy();
      await waitFor(() => log.includes('closed:closed') || log.includes('closed:reset'), 3000, 'the first closed');
      q.answer('retry');
      await waitFor(() => second.got() === 'early;', 3000, 'the early bytes echoed');
      second.socket.write('late');
      await waitFor(() => second.got() === 'early;late', 3000, 'later bytes echoed');
      assert.is(node.received[1]!.toString(), 'early;late');
      assert.equal(log.filter((e) => e === 'wait'), ['wait']);
    }));

  // An end (FIN) while waiting counts as leaving: a half-closed client cannot be told
  // from a gone one, and a bounded queue must not keep slots for clients that left.
  test(`a client that leaves while waiting ends its connection; the late answer dials nothing (${path})`, () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const log: string[] = [];
      const q = queue(log);
      const tb = await rig.balancer(path, [node.address], [q.plugin]);
      await rig.client(tb.port);
      await waitFor(() => node.connections === 1, 3000, 'the first client served');
      const second = await rig.client(tb.port);
      await waitFor(() => q.waiting.length === 1, 3000, 'the second waiting');
      second.socket.end();
      await waitFor(() => rig.totals.length === 1, 3000, 'the closed hook of the one that left');
      assert.is(rig.totals[0]!.refusal, undefined, 'leaving is no refusal');
      assert.is(tb.balancer.connections().length, 1);
      q.answer('retry');
      await sleep(100);
      assert.is(node.connections, 1, 'nothing dialled for a client gone');
      assert.is(rig.totals.length, 1);
    }));
}

const answers: [string, (q: ReturnType<typeof queue>) => void, string, RegExp | undefined][] = [
  ['a Refusal turns the client away with its code', (q) => q.answer({ code: 'queue-timeout', message: 'waited too long' }), 'queue-timeout', /waited too long/],
  ['a plain string counts as refused', (q) => q.answer('go away'), 'refused', /go away/],
  ['undefined gives the usual no-node', (q) => q.answer(undefined), 'no-node', /no node of cluster c/],
];
for (const [what, settle, code, reason] of answers) {
  test(`${what}; no node is dialled for it`, () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const q = queue([]);
      const tb = await rig.balancer('fast', [node.address], [q.plugin]);
      await rig.client(tb.port);
      await waitFor(() => node.connections === 1, 3000, 'the first served');
      const second = await rig.client(tb.port);
      await waitFor(() => q.waiting.length === 1, 3000, 'the second waiting');
      settle(q);
      await second.closed;
      await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
      assert.is(rig.totals[0]!.refusal, code);
      assert.match(rig.totals[0]!.reason ?? '', reason!);
      assert.is(node.connections, 1);
      assert.equal(tb.balancer.snapshot().listeners[0]!.refusedBy, { [code]: 1 });
    }));
}

test('a rejected wait counts as undefined (no-node) and is logged', () =>
  withConnRig(async (rig) => {
    const node = await rig.node();
    const failing: Plugin = {
      name: 'failing',
      apply(hooks) {
        hooks.filterNodes.tap('failing', () => []);
        hooks.waitForNode.tapPromise('failing', async () => {
          throw new Error('wait boom');
        });
      },
    };
    const tb = await rig.balancer('fast', [node.address], [failing]);
    const c = await rig.client(tb.port);
    await c.closed;
    await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
    assert.is(rig.totals[0]!.refusal, 'no-node');
    assert.ok(tb.logger.lines.some((l) => l.level === 'error' && String(l.fields.err).includes('wait boom')));
  }));

test('asked when filterNodes leaves nothing; retry chooses afresh', () =>
  withConnRig(async (rig) => {
    const node = await rig.node();
    let gate = false;
    let waits = 0;
    const gated: Plugin = {
      name: 'gated',
      apply(hooks) {
        hooks.filterNodes.tap('gated', (nodes) => (gate ? nodes : []));
        hooks.waitForNode.tapPromise('gated', async () => {
          waits++;
          await sleep(waits === 1 ? 20 : 0);
          if (waits === 2) gate = true;
          return 'retry';
        });
      },
    };
    const tb = await rig.balancer('fast', [node.address], [gated]);
    const c = await rig.client(tb.port);
    c.socket.write('through');
    await waitFor(() => c.got() === 'through', 3000, 'the echo after the retries');
    assert.is(waits, 2, 'asked again after a retry that found nothing');
  }));

test('not asked when every node failed to connect (nothing to wait for): unavailable', () =>
  withConnRig(async (rig) => {
    const dead = await rig.node('close');
    let waits = 0;
    const waiter: Plugin = { name: 'waiter', apply: (hooks) => void hooks.waitForNode.tapPromise('waiter', async () => (waits++, 'retry')) };
    const tb = await rig.balancer('fast', [dead.address], [waiter]);
    const c = await rig.client(tb.port);
    await c.closed;
    await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
    assert.is(rig.totals[0]!.refusal, 'unavailable');
    assert.is(waits, 0);
    assert.equal(tb.balancer.snapshot().listeners[0]!.refusedBy, { unavailable: 1 });
  }));

test.run();
