import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RateSampler, type SampledConnection, type SampledNode } from '../../core/stats.ts';
import { waitFor } from '../helpers/net.ts';

interface FakeNode extends SampledNode {
  totalConnections: number;
  bytesIn: number;
  bytesOut: number;
}

interface FakeConnection extends SampledConnection {
  ctx: { node: FakeNode | undefined };
  client: { bytesRead: number; bytesWritten: number };
}

const node = (): FakeNode => ({ totalConnections: 0, bytesIn: 0, bytesOut: 0, connectionRate: 0, bytesRate: 0 });

/** A sampler over `nodes` and the `open` set, with a fixed window. */
function sampler(nodes: FakeNode[], open: Set<FakeConnection>, window: number | (() => number) = 10_000) {
  return new RateSampler({ window, nodes: () => nodes, connections: () => open });
}

/** Open a connection on `n` the way forward.ts does (counted at connect). */
function openOn(n: FakeNode, open: Set<FakeConnection>): FakeConnection {
  const conn: FakeConnection = { ctx: { node: n }, client: { bytesRead: 0, bytesWritten: 0 } };
  n.totalConnections++;
  open.add(conn);
  return conn;
}

/** Close it the way forward.ts does: out of the open set, its totals onto the node. */
function close(conn: FakeConnection, open: Set<FakeConnection>): void {
  open.delete(conn);
  conn.ctx.node!.bytesIn += conn.client.bytesRead;
  conn.ctx.node!.bytesOut += conn.client.bytesWritten;
}

const near = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= rel * want, `${what}: ${got} not within ${rel * 100}% of ${want}`);

const ewma = suite('rate sampler: EWMA');

ewma('the first sample is a baseline; one step moves by alpha = 1 - exp(-dt / window)', () => {
  const n = node();
  const s = sampler([n], new Set());
  n.totalConnections = 100; // before the baseline: not a rate
  s.sample(0);
  assert.is(n.connectionRate, 0);
  n.totalConnections += 10;
  s.sample(1000);
  near(n.connectionRate, 10 * (1 - Math.exp(-0.1)), 1e-12, 'one step');
  n.totalConnections += 10;
  s.sample(3000); // 10 connections over 2 s is 5/s, with alpha for dt = 2 s
  const a1 = 10 * (1 - Math.exp(-0.1));
  near(n.connectionRate, a1 + (1 - Math.exp(-0.2)) * (5 - a1), 1e-12, 'second step');
});

ewma('rates converge to the true rate, with irregular tick spacing', () => {
  const n = node();
  const open = new Set<FakeConnection>();
  const s = sampler([n], open);
  let now = 0;
  s.sample(now);
  // 20 connections/s, each moving 1,000 bytes/s for its 5 s life: 100 open, 100,000 B/s.
  const live: { conn: FakeConnection; endsAt: number }[] = [];
  for (let tick = 0; tick < 600; tick++) {
    const step = tick % 2 === 0 ? 50 : 150; // 50 ms and 150 ms ticks
    for (let t = 0; t < step; t++) {
      now++;
      if (now % 50 === 0) live.push({ conn: openOn(n, open), endsAt: now + 5000 });
      for (const l of live) {
        if (now % 2 === 0) l.conn.client.bytesRead += 1;
        else l.conn.client.bytesWritten += 1;
      }
      for (let i = live.length - 1; i >= 0; i--) {
        if (live[i]!.endsAt <= now) {
          close(live[i]!.conn, open);
          live.splice(i, 1);
        }
      }
    }
    s.sample(now);
  }
  near(n.connectionRate, 20, 0.01, 'connectionRate');
  near(n.bytesRate, 100_000, 0.01, 'bytesRate');
});

ewma('an idle node decays to exactly 0; the window is read at every sample', () => {
  const n = node();
  let window = 1000;
  const s = sampler([n], new Set(), () => window);
  s.sample(0);
  n.totalConnections += 100;
  s.sample(1000);
  assert.ok(n.connectionRate > 60);
  for (let t = 2; t < 40; t++) s.sample(t * 1000);
  assert.is(n.connectionRate, 0, 'snapped to 0, not a denormal tail');
  window = 100_000;
  n.totalConnections += 100;
  s.sample(40_000);
  near(n.connectionRate, 100 * (1 - Math.exp(-0.01)), 1e-9, 'the new window applies');
});

ewma('a sample not after the last one is ignored', () => {
  const n = node();
  const s = sampler([n], new Set());
  s.sample(1000);
  n.totalConnections = 5;
  s.sample(1000);
  s.sample(500);
  assert.is(n.connectionRate, 0);
  s.sample(2000);
  assert.ok(n.connectionRate > 0);
});

/**
 * With a window of 1 ns, alpha is 1: each sample's bytesRate is exactly the bytes
 * counted in that interval per second, so sum(bytesRate * dt) is everything counted.
 */
function counter(nodes: FakeNode[], open: Set<FakeConnection>) {
  const s = sampler(nodes, open, 1e-6);
  let now = 0;
  s.sample(now);
  const counted = new Map(nodes.map((n) => [n, 0]));
  return {
    counted,
    tick(ms = 1000) {
      now += ms;
      s.sample(now);
      for (const n of nodes) counted.set(n, counted.get(n)! + (n.bytesRate * ms) / 1000);
    },
  };
}

const once = suite('rate sampler: each byte counted once');

once('a connection seen live, then closed between samples', () => {
  const n = node();
  const open = new Set<FakeConnection>();
  const c = counter([n], open);
  const conn = openOn(n, open);
  conn.client.bytesRead = 300;
  c.tick();
  assert.is(c.counted.get(n), 300);
  conn.client.bytesRead += 200;
  conn.client.bytesWritten += 1000;
  c.tick();
  assert.is(c.counted.get(n), 1500);
  conn.client.bytesWritten += 77;
  close(conn, open); // its 1,577 bytes arrive in bytesIn/bytesOut; 1,500 were counted live
  c.tick();
  assert.is(c.counted.get(n), 1577);
  assert.is(n.bytesRate, 77);
  c.tick();
  c.tick();
  assert.is(c.counted.get(n), 1577, 'nothing more once closed');
  assert.is(n.bytesRate, 0);
});

once('connections opened and closed between two samples, never seen live', () => {
  const n = node();
  const open = new Set<FakeConnection>();
  const c = counter([n], open);
  for (let i = 0; i < 3; i++) {
    const conn = openOn(n, open);
    conn.client.bytesRead = 100;
    conn.client.bytesWritten = 10;
    close(conn, open);
  }
  c.tick();
  assert.is(c.counted.get(n), 330);
});

once('closes and live growth mixed in one interval, on two nodes', () => {
  const a = node();
  const b = node();
  const open = new Set<FakeConnection>();
  const c = counter([a, b], open);
  const long = openOn(a, open);
  const short = openOn(a, open);
  const other = openOn(b, open);
  long.client.bytesRead = 1000;
  short.client.bytesWritten = 500;
  other.client.bytesRead = 7;
  c.tick();
  long.client.bytesRead += 1000;
  short.client.bytesWritten += 250;
  close(short, open);
  const late = openOn(a, open);
  late.client.bytesRead = 40;
  const brief = openOn(a, open);
  brief.client.bytesRead = 3;
  close(brief, open);
  other.client.bytesWritten = 13;
  c.tick();
  assert.is(c.counted.get(a), 1000 + 500 + 1000 + 250 + 40 + 3);
  assert.is(c.counted.get(b), 20);
  close(long, open);
  close(late, open);
  close(other, open);
  c.tick();
  c.tick();
  assert.is(c.counted.get(a), 2793, 'closing adds nothing already counted');
  assert.is(c.counted.get(b), 20);
  assert.is(a.bytesIn + a.bytesOut, 2793, 'and the total equals what the node was credited');
});

once('a random run of 2,000 events counts exactly the bytes that moved', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const nodes = [node(), node(), node()];
  const open = new Set<FakeConnection>();
  const c = counter(nodes, open);
  const moved = new Map(nodes.map((n) => [n, 0]));
  for (let i = 0; i < 2000; i++) {
    const r = rnd();
    const all = [...open];
    if (r < 0.2 || all.length === 0) openOn(nodes[Math.floor(rnd() * 3)]!, open);
    else if (r < 0.35) close(all[Math.floor(rnd() * all.length)]!, open);
    else if (r < 0.9) {
      const conn = all[Math.floor(rnd() * all.length)]!;
      const bytes = Math.floor(rnd() * 5000);
      if (rnd() < 0.5) conn.client.bytesRead += bytes;
      else conn.client.bytesWritten += bytes;
      moved.set(conn.ctx.node!, moved.get(conn.ctx.node!)! + bytes);
    } else c.tick(Math.floor(rnd() * 2000) + 1);
  }
  c.tick();
  for (const n of nodes) assert.ok(Math.abs(c.counted.get(n)! - moved.get(n)!) < 1e-6, `${c.counted.get(n)} vs ${moved.get(n)}`);
});

once('a node left out of a sample starts again from a baseline: no burst of stale bytes', () => {
  const n = node();
  const open = new Set<FakeConnection>();
  const nodes = [n];
  const s = sampler(nodes, open, 1);
  const conn = openOn(n, open);
  s.sample(0);
  conn.client.bytesRead = 100;
  s.sample(1000);
  assert.is(n.bytesRate, 100);
  nodes.length = 0; // gone from the serving generation
  conn.client.bytesRead += 1_000_000;
  s.sample(2000);
  assert.is(n.bytesRate, 100, 'untouched while not sampled');
  nodes.push(n);
  s.sample(3000);
  conn.client.bytesRead += 50;
  s.sample(4000);
  assert.is(n.bytesRate, 50);
});

once('a connection with no node yet, or moved while dialling, is counted for its node', () => {
  const a = node();
  const b = node();
  const open = new Set<FakeConnection>();
  const c = counter([a, b], open);
  const conn: FakeConnection = { ctx: { node: undefined }, client: { bytesRead: 0, bytesWritten: 0 } };
  open.add(conn);
  c.tick();
  conn.ctx.node = a; // dialling a
  c.tick();
  conn.ctx.node = b; // a failed, b answers
  b.totalConnections++;
  conn.client.bytesRead = 10;
  c.tick();
  close(conn, open);
  c.tick();
  assert.is(c.counted.get(a), 0);
  assert.is(c.counted.get(b), 10);
});

const timer = suite('rate sampler: start and stop');

timer('start() samples on an unref\'ed timer; stop() stops it', async () => {
  const n = node();
  let now = 0;
  const s = new RateSampler({ window: 1, nodes: () => [n], connections: () => [], interval: 10, clock: () => now });
  s.start();
  assert.ok(s.running);
  assert.is((s as unknown as { timer: NodeJS.Timeout }).timer.hasRef(), false, 'does not hold the process open');
  now = 1000;
  n.totalConnections = 3;
  await waitFor(() => n.connectionRate === 3, 2000, 'a timed sample');
  s.stop();
  assert.not.ok(s.running);
  now = 2000;
  n.totalConnections = 100;
  await new Promise((r) => setTimeout(r, 60));
  assert.is(n.connectionRate, 3, 'no sample after stop()');
  s.stop(); // twice is fine
});

ewma.run();
once.run();
timer.run();
