/**
 * Forwarding of connections (core/forward.ts) through a real balancer, with real sockets
 * on 127.0.0.1: bytes unchanged, backpressure, half-close, resets, refused and silent
 * nodes, many concurrent connections, and errors that must never reach the process.
 */
import net, { type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { oneCluster, startBalancer, type LogLine, type TestBalancer } from '../helpers/balancer.ts';
import {
  closed,
  closeServer,
  connect,
  freePort,
  HOST,
  portOf,
  randomBytes,
  readAll,
  readSlowly,
  sha256,
  startEchoServer,
  startServer,
  waitFor,
  withTimeout,
  writeChunked,
} from '../helpers/net.ts';

const MiB = 1024 * 1024;

// ─── rig: everything a test opens, closed in its finally ────────────────────

class Rig {
  private readonly sockets = new Set<Socket>();
  private readonly servers: Server[] = [];
  private readonly balancers: TestBalancer[] = [];
  private readonly cleanups: (() => Promise<void> | void)[] = [];

  /** Accepted sockets of `server` are destroyed at cleanup, so its close can finish. */
  private track<S extends Server>(server: S): S {
    server.on('connection', (s: Socket) => this.sockets.add(s));
    this.servers.push(server);
    return server;
  }

  async server(onSocket: (socket: Socket) => void): Promise<Server> {
    return this.track(await startServer(onSocket));
  }

  async echo(): Promise<Server & { connections: number }> {
    return this.track(await startEchoServer());
  }

  async balancer(addresses: string[], extra: Parameters<typeof oneCluster>[1] = {}): Promise<TestBalancer> {
    const tb = await startBalancer(oneCluster(addresses, extra));
    this.balancers.push(tb);
    return tb;
  }

  async connect(port: number, allowHalfOpen = false): Promise<Socket> {
    const socket = await connect(port, { allowHalfOpen });
    socket.on('error', () => {});
    this.sockets.add(socket);
    return socket;
  }

  /** A client socket whose connect is not awaited (it may fail: errors are swallowed). */
  raw(port: number): Socket {
    const socket = net.connect({ host: HOST, port });
    socket.on('error', () => {});
    this.sockets.add(socket);
    return socket;
  }

  onCleanup(fn: () => Promise<void> | void): void {
    this.cleanups.push(fn);
  }

  async cleanup(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.balancers.map((tb) => withTimeout(tb.stop(), 5000, 'balancer stop')));
    for (const s of this.sockets) s.destroy(); // accepted while the balancer stopped
    await Promise.all(this.servers.map((s) => withTimeout(closeServer(s), 5000, 'server close')));
    for (const fn of this.cleanups) await fn();
  }
}

async function withRig(fn: (rig: Rig) => Promise<void>, ms = 30_000): Promise<void> {
  const rig = new Rig();
  try {
    await withTimeout(fn(rig), ms, 'test body');
  } finally {
    await rig.cleanup();
  }
}

/** A promise with its resolve handle, for values produced in a server callback. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {});
  return { promise, resolve, reject };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function drained(tb: TestBalancer, what = 'the balancer to have no open connection'): Promise<void> {
  return waitFor(() => tb.balancer.connections().length === 0, 5000, what);
}

/** Samples the largest `bufferedBytes` over the balancer's connections every `everyMs`. */
function sampleBuffered(tb: TestBalancer, everyMs = 10): { max: () => number; samples: () => number; stop: () => void } {
  let max = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    for (const c of tb.balancer.connections()) max = Math.max(max, c.bufferedBytes);
  }, everyMs);
  return { max: () => max, samples: () => samples, stop: () => clearInterval(timer) };
}

function logText(line: LogLine): string {
  return `${line.msg} ${JSON.stringify(line.fields)}`;
}

/** Distinct payload of 4-16 KiB for connection `id`, stamped with the id. */
function payloadFor(id: number): Buffer {
  const stamp = Buffer.from(`conn-${id}:`);
  return Buffer.concat([stamp, randomBytes(4096 + ((id * 7919) % 12289))]);
}

/** A client that sends `payload`, ends, and returns what came back (the node echoes). */
async function echoRoundTrip(rig: Rig, port: number, payload: Buffer): Promise<Buffer> {
  const c = await rig.connect(port, true);
  const got = readAll(c);
  c.end(payload);
  return got;
}

/**
 * After trouble: the balancer lets go of every connection, still serves `clients` more
 * clients with their own bytes, and nothing escaped to the process.
 */
async function expectStillServing(rig: Rig, tb: TestBalancer, clients = 1, seed = 1): Promise<void> {
  await drained(tb, 'the troubled connections to be gone');
  for (let i = 0; i < clients; i++) {
    const payload = payloadFor(seed + i);
    assert.equal(await echoRoundTrip(rig, tb.port, payload), payload, `client ${i} after the trouble is served`);
  }
  await drained(tb);
  assert.equal(escaped, []);
}

// ─── a node that never completes the TCP handshake ──────────────────────────

interface SilentNode {
  port: number;
  close(): Promise<void>;
}

/**
 * A listening socket (backlog 1) in a worker thread whose event loop is blocked, so it
 * never accepts: once its accept queue is full, the kernel drops further SYNs and a
 * connect to it never completes. Undefined when that cannot be arranged here.
 */
async function startSilentNode(rig: Rig): Promise<SilentNode | undefined> {
  const flag = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const net = require('node:net');
    const server = net.createServer();
    server.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      parentPort.postMessage(server.address().port);
      Atomics.wait(workerData, 0, 0, 60000); // block the loop: no accept, ever
      server.close();
      process.exit(0);
    });
    `,
    { eval: true, workerData: flag },
  );
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const close = async () => {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await withTimeout(exited, 5000, 'silent node worker exit').catch(() => worker.terminate());
  };
  rig.onCleanup(close);
  const port = await withTimeout(
    new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }),
    5000,
    'silent node to listen',
  );
  // Fill the accept queue (backlog 1: two connections on Linux): connect until one
  // connect does not complete within 500 ms (at most 8 tries).
  for (let i = 0; i < 8; i++) {
    const s = rig.raw(port);
    const done = await Promise.race([
      new Promise<boolean>((resolve) => s.once('connect', () => resolve(true))),
      sleep(500).then(() => false),
    ]);
    if (!done) return { port, close };
  }
  return undefined;
}

/** A client of `port` gets no data and is closed within 2 s. */
async function expectPromptEmptyClose(rig: { connect(port: number): Promise<import('node:net').Socket> }, port: number): Promise<void> {
  const started = Date.now();
  const c = await rig.connect(port);
  const chunks: Buffer[] = [];
  c.on('data', (d: Buffer) => chunks.push(d));
  await withTimeout(closed(c), 5000, 'client close');
  const took = Date.now() - started;
  assert.ok(took < 2000, `closed promptly (${took} ms)`);
  assert.is(Buffer.concat(chunks).length, 0, 'no data');
}

/** The connect-timeout tests need a node that never completes the handshake; not having one is a failure. */
function noSilentNode(): never {
  throw new Error('no never-completing TCP handshake could be arranged on loopback (listen backlog full)');
}

// ─── 1. bytes unchanged ─────────────────────────────────────────────────────

const bytes = suite('forward: bytes unchanged');

bytes('8 MB each way at once arrives unchanged on both sides', () =>
  withRig(async (rig) => {
    const up = randomBytes(8 * MiB);
    const down = randomBytes(8 * MiB);
    const atServer = deferred<Buffer>();
    const server = await rig.server((s) => {
      readAll(s).then(atServer.resolve, atServer.reject);
      s.end(down);
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    const c = await rig.connect(tb.port, true);
    const atClient = readAll(c);
    c.end(up);
    const [gotUp, gotDown] = await Promise.all([atServer.promise, atClient]);
    assert.is(gotUp.length, up.length, 'server received 8 MB');
    assert.is(sha256(gotUp), sha256(up), 'server received the client bytes unchanged');
    assert.is(gotDown.length, down.length, 'client received 8 MB');
    assert.is(sha256(gotDown), sha256(down), 'client received the server bytes unchanged');
    await drained(tb);
    const node = tb.balancer.node('c/n0')!;
    assert.is(node.bytesIn, up.length, 'node bytesIn counts the client bytes');
    assert.is(node.bytesOut, down.length, 'node bytesOut counts the server bytes');
    assert.is(node.activeConnections, 0);
    assert.equal(
      tb.logger.lines.filter((l) => l.level === 'warn' || l.level === 'error'),
      [],
      'nothing worth a warning was logged',
    );
  }),
);

bytes.run();

// ─── 2. backpressure ────────────────────────────────────────────────────────

const BOUND = 1 * MiB;
const BIG = 16 * MiB;
/** Figures printed at the end, for the report. */
const observed: Record<string, unknown> = {};

const backpressure = suite('forward: backpressure');

/**
 * `sender` writes 16 MB in 64 KiB pieces (waiting for 'drain' when write returns false)
 * to a reader that reads nothing for 400 ms, then reads slowly to the end. Samples the
 * balancer's bufferedBytes every 10 ms throughout.
 */
async function slowReader(rig: Rig, sender: 'server' | 'client', label: string): Promise<void> {
  const data = randomBytes(BIG);
  const serverSocket = deferred<Socket>();
  const server = await rig.server((s) => serverSocket.resolve(s));
  const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
  const c = await rig.connect(tb.port, true);
  const s = await serverSocket.promise;
  const [writer, reader] = sender === 'server' ? [s, c] : [c, s];
  const sampler = sampleBuffered(tb);
  try {
    const { progress, finished } = writeChunked(writer, data); // the reader reads nothing yet
    await sleep(400);
    const pausedMax = sampler.max();
    const paused = { handed: progress.handed, pending: writer.writableLength, done: progress.done };
    const got = await readSlowly(reader, 1);
    await finished;
    reader.end();
    observed[label] = {
      maxBufferedWhilePaused: pausedMax,
      maxBufferedOverall: sampler.max(),
      samples: sampler.samples(),
      [`${sender}HandedWhenPaused`]: paused.handed,
      [`${sender}PendingWhenPaused`]: paused.pending,
      [`${sender}AcceptedByKernelWhenPaused`]: paused.handed - paused.pending,
      [`${sender}WriteReturnedFalse`]: progress.blocked,
      [`${sender}MaxWritableLength`]: progress.maxWritableLength,
    };
    // The sender was stuck while the reader slept: write() said false, bytes waited in its
    // own buffer, and it could not hand its 16 MB over…
    assert.ok(progress.blocked > 0, `${sender} socket.write returned false`);
    assert.not.ok(paused.done, `${sender} still blocked at the end of the pause`);
    assert.ok(paused.handed < data.length, `${sender} handed only ${paused.handed} of ${data.length} bytes`);
    assert.ok(paused.pending > 0, `${sender} writableLength grew (${paused.pending} pending)`);
    // …while the balancer itself held little: it stopped reading instead of buffering.
    assert.ok(sampler.samples() >= 20, `enough samples taken (${sampler.samples()})`);
    assert.ok(pausedMax > 0, 'the balancer did hold some bytes (the sampler sees them)');
    assert.ok(pausedMax < BOUND, `max bufferedBytes while paused ${pausedMax} < ${BOUND}`);
    assert.ok(sampler.max() < BOUND, `max bufferedBytes overall ${sampler.max()} < ${BOUND}`);
    assert.is(got.length, data.length, 'every byte arrived');
    assert.is(sha256(got), sha256(data), 'checksum matches');
  } finally {
    sampler.stop();
  }
  await drained(tb);
}

backpressure('a paused client: the balancer stops reading the server instead of buffering', () =>
  withRig((rig) => slowReader(rig, 'server', 'server -> paused client')),
);

backpressure('a paused server: the balancer stops reading the client instead of buffering', () =>
  withRig((rig) => slowReader(rig, 'client', 'client -> paused server')),
);

backpressure.after(() => {
  if (process.env.FORWARD_TEST_FIGURES) console.log('\nbackpressure figures:', JSON.stringify(observed, null, 2));
});

backpressure.run();

// ─── 3. half-close ──────────────────────────────────────────────────────────

const halfClose = suite('forward: half-close');

halfClose('the client ends its write side first: the server answers afterwards', () =>
  withRig(async (rig) => {
    const request = Buffer.from('GET /everything\n');
    const answer = randomBytes(1 * MiB);
    const atServer = deferred<Buffer>();
    const server = await rig.server((s) => {
      readAll(s).then((req) => {
        atServer.resolve(req);
        s.end(answer); // only after the client's end
      }, atServer.reject);
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    const c = await rig.connect(tb.port, true);
    const got = readAll(c);
    c.end(request);
    assert.equal(await atServer.promise, request, 'server read the whole request, then saw its end');
    const body = await got;
    assert.is(body.length, answer.length, 'client got the whole answer after its own end');
    assert.is(sha256(body), sha256(answer));
    await drained(tb);
  }),
);

halfClose('the server ends its write side first: the client still sends afterwards', () =>
  withRig(async (rig) => {
    const greeting = Buffer.from('220 hello, I will not talk any more\n');
    const upload = randomBytes(512 * 1024);
    const atServer = deferred<Buffer>();
    const server = await rig.server((s) => {
      readAll(s).then(atServer.resolve, atServer.reject);
      s.end(greeting);
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    const c = await rig.connect(tb.port, true);
    const heard = await readAll(c); // resolves on the server's 'end'
    assert.equal(heard, greeting, 'client got the greeting, then the end');
    assert.ok(c.writable, 'client write side still open after the end');
    c.end(upload);
    const got = await atServer.promise;
    assert.is(got.length, upload.length, 'server received everything sent after its own end');
    assert.is(sha256(got), sha256(upload));
    await drained(tb);
  }),
);

halfClose.run();

// ─── 4. resets ──────────────────────────────────────────────────────────────

const resets = suite('forward: reset propagation');

resets('the client resets mid-connection: the server sees ECONNRESET', () =>
  withRig(async (rig) => {
    const serverClosed = deferred<Error | undefined>();
    const server = await rig.server((s) => {
      closed(s).then(serverClosed.resolve);
      s.on('data', (d: Buffer) => s.write(d)); // echo, without ending
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    const c = await rig.connect(tb.port);
    c.write('ping');
    await new Promise((resolve) => c.once('data', resolve)); // forwarding is up
    c.resetAndDestroy();
    const err = (await serverClosed.promise) as NodeJS.ErrnoException | undefined;
    assert.ok(err, 'server socket closed with an error');
    assert.is(err!.code, 'ECONNRESET');
    await drained(tb);
  }),
);

resets('the server resets mid-connection: the client sees ECONNRESET', () =>
  withRig(async (rig) => {
    const server = await rig.server((s) => {
      s.once('data', () => {
        s.write('pong', () => setTimeout(() => s.resetAndDestroy(), 20));
      });
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    const c = await rig.connect(tb.port);
    const clientClosed = closed(c);
    c.write('ping');
    await new Promise((resolve) => c.once('data', resolve)); // forwarding is up
    c.resume();
    const err = (await clientClosed) as NodeJS.ErrnoException | undefined;
    assert.ok(err, 'client socket closed with an error');
    assert.is(err!.code, 'ECONNRESET');
    await drained(tb);
  }),
);

resets.run();

// ─── 5. a node that refuses ─────────────────────────────────────────────────

const refused = suite('forward: a node refusing connections');

refused('the client is closed promptly, and the refusal is logged with the node', () =>
  withRig(async (rig) => {
    const port = await freePort();
    const tb = await rig.balancer([`${HOST}:${port}`]);
    await expectPromptEmptyClose(rig, tb.port);
    const line = tb.logger.lines.find((l) => logText(l).includes('ECONNREFUSED'));
    assert.ok(line, 'a log line mentions ECONNREFUSED');
    assert.is(line!.fields.node, 'c/n0', 'and names the node');
    assert.is(line!.fields.address, `${HOST}:${port}`, 'and its address');
    assert.ok(
      tb.logger.lines.some((l) => l.msg.includes('no node could be reached') && l.msg.includes('c/n0')),
      'the give-up line names the node tried',
    );
    assert.is(tb.balancer.node('c/n0')!.failures, 1);
    await drained(tb);
  }),
);

refused('with one node refusing and one up, every client is served', () =>
  withRig(async (rig) => {
    const down = await freePort();
    const echo = await rig.echo();
    const tb = await rig.balancer([`${HOST}:${down}`, `${HOST}:${portOf(echo)}`]);
    const clients = 20;
    for (let i = 0; i < clients; i++) {
      const payload = payloadFor(i);
      const got = await echoRoundTrip(rig, tb.port, payload);
      assert.equal(got, payload, `client ${i} served`);
    }
    assert.is(echo.connections, clients, 'every client reached the live node');
    const refusedNode = tb.balancer.node('c/n0')!;
    assert.ok(refusedNode.failures > 0, `the refusing node was tried (${refusedNode.failures} times) and skipped`);
    assert.is(refusedNode.totalConnections, 0);
    assert.is(tb.balancer.node('c/n1')!.totalConnections, clients);
    await drained(tb);
  }),
);

refused.run();

// ─── 6. many concurrent connections ─────────────────────────────────────────

const concurrent = suite('forward: 1,000 concurrent connections');

concurrent('each of 1,000 concurrent clients gets exactly its own bytes back', () =>
  withRig(async (rig) => {
    const count = 1000;
    const echo = await rig.echo();
    const tb = await rig.balancer([`${HOST}:${portOf(echo)}`]);
    const clients: Socket[] = [];
    // Open in waves, so that no accept queue overflows (the backlog is 511).
    for (let wave = 0; wave < count; wave += 100) {
      const opened = await Promise.all(
        Array.from({ length: Math.min(100, count - wave) }, () => rig.connect(tb.port, true)),
      );
      clients.push(...opened);
    }
    await waitFor(() => tb.balancer.connections().length === count, 10_000, 'all 1,000 connections open at once');
    await waitFor(() => echo.connections === count, 10_000, 'all 1,000 forwarded to the node');
    const payloads = clients.map((_, i) => payloadFor(i));
    const results = await withTimeout(
      Promise.all(
        clients.map((c, i) => {
          const got = readAll(c);
          c.end(payloads[i]!);
          return got;
        }),
      ),
      30_000,
      '1,000 echoes',
    );
    let wrong = 0;
    results.forEach((got, i) => {
      if (!got.equals(payloads[i]!)) wrong++;
    });
    assert.is(wrong, 0, 'every client received exactly its own payload');
    await waitFor(() => tb.balancer.connections().length === 0, 10_000, 'every connection closed');
    assert.equal(tb.balancer.connections(), []);
    assert.is(tb.balancer.node('c/n0')!.activeConnections, 0);
  }, 60_000),
);

concurrent.run();

// ─── 7. connect timeout ─────────────────────────────────────────────────────

const timeout = suite('forward: connect timeout');

timeout('a node that never completes the handshake times out; the client is closed', () =>
  withRig(async (rig) => {
    const silent = await startSilentNode(rig);
    if (!silent) return noSilentNode();
    const tb = await rig.balancer([`${HOST}:${silent.port}`], { connectTimeout: '300ms' });
    await expectPromptEmptyClose(rig, tb.port);
    const line = tb.logger.lines.find((l) => logText(l).includes('ETIMEDOUT'));
    assert.ok(line, 'a log line mentions ETIMEDOUT');
    assert.is(line!.fields.node, 'c/n0');
    assert.ok(String(line!.fields.err).includes('300 ms'), 'with the configured timeout');
    await drained(tb);
  }),
);

timeout('after a node times out, the next node serves the client', () =>
  withRig(async (rig) => {
    const silent = await startSilentNode(rig);
    if (!silent) return noSilentNode();
    const echo = await rig.echo();
    const tb = await rig.balancer([`${HOST}:${silent.port}`, `${HOST}:${portOf(echo)}`], {
      connectTimeout: '300ms',
      balance: 'round-robin',
    });
    for (let i = 0; i < 4; i++) {
      const payload = payloadFor(i);
      assert.equal(await echoRoundTrip(rig, tb.port, payload), payload, `client ${i} served`);
    }
    assert.ok(tb.balancer.node('c/n0')!.failures > 0, 'the silent node was tried');
    assert.is(echo.connections, 4);
    await drained(tb);
  }),
);

timeout.run();

// ─── 8. errors never reach the process ──────────────────────────────────────

const contained = suite('forward: errors never reach the process');
const escaped: unknown[] = [];
const onEscape = (err: unknown) => escaped.push(err);

contained.before(() => {
  process.on('uncaughtException', onEscape);
  process.on('unhandledRejection', onEscape);
});
contained.after(() => {
  process.off('uncaughtException', onEscape);
  process.off('unhandledRejection', onEscape);
});
contained.before.each(() => {
  escaped.length = 0;
});

contained('clients that reset at once, in every phase, then a client is served', () =>
  withRig(async (rig) => {
    const echo = await rig.echo();
    const tb = await rig.balancer([`${HOST}:${portOf(echo)}`]);
    for (let i = 0; i < 50; i++) {
      const s = rig.raw(tb.port);
      if (i % 2 === 0) s.resetAndDestroy(); // before even connecting
      else s.once('connect', () => s.resetAndDestroy());
    }
    await expectStillServing(rig, tb, 1, 1);
  }),
);

contained('clients that reset while the balancer is dialling, then a client is served', () =>
  withRig(async (rig) => {
    const silent = await startSilentNode(rig);
    if (!silent) return noSilentNode();
    const echo = await rig.echo();
    const tb = await rig.balancer([`${HOST}:${silent.port}`, `${HOST}:${portOf(echo)}`], {
      connectTimeout: '300ms',
    });
    let duringDial = 0;
    for (let i = 0; i < 10; i++) {
      const c = await rig.connect(tb.port);
      c.write('early bytes');
      const me = `${HOST}:${c.localPort}`;
      await waitFor(() => tb.balancer.connections().some((x) => x.client === me), 2000, 'the balancer to take the client');
      // n0 is the silent node: a connection on it can only be dialling.
      if (tb.balancer.connections().find((x) => x.client === me)?.node === 'c/n0') duringDial++;
      c.resetAndDestroy();
    }
    assert.ok(duringDial > 0, `some clients reset while the balancer was dialling (${duringDial})`);
    await expectStillServing(rig, tb, 4, 0);
  }),
);

contained('a node that resets right after accept, then a client is served', () =>
  withRig(async (rig) => {
    let resets = 20;
    const server = await rig.server((s) => {
      if (resets > 0) {
        resets--;
        s.resetAndDestroy();
      } else s.pipe(s);
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    for (let i = 0; i < 20; i++) {
      const c = await rig.connect(tb.port);
      c.write(payloadFor(i));
      c.resume();
      const err = (await withTimeout(closed(c), 5000, 'client close')) as NodeJS.ErrnoException | undefined;
      // The RST reaches the client as a reset, or as a plain close when it came first.
      if (err) assert.is(err.code, 'ECONNRESET');
    }
    await expectStillServing(rig, tb, 1, 99);
  }),
);

contained('a client that vanishes while the node streams to it, then a client is served', () =>
  withRig(async (rig) => {
    const blob = randomBytes(4 * MiB);
    let streaming = 10;
    const server = await rig.server((s) => {
      if (streaming > 0) {
        streaming--;
        writeChunked(s, blob);
      } else s.pipe(s);
    });
    const tb = await rig.balancer([`${HOST}:${portOf(server)}`]);
    for (let i = 0; i < 10; i++) {
      const c = await rig.connect(tb.port);
      await new Promise((resolve) => c.once('data', resolve));
      if (i % 2 === 0) c.destroy();
      else c.resetAndDestroy();
    }
    await expectStillServing(rig, tb, 1, 7);
  }),
);

contained.run();

// ─── idle timeout: a sweep over byte counters, no timer per connection ─────

const idle = suite('forward: idle timeout');

idle('a connection silent both ways for idleTimeout is closed; one that talks lives on', async () => {
  const echo = await startEchoServer();
  const tb = await startBalancer({ ...oneCluster([`${HOST}:${portOf(echo)}`]), idleTimeout: 300 });
  const quiet = await connect(tb.port);
  const talking = await connect(tb.port);
  try {
    const quietClosed = closed(quiet);
    const started = Date.now();
    // The talker sends something every 100 ms for a second: never idle for 300 ms.
    for (let i = 0; i < 10; i++) {
      const back = new Promise((resolve) => talking.once('data', resolve));
      talking.write('ping');
      await withTimeout(back, 2000, 'an echo');
      await sleep(100);
    }
    await withTimeout(quietClosed, 2000, 'the quiet connection to be closed');
    assert.ok(Date.now() - started >= 300, 'not before the timeout');
    assert.not.ok(talking.destroyed, 'the talking connection is still open');
    const back = new Promise<Buffer>((resolve) => talking.once('data', resolve));
    talking.write('still');
    assert.is(String(await withTimeout(back, 2000, 'an echo after the sweep')), 'still');
  } finally {
    quiet.destroy();
    talking.destroy();
    await tb.stop();
    await closeServer(echo);
  }
});

idle.run();

// ─── a reset after a half-close: the connection still ends, nothing is left open ───

const resetAfterHalfClose = suite('forward: reset after a half-close');

resetAfterHalfClose('a client half-closes, then resets; the node answers late: both sides close, the connection is finished', async () => {
  let nodeSide: Socket | undefined;
  const server = await startServer((s) => {
    nodeSide = s;
    s.resume();
  });
  const tb = await startBalancer(oneCluster([`${HOST}:${portOf(server)}`]));
  try {
    const client = await connect(tb.port, { allowHalfOpen: true });
    client.write('hello');
    await waitFor(() => nodeSide !== undefined, 2000, 'the node connection');
    const node = nodeSide!;
    const nodeEnded = new Promise((resolve) => node.once('end', resolve));
    client.end();
    // The balancer passes the client's end on: the node's write side is shut down.
    await withTimeout(nodeEnded, 2000, 'the end to reach the node');
    const clientGone = closed(client);
    client.resetAndDestroy();
    await clientGone;
    // Writing to the reset client fails in the balancer, which must then close the node
    // side (it cannot reset it: its write side is shut down) and finish the connection.
    const nodeClosed = closed(node);
    const late = setInterval(() => node.writable && node.write('late answer'), 20);
    try {
      await withTimeout(nodeClosed, 3000, 'the node side to be closed');
    } finally {
      clearInterval(late);
    }
    await waitFor(() => tb.balancer.connections().length === 0, 2000, 'the connection to be finished');
    assert.is(tb.balancer.node('c/n0')!.activeConnections, 0);
  } finally {
    await tb.stop();
    await closeServer(server);
  }
});

resetAfterHalfClose.run();
