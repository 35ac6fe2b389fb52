/**
 * Cost by config size: a generated `.ts` config of `n` clusters of 10 nodes each (one listener
 * per cluster on a free port of 127.0.0.1, nodes at closed ports 127.0.0.1:1-10: nothing
 * connects), `workers: 2`, the admin API on a free port, state in a temp folder, log level
 * info (for pino's "config reloaded" line). In order, each step timed from the outside:
 *
 * 1. `protobalance check`: spawn to exit.
 * 2. `protobalance start`: spawn to "accepting connections" (the primary) and to "2 processes
 *    serving" (every process). RSS of each process after 1 s idle.
 * 3. `POST /api/reload` (file unchanged): request to answer; the API answers once every
 *    process has the new generation. RSS of each process after it.
 * 4. A file edit (one node's loadFactor in cluster c0): write to pino's "config reloaded"
 *    line, which the primary logs after every worker has reloaded (chokidar's 100 ms
 *    debounce included, as a user's edit pays it).
 * 5. `PUT /api/nodes/c0/n1/factor`: a runtime change, request to answer (every process).
 * After each change `GET /api/status` checks that every process serves the same generation.
 * A step that fails or times out becomes "failed: <reason>" and the steps after it that
 * depend on it are skipped, so the worst case stays bounded.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { admin, freePort, launch, MiB, reason, runToExit, type Running } from './scale-proc.ts';

export const NODES_PER_CLUSTER = 10;
const TOKEN = 'bench-scale-token';

export interface ClusterLimits {
  checkMs: number;
  startMs: number;
  changeMs: number;
}

/** A measured figure, or why there is none. */
export type Figure = { value: number } | { failed: string };

export interface ClusterRun {
  clusters: number;
  check: Figure;
  /** Spawn to "accepting connections" (the primary serving). */
  accepting: Figure;
  /** Spawn to "N processes serving" (every process). */
  serving: Figure;
  processes: number | undefined;
  /** MiB per process, the primary first. */
  rssIdle: number[] | undefined;
  rssAfterReload: number[] | undefined;
  rssEnd: number[] | undefined;
  apiReload: Figure;
  /** The `ms` the balancer itself gave for the API reload. */
  apiReloadSelfMs: number | undefined;
  fileReload: Figure;
  factor: Figure;
  /** Anything odd seen: generations that differ between processes, a worker not serving. */
  notes: string[];
}

function configText(n: number, dir: string, adminPort: number, factor: number): string {
  const clusters: string[] = [];
  const listeners: string[] = [];
  for (let c = 0; c < n; c++) {
    const nodes = Array.from({ length: NODES_PER_CLUSTER }, (_, i) => {
      const f = c === 0 && i === 0 ? `, loadFactor: ${factor}` : '';
      return `{ id: 'n${i}', address: '127.0.0.1:${i + 1}'${f} }`;
    });
    clusters.push(`    c${c}: { balance: 'round-robin', nodes: [${nodes.join(', ')}] },`);
    listeners.push(`    { name: 'l${c}', port: 0, host: '127.0.0.1', cluster: 'c${c}' },`);
  }
  return `// written by bench/scale-clusters.ts: ${n} clusters x ${NODES_PER_CLUSTER} nodes
const level: 'info' = 'info';
export default {
  listeners: [
${listeners.join('\n')}
  ],
  clusters: {
${clusters.join('\n')}
  },
  workers: 2,
  stateDir: ${JSON.stringify(path.join(dir, 'state'))},
  admin: { host: '127.0.0.1', port: ${adminPort}, token: '${TOKEN}' },
  log: { level },
};
`;
}

const mib = (bytes: number[]) => bytes.map((b) => b / MiB);
const ok = (value: number): Figure => ({ value });
const failed = (err: unknown): Figure => ({ failed: reason(err) });
const skipped = (after: string): Figure => ({ failed: `skipped (${after} failed)` });

/** Every process at the same generation as the primary, else a note. */
async function sameGeneration(adminPort: number, limits: ClusterLimits, step: string, notes: string[]): Promise<void> {
  try {
    const s = (await admin(adminPort, TOKEN, 'GET', '/status', undefined, limits.changeMs)) as { generation?: number; generations?: number[]; processes?: number };
    const gens = s.generations ?? [];
    if (gens.some((g) => g !== s.generation)) notes.push(`after ${step}: processes serve generations ${gens.join(', ')} (primary ${s.generation})`);
  } catch (err) {
    notes.push(`after ${step}: GET /api/status failed: ${reason(err)}`);
  }
}

/** Measure one config size; never throws (a failed step is a figure). */
export async function clusterRun(n: number, root: string, env: Record<string, string>, limits: ClusterLimits, log: (l: string) => void): Promise<ClusterRun> {
  const dir = path.join(root, `clusters-${n}`);
  await mkdir(dir, { recursive: true });
  const config = path.join(dir, 'protobalance.config.ts');
  const adminPort = await freePort();
  await writeFile(config, configText(n, dir, adminPort, 1));
  const run: ClusterRun = {
    clusters: n,
    check: { failed: 'not run' },
    accepting: { failed: 'not reached' },
    serving: { failed: 'not reached' },
    processes: undefined,
    rssIdle: undefined,
    rssAfterReload: undefined,
    rssEnd: undefined,
    apiReload: skipped('start'),
    apiReloadSelfMs: undefined,
    fileReload: skipped('start'),
    factor: skipped('start'),
    notes: [],
  };
  try {
    run.check = ok(await runToExit(['check', '--config', config], env, limits.checkMs));
  } catch (err) {
    run.check = failed(err);
  }
  log(`  ${n} clusters: check ${show(run.check)}`);

  let pb: Running | undefined;
  try {
    pb = launch(['start', '--config', config], env);
    try {
      run.accepting = ok((await pb.waitFor(/accepting connections/, limits.startMs, '"accepting connections"')).atMs);
      const s = await pb.waitFor(/(\d+)(?: of (\d+))? processes serving/, Math.max(1_000, limits.startMs - pb.elapsed()), '"processes serving"', true);
      run.serving = ok(s.atMs);
      run.processes = Number(s.match[1]);
      if (s.match[2]) run.notes.push(`start: only ${s.match[1]} of ${s.match[2]} processes serving`);
    } catch (err) {
      if (!('value' in run.accepting)) run.accepting = failed(err);
      run.serving = failed(err);
      throw new Error('start');
    }
    await new Promise((r) => setTimeout(r, 1_000));
    run.rssIdle = mib(pb.rssPerProcess());
    log(`  ${n} clusters: accepting ${show(run.accepting)}, serving ${show(run.serving)}, RSS ${run.rssIdle.map((x) => x.toFixed(0)).join(' + ')} MiB`);

    // 3. The admin API's reload, the file unchanged.
    run.fileReload = skipped('the API reload');
    run.factor = skipped('the API reload');
    const t0 = performance.now();
    try {
      const answer = (await admin(adminPort, TOKEN, 'POST', '/reload', undefined, limits.changeMs)) as { ms?: number };
      run.apiReload = ok(performance.now() - t0);
      run.apiReloadSelfMs = answer.ms;
    } catch (err) {
      run.apiReload = failed(err);
      throw new Error('reload');
    }
    run.rssAfterReload = mib(pb.rssPerProcess());
    const others = pb.others();
    if (others.length) run.notes.push(`after the API reload, besides the Node processes: ${others.join(', ')}`);
    await sameGeneration(adminPort, limits, 'the API reload', run.notes);

    // 4. A file edit: one node's load factor in c0.
    run.factor = skipped('the file reload');
    const reloaded = pb.waitFor(/"reason":"[^"]*changed".*"msg":"config reloaded"|reload failed/, limits.changeMs, 'the "config reloaded" line after the file edit');
    const t1 = performance.now();
    await writeFile(config, configText(n, dir, adminPort, 2));
    try {
      const line = await reloaded;
      if (!/config reloaded/.test(line.match[0])) throw new Error(`reload failed: ${pb.tail().split('\n').slice(-1)[0] ?? ''}`);
      run.fileReload = ok(performance.now() - t1);
    } catch (err) {
      run.fileReload = failed(err);
      throw new Error('file reload');
    }
    await sameGeneration(adminPort, limits, 'the file reload', run.notes);

    // 5. A runtime change: a node's load factor through the admin API.
    const t2 = performance.now();
    try {
      await admin(adminPort, TOKEN, 'PUT', '/nodes/c0/n1/factor', { factor: 3 }, limits.changeMs);
      run.factor = ok(performance.now() - t2);
    } catch (err) {
      run.factor = failed(err);
      throw new Error('factor');
    }
    await sameGeneration(adminPort, limits, 'the factor change', run.notes);
    run.rssEnd = mib(pb.rssPerProcess());
  } catch (err) {
    if (!(err instanceof Error && ['start', 'reload', 'file reload', 'factor'].includes(err.message))) run.notes.push(`unexpected: ${reason(err)}`);
    if (pb) run.notes.push(`last output: ${reason(pb.tail().split('\n').slice(-2).join(' | '), 300)}`);
  } finally {
    await pb?.stop();
  }
  log(`  ${n} clusters: API reload ${show(run.apiReload)}, file reload ${show(run.fileReload)}, factor change ${show(run.factor)}${run.notes.length ? `; ${run.notes.join('; ')}` : ''}`);
  return run;
}

export function show(f: Figure, unit = 'ms'): string {
  return 'value' in f ? `${f.value.toFixed(0)} ${unit}` : `failed: ${f.failed}`;
}
