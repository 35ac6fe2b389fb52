/**
 * Coverage-guided fuzz target (@jazzer.js/core) for what an algorithm or policy answers
 * (core/policy-answer.ts `checkAnswer`, the guard in core/guard.ts, and the isolate's
 * twin of the checks in core/sandbox-prelude.ts). Run as
 * `npm run fuzz -- policy-answer --seconds N`.
 *
 * `fuzz(data)` decodes `data` into an answer, any JavaScript value (`decodeAnswer`: numbers
 * and NaN, strings of any length, a candidate's id, arrays, objects, bigints, symbols,
 * functions, boxed strings, proxies that throw or are revoked) and throws only when a
 * promise is broken, a real bug:
 * - `checkAnswer` never throws; it takes exactly the candidates' ids (at the right index);
 *   anything else gets a problem of at most 500 characters, quoting at most 64 of it;
 * - the guard never throws, always gives a candidate, counts a bad answer as cause
 *   `answer`, and logs at most MAX_ERROR_LINE characters of error;
 * - the prelude (run here in a node:vm context, as it runs in the isolate) lets out only
 *   strings of at most MAX_ANSWER_LENGTH characters, and describes every other answer in
 *   the very words of `checkAnswer`.
 * test/core/policy-answers.test.ts holds the same properties for fast-check.
 */
import vm from 'node:vm';
import { guardChooser } from '../../core/guard.ts';
import type { Logger } from '../../core/logger.ts';
import { checkAnswer, MAX_ANSWER_LENGTH, MAX_ERROR_LINE } from '../../core/policy-answer.ts';
import { bufferBytes, PRELUDE, readBuffer } from '../../core/sandbox-prelude.ts';
import { ALL, NodeTable } from '../../core/sandbox-table.ts';
import type { ClientView, NodeView } from '../../core/types.ts';
import { nodeView } from '../../test/helpers/views.ts';


/** Candidates: short, unicode, and one of exactly the longest id taken. */
export const NODES: readonly NodeView[] = [nodeView('a'), nodeView('node-10'), nodeView('ü-ß'), nodeView('n'.repeat(MAX_ANSWER_LENGTH))];
const CLIENT: ClientView = { address: '10.0.0.1', port: 40000, listener: 'l' };

/** `data` as an answer: the first byte chooses the kind, the rest fills it. */
export function decodeAnswer(data: Buffer): unknown {
  const kind = data[0] ?? 0;
  const rest = data.subarray(1);
  const text = rest.toString('utf8');
  switch (kind % 18) {
    case 0: return undefined;
    case 1: return null;
    case 2: return (rest[0] ?? 0) % 2 === 1;
    case 3: return rest.length >= 8 ? rest.readDoubleLE(0) : (rest[0] ?? 0) - 128;
    case 4: return text;
    case 5: return rest.toString('latin1');
    case 6: return NODES[(rest[0] ?? 0) % NODES.length]!.id;
    case 7: return `${NODES[(rest[0] ?? 0) % NODES.length]!.id}${rest.subarray(1).toString('utf8')}`;
    case 8: return (text || 'x').repeat(Math.ceil(((rest[0] ?? 0) * 8192 + MAX_ANSWER_LENGTH) / Math.max(text.length, 1)));
    case 9: return text.split('\0');
    case 10: return parseOr(text);
    case 11: return BigInt(rest.length > 0 ? `0x${rest.toString('hex')}` : 0);
    case 12: return Symbol(text);
    case 13: return () => text;
    case 14: return new String(NODES[0]!.id);
    case 15: {
      const { proxy, revoke } = Proxy.revocable([], {});
      revoke();
      return proxy;
    }
    case 16: return new Proxy({}, { get: () => { throw new Error('trap'); }, getPrototypeOf: () => { throw new Error('trap'); } });
    default: return [text, Number.NaN, Infinity, -0][(rest[0] ?? 0) % 4];
  }
}

function parseOr(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return { text };
  }
}

const logged: { err?: unknown; answer?: unknown }[] = [];
const record = (fields: object | string) => {
  if (typeof fields === 'object') logged.push(fields as { err?: unknown; answer?: unknown });
};
const logger: Logger = { trace: record, debug: record, info: record, warn: record, error: record, fatal: record, child: () => logger };

/** The prelude in a context of its own, its pick answering `current`. */
let current: unknown;
const context = vm.createContext({});
vm.runInContext(PRELUDE, context);
(context.__pbDefine as (algorithm: unknown, policy: unknown) => void)({ name: 'fuzz', create: () => ({ pick: () => current }) }, undefined);
(context.__pbCreate as (id: number, options: object) => number)(1, { cluster: 'c' });
const buffer = new SharedArrayBuffer(bufferBytes(0));
const i32 = new Int32Array(buffer);
let seq = 0;
/** The candidates as the host sends them (core/sandbox-table.ts). */
const table = new NodeTable();

function fail(what: string, answer: unknown, got: unknown): never {
  let shown: string;
  try {
    shown = typeof answer === 'string' ? JSON.stringify(answer.slice(0, 100)) : String(answer).slice(0, 100);
  } catch {
    shown = typeof answer;
  }
  throw new Error(`${what}: answer ${shown} gave ${JSON.stringify(got)?.slice(0, 300)}`);
}

/** Every promise about one answer; throws when one is broken. */
export function checkAnswerPromises(answer: unknown): void {
  const check = checkAnswer(answer, NODES);
  const at = NODES.findIndex((n) => n.id === answer);
  if (check.ok !== at >= 0 || (check.ok && check.index !== at)) fail('checkAnswer took or refused the wrong answer', answer, check);
  // 64 characters quoted as JSON: at most 6 each (\u0000), and the words around them.
  if (!check.ok && (check.problem.length > 500 || (check.shown?.length ?? 0) > 65)) fail('a description too long', answer, check);

  logged.length = 0;
  const guard = guardChooser({ pick: () => answer as string }, logger, 1_000_000);
  const chosen = guard.choose(NODES, CLIENT);
  if (!NODES.includes(chosen)) fail('the guard chose no candidate', answer, chosen.id);
  if (check.ok && chosen !== NODES[check.index]) fail('the guard did not take a good answer', answer, chosen.id);
  const health = guard.health;
  if (!check.ok && (health.failures.answer !== 1 || (health.lastError?.length ?? 0) > MAX_ERROR_LINE)) fail('a bad answer not counted as such', answer, health);
  for (const line of logged) {
    if (String(line.err ?? '').length > MAX_ERROR_LINE + 40 || String(line.answer ?? '').length > 65) fail('a log line too long', answer, line);
  }

  current = answer;
  const update = table.sync(NODES, ALL);
  (context.__pbRun as (...args: unknown[]) => void)(++seq, 0, 1, NODES.length, CLIENT, seq === 1 ? buffer : undefined, update.sab, update.ids, update.metrics);
  const out = readBuffer(i32, 0);
  const passes = typeof answer === 'string' && answer.length <= MAX_ANSWER_LENGTH;
  if (out.ok !== passes) fail('the prelude let out the wrong answers', answer, out);
  if (out.ok && out.id !== answer) fail('the prelude changed the answer', answer, out);
  if (!out.ok && (check.ok || out.error !== check.problem)) fail('the prelude describes it otherwise than checkAnswer', answer, { prelude: out, host: check });
}

export function fuzz(data: Buffer): void {
  checkAnswerPromises(decodeAnswer(data));
}

export const SEEDS: (string | Uint8Array)[] = [
  Uint8Array.of(0),
  Uint8Array.of(3, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f),
  Uint8Array.of(6, 1),
  Uint8Array.of(7, 3, 0x6e),
  Uint8Array.of(8, 40, 0x78),
  '\x04node-10',
  '\x09a\x00b',
  '\x0a{"id":"a"}',
  '\x0a[1,2]',
];
