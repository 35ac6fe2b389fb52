/**
 * The programs the side-by-side benchmark drives but does not ship (wrk, iperf3, HAProxy,
 * nginx): whether each is installed and which version, and spawning them so that every one
 * (and every process it forks, such as nginx's workers) dies with the benchmark. The bench
 * never installs anything: a missing tool is reported and its part falls back or is skipped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readStat, sameProcess, treeStats } from './proc-tree.ts';

export type ToolName = 'wrk' | 'iperf3' | 'haproxy' | 'nginx';

export interface Tool {
  name: ToolName;
  /** Absolute path, or undefined when not installed. */
  path: string | undefined;
  /** First line of the version output, when installed. */
  version: string | undefined;
  /** Installed maybe, but hidden by PB_BENCH_WITHOUT. */
  hidden: boolean;
}

/** nginx's stream proxy ships as a dynamic module on Debian; its usual home. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

// Debian keeps haproxy and nginx in /usr/sbin, which a non-root PATH may lack.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

function which(cmd: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), ...EXTRA_DIRS];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, cmd);
    if (existsSync(file)) return file;
  }
  return undefined;
}

const VERSION_ARGS: Record<ToolName, string[]> = { wrk: ['-v'], iperf3: ['--version'], haproxy: ['-v'], nginx: ['-v'] };

function versionOf(file: string, args: string[]): string | undefined {
  // nginx -v prints to stderr and wrk -v exits non-zero: take whatever came out, either stream.
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'pipe'] });
  const line = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.split('\n').find((l) => l.trim());
  // Drop the copyright and URL tails: the version is what a reader compares.
  return line?.replace(/\s+(Copyright .*|- https?:\/\/\S+)$/, '').trim();
}

/**
 * `PB_BENCH_WITHOUT=wrk,nginx` makes the bench act as if those were not installed: how the
 * fall-backs of a bare CI machine are tried on a machine that has everything.
 */
function hidden(name: ToolName): boolean {
  return (process.env.PB_BENCH_WITHOUT ?? '').split(',').map((s) => s.trim()).includes(name);
}

export function findTool(name: ToolName): Tool {
  if (hidden(name)) return { name, path: undefined, version: undefined, hidden: true };
  const file = which(name);
  return { name, path: file, version: file ? versionOf(file, VERSION_ARGS[name]) : undefined, hidden: false };
}

/** Why `tool` cannot be used, or undefined when it can. */
export function absentReason(tool: Tool): string | undefined {
  if (tool.path) return undefined;
  return tool.hidden ? `${tool.name} hidden by PB_BENCH_WITHOUT` : `${tool.name} not installed`;
}

const running = new Set<ChildProcess>();

/** SIGKILL every external process still running and the processes each has forked. */
export function killExternal(): void {
  for (const child of running) {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) continue;
    for (const s of treeStats(child.pid).reverse()) {
      try {
        process.kill(s.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export interface External {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything it wrote to stdout and stderr so far (the last 64 KiB). */
  output(): string;
  exited(): boolean;
  /** `signal` to the root, up to `graceMs` for it to exit, then SIGKILL for the whole tree. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<void>;
}

export function startExternal(name: string, file: string, args: string[], options: { cwd?: string } = {}): External {
  const child = spawn(file, args, { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${name}: could not spawn ${file}`);
  const pid = child.pid;
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.on('error', () => {});
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-65_536);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name,
    process: child,
    pid,
    output: () => text,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 3_000) {
      // Descendants noted before the root goes: once it has, they are re-parented and the
      // ppid walk no longer finds them (an nginx worker outlives a killed master).
      const tree = treeStats(pid).map((s) => ({ pid: s.pid, startTime: s.startTime }));
      if (!exited()) {
        const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill(signal);
        const timer = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
        await Promise.race([gone, timer]);
      }
      for (const p of tree) {
        if (!sameProcess(p.pid, p.startTime)) continue;
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
      if (!exited() && readStat(pid)) await new Promise<void>((resolve) => child.once('exit', () => resolve()));
    },
  };
}

/** Run a program to its end with a hard time limit; resolves with its stdout and stderr. */
export function runToEnd(file: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(file)} still running after ${timeoutMs} ms: killed`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr });
    });
  });
}
