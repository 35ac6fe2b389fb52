/**
 * The script that runs first in every algorithm's isolate, before the user's bundle, and
 * the layout of the shared buffer it answers through.
 *
 * Why a shared buffer: calls run on isolated-vm's own threads (`apply`, not `applySync`),
 * and the host must learn a pick's answer without waiting for its event loop. So the
 * prelude's `__pbRun` writes the outcome into a SharedArrayBuffer and wakes the host with
 * `Atomics.notify`; the host blocks in `Atomics.wait` for at most its deadline.
 *
 * What it guarantees, whatever the user's code does:
 * - answers are checked here, before anything leaves the isolate: a pick must be a string
 *   of at most MAX_ANSWER_LENGTH characters (a 20 MB string is described, never copied);
 *   planned picks and rankings become candidate indices;
 * - a throw's text is cut to MAX_ERROR_TEXT characters, and its stack's positions in the
 *   bundle are written for the host to map to the user's `file:line:column`;
 * - `Atomics.wait` is wrapped: the buffer says the call is waiting (and where), so a call cut
 *   off at its time limit is reported as waiting, not as spending CPU;
 * - the intrinsics it uses are taken before the user's code runs, and `__pbRun` cannot be
 *   replaced (non-writable): changed prototypes cannot fake or enlarge what comes out. The
 *   host still bounds-checks every number it reads from the buffer.
 */
import type { FailureCause } from './algorithm-runner.ts';
import { capText, MAX_ANSWER_LENGTH, MAX_ERROR_TEXT } from './policy-answer.ts';
import { COLUMNS as C, STATES, STRIDE } from './sandbox-table.ts';

/** How a call ended, as read from the buffer (or found when its promise settled). */
export type Outcome =
  | { ok: true; ms: number; id?: string; index?: number; indices?: number[] }
  | { ok: false; cause: FailureCause; error: string };

/** Int32 slots of the shared buffer. */
export const SLOT = {
  /** Sequence number of the last call that finished (written last, then notified). */
  SEQ: 0,
  /** How it finished: STATUS_OK, STATUS_THROW or STATUS_ANSWER. */
  STATUS: 1,
  /** 1 while the call is inside `Atomics.wait`. */
  WAITING: 2,
  /** Characters (answer or error text) or indices in the payload. */
  COUNT: 3,
  /** Milliseconds the call ran (Date.now resolution). */
  ELAPSED: 4,
  /** Up to 4 (line, column) pairs of the bundle: a throw's or a wait's stack. */
  FRAMES: 5,
  FRAME_SLOTS: 8,
  /** A pick's candidate index (-1: none), so the host need not look the id up among 5,000. */
  INDEX: 13,
  /** First Int32 of the payload (Uint16 index PAYLOAD * 2 for text). */
  PAYLOAD: 16,
} as const;

export const STATUS_OK = 1;
export const STATUS_THROW = 2;
export const STATUS_ANSWER = 3;

/** Bytes of a buffer whose payload holds `ints` indices (at least room for any text). */
/** 0: a pick; 1: a plan of picks; 2: a ranking; 3: one cycle of a cyclic algorithm, from a new instance. */
export type CallKind = 0 | 1 | 2 | 3;

export function bufferBytes(ints: number): number {
  const textInts = Math.ceil((MAX_ANSWER_LENGTH + MAX_ERROR_TEXT + 64) / 2);
  return (SLOT.PAYLOAD + Math.max(ints, textInts)) * 4;
}

/**
 * The prelude's source. The bundle hands over the algorithm (and policy) definition once
 * (`__pbDefine`); the host then makes one instance per cluster (`__pbCreate(id, options)`,
 * the options copied in) and calls one by its id (`__pbRun(seq, kind, id, …)`). Kinds of
 * call: 0 pick, 1 plan (`arg` picks), 2 rank, 3 cycle. Why one isolate for many clusters:
 * an isolate costs about a megabyte, an instance a few hundred bytes (issue 14).
 *
 * Each instance keeps its own candidate table (core/sandbox-table.ts): ids when they
 * change, figures in its own shared Float64Array, so clusters never see each other's
 * nodes. They are turned into NodeView objects once per candidate set; the frozen array
 * carries the instance's table under Symbol.for('protobalance.nodeTable'), for the
 * built-in algorithms' typed-array path (plugins/balancers/node-table.ts). The user's code
 * can reach these globals too: all instances run that same user's code, so that gives it
 * nothing it has not got already; the host still checks every number it reads.
 */
export const PRELUDE = `(() => {
'use strict';
const G = globalThis, call = Function.prototype.call, uncurry = (f) => call.bind(f);
const store = Atomics.store, notify = Atomics.notify, realWait = Atomics.wait, apply = Reflect.apply;
const defineProperty = Object.defineProperty, isArray = Array.isArray, toStr = String, now = Date.now;
const stringify = JSON.stringify, parse = JSON.parse, assign = Object.assign, I32 = Int32Array, U16 = Uint16Array, MapC = Map, Err = Error;
const sliceStr = uncurry(String.prototype.slice), charCodeAt = uncurry(String.prototype.charCodeAt);
const exec = uncurry(RegExp.prototype.exec), mapGet = uncurry(Map.prototype.get), mapSet = uncurry(Map.prototype.set), mapDelete = uncurry(Map.prototype.delete);
const MAX = ${MAX_ANSWER_LENGTH}, TEXT = ${MAX_ERROR_TEXT}, SHOWN = 64;
const SEQ = ${SLOT.SEQ}, STATUS = ${SLOT.STATUS}, WAITING = ${SLOT.WAITING}, COUNT = ${SLOT.COUNT};
const ELAPSED = ${SLOT.ELAPSED}, FRAMES = ${SLOT.FRAMES}, NF = ${SLOT.FRAME_SLOTS}, PAYLOAD = ${SLOT.PAYLOAD}, P16 = PAYLOAD * 2;
const freeze = Object.freeze, symFor = Symbol.for, F64 = Float64Array, ArrayC = Array;
const STRIDE = ${STRIDE}, STATES = freeze(${JSON.stringify(STATES)}), NO_METRICS = freeze({}), INDEX = ${SLOT.INDEX};
let i32, u16, room = 0, def, policy, batchable = false, cyclic = false;
// The instances by id; I: the one the running call is for.
const instances = new MapC();
let I;
// Plain data objects (a spread or JSON.stringify sees every field), refreshed from the
// figures at the start of each call unless the algorithm reads the table itself
// (\`usesTable\` on its chooser: the built-ins), which then costs nothing per candidate.
const view = (id) => ({ id, loadFactor: 0, activeConnections: 0, totalConnections: 0, connectionRate: 0, bytesRate: 0, recentFailures: 0, connectLatency: 0, state: 'green', metrics: NO_METRICS });
const refresh = (all) => {
  const F = I.F, views = I.views, metrics = I.metrics;
  for (let i = 0, b = 0; i < views.length; i++, b += STRIDE) {
    const v = views[i];
    v.loadFactor = F[b + ${C.loadFactor}];
    if (!all) continue;
    v.activeConnections = F[b + ${C.activeConnections}];
    v.totalConnections = F[b + ${C.totalConnections}];
    v.connectionRate = F[b + ${C.connectionRate}];
    v.bytesRate = F[b + ${C.bytesRate}];
    v.recentFailures = F[b + ${C.recentFailures}];
    v.connectLatency = F[b + ${C.connectLatency}];
    v.state = STATES[F[b + ${C.state}]] ?? 'green';
    v.metrics = metrics[i] ?? NO_METRICS;
  }
};
const TABLE = symFor('protobalance.nodeTable'), COLS = freeze(${JSON.stringify(C)});
const update = (tsab, ids, changed) => {
  if (tsab !== undefined) I.F = new F64(tsab);
  if (isArray(ids)) {
    const list = new ArrayC(ids.length), byId = new MapC();
    for (let i = 0; i < ids.length; i++) { list[i] = view(toStr(ids[i])); mapSet(byId, list[i].id, i); }
    defineProperty(list, TABLE, { value: I.table });
    I.views = freeze(list);
    I.byId = byId;
    I.metrics = [];
    I.version++;
  }
  if (isArray(changed)) for (let k = 0; k < changed.length; k++) { const i = changed[k][0]; if (i >= 0 && i < I.views.length) I.metrics[i] = freeze(changed[k][1]); }
  // A plan reads ids and factors; a table reader reads the table (its views' factors are
  // set with new ids: a factor change sends the ids again); anything else gets every figure.
  if (!I.usesTable || batchable) refresh(!batchable);
  else if (isArray(ids)) refresh(false);
};
const attach = (sab) => { i32 = new I32(sab); u16 = new U16(sab); room = i32.length - PAYLOAD; };
const frameRe = /pb-sandbox\\.js:(\\d+):(\\d+)/g;
const putFrames = (stack) => {
  for (let k = 0; k < NF; k++) i32[FRAMES + k] = 0;
  if (typeof stack !== 'string') return;
  const tail = stack.length > 8192 ? sliceStr(stack, stack.length - 8192) : stack;
  frameRe.lastIndex = 0;
  for (let k = 0, m = exec(frameRe, tail); m !== null && k < NF; m = exec(frameRe, tail)) {
    i32[FRAMES + k++] = +m[1];
    i32[FRAMES + k++] = +m[2];
  }
};
const putText = (text) => {
  const t = text.length > TEXT ? sliceStr(text, 0, TEXT) + '\\u2026 (' + text.length + ' characters)' : text;
  for (let i = 0; i < t.length; i++) u16[P16 + i] = charCodeAt(t, i);
  i32[COUNT] = t.length;
};
const quote = (s) => stringify(s.length <= SHOWN ? s : sliceStr(s, 0, SHOWN) + '\\u2026');
const describe = (v) => {
  switch (typeof v) {
    case 'undefined': return 'undefined';
    case 'string': return v.length > MAX ? 'a string of ' + v.length + ' characters (the limit is ' + MAX + ')' : quote(v);
    case 'number': return 'the number ' + toStr(v);
    case 'boolean': return 'the boolean ' + toStr(v);
    case 'bigint': return 'a bigint';
    case 'symbol': return 'a symbol';
    case 'function': return 'a function';
    default: if (v === null) return 'null'; try { return isArray(v) ? 'an array' : 'an object'; } catch { return 'an object'; }
  }
};
const notId = (v) => 'answered ' + describe(v) + (typeof v === 'string' && v.length <= MAX ? ', which is no candidate' : typeof v === 'string' ? ', which is no node id' : ', which is no node id (a string)');
const bad = (text) => { putText(text); return ${STATUS_ANSWER}; };
const putId = (id) => {
  if (typeof id !== 'string' || id.length > MAX) return bad(notId(id));
  for (let i = 0; i < id.length; i++) u16[P16 + i] = charCodeAt(id, i);
  i32[COUNT] = id.length;
  return ${STATUS_OK};
};
const putPick = (id) => {
  const status = putId(id);
  const at = status === ${STATUS_OK} ? mapGet(I.byId, id) : undefined;
  i32[INDEX] = at === undefined ? -1 : at;
  return status;
};
const putPlan = (chooser, nodes, count) => {
  const index = I.byId, n = count < room ? count : room;
  for (let k = 0; k < n; k++) {
    const id = chooser.pick(nodes, { address: '', port: 0, listener: '' });
    const at = typeof id === 'string' ? mapGet(index, id) : undefined;
    if (at === undefined) return bad(notId(id));
    i32[PAYLOAD + k] = at;
  }
  i32[COUNT] = n;
  return ${STATUS_OK};
};
const putRank = (nodes, client) => {
  const index = I.byId, list = I.chooser.rank(nodes, client);
  if (!isArray(list)) return bad('ranked ' + describe(list) + ', which is no array of node ids');
  const n = list.length;
  if (!(n <= nodes.length && n <= room)) return bad('ranked ' + n + ' ids, more than the ' + nodes.length + ' candidates');
  for (let k = 0; k < n; k++) {
    const at = typeof list[k] === 'string' ? mapGet(index, list[k]) : undefined;
    if (at === undefined) return bad(notId(list[k]));
    i32[PAYLOAD + k] = at;
  }
  i32[COUNT] = n;
  return ${STATUS_OK};
};
const putThrow = (e) => {
  let message = 'a value that cannot be shown';
  try { message = e !== null && typeof e === 'object' && typeof e.message === 'string' ? e.message : toStr(e); } catch {}
  try { putText(typeof message === 'string' ? message : 'a value that cannot be shown'); } catch { putText('a value that cannot be shown'); }
  try { putFrames(e instanceof Err ? e.stack : undefined); } catch {}
  return ${STATUS_THROW};
};
defineProperty(Atomics, 'wait', { value: function wait(...args) {
  if (i32 !== undefined) { store(i32, WAITING, 1); try { putFrames(new Err().stack); } catch {} }
  try { return apply(realWait, Atomics, args); } finally { if (i32 !== undefined) store(i32, WAITING, 0); }
}, writable: false, configurable: false, enumerable: false });
defineProperty(G, '__pbDefine', { value: (algorithm, policyDef) => {
  if (def !== undefined) throw new Err('the algorithm is defined once');
  def = algorithm;
  policy = policyDef;
  batchable = algorithm.batchable === true;
  cyclic = batchable && algorithm.cyclic === true;
}, writable: false, configurable: false });
// A new chooser of the algorithm for an instance's options (as JSON: each gets its own copy).
const make = (json) => {
  const options = parse(json);
  return def.create(policy ? assign(options, { policy }) : options);
};
// Flags of the new instance: 1 batchable, 2 has rank, 4 reads the table (its columns << 8), 8 cyclic.
defineProperty(G, '__pbCreate', { value: (id, options) => {
  const json = stringify(options);
  const chooser = make(json);
  if (!chooser || typeof chooser.pick !== 'function') throw new Err('create() did not return a chooser { pick(nodes, client) }');
  const inst = { chooser, usesTable: false, columns: 0, fresh: undefined, F: new F64(0), views: freeze([]), byId: new MapC(), metrics: [], version: 0, table: undefined };
  inst.table = freeze({ stride: STRIDE, get figures() { return inst.F; }, get version() { return inst.version; } });
  // A cyclic algorithm: how to make a new instance, whose first cycle is the same in every
  // process of a group, which then share one position in it.
  if (cyclic) inst.fresh = () => make(json);
  // The figures a table reader needs (besides loadFactor): the host writes only those.
  const wanted = chooser.usesTable;
  if (isArray(wanted)) {
    inst.usesTable = true;
    for (let k = 0; k < wanted.length; k++) { const col = COLS[wanted[k]]; if (typeof col === 'number') inst.columns |= 1 << col; }
  }
  mapSet(instances, id, inst);
  return (batchable ? 1 : 0) | (typeof chooser.rank === 'function' ? 2 : 0) | (inst.usesTable ? 4 | (inst.columns << 8) : 0) | (cyclic ? 8 : 0);
}, writable: false, configurable: false });
defineProperty(G, '__pbDrop', { value: (id) => { mapDelete(instances, id); }, writable: false, configurable: false });
defineProperty(G, '__pbRun', { value: (seq, kind, id, count, arg, sab, tsab, ids, changed) => {
  if (sab !== undefined) attach(sab);
  const t0 = now();
  let status;
  try {
    I = mapGet(instances, id);
    if (I === undefined) status = bad('the instance is gone');
    else {
      update(tsab, ids, changed);
      const nodes = I.views;
      if (nodes.length !== count) status = bad('the candidate table is out of step with the host');
      else status = kind === 0 ? putPick(I.chooser.pick(nodes, arg)) : kind === 1 ? putPlan(I.chooser, nodes, arg) : kind === 3 && I.fresh !== undefined ? putPlan(I.fresh(), nodes, arg) : putRank(nodes, arg);
    }
  } catch (e) {
    status = putThrow(e);
  }
  i32[ELAPSED] = now() - t0;
  store(i32, STATUS, status);
  store(i32, SEQ, seq);
  notify(i32, SEQ);
}, writable: false, configurable: false });
})();`;

/**
 * The outcome the prelude wrote into `i32` for a call of `kind`, every number
 * bounds-checked: the isolate is not trusted. A throw's text comes without its location.
 */
export function readBuffer(i32: Int32Array, kind: CallKind): Outcome {
  const status = i32[SLOT.STATUS];
  const room = i32.length - SLOT.PAYLOAD;
  const count = Math.min(Math.max(i32[SLOT.COUNT]!, 0), room);
  const ms = Math.max(i32[SLOT.ELAPSED]!, 0);
  if (status === STATUS_OK && kind === 0 && count <= MAX_ANSWER_LENGTH) {
    // The index is only a hint: the guard uses it when that candidate has this id.
    const index = i32[SLOT.INDEX]!;
    return index >= 0 ? { ok: true, ms, id: text(i32, count), index } : { ok: true, ms, id: text(i32, count) };
  }
  if (status === STATUS_OK && kind !== 0) return { ok: true, ms, indices: Array.from(i32.subarray(SLOT.PAYLOAD, SLOT.PAYLOAD + count)) };
  // The isolate cut the text to MAX_ERROR_TEXT; the buffer bounds it whatever the isolate did.
  if (status === STATUS_THROW) return { ok: false, cause: 'throw', error: text(i32, count) };
  if (status === STATUS_ANSWER) return { ok: false, cause: 'answer', error: capText(text(i32, count)) };
  return { ok: false, cause: 'answer', error: 'the answer could not be read' };
}

/** `count` UTF-16 units of the payload, as a string. */
function text(i32: Int32Array, count: number): string {
  const u16 = new Uint16Array(i32.buffer, SLOT.PAYLOAD * 4, Math.min(count, (i32.length - SLOT.PAYLOAD) * 2));
  let out = '';
  for (let i = 0; i < u16.length; i += 4096) out += String.fromCharCode(...u16.subarray(i, i + 4096));
  return out;
}
