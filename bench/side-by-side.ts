/**
 * Side by side: the same backends on 127.0.0.1 measured directly, through Proto Balance
 * (its CLI, as a user starts it; with client affinity off, then on), through HAProxy and through nginx stream, one target at a
 * time, in one run. The point is a reference: figures for Proto Balance alone say little
 * about whether they are good, and the direct column says what the machine and the load
 * tools themselves can do. What is measured is in bench/side-phases.ts; the section written
 * to bench/RESULTS.md is put together in bench/side-section.ts.
 */
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { startChild, type Child } from './children.ts';
import { absentReason, findTool, type External, type Tool, type ToolName } from './external.ts';
import { planIdle, proxyFdLimit, type IdlePlan } from './fd-limit.ts';
import { haproxy } from './haproxy.ts';
import { startIperfServer } from './iperf.ts';
import { nginxStream, startNginxHttp } from './nginx.ts';
import { freePort } from './probe.ts';
import { machineBusyMicros, sampleTree, treeAvailable } from './proc-tree.ts';
import { protoBalance, workersFieldExists, type Workers } from './protobalance-cli.ts';
import { startProxy, type Addresses, type Ports, type ProxyKey, type ProxyKind, type RunningProxy } from './proxies.ts';
import { bulk, idleMemory, rate, warmUp, type RateFigures, type Roots, type Tools } from './side-phases.ts';
import { median, sideSection, type Setup } from './side-section.ts';

export type TargetKey = 'direct' | ProxyKey;

export interface TargetFigures {
  restMiB?: number;
  idleKiB?: number;
  keepAlive?: RateFigures;
  close?: RateFigures;
  bulk1?: number;
  bulk8?: number;
  /** ms from spawn to the first echo through it, each run. */
  starts?: number[];
  /** Processes and threads in its tree after start. */
  shape?: { processes: number; threads: number };
}

export interface SideOptions {
  quick: boolean;
  /** `workers` for Proto Balance's config; undefined leaves it out (the core's default). */
  workers: Workers | undefined;
  log: (line: string) => void;
}

export interface SideResult {
  /** Markdown, from its `##` heading on. */
  section: string;
  /** Phases that failed (a missing tool is not a failure). */
  warnings: string[];
  seconds: number;
}

export const SIDE_PLAN = {
  quick: { rateSeconds: 1, warmSeconds: 1, bulkSeconds: 1, idle: 2_000, startRuns: 3, settleMs: 200, watchdogMs: 90_000 },
  default: { rateSeconds: 3, warmSeconds: 1, bulkSeconds: 2, idle: 9_000, startRuns: 3, settleMs: 300, watchdogMs: 180_000 },
} as const;
export type Plan = (typeof SIDE_PLAN)[keyof typeof SIDE_PLAN];

const START_TIMEOUT_MS = 20_000;
const MiB = 1024 ** 2;

interface Backends {
  node: Child;
  http: { pid: number; port: number; kind: 'nginx' | 'node'; stop(): Promise<void> } | undefined;
  iperf: { ext: External; port: number } | undefined;
}

/** Fills `into` as each backend comes up, so a failure half-way still leaves the started ones to stop. */
async function startBackends(tools: Record<ToolName, Tool>, dir: string, idle: IdlePlan, into: Partial<Backends>): Promise<Backends> {
  const node = (into.node = await startChild('side-backends', new URL('./backends.ts', import.meta.url), []));
  if (tools.wrk.path && tools.nginx.path) {
    const b = await startNginxHttp(tools.nginx, dir, await freePort(), proxyFdLimit(idle));
    into.http = { pid: b.ext.pid, port: b.port, kind: 'nginx', stop: () => b.ext.stop('SIGTERM') };
  } else if (tools.wrk.path) {
    const c = await startChild('side-http-backend', new URL('./http-backend.ts', import.meta.url), []);
    into.http = { pid: c.process.pid!, port: c.ports.http!, kind: 'node', stop: () => c.stop() };
  }
  if (tools.iperf3.path) {
    const port = await freePort();
    into.iperf = { ext: await startIperfServer(tools.iperf3.path, port), port };
  }
  return { node, http: into.http, iperf: into.iperf };
}

export async function sideBySide(o: SideOptions): Promise<SideResult> {
  const started = performance.now();
  const loadBefore = loadavg()[0] ?? 0;
  // This process's tree counts its reaped children (wrk, iperf3, the stopped proxies) too.
  const busyBefore = machineBusyMicros();
  const oursBefore = sampleTree(process.pid).cpuMicros;
  const plan: Plan = o.quick ? SIDE_PLAN.quick : SIDE_PLAN.default;
  const log = o.log;
  const warnings: string[] = [];
  const attempt = async <T>(what: string, work: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await work();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      log(`  ${what}: FAILED: ${message}`);
      warnings.push(`warning: ${what} failed: ${message.split('\n')[0]}`);
      return undefined;
    }
  };

  const tools = Object.fromEntries((['wrk', 'iperf3', 'haproxy', 'nginx'] as const).map((n) => [n, findTool(n)])) as Record<ToolName, Tool>;
  // Before any child starts: they inherit this process's open-files limit.
  const idle = planIdle(plan.idle);
  const loadTools: Tools = { wrk: tools.wrk.path, iperf3: tools.iperf3.path };
  const workersExists = workersFieldExists();
  const workers = workersExists ? o.workers : undefined;
  const kinds: ProxyKind[] = [
    protoBalance(workers),
    protoBalance(workers, true),
    haproxy(tools.haproxy, idle.count + 500),
    nginxStream(tools.nginx, proxyFdLimit(idle)),
  ];
  log(`side by side${o.quick ? ' (--quick)' : ''}: ${Object.values(tools).map((t) => (t.path ? `${t.name} ${t.version ?? 'installed'}` : absentReason(t))).join('; ')}`);
  if (idle.note) log(`  ${idle.note}`);
  if (!treeAvailable()) warnings.push('warning: /proc not readable: no CPU or memory figures');

  const dir = await mkdtemp(path.join(tmpdir(), 'protobalance-side-'));
  // Also when a signal or the watchdog ends the run before the `finally` below.
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  const figures = new Map<TargetKey, TargetFigures>();
  const backends: Partial<Backends> = {};
  try {
    const b = await startBackends(tools, dir, idle, backends);
    const nodePid = b.node.process.pid!;
    const upstreams: Addresses = {
      req: `127.0.0.1:${b.http?.port ?? b.node.ports.reqres}`,
      bulk: `127.0.0.1:${b.iperf?.port ?? b.node.ports.bulk}`,
      echo: `127.0.0.1:${b.node.ports.echo}`,
    };
    const directPorts: Ports = { req: b.http?.port ?? b.node.ports.reqres!, bulk: b.iperf?.port ?? b.node.ports.bulk!, echo: b.node.ports.echo! };
    const directRoots: Roots = { req: b.http?.pid ?? nodePid, bulk: b.iperf?.ext.pid ?? nodePid, echo: nodePid };

    /** Every phase against one target; a failed phase leaves its cells empty and the rest runs. */
    const measure = async (label: string, ports: Ports, roots: Roots, f: TargetFigures): Promise<void> => {
      // Idle first, while heaps are small and steady; bulk churn would make RSS noisy.
      f.idleKiB = await attempt(`${label}: ${idle.count} idle connections`, () => idleMemory(ports, roots, idle.count, plan.settleMs));
      log(`  ${label}: ${idle.count} idle connections: ${f.idleKiB?.toFixed(2) ?? '—'} KiB each`);
      // Without an answer in the warm-up the rate phases would only fail the same way.
      if (await attempt(`${label}: warm-up`, () => warmUp(loadTools, ports, plan.warmSeconds).then(() => true))) {
        f.keepAlive = await attempt(`${label}: keep-alive requests`, () => rate(loadTools, ports, roots, plan.rateSeconds, false));
        f.close = await attempt(`${label}: new connections`, () => rate(loadTools, ports, roots, plan.rateSeconds, true));
        for (const [what, r] of [['keep-alive', f.keepAlive], ['new connections', f.close]] as const) {
          if (r) log(`  ${label}: ${what} ${Math.round(r.perSecond)}/s, p99 ${r.p99Ms.toFixed(2)} ms, ${r.cpuMicrosPerOp.toFixed(1)} µs CPU/request, ${r.errors} errors`);
        }
      }
      f.bulk1 = await attempt(`${label}: bulk, 1 stream`, () => bulk(loadTools, ports, plan.bulkSeconds, 1));
      f.bulk8 = await attempt(`${label}: bulk, 8 streams`, () => bulk(loadTools, ports, plan.bulkSeconds, 8));
      log(`  ${label}: bulk ${f.bulk1?.toFixed(2) ?? '—'} Gbit/s (1 stream), ${f.bulk8?.toFixed(2) ?? '—'} Gbit/s (8 streams)`);
    };

    const direct: TargetFigures = {};
    figures.set('direct', direct);
    await measure('direct', directPorts, directRoots, direct);

    for (const kind of kinds) {
      if (kind.missing) {
        log(`  ${kind.label}: skipped (${kind.missing})`);
        continue;
      }
      const f: TargetFigures = {};
      figures.set(kind.key, f);
      const proxy: RunningProxy | undefined = await attempt(`${kind.label}: start`, () => startProxy(kind, dir, upstreams, START_TIMEOUT_MS));
      if (!proxy) continue;
      try {
        const roots: Roots = { req: proxy.pid, bulk: proxy.pid, echo: proxy.pid };
        const rest = sampleTree(proxy.pid);
        f.restMiB = rest.rssBytes / MiB;
        f.shape = { processes: rest.pids.length, threads: rest.threads };
        log(`  ${kind.label}: forwarding ${proxy.readyMs.toFixed(0)} ms after spawn; tree of ${rest.pids.length} process${rest.pids.length === 1 ? '' : 'es'} (${rest.threads} threads), RSS ${f.restMiB.toFixed(1)} MiB`);
        await measure(kind.label, proxy.ports, roots, f);
      } finally {
        await proxy.stop();
      }
      // Fresh processes, after the load phases, so the figure is not that of a cold disk cache.
      const starts: number[] = [];
      for (let i = 0; i < plan.startRuns; i++) {
        const p = await attempt(`${kind.label}: start-up run ${i + 1}`, () => startProxy(kind, dir, upstreams, START_TIMEOUT_MS));
        if (!p) break;
        starts.push(p.readyMs);
        await p.stop();
      }
      if (starts.length === plan.startRuns) f.starts = starts;
      log(`  ${kind.label}: start to first echo ${starts.map((s) => s.toFixed(0)).join(', ')} ms (median ${median(starts).toFixed(0)})`);
    }
  } catch (err) {
    warnings.push(`warning: side by side stopped early: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    log(`  side by side: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await Promise.all([backends.node?.stop(), backends.http?.stop(), backends.iperf?.ext.stop()]);
    await rm(dir, { recursive: true, force: true });
    process.off('exit', removeDir);
  }

  const seconds = (performance.now() - started) / 1000;
  const others = machineBusyMicros() - busyBefore - (sampleTree(process.pid).cpuMicros - oursBefore);
  const setup: Setup = {
    quick: o.quick,
    plan,
    tools,
    idle,
    httpBackend: backends.http?.kind,
    workers: { requested: o.workers, fieldExists: workersExists },
    missing: Object.fromEntries(kinds.map((k) => [k.key, k.missing])) as Partial<Record<TargetKey, string | undefined>>,
    loadBefore,
    othersShare: Math.max(0, others / (seconds * 1e6 * availableParallelism())),
    seconds,
  };
  return { section: sideSection(figures, setup, warnings), warnings, seconds };
}
