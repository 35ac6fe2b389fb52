/**
 * `node --no-node-snapshot --import tsx bench/dispatch.ts`: how new connections should reach
 * the worker processes on this machine, measured. Each row runs two processes behind wrk
 * (Connection: close, so every request is a new connection) against one HTTP backend:
 * - node:cluster SCHED_RR: the primary accepts and hands each socket to a worker;
 * - node:cluster SCHED_NONE: every worker accepts on the shared listening socket;
 * - Proto Balance's process group (workers: 2), which shares the listening sockets like
 *   SCHED_NONE, on the net data path and on the fast one.
 * The first two run the same minimal `pipe` proxy (bench/dispatch-proxy.ts), so only the
 * dispatch differs. Prints a markdown table; needs wrk (says so and stops without it).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAll, startChild } from './children.ts';
import { findTool, killExternal } from './external.ts';
import { startNginxHttp } from './nginx.ts';
import { sampleTree } from './proc-tree.ts';
import { runWrk } from './wrk.ts';

const SECONDS = process.argv.includes('--quick') ? 2 : 5;
const ROOT = fileURLToPath(new URL('../', import.meta.url));
process.on('exit', () => (killAll(), killExternal()));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function untilServing(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing serves on ${port}`);
}

async function protoBalance(dataPath: 'net' | 'fast', backend: number): Promise<{ pid: number; port: number; stop: () => void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pb-dispatch-'));
  const port = await freePort();
  writeFileSync(
    path.join(dir, 'protobalance.config.ts'),
    `export default { listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'c' }], clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:${backend}' }] } }, workers: 2, dataPath: '${dataPath}', watch: false, stateDir: '${dir}/state', log: { level: 'silent' } };\n`,
  );
  const child = spawn(process.execPath, ['--no-node-snapshot', path.join(ROOT, 'bin/protobalance.js'), 'start', '--config', path.join(dir, 'protobalance.config.ts')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('Proto Balance did not start')), 30_000);
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('processes serving')) (clearTimeout(timer), resolve());
    });
  });
  return { pid: child.pid!, port, stop: () => child.kill('SIGKILL') };
}

const wrk = findTool('wrk');
if (!wrk.path) {
  process.stderr.write('dispatch: wrk is not installed (apt-get install wrk); nothing measured\n');
  process.exit(0);
}
// nginx as the backend when installed (a Node backend would be the limit), else Node's.
const nginx = findTool('nginx');
let backendPort: number;
let stopBackend: () => Promise<void> | void;
if (nginx.path) {
  const started = await startNginxHttp(nginx, mkdtempSync(path.join(tmpdir(), 'pb-dispatch-nginx-')), await freePort(), 20_000);
  backendPort = started.port;
  stopBackend = () => started.ext.stop();
} else {
  const backend = await startChild('http backend', new URL('./http-backend.ts', import.meta.url), []);
  backendPort = backend.ports.http!;
  stopBackend = () => backend.stop();
}
const rows: string[] = [];
const measure = async (label: string, pid: number, port: number) => {
  await untilServing(port);
  await runWrk(wrk.path!, port, 1, true);
  const before = sampleTree(pid);
  const rate = await runWrk(wrk.path!, port, SECONDS, true);
  const after = sampleTree(pid);
  const cpu = (after.cpuMicros - before.cpuMicros) / Math.max(1, rate.requests);
  rows.push(`| ${label} | ${Math.round(rate.perSecond).toLocaleString('en')} | ${rate.p99Ms.toFixed(1)} | ${cpu.toFixed(0)} | ${rate.errors} |`);
  process.stderr.write(`${rows.at(-1)}\n`);
};
for (const policy of ['rr', 'none'] as const) {
  const port = await freePort();
  const proxy = await startChild(`cluster ${policy}`, new URL('./dispatch-proxy.ts', import.meta.url), [policy, String(port), String(backendPort)]);
  const how = policy === 'rr' ? 'the primary accepts and hands each socket over' : 'every worker accepts on the shared socket';
  await measure(`node:cluster SCHED_${policy.toUpperCase()} (${how}), pipe proxy`, proxy.process.pid!, port);
  await proxy.stop();
}
for (const dataPath of ['net', 'fast'] as const) {
  const pb = await protoBalance(dataPath, backendPort);
  await measure(`Proto Balance process group (shared sockets), ${dataPath} data path`, pb.pid, pb.port);
  pb.stop();
}
await stopBackend();
process.stdout.write(
  `\n| two processes, new connections (wrk -t2 -c64 -d${SECONDS}s, Connection: close) | connections/s | p99 (ms) | CPU µs per connection (process tree) | errors |\n|---|---:|---:|---:|---:|\n${rows.join('\n')}\n`,
);
process.exit(0);
