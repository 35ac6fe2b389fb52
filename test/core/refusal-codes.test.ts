/**
 * Refusals carry a code: every client turned away without a node is counted per listener
 * and per code (a plain string is 'refused'; the core's own: no-node, unavailable,
 * preface, …), in the snapshot (`refusedBy`, adding up to `refused`), in the closed
 * totals, in /metrics (`protobalance_listener_refusals_total{listener,reason}`) and in
 * /api/status, summed over the processes of a group.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { metricsText } from '../../core/admin/metrics.ts';
import { sumSnapshots, type Snapshot } from '../../core/status.ts';
import type { Plugin, Refusal } from '../../core/index.ts';
import { startControlled } from '../helpers/admin.ts';
import { withConnRig } from '../helpers/conn-rig.ts';
import { addr, closed, closeServer, connect, startServer, waitFor, withTimeout } from '../helpers/net.ts';

const test = suite('refusal codes');

test('accept refusals count under their code; a string or a malformed code is "refused"; the core counts its own', () =>
  withConnRig(async (rig) => {
    const node = await rig.node();
    const answers: (Refusal | undefined)[] = [
      'plain',
      { code: 'denied', message: 'not on the list' },
      { code: 'bad code!', message: 'a code that is no word' },
      { code: 'denied', message: 'again' },
      undefined,
    ];
    let i = 0;
    let empty = false;
    const plugin: Plugin = {
      name: 'gate',
      apply(hooks) {
        hooks.accept.tap('gate', () => answers[i++]);
        hooks.filterNodes.tap('gate', (nodes) => (empty ? [] : nodes));
      },
    };
    const tb = await rig.balancer('fast', [node.address], [plugin]);
    for (const _ of answers) (await rig.client(tb.port)).socket.end('x');
    await waitFor(() => rig.totals.length === answers.length, 3000, 'every connection closed');
    empty = true;
    (await rig.client(tb.port)).socket.end();
    await waitFor(() => rig.totals.length === answers.length + 1, 3000, 'the no-node one closed');

    const l = tb.balancer.snapshot().listeners[0]!;
    assert.equal(l.refusedBy, { refused: 2, denied: 2, 'no-node': 1 });
    assert.is(l.refused, 5);
    assert.is(l.accepted, 6);
    assert.equal(rig.totals.map((t) => t.refusal), ['refused', 'denied', 'refused', 'denied', undefined, 'no-node']);
    assert.equal(rig.totals.slice(0, 4).map((t) => t.reason), ['plain', 'not on the list', 'a code that is no word', 'again']);

    const { body } = await metricsText({ snapshot: tb.balancer.snapshot(), generation: 1, processes: 1, version: 'test' });
    const name = l.listener;
    for (const [reason, n] of Object.entries(l.refusedBy)) {
      assert.ok(body.includes(`protobalance_listener_refusals_total{listener="${name}",reason="${reason}"} ${n}`), `${reason} in:\n${body}`);
    }
    assert.ok(body.includes(`protobalance_listener_refused_total{listener="${name}"} 5`));
  }));

test('sumSnapshots adds refusedBy per listener and code, leaving each process\'s snapshot as it was', () => {
  const one: Snapshot = { nodes: [], listeners: [{ listener: 'l', accepted: 3, refused: 2, refusedBy: { 'no-node': 1, constructor: 1 } }] };
  const two: Snapshot = { nodes: [], listeners: [{ listener: 'l', accepted: 4, refused: 3, refusedBy: { 'no-node': 2, preface: 1 } }] };
  const before = JSON.stringify([one, two]);
  const sum = sumSnapshots([one, two]);
  assert.equal(sum.listeners, [{ listener: 'l', accepted: 7, refused: 5, refusedBy: { 'no-node': 3, constructor: 1, preface: 1 } }]);
  assert.is(JSON.stringify([one, two]), before, 'inputs untouched');
});

test('/api/status and /metrics sum the codes over every process of a group', async () => {
  // The node is never dialled: every client is refused first.
  const node = await startServer((s) => s.destroy());
  const config = `export default {
  listeners: [{ name: 'front', port: 0, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '${addr(node)}' }] } },
  plugins: [{ name: 'nope', apply(hooks) { hooks.accept.tap('nope', () => ({ code: 'nope', message: 'not today' })); } }],
  workers: 2, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`;
  const c = await startControlled(config);
  const N = 16;
  try {
    const port = c.group.balancer.addresses()[0]!.port;
    await Promise.all(
      Array.from({ length: N }, async () => {
        const s = await connect(port);
        s.on('error', () => {});
        await withTimeout(closed(s), 5000, 'the refused client closed');
      }),
    );
    const deadline = Date.now() + 5000;
    let front: { refused: number; refusedBy: Record<string, number> } | undefined;
    while (Date.now() < deadline) {
      const { body } = await c.call('GET', '/status');
      front = (body.listeners as (typeof front & { listener: string })[]).find((l) => l!.listener === 'front');
      if (front?.refused === N) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(front?.refusedBy, { nope: N });
    const byProcess = await c.group.snapshotByProcess();
    assert.is(byProcess.length, 2);
    const own = byProcess.map((s) => s.listeners.find((l) => l.listener === 'front')?.refusedBy.nope ?? 0);
    assert.is(own[0]! + own[1]!, N, `per process: ${own}`);
    const res = await fetch(`${c.origin}/metrics`, { headers: { authorization: `Bearer ${c.token}` } });
    assert.ok((await res.text()).includes(`protobalance_listener_refusals_total{listener="front",reason="nope"} ${N}`));
  } finally {
    await c.stop();
    await closeServer(node);
  }
});

test.run();
