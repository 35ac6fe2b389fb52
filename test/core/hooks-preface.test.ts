/**
 * The `preface` and `nodePreamble` hooks through a real balancer on both data paths: what
 * a client sends first is read (only) until the reader is done, the client it names
 * replaces ctx.client, the rest reaches the node first; a preface that errs, stalls, runs
 * too long or ends short refuses the client before any node is dialled. A preamble
 * reaches each node first, again after a fall-over; a failing one never reaches it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ConnectionContext, Plugin, PrefaceReader } from '../../core/index.ts';
import { PATHS, sleep, withConnRig } from '../helpers/conn-rig.ts';
import { waitFor } from '../helpers/net.ts';

/** Reads `HELLO <address> <port>\n` (the client it names), `PASS\n` (kept: nothing consumed), else an error. */
function helloReader(seen: number[], o: { timeout?: number; maxBytes?: number; code?: string } = {}): PrefaceReader {
  return {
    ...(o.code === undefined ? {} : { code: o.code }),
    timeout: o.timeout ?? 3000,
    maxBytes: o.maxBytes ?? 64,
    parse(received) {
      seen.push(received.length);
      const nl = received.indexOf(10);
      if (nl < 0) return { done: false };
      const [word, address, port] = received.subarray(0, nl).toString().split(' ');
      if (word === 'PASS') return { done: true, consumed: 0 };
      if (word === 'BAD') return { error: { code: 'bad-hello', message: 'a bad hello' } };
      if (word !== 'HELLO') return { error: 'not a hello line' };
      return { done: true, consumed: nl + 1, client: { address: address!, port: Number(port) } };
    },
  };
}

interface Seen {
  events: string[];
  parses: number[];
  accepted: { client: string; proxiedBy: string | undefined; local: string }[];
}

function prefacePlugin(seen: Seen, o: { timeout?: number; maxBytes?: number; code?: string; throws?: boolean } = {}): Plugin {
  const show = (ctx: ConnectionContext) => ({
    client: `${ctx.client.address}:${ctx.client.port}`,
    proxiedBy: ctx.proxiedBy && `${ctx.proxiedBy.address}:${ctx.proxiedBy.port}`,
    local: `${ctx.localAddress}:${ctx.localPort}`,
  });
  return {
    name: 'hello',
    apply(hooks) {
      hooks.preface.tap('hello', () => {
        seen.events.push('preface');
        if (o.throws) throw new Error('preface boom');
        return helloReader(seen.parses, o);
      });
      hooks.accept.tap('hello', (ctx) => void (seen.events.push('accept'), seen.accepted.push(show(ctx))));
      hooks.connected.tap('hello', (_ctx, node) => void seen.events.push(`connected:${node.id}`));
    },
  };
}

const fresh = (): Seen => ({ events: [], parses: [], accepted: [] });

for (const path of PATHS) {
  const test = suite(`preface (${path} data path)`);

  test('the named client replaces ctx.client; the rest of the read, then later bytes, reach the node in order', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const seen = fresh();
      const tb = await rig.balancer(path, [node.address], [prefacePlugin(seen)]);
      const c = await rig.client(tb.port);
      c.socket.write('HELLO 10.1');
      await sleep(30);
      c.socket.write('.2.3 4567\nabc');
      await waitFor(() => c.got() === 'abc', 3000, 'the leftover echoed');
      const [conn] = tb.balancer.connections();
      assert.is(conn?.client, '10.1.2.3:4567', 'status shows the named client');
      c.socket.write('def');
      await waitFor(() => c.got() === 'abcdef', 3000, 'later bytes echoed');
      assert.is(node.received[0]!.toString(), 'abcdef', 'the node never saw the preface');
      assert.equal(seen.events, ['preface', 'accept', 'connected:n0'], 'preface fires first, once');
      assert.ok(seen.parses.length >= 2 && seen.parses.at(-1)! > seen.parses[0]!, `parse got a growing buffer: ${seen.parses}`);
      assert.is(seen.accepted[0]!.client, '10.1.2.3:4567');
      assert.match(seen.accepted[0]!.proxiedBy ?? '', /^127\.0\.0\.1:\d+$/);
      assert.is(seen.accepted[0]!.local, `127.0.0.1:${tb.port}`);
    }));

  test('a client that ends right after its preface and data still gets the answer: its end reaches the node', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const tb = await rig.balancer(path, [node.address], [prefacePlugin(fresh())]);
      const c = await rig.client(tb.port);
      c.socket.end('HELLO 10.0.0.1 2\nquestion');
      await c.closed;
      assert.is(c.got(), 'question');
      await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
      assert.is(rig.totals[0]!.outcome, 'closed');
      assert.is(node.received[0]!.toString(), 'question');
    }));

  test('a preface that consumes nothing passes every byte on, and the client stays the socket peer', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const seen = fresh();
      const tb = await rig.balancer(path, [node.address], [prefacePlugin(seen)]);
      const c = await rig.client(tb.port);
      c.socket.write('PASS\nxyz');
      await waitFor(() => c.got() === 'PASS\nxyz', 3000, 'everything echoed');
      assert.match(seen.accepted[0]!.client, /^127\.0\.0\.1:\d+$/);
      assert.is(seen.accepted[0]!.proxiedBy, undefined);
    }));

  const refusals: [string, string, { timeout?: number; maxBytes?: number; code?: string }, (c: import('node:net').Socket) => void, string][] = [
    ['stalls past its timeout', 'preface', { timeout: 150 }, (s) => s.write('HELLO 1.2'), 'within 150 ms'],
    ['runs past maxBytes', 'preface', { maxBytes: 16 }, (s) => s.write('HELLO 1.2.3.4 5 and on and on'), 'maxBytes 16'],
    ['is refused by the parser (a plain string)', 'preface', {}, (s) => s.write('NOPE\n'), 'not a hello line'],
    ['is refused by the parser with a code', 'bad-hello', {}, (s) => s.write('BAD\n'), 'a bad hello'],
    ['ends short (client EOF)', 'preface', {}, (s) => s.end('HELLO 1.2'), 'ended before its preface'],
    ['of a reader with its own code stalls', 'hello-slow', { timeout: 150, code: 'hello-slow' }, (s) => s.write('HELLO 1.2'), 'within 150 ms'],
    ['of a reader with its own code ends short', 'hello-slow', { code: 'hello-slow' }, (s) => s.end('HELLO 1.2'), 'ended before its preface'],
    ['of a reader with its own code is refused by its parser (a string)', 'hello-slow', { code: 'hello-slow' }, (s) => s.write('NOPE\n'), 'not a hello line'],
  ];
  for (const [what, code, o, send, reason] of refusals) {
    test(`a preface that ${what} refuses the client, counted as ${code}; no node is dialled`, () =>
      withConnRig(async (rig) => {
        const node = await rig.node();
        const seen = fresh();
        const tb = await rig.balancer(path, [node.address], [prefacePlugin(seen, o)]);
        const c = await rig.client(tb.port);
        send(c.socket);
        await c.closed;
        await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
        assert.is(rig.totals[0]!.outcome, 'refused');
        assert.is(rig.totals[0]!.refusal, code);
        assert.match(rig.totals[0]!.reason ?? '', reason);
        assert.is(node.connections, 0, 'no node dialled');
        assert.equal(seen.events, ['preface'], 'accept never ran');
        const counts = tb.balancer.snapshot().listeners[0]!;
        assert.equal([counts.refused, counts.refusedBy], [1, { [code]: 1 }]);
        assert.ok(tb.logger.lines.some((l) => l.fields.code === code && l.msg === rig.totals[0]!.reason), 'the reason is logged');
      }));
  }

  test('a throwing preface tap refuses the client (code preface) without reading it', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const seen = fresh();
      const tb = await rig.balancer(path, [node.address], [prefacePlugin(seen, { throws: true })]);
      const c = await rig.client(tb.port);
      await c.closed;
      await waitFor(() => rig.totals.length === 1, 3000, 'closed hook');
      assert.is(rig.totals[0]!.refusal, 'preface');
      assert.is(node.connections, 0);
      assert.ok(tb.logger.lines.some((l) => l.level === 'error' && String(l.fields.err).includes('preface boom')));
    }));

  test('a node that closes before any byte passed still falls over after a preface', () =>
    withConnRig(async (rig) => {
      const closer = await rig.node('close');
      const echo = await rig.node();
      const seen = fresh();
      const tb = await rig.balancer(path, [closer.address, echo.address], [prefacePlugin(seen)]);
      const c = await rig.client(tb.port);
      c.socket.write('HELLO 10.0.0.9 1\n');
      await waitFor(() => seen.events.includes('connected:n1'), 3000, 'the fall-over to n1');
      c.socket.write('after');
      await waitFor(() => c.got() === 'after', 3000, 'echo from n1');
      assert.is(closer.connections, 1);
      assert.is(echo.received[0]!.toString(), 'after');
    }));

  const pre = suite(`nodePreamble (${path} data path)`);

  function preamble(calls: string[], throwFor?: string): Plugin {
    return {
      name: 'preamble',
      apply(hooks) {
        hooks.nodePreamble.tap('preamble', (ctx, node) => {
          calls.push(node.id);
          if (node.id === throwFor) throw new Error('preamble boom');
          return new TextEncoder().encode(`[to ${node.id} for ${ctx.client.address}]`);
        });
      },
    };
  }

  pre('the preamble reaches the node before the preface leftover and every client byte', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const calls: string[] = [];
      const tb = await rig.balancer(path, [node.address], [prefacePlugin(fresh()), preamble(calls)]);
      const c = await rig.client(tb.port);
      c.socket.write('HELLO 10.9.9.9 80\nfirst');
      await waitFor(() => c.got().endsWith('first'), 3000, 'the echo');
      c.socket.write('-second');
      await waitFor(() => c.got().endsWith('-second'), 3000, 'the second echo');
      assert.is(node.received[0]!.toString(), '[to n0 for 10.9.9.9]first-second');
      assert.equal(calls, ['n0']);
    }));

  pre('each node after a fall-over gets its own preamble', () =>
    withConnRig(async (rig) => {
      const closer = await rig.node('close');
      const echo = await rig.node();
      const calls: string[] = [];
      const tb = await rig.balancer(path, [closer.address, echo.address], [preamble(calls)]);
      const c = await rig.client(tb.port);
      await waitFor(() => calls.length === 2, 3000, 'two preambles');
      c.socket.write('hi');
      await waitFor(() => c.got().endsWith('hi'), 3000, 'the echo');
      assert.equal(calls, ['n0', 'n1']);
      assert.is(echo.received[0]!.toString(), '[to n1 for 127.0.0.1]hi');
    }));

  pre('a throwing preamble closes the connection; the node gets no byte', () =>
    withConnRig(async (rig) => {
      const node = await rig.node();
      const tb = await rig.balancer(path, [node.address], [preamble([], 'n0')]);
      const c = await rig.client(tb.port);
      c.socket.write('data');
      await c.closed;
      await waitFor(() => rig.totals.length === 1 && node.connections === 1, 3000, 'closed hook');
      await sleep(50);
      assert.is(node.received[0]!.length, 0);
      assert.is(rig.totals[0]!.outcome, 'killed');
      assert.ok(tb.logger.lines.some((l) => l.level === 'error' && String(l.fields.err).includes('preamble boom')));
    }));

  test.run();
  pre.run();
}
