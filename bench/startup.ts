/**
 * Start-up time: spawn `node --no-node-snapshot bin/protobalance.js start --config <temp .ts>`
 * and time it from spawn to the "accepting connections" line on stdout; also read the
 * figure the line itself gives ("N ms after process start"). The baseline is a bare Node
 * TCP server started with the same flags, printing the same kind of line.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'bin', 'protobalance.js');
const TIMEOUT_MS = 20_000;

const BARE_SERVER = `
const net = require('node:net');
net.createServer().listen(0, '127.0.0.1', () => {
  process.stdout.write('accepting connections (' + Math.round(performance.now()) + ' ms after process start)\\n');
});
process.on('SIGTERM', () => process.exit(0));
`;

export interface StartupResult {
  /** Median ms from spawn to the line on stdout. */
  spawnToLineMs: number;
  /** Median of the figure the process printed itself. */
  selfReportedMs: number;
}

/** Run `args` once: ms from spawn to the "accepting connections" line, and the figure in it. */
function once(args: string[]): Promise<{ lineMs: number; selfMs: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let found: { lineMs: number; selfMs: number } | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), TIMEOUT_MS);
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const line = /accepting connections \((\d+) ms after process start/.exec(stdout);
      if (!found && line) {
        found = { lineMs: performance.now() - started, selfMs: Number(line[1]) };
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5_000).unref();
      }
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (found) resolve(found);
      else reject(new Error(`start-up run ended (${code ?? signal}) without "accepting connections":\n${stdout}${stderr}`));
    });
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function measure(args: string[], runs: number): Promise<StartupResult> {
  const line: number[] = [];
  const self: number[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await once(args);
    line.push(r.lineMs);
    self.push(r.selfMs);
  }
  return { spawnToLineMs: median(line), selfReportedMs: median(self) };
}

/** The balancer's CLI on a temporary TypeScript config forwarding to `nodeAddress`. */
export async function balancerStartup(nodeAddress: string, runs: number): Promise<StartupResult> {
  const dir = await mkdtemp(path.join(tmpdir(), 'protobalance-bench-'));
  const config = path.join(dir, 'protobalance.config.ts');
  await writeFile(
    config,
    `// written by bench/startup.ts
const node: string = ${JSON.stringify(nodeAddress)};
export default {
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'bench' }],
  clusters: { bench: { balance: 'round-robin', nodes: [{ id: 'a', address: node }] } },
  stateDir: ${JSON.stringify(path.join(dir, 'state'))},
  log: { level: 'silent' as const },
};
`,
  );
  try {
    return await measure(['--no-node-snapshot', CLI, 'start', '--config', config], runs);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A bare Node TCP server, same flags: the floor for start-up. */
export function bareNodeStartup(runs: number): Promise<StartupResult> {
  return measure(['--no-node-snapshot', '-e', BARE_SERVER], runs);
}
