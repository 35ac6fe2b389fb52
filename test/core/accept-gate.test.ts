/**
 * The accept gate (core/datapath/accept-gate.ts) and the pausable listening sockets of
 * both data paths: a paused socket accepts nobody while the kernel queues clients, and
 * serves them on resume; a local shortage pauses every gated socket, two released
 * descriptors resume them, and the shortage is logged at most once a second with counts.
 */
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { acceptGate, isLocalShortage, type Gated } from '../../core/datapath/accept-gate.ts';
import { probeFastDataPath } from '../../core/datapath/fast.ts';
import { netDataPath } from '../../core/datapath/net.ts';
import type { DataPath, Endpoint } from '../../core/datapath/index.ts';
import type { Logger } from '../../core/logger.ts';
import { HOST, waitFor } from '../helpers/net.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder(): Logger & { lines: { obj: unknown; msg: string | undefined }[] } {
  const lines: { obj: unknown; msg: string | undefined }[] = [];
  const log = (obj: object | string, msg?: string) => void lines.push({ obj, msg });
  const self = { lines, trace: log, debug: log, info: log, warn: log, error: log, fatal: log, child: () => self };
  return self;
}

const fast = probeFastDataPath();
const paths: DataPath[] = typeof fast === 'string' ? [netDataPath] : [fast, netDataPath];

const pausing = suite('listening sockets pause and resume');

for (const dp of paths) {
  pausing(`${dp.name}: paused, clients wait in the queue; resumed, they are served`, async () => {
    const accepted: Endpoint[] = [];
    const listen = await dp.listen(HOST, 0, (c) => accepted.push(c), () => {});
    const client = net.connect({ host: HOST, port: listen.port });
    client.on('error', () => {});
    try {
      assert.is(listen.pause(), true, 'the socket can pause');
      const second = net.connect({ host: HOST, port: listen.port });
      second.on('error', () => {});
      await new Promise((r) => second.once('connect', r));
      await sleep(100);
      // The first client may have been accepted before the pause; the second was not.
      const whilePaused = accepted.length;
      assert.ok(whilePaused <= 1, `accepted while paused: ${whilePaused}`);
      listen.resume();
      await waitFor(() => accepted.length === 2, 2000, 'both clients accepted after resume');
      second.destroy();
    } finally {
      client.destroy();
      for (const ep of accepted) ep.destroy();
      listen.close();
    }
  });
}

for (const dp of paths) {
  pausing(`${dp.name}: a port in use is refused with EADDRINUSE, not taken elsewhere`, async () => {
    const taken = await dp.listen(HOST, 0, () => {}, () => {});
    try {
      const err = await dp.listen(HOST, taken.port, () => {}, () => {}).then(
        (l) => (l.close(), new Error(`listened on ${l.port}`)),
        (e: NodeJS.ErrnoException) => e,
      );
      assert.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE', err.message);
    } finally {
      taken.close();
    }
  });
}

const gate = suite('the accept gate');

gate('local shortages are told from other errors', () => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  assert.ok(isLocalShortage(e('EMFILE'), 'accept'));
  assert.ok(isLocalShortage(e('ENFILE'), 'dial'));
  assert.ok(isLocalShortage(e('ENOBUFS'), 'dial'));
  assert.ok(isLocalShortage(e('EADDRNOTAVAIL'), 'dial'));
  assert.not.ok(isLocalShortage(e('EADDRNOTAVAIL'), 'accept'));
  assert.not.ok(isLocalShortage(e('ECONNREFUSED'), 'dial'));
  assert.not.ok(isLocalShortage(e('ETIMEDOUT'), 'dial'));
  assert.not.ok(isLocalShortage(new Error('no code'), 'dial'));
});

gate('a shortage pauses every gated socket; two released descriptors resume them; one line a second', async () => {
  const calls: string[] = [];
  const socket = (name: string): Gated => ({
    pause: () => (calls.push(`${name} pause`), true),
    resume: () => void calls.push(`${name} resume`),
  });
  const a = socket('a');
  const b = socket('b');
  const logger = recorder();
  acceptGate.add(a, logger);
  acceptGate.add(b, logger);
  try {
    const emfile = Object.assign(new Error('connect EMFILE'), { code: 'EMFILE' });
    assert.is(acceptGate.check(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), 'dial'), false);
    assert.equal(calls, [], 'not a shortage: nothing paused');
    assert.is(acceptGate.check(emfile, 'dial'), true);
    assert.ok(acceptGate.paused);
    assert.equal(calls, ['a pause', 'b pause']);
    for (let i = 0; i < 99; i++) acceptGate.check(emfile, 'dial');
    assert.equal(calls, ['a pause', 'b pause'], 'already paused: counted only');
    acceptGate.released();
    assert.ok(acceptGate.paused, 'one descriptor is not room for a client and its dial');
    acceptGate.released();
    assert.not.ok(acceptGate.paused);
    assert.equal(calls, ['a pause', 'b pause', 'a resume', 'b resume']);

    // Again at once: the pause grows (the episode goes on), and ends by itself.
    acceptGate.check(emfile, 'dial');
    assert.ok(acceptGate.paused);
    await waitFor(() => !acceptGate.paused, 1000, 'the pause to end');

    assert.is(logger.lines.length, 1, 'the first shortage is logged at once, the rest wait a second');
    assert.match(String(logger.lines[0]!.msg), 'EMFILE on dial ×1');
    await waitFor(() => logger.lines.length === 2, 2000, 'the second line');
    assert.equal((logger.lines[1]!.obj as { errors: unknown }).errors, { 'EMFILE on dial': 100 });
    assert.match(String(logger.lines[1]!.msg), 'accepting paused 1×, the last time for up to ');
    await sleep(1100);
    assert.is(logger.lines.length, 2, 'nothing new: nothing logged');
  } finally {
    acceptGate.delete(a);
    acceptGate.delete(b);
  }
});

pausing.run();
gate.run();
