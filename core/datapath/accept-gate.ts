/**
 * Accept back-off when this process runs short of a local resource (file descriptors
 * above all), as HAProxy and nginx do: every listening socket of the process stops
 * accepting for a short pause that grows while the shortage lasts (10 ms, 20 ms … 1 s),
 * then accepts again. Meanwhile new clients wait in the kernel's accept queue, or are
 * taken by another process of the group, instead of being accepted only to be closed.
 * Accepting resumes when the pause ends, or as soon as two sockets that held descriptors
 * have closed since it began (a proxied connection ended: room for a client and its
 * dial), as HAProxy resumes its listeners when a connection is released.
 * One gate per process: descriptors are counted per process.
 *
 * What closes it: a local error on a dial (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL)
 * or on an accept. libuv 1.45 and later never reports EMFILE from accept to JavaScript:
 * it sheds the queued clients itself (accept and close each, with a spare descriptor it
 * keeps for the purpose). So the shortage is usually seen on the dial that follows an
 * accept which took the last descriptor; pausing then keeps the queue for later.
 *
 * Logged at a bounded rate: at most one line a second, with the counts since the last.
 */
import type { Logger } from '../logger.ts';

/** Errors that say this process (or machine) is short of something, not that the peer failed. */
const LOCAL = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);
/** On a dial also: no local address or port left to connect from. */
const LOCAL_ON_DIAL = new Set([...LOCAL, 'EADDRNOTAVAIL']);

export function isLocalShortage(err: unknown, where: 'accept' | 'dial'): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && (where === 'dial' ? LOCAL_ON_DIAL : LOCAL).has(code);
}

/** A listening socket that can stop and resume accepting without closing. */
export interface Gated {
  /** Stop accepting: the socket stays open and the kernel queues new clients. False: cannot. */
  pause(): boolean;
  resume(): void;
}

const MIN_PAUSE_MS = 10;
const MAX_PAUSE_MS = 1_000;
/** A shortage this long after the last pause ended starts a new episode at MIN_PAUSE_MS. */
const CALM_MS = 2_000;
const REPORT_EVERY_MS = 1_000;

class AcceptGate {
  private readonly gated = new Map<Gated, Logger>();
  private timer: NodeJS.Timeout | undefined;
  private pauseMs = 0;
  private resumedAt = 0;
  /** Sockets closed since the pause began. */
  private freed = 0;
  /** Since the last line: shortages by "CODE on dial|accept", and pauses. */
  private counts = new Map<string, number>();
  private pauses = 0;
  private reportedAt = 0;
  private reportTimer: NodeJS.Timeout | undefined;

  get paused(): boolean {
    return this.timer !== undefined;
  }

  /** Gate `listen`; lines about the gate go to `logger` (the one of the first gated socket). */
  add(listen: Gated, logger: Logger): void {
    this.gated.set(listen, logger);
    if (this.paused) listen.pause();
  }

  delete(listen: Gated): void {
    this.gated.delete(listen);
  }

  /**
   * Tell the gate about an error: a local shortage pauses accepting (returns true), any
   * other error is not the gate's business (returns false).
   */
  check(err: unknown, where: 'accept' | 'dial'): boolean {
    if (!isLocalShortage(err, where)) return false;
    const key = `${(err as NodeJS.ErrnoException).code} on ${where}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (!this.paused) this.pause();
    this.scheduleReport();
    return true;
  }

  /** A socket that held a descriptor closed (the data paths call this on every close). */
  released(): void {
    if (this.timer === undefined || ++this.freed < 2) return;
    clearTimeout(this.timer);
    this.resume();
  }

  private pause(): void {
    const now = Date.now();
    this.freed = 0;
    this.pauseMs = now - this.resumedAt > CALM_MS ? MIN_PAUSE_MS : Math.min(MAX_PAUSE_MS, Math.max(MIN_PAUSE_MS, this.pauseMs * 2));
    this.pauses++;
    for (const listen of this.gated.keys()) listen.pause();
    // Not unref'd: paused sockets do not keep the process alive, this timer must.
    this.timer = setTimeout(() => this.resume(), this.pauseMs);
  }

  private resume(): void {
    this.timer = undefined;
    this.resumedAt = Date.now();
    for (const listen of this.gated.keys()) listen.resume();
  }

  private scheduleReport(): void {
    if (this.reportTimer) return;
    const wait = Math.max(0, this.reportedAt + REPORT_EVERY_MS - Date.now());
    if (wait === 0) return this.report();
    this.reportTimer = setTimeout(() => this.report(), wait);
    this.reportTimer.unref();
  }

  private report(): void {
    this.reportTimer = undefined;
    this.reportedAt = Date.now();
    const logger = this.gated.values().next().value;
    const errors = Object.fromEntries(this.counts);
    const what = [...this.counts].map(([k, n]) => `${k} ×${n}`).join(', ');
    logger?.warn(
      { errors, pauses: this.pauses, pauseMs: this.pauseMs },
      `short of a local resource (${what}): accepting paused ${this.pauses}×, the last time for up to ${this.pauseMs} ms; ` +
        'new clients wait in the accept queue (more descriptors: ulimit -n)',
    );
    this.counts = new Map();
    this.pauses = 0;
  }
}

/** This process's gate, shared by every listener and both data paths. */
export const acceptGate = new AcceptGate();
