/**
 * `claimNode` / `releaseNode` through a real balancer: a refused node is never dialled,
 * nor marked unavailable, and the choice goes on among the rest (also from affinity and
 * from fallover); every claim is released exactly once, at the documented moment; a
 * per-node limit kept with them is exact; a throwing tap refuses the node.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { BalancerNode, Plugin, Refusal } from '../../core/index.ts';
import { PATHS, withConnRig, type Client } from '../helpers/conn-rig.ts';
import { waitFor } from '../helpers/net.ts';

/** Logs claims, releases and the other per-connection hooks; `refuse(node)` decides claims. */
function claims(events: string[], refuse: (node: BalancerNode) => Refusal | undefined, extra?: Plugin['apply']): Plugin {
  return {
    name: 'claims',
    apply(hooks, api) {
      hooks.claimNode.tap('claims', (_ctx, node) => {
        events.push(`claim:${node.id}`);
        return refuse(node);
      });
      hooks.releaseNode.tap('claims', (_ctx, node) => void events.push(`release:${node.id}`));
      hooks.fallover.tap('claims', (_ctx, node) => void events.push(`fallover:${node.id}`));
      hooks.connected.tap('claims', (_ctx, node) => void events.push(`connected:${node.id}`));
      hooks.closed.tap('claims', (_ctx, t) => void events.push(`closed:${t.outcome}`));
      return extra?.(hooks, api);
    },
  };
}

const count = (events: string[], prefix: string) => events.filter((e) => e.startsWith(prefix)).length;

const test = suite('claimNode / releaseNode');

for (const path of PATHS) {
  test(`a refused node is skipped, not dialled, not blamed; each claim is released once (${path})`, () =>
    withConnRig(async (rig) => {
      const a = await rig.node();
      const b = await rig.node();
      const events: string[] = [];
      const tb = await rig.balancer(path, [a.address, b.address], [claims(events, (n) => (n.id === 'n0' ? 'full' : undefined))]);
      for (let i = 0; i < 4; i++) {
        const c = await rig.client(tb.port);
        c.socket.end('x');
        await c.closed;
      }
      await waitFor(() => count(events, 'closed:') === 4, 3000, 'four closed hooks');
      assert.is(a.connections, 0, 'n0 never dialled');
      assert.is(b.connections, 4);
      const n0 = tb.balancer.node('c/n0')!;
      assert.equal([n0.available, n0.failures], [true, 0], 'a refused claim is no failure');
      assert.is(count(events, 'claim:'), count(events, 'release:'));
      // The first connection's order, when round robin offered n0 first.
      const first = events.slice(0, events.indexOf('closed:closed') + 1);
      assert.equal(first, ['claim:n0', 'release:n0', 'claim:n1', 'connected:n1', 'release:n1', 'closed:closed']);
      assert.equal(tb.balancer.snapshot().listeners[0]!.refused, 0);
    }));
}

test('a failed dial releases its node before fallover; the node fallover returns is claimed', () =>
  withConnRig(async (rig) => {
    const dead = await rig.node('close');
    const spare = await rig.node();
    const other = await rig.node();
    const events: string[] = [];
    const toLast: Plugin['apply'] = (hooks) => {
      hooks.fallover.tap('to-last', (_ctx, node) => (node.id === 'n0' ? tb.balancer.node('c/n2') : undefined));
    };
    const tb = await rig.balancer('fast', [dead.address, spare.address, other.address], [claims(events, () => undefined, toLast)]);
    const c = await rig.client(tb.port);
    await waitFor(() => events.includes('connected:n2'), 3000, 'connected to n2');
    c.socket.destroy();
    await waitFor(() => events.some((e) => e.startsWith('closed:')), 3000, 'closed hook');
    // n0 accepts, then closes before any byte: a failed dial, released before fallover.
    assert.equal(events.slice(0, -1), ['claim:n0', 'connected:n0', 'release:n0', 'fallover:n0', 'claim:n2', 'connected:n2', 'release:n2']);
    assert.match(events.at(-1)!, /^closed:/);
    assert.is(spare.connections, 0);
  }));

test('the node affinity binds the client to is claimed first; refused, another takes the client', () =>
  withConnRig(async (rig) => {
    const a = await rig.node();
    const b = await rig.node();
    const events: string[] = [];
    const bind: Plugin['apply'] = (hooks) => void hooks.resolveAffinity.tap('bind', () => 'n1');
    let refuseBound = false;
    const tb = await rig.balancer('fast', [a.address, b.address], [claims(events, (n) => (refuseBound && n.id === 'n1' ? 'full' : undefined), bind)]);
    for (const refuse of [false, false, true]) {
      refuseBound = refuse;
      const c = await rig.client(tb.port);
      c.socket.end('x');
      await c.closed;
    }
    await waitFor(() => count(events, 'closed:') === 3, 3000, 'closed hooks');
    assert.equal([a.connections, b.connections], [1, 2]);
    assert.equal(events.filter((e) => e.startsWith('claim:')), ['claim:n1', 'claim:n1', 'claim:n1', 'claim:n0']);
  }));

test('every node refused and no waitForNode: turned away as no-node; claims all released', () =>
  withConnRig(async (rig) => {
    const a = await rig.node();
    const b = await rig.node();
    const events: string[] = [];
    const tb = await rig.balancer('fast', [a.address, b.address], [claims(events, () => ({ code: 'full', message: 'node full' }))]);
    const c = await rig.client(tb.port);
    await c.closed;
    await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
    assert.equal([a.connections, b.connections], [0, 0]);
    assert.equal(rig.totals[0]!.refusal, 'no-node');
    assert.equal(events.slice(0, 4).sort(), ['claim:n0', 'claim:n1', 'release:n0', 'release:n1']);
    assert.equal(tb.balancer.snapshot().listeners[0]!.refusedBy, { 'no-node': 1 });
  }));

test('a throwing claimNode refuses that node (logged); a throwing releaseNode is logged only', () =>
  withConnRig(async (rig) => {
    const a = await rig.node();
    const b = await rig.node();
    const flaky: Plugin = {
      name: 'flaky',
      apply(hooks) {
        hooks.claimNode.tap('flaky', (_ctx, node) => {
          if (node.id === 'n0') throw new Error('claim boom');
          return undefined;
        });
        hooks.releaseNode.tap('flaky', () => {
          throw new Error('release boom');
        });
      },
    };
    const tb = await rig.balancer('fast', [a.address, b.address], [flaky]);
    for (let i = 0; i < 2; i++) {
      const c = await rig.client(tb.port);
      c.socket.end('ok');
      await c.closed;
      assert.is(c.got(), 'ok');
    }
    assert.equal([a.connections, b.connections], [0, 2]);
    const errors = tb.logger.lines.filter((l) => l.level === 'error').map((l) => `${l.fields.hook}:${String(l.fields.err)}`);
    assert.ok(errors.some((e) => e.startsWith('claimNode:') && e.includes('claim boom')), errors.join('\n'));
    assert.ok(errors.some((e) => e.startsWith('releaseNode:') && e.includes('release boom')), errors.join('\n'));
  }));

test('a per-node limit of one kept with claim and release is exact under concurrent clients', () =>
  withConnRig(async (rig) => {
    const a = await rig.node();
    const b = await rig.node();
    const open = new Map<string, number>();
    const limit: Plugin = {
      name: 'limit',
      apply(hooks) {
        hooks.claimNode.tap('limit', (ctx, node) => {
          if ((open.get(node.id) ?? 0) >= 1) return { code: 'full', message: `${node.id} is full` };
          open.set(node.id, (open.get(node.id) ?? 0) + 1);
          ctx.data.limit = node.id;
          return undefined;
        });
        hooks.releaseNode.tap('limit', (ctx, node) => {
          if (ctx.data.limit !== node.id) return;
          ctx.data.limit = undefined;
          open.set(node.id, open.get(node.id)! - 1);
        });
      },
    };
    const tb = await rig.balancer('fast', [a.address, b.address], [limit]);
    const held: Client[] = await Promise.all([rig.client(tb.port), rig.client(tb.port), rig.client(tb.port)]);
    await waitFor(() => rig.totals.length === 1, 3000, 'one refused');
    assert.equal([a.connections, b.connections], [1, 1]);
    assert.equal(tb.balancer.snapshot().listeners[0]!.refusedBy, { 'no-node': 1 });
    held[0]!.socket.destroy();
    held[1]!.socket.destroy();
    held[2]!.socket.destroy();
    await waitFor(() => [...open.values()].every((n) => n === 0) && tb.balancer.connections().length === 0, 3000, 'all released');
    const c = await rig.client(tb.port);
    c.socket.end('again');
    await c.closed;
    assert.is(c.got(), 'again');
  }));

test.run();
