/**
 * Processes of the scale section (bench/scale.ts): `protobalance start` and `check` spawned
 * as a user runs them (`node --no-node-snapshot bin/protobalance.js ...`), their output read
 * line by line for the lines the CLI prints ("accepting connections", "N processes serving",
 * pino's "config reloaded"), their resident memory read per process from /proc (the primary
 * and every worker it forked), and the admin API called over loopback. Every wait has a time
 * limit and ends by itself; every process started here is killed on exit (`killScale`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { treeAvailable, treeStats } from './proc-tree.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = path.join(ROOT, 'bin', 'protobalance.js');
export const MiB = 1024 ** 2;

const started = new Set<ChildProcess>();

/** SIGKILL every process this module started and is still running, with their workers. */
export function killScale(): void {
  for (const child of started) killTree(child, 'SIGKILL');
}

function killTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const pids = treeAvailable() ? treeStats(child.pid).map((s) => s.pid) : [child.pid];
  for (const pid of pids.reverse()) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

/** A free TCP port on 127.0.0.1 (free when asked: nothing holds it for us). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** An error's text, one line, at most `max` characters: for a table cell. */
export function reason(err: unknown, max = 160): string {
  const text = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export interface Running {
  readonly child: ChildProcess;
  /** ms from spawn until now. */
  elapsed(): number;
  /** The first line of stdout or stderr (from now on, or already seen when `seen`) matching `re`: its match and ms since spawn. */
  waitFor(re: RegExp, timeoutMs: number, what: string, seen?: boolean): Promise<{ match: RegExpExecArray; atMs: number }>;
  /**
   * RSS of the primary and each Node process it forked (its workers), the primary first
   * (bytes); `others`: any other live child (an esbuild service while the config is
   * rebundled), as "name N MiB".
   */
  rssPerProcess(): number[];
  others(): string[];
  /** The last lines of stdout and stderr, for an error report. */
  tail(): string;
  /** SIGTERM, then SIGKILL (with the workers) after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Spawn `protobalance <args>` with `env` added to this process's environment. */
export function launch(args: string[], env: Record<string, string>, cwd = ROOT): Running {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--no-node-snapshot', CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => (started.delete(child), resolve())));
  child.once('error', () => undefined);
  const lines: { text: string; atMs: number }[] = [];
  const last: string[] = [];
  let waiters: ((line: { text: string; atMs: number }) => void)[] = [];
  let exitWaiters: (() => void)[] = [];
  const keep = (text: string) => {
    last.push(text.length > 300 ? `${text.slice(0, 300)}…` : text);
    if (last.length > 12) last.shift();
  };
  // Both streams: the CLI's own lines go to stdout, pino's (log level info) to stderr.
  const reader = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      const atMs = performance.now() - t0;
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const text of parts) {
        if (text.startsWith('  127.0.0.1:')) continue; // the listener list of "accepting": 500 lines at 500 clusters
        keep(text);
        const line = { text, atMs };
        // Only the lines a wait may look back for are kept (bounded: a few per change).
        if (/accepting connections|processes serving|config reloaded|reload failed|"level":[56]0/.test(text)) lines.push(line);
        for (const w of waiters) w(line);
      }
    });
  };
  reader(child.stdout!);
  reader(child.stderr!);
  void exited.then(() => {
    for (const w of exitWaiters) w();
  });
  /** The live processes of the tree (a zombie, RSS 0, left out) with their command names. */
  const tree = () => {
    if (child.pid === undefined || !treeAvailable()) return [];
    return treeStats(child.pid)
      .filter((s) => s.rssBytes > 0)
      .map((s) => {
        let comm = '?';
        try {
          comm = readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim();
        } catch {
          // gone meanwhile
        }
        return { comm, rss: s.rssBytes };
      });
  };
  return {
    child,
    elapsed: () => performance.now() - t0,
    waitFor(re, timeoutMs, what, seen = false) {
      if (seen) {
        for (const l of lines) {
          const match = re.exec(l.text);
          if (match) return Promise.resolve({ match, atMs: l.atMs });
        }
      }
      return new Promise((resolve, reject) => {
        const done = () => {
          clearTimeout(timer);
          waiters = waiters.filter((w) => w !== onLine);
          exitWaiters = exitWaiters.filter((w) => w !== onExit);
        };
        const onLine = (line: { text: string; atMs: number }) => {
          const match = re.exec(line.text);
          if (match) done(), resolve({ match, atMs: line.atMs });
        };
        const onExit = () => (done(), reject(new Error(`exited (${child.exitCode ?? child.signalCode}) before ${what}: ${last.slice(-3).join(' | ')}`)));
        const timer = setTimeout(() => (done(), reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`))), timeoutMs);
        waiters.push(onLine);
        exitWaiters.push(onExit);
        if (child.exitCode !== null || child.signalCode !== null) onExit();
      });
    },
    rssPerProcess() {
      return tree().filter((p) => p.comm === 'node').map((p) => p.rss);
    },
    others() {
      return tree()
        .filter((p) => p.comm !== 'node')
        .map((p) => `${p.comm} ${(p.rss / MiB).toFixed(0)} MiB`);
    },
    tail: () => last.join('\n'),
    async stop(graceMs = 5_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => killTree(child, 'SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** `protobalance <args>` to its exit, at most `timeoutMs`: ms from spawn to exit; rejects on a non-zero exit. */
export async function runToExit(args: string[], env: Record<string, string>, timeoutMs: number, cwd = ROOT): Promise<number> {
  const r = launch(args, env, cwd);
  const timer = setTimeout(() => killTree(r.child, 'SIGKILL'), timeoutMs);
  const code = await new Promise<number | string | null>((resolve) => {
    if (r.child.exitCode !== null) return resolve(r.child.exitCode);
    r.child.once('exit', (c, s) => resolve(c ?? s));
  });
  clearTimeout(timer);
  const ms = r.elapsed();
  if (code === 'SIGKILL' && ms >= timeoutMs) throw new Error(`timed out after ${timeoutMs / 1000} s`);
  if (code !== 0) throw new Error(`exit ${code}: ${r.tail().split('\n').slice(-2).join(' | ')}`);
  return ms;
}

/** One admin API call: the status and the JSON answered, within `timeoutMs`; rejects on a non-2xx answer. */
export function admin(port: number, token: string, method: string, apiPath: string, body: unknown, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: `/api${apiPath}`,
        headers: { authorization: `Bearer ${token}`, ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => {
          let json: unknown = text;
          try {
            json = JSON.parse(text);
          } catch {
            // not JSON: kept as text
          }
          if ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300) resolve(json);
          else reject(new Error(`${method} /api${apiPath}: ${res.statusCode}: ${typeof json === 'object' && json && 'error' in json ? String((json as { error: unknown }).error) : text}`));
        });
      },
    );
    req.once('timeout', () => req.destroy(new Error(`${method} /api${apiPath}: no answer within ${timeoutMs / 1000} s`)));
    req.once('error', reject);
    req.end(payload);
  });
}
