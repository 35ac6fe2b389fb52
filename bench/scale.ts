/**
 * The scale section of `npm run bench` (alone: `npm run bench -- --only=scale`): cost as the
 * config grows, every figure beside its growth from the smallest case, in one run.
 *
 * 1. Config size (bench/scale-clusters.ts): check, start, reload (admin API and a file
 *    edit), a runtime factor change and RSS per process at 1, 50 and 500 clusters of 10
 *    nodes, `workers: 2`; growth as the ratio to the 1-cluster figure.
 * 2. Pick cost (bench/scale-picks.ts): every built-in algorithm at 4, 100 and 5,000
 *    candidates, as the balancer runs it and raw; growth as the ratio to 4 candidates.
 * 3. Start (bench/scale-start.ts): cold (empty bundle cache, new folder, `.ts` config) and
 *    warm (same cache and folder), against a bare Node server; idle RSS per process of the
 *    bench config and of the shipped demo.
 *
 * Every process runs with PROTOBALANCE_CACHE_DIR in this section's temp folder (so the
 * checkout's cache, which other runs use, is neither read nor filled). A failed step is a
 * figure ("failed: <reason>"), never the end of the section; the issue's goals stand beside
 * the figures they bound.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fmt } from './report.ts';
import { clusterRun, NODES_PER_CLUSTER, type ClusterRun, type Figure } from './scale-clusters.ts';
import { PICK_WAYS, pickCosts, type PickFigure } from './scale-picks.ts';
import { ROOT } from './scale-proc.ts';
import { median, startFigures, type StartFigures } from './scale-start.ts';

export const SCALE_HEADING = '## Scale: cost by config size, pick cost by cluster size, cold and warm start';
export { killScale } from './scale-proc.ts';

const PLAN = {
  quick: { clusters: [1, 50], pickSizes: [4, 100, 5_000], pickBudgetMs: 100, maxPicks: 20_000, startRuns: 1, limits: { checkMs: 30_000, startMs: 45_000, changeMs: 30_000 } },
  default: { clusters: [1, 50, 500], pickSizes: [4, 100, 5_000], pickBudgetMs: 300, maxPicks: 100_000, startRuns: 3, limits: { checkMs: 45_000, startMs: 60_000, changeMs: 45_000 } },
};
/**
 * Worst case of the section (bench/run.ts's watchdog): the 500-cluster step, where a failed
 * step skips those after it, is at most check + start + one change plus the stops; with
 * the other sizes, picks and starts, well under this.
 */
export const SCALE_WATCHDOG_MS = 420_000;

const GOALS = { check: '≤ 1 s', serving: '≤ 1.5 s', change: '≤ 300 ms', rss: '≤ 150 MB', cold: '≤ 250 ms', warm: '≤ 150 ms', idle: '≤ 45 MiB', pick: '≤ 10 µs' };

/**
 * The commit measured, and whether the code the processes run has uncommitted changes.
 * PB_BENCH_COMMIT names it for a run from a tree exported from git (`git archive`), which
 * has no .git of its own.
 */
function commit(): string {
  if (process.env.PB_BENCH_COMMIT) return `${process.env.PB_BENCH_COMMIT} (PB_BENCH_COMMIT: a tree exported from that commit)`;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'core', 'plugins', 'app', 'bin', 'scripts'], { cwd: ROOT, encoding: 'utf8', timeout: 5_000 }).trim();
    return dirty ? `${head} with uncommitted changes in ${[...new Set(dirty.split('\n').map((l) => l.slice(3).split('/')[0]))].join(', ')}` : head;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

const cellOf = (f: Figure | undefined) => (!f ? '—' : 'value' in f ? fmt(f.value) : `failed: ${f.failed}`);
const valueOf = (f: Figure | undefined) => (f && 'value' in f ? f.value : undefined);
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? `${fmt(a / b)}×` : '—');
const maxOf = (xs: number[] | undefined) => (xs && xs.length ? Math.max(...xs) : undefined);
const perProcess = (xs: number[] | undefined) => (xs && xs.length ? xs.map((x) => x.toFixed(0)).join(' + ') : '—');

function clusterTable(runs: ClusterRun[]): string {
  const sizes = runs.map((r) => r.clusters);
  const first = runs[0];
  const head = `| figure (${NODES_PER_CLUSTER} nodes per cluster, workers: 2) | ${sizes.map((n) => `${n} cluster${n === 1 ? '' : 's'}`).join(' | ')} | ${sizes.slice(1).map((n) => `${n}/${sizes[0]}`).join(' | ')} | goal at 500 |`;
  const lines = [head, `|---|${sizes.map(() => '---:').join('|')}|${sizes.slice(1).map(() => '---:').join('|')}|---:|`];
  const row = (label: string, get: (r: ClusterRun) => Figure | undefined, goal: string) => {
    const base = first ? valueOf(get(first)) : undefined;
    lines.push(`| ${label} | ${runs.map((r) => cellOf(get(r))).join(' | ')} | ${runs.slice(1).map((r) => ratio(valueOf(get(r)), base)).join(' | ')} | ${goal} |`);
  };
  const mem = (label: string, get: (r: ClusterRun) => number[] | undefined, goal: string) => {
    const base = first ? maxOf(get(first)) : undefined;
    lines.push(`| ${label} | ${runs.map((r) => perProcess(get(r))).join(' | ')} | ${runs.slice(1).map((r) => ratio(maxOf(get(r)), base)).join(' | ')} | ${goal} |`);
  };
  row('`protobalance check`, spawn to exit (ms)', (r) => r.check, GOALS.check);
  row('start, spawn to "accepting connections" (ms)', (r) => r.accepting, '—');
  row('start, spawn to "2 processes serving" (ms)', (r) => r.serving, GOALS.serving);
  row('reload, `POST /api/reload` to its answer, file unchanged (ms)', (r) => r.apiReload, GOALS.change);
  row('reload, the same as the balancer timed it ("ms" of its answer)', (r) => (r.apiReloadSelfMs === undefined ? undefined : { value: r.apiReloadSelfMs }), '—');
  row('reload, file edit (one node\'s loadFactor) to "config reloaded" (ms)', (r) => r.fileReload, GOALS.change);
  row('runtime factor change, `PUT /api/nodes/c0/n1/factor` to its answer (ms)', (r) => r.factor, GOALS.change);
  mem('RSS per process, idle 1 s after start (MiB, primary + worker) ¹', (r) => r.rssIdle, GOALS.rss);
  mem('RSS per process after the API reload (MiB) ¹', (r) => r.rssAfterReload, GOALS.rss);
  mem('RSS per process after the file reload and the factor change (MiB) ¹', (r) => r.rssEnd, GOALS.rss);
  return lines.join('\n');
}

function pickCell(c: PickFigure | undefined): string {
  if (!c) return '—';
  if ('failed' in c) return `failed: ${c.failed}`;
  const errors = [c.errors ? `${c.errors} failed` : '', c.warmupErrors ? `${c.warmupErrors} failed in the warm-up` : ''].filter(Boolean).join(', ');
  const extra = [c.fallbackShare ? `${(c.fallbackShare * 100).toFixed(0)}% fallback` : '', errors ? `${errors}: ${c.firstError}` : ''].filter(Boolean).join('; ');
  return `${fmt(c.micros)}${extra ? ` (${extra})` : ''}`;
}

function pickTable(rows: Awaited<ReturnType<typeof pickCosts>>['rows'], sizes: number[]): string {
  const lines = [
    `| algorithm | way | ${sizes.map((n) => `${n.toLocaleString('en-US')} nodes (µs/pick)`).join(' | ')} | ${sizes.slice(1).map((n) => `${n.toLocaleString('en-US')}/${sizes[0]}`).join(' | ')} |`,
    `|---|---|${sizes.map(() => '---:').join('|')}|${sizes.slice(1).map(() => '---:').join('|')}|`,
  ];
  for (const r of rows) {
    const base = r.cells[0] && 'micros' in r.cells[0] ? r.cells[0].micros : undefined;
    const ratios = r.cells.slice(1).map((c) => ratio(c && 'micros' in c ? c.micros : undefined, base));
    lines.push(`| ${r.algorithm} | ${r.way} | ${r.cells.map(pickCell).join(' | ')} | ${ratios.join(' | ')} |`);
  }
  return lines.join('\n');
}

function startTable(f: StartFigures, runs: number): string {
  const m = (xs: number[]) => median(xs);
  const lines = ['| figure | ms / MiB | ratio | goal |', '|---|---:|---:|---:|'];
  const bare = f.bareMs;
  lines.push(`| bare Node TCP server, spawn to its line (ms, the floor) | ${fmt(bare)} | 1× | — |`);
  lines.push(`| cold start, spawn to "accepting connections" (ms) | ${fmt(m(f.coldAccepting))} | ${ratio(m(f.coldAccepting), bare)} of the floor | ${GOALS.cold} |`);
  lines.push(`| warm start, spawn to "accepting connections" (ms) | ${fmt(m(f.warmAccepting))} | ${ratio(m(f.warmAccepting), bare)} of the floor; ${ratio(m(f.warmAccepting), m(f.coldAccepting))} of cold | ${GOALS.warm} |`);
  lines.push(`| cold start, spawn to "2 processes serving" (ms) | ${fmt(m(f.coldServing))} | ${ratio(m(f.coldServing), bare)} of the floor | — |`);
  lines.push(`| warm start, spawn to "2 processes serving" (ms) | ${fmt(m(f.warmServing))} | ${ratio(m(f.warmServing), m(f.coldServing))} of cold | — |`);
  lines.push(`| cold / warm start as printed, "ms after process start" | ${fmt(m(f.coldSelf))} / ${fmt(m(f.warmSelf))} | ${ratio(m(f.warmSelf), m(f.coldSelf))} | — |`);
  const idle = (label: string, xs: number[] | undefined) =>
    lines.push(`| idle RSS per process, ${label} (MiB, primary + worker) ¹ | ${xs ? xs.map((x) => x.toFixed(1)).join(' + ') : '—'} | ${ratio(maxOf(xs), 45)} of the goal (largest) | ${GOALS.idle} |`);
  idle('bench config, after the warm start', f.benchRss);
  idle('shipped demo (`npm start`)', f.demoRss);
  void runs;
  return lines.join('\n');
}

export async function scaleSection(options: { quick: boolean; log: (line: string) => void }): Promise<{ section: string; failures: string[]; seconds: number }> {
  const started = performance.now();
  const { log } = options;
  const plan = PLAN[options.quick ? 'quick' : 'default'];
  const root = await mkdtemp(path.join(tmpdir(), 'pb-bench-scale-'));
  const cache = path.join(root, 'cache');
  const savedCache = process.env.PROTOBALANCE_CACHE_DIR;
  // This process bundles too (the sandboxed picks): into the section's cache as well.
  process.env.PROTOBALANCE_CACHE_DIR = cache;
  const measuredAt = commit();
  const loadBefore = loadavg()[0] ?? 0;
  log(`Scale section${options.quick ? ' (--quick)' : ''}: commit ${measuredAt}`);
  try {
    const runs: ClusterRun[] = [];
    for (const n of plan.clusters) runs.push(await clusterRun(n, root, { PROTOBALANCE_CACHE_DIR: cache }, plan.limits, log));
    const picks = await pickCosts(plan.pickSizes, plan.pickBudgetMs, plan.maxPicks, log);
    const start = await startFigures(root, plan.startRuns, log);

    const failedFigures = runs.flatMap((r) =>
      (['check', 'accepting', 'serving', 'apiReload', 'fileReload', 'factor'] as const).flatMap((k) => {
        const f = r[k];
        return 'failed' in f ? [`${r.clusters} clusters: ${k}: ${f.failed}`] : [];
      }),
    );
    const pickNotes = picks.rows.flatMap((r) =>
      r.cells.flatMap((c, i) => {
        const at = `pick ${r.algorithm}, ${r.way}, ${plan.pickSizes[i]!.toLocaleString('en-US')} nodes`;
        if ('failed' in c) return [`${at}: failed: ${c.failed}`];
        const failedPicks = c.errors + (c.warmupErrors ?? 0);
        return failedPicks > 0 ? [`${at}: ${failedPicks} of the picks failed (${c.warmupErrors ?? 0} in the warm-up), the first: ${c.firstError}`] : [];
      }),
    );
    const fellBack = picks.rows.flatMap((r) =>
      r.cells.flatMap((c, i) => ('micros' in c && (c.fallbackShare ?? 0) >= 0.5 ? [`${r.algorithm} at ${plan.pickSizes[i]!.toLocaleString('en-US')} (${((c.fallbackShare ?? 0) * 100).toFixed(0)}%)`] : [])),
    );
    const failures = [...failedFigures, ...start.failures];
    const notes = [
      ...failures,
      ...runs.flatMap((r) => r.notes.map((n) => `${r.clusters} clusters: ${n}`)),
      ...pickNotes,
      ...(fellBack.length ? [`as the balancer runs them, most choices were the guard's weighted rotation, not the algorithm's (no answer from the isolate within 5 ms): ${fellBack.join(', ')}`] : []),
    ];
    const seconds = (performance.now() - started) / 1000;
    const section = [
      SCALE_HEADING,
      '',
      `- date: ${new Date().toISOString()}; commit measured: ${measuredAt}; node ${process.version}; mode: ${options.quick ? '--quick' : 'default'}; section took ${seconds.toFixed(0)} s; 1-minute load average ${loadBefore.toFixed(2)} before, ${(loadavg()[0] ?? 0).toFixed(2)} after (other work on the machine skews every figure, the guarded picks' fallback shares most)`,
      '- every process: `node --no-node-snapshot bin/protobalance.js` (the prebuilt bundle, as installed), PROTOBALANCE_CACHE_DIR in this section\'s temp folder (`check` fills it first, so each start below is warm for the algorithm bundles); all on 127.0.0.1',
      '',
      '### Config size',
      '',
      clusterTable(runs),
      '',
      ...[
        `a generated \`.ts\` config: N clusters of ${NODES_PER_CLUSTER} round-robin nodes at closed ports (127.0.0.1:1-10; nothing connects), one listener per cluster on a free port, \`workers: 2\`, the admin API on a free port with a token, state in a temp folder, log level info; times from outside the processes; the growth columns divide by the 1-cluster figure`,
        'the API reload and the factor change answer once every process has the change; after each change `GET /api/status` checked every process serves the same generation (a difference would be listed below); the file-edit figure includes chokidar\'s 100 ms debounce, and the "config reloaded" line is logged after every worker reloaded',
        `limits: check ${plan.limits.checkMs / 1000} s, start ${plan.limits.startMs / 1000} s, each change ${plan.limits.changeMs / 1000} s; a step past its limit or failing is "failed: <reason>" and the steps after it are skipped`,
        '¹ RSS from /proc/<pid>/stat of the primary and of the worker it forked; growth columns compare the largest process',
      ].map((n) => `- ${n}`),
      '',
      '### Pick cost by cluster size',
      '',
      pickTable(picks.rows, plan.pickSizes),
      '',
      ...[
        `ways: ${PICK_WAYS.join(', ')}. guarded: as the balancer runs it, the sandboxed module inside the core's guard (\`guardChooser\`, 5 ms wait, weighted-rotation fallback; the in-process stand-in for client-hash), timed around \`choose\`, with the share of choices its fallback made; sandboxed: raw \`Chooser.pick\` of \`createSandboxRunner\` (default limits: 50 ms CPU per call, 32 MB), waiting up to the 50 ms limit; in-process: \`createInProcessRunner\``,
        `per cell up to ${plan.maxPicks.toLocaleString('en-US')} picks or ${plan.pickBudgetMs} ms after a warm-up of a fifth of that, stopped after 5 failed picks; the same candidates array on every pick (load factors 1-3), clients varied over 1,024 addresses; run in the bench process after the config-size runs; goal: ${GOALS.pick} per pick at 5,000 nodes`,
        ...(picks.missing.length ? [`registered but without a module file, so not measured: ${picks.missing.join(', ')}`] : []),
      ].map((n) => `- ${n}`),
      '',
      '### Cold and warm start, idle memory',
      '',
      startTable(start, plan.startRuns),
      '',
      ...[
        `medians of ${plan.startRuns} run(s); cold: a new temp folder with a \`.ts\` config (one listener, one round-robin node, admin API on a free port, log silent, \`workers\` at its default: one process per CPU) and an empty PROTOBALANCE_CACHE_DIR; warm: started again with the same folder and cache`,
        'shipped demo: `bin/protobalance.js start` in the repo root (what `npm start` runs; protobalance.config.ts with its three demo HTTP nodes), on free ports through PB_DEMO_PORT, PB_DEMO_NODE_PORTS and PB_ADMIN_PORT, its own empty bundle cache; RSS 1 s after every process serves',
        '¹ RSS from /proc of the primary and of each worker; the ratio is the largest process over the 45 MiB goal',
      ].map((n) => `- ${n}`),
      ...(notes.length ? ['', '### Failed or odd at scale', '', ...notes.map((n) => `- ${n}`)] : ['', 'Nothing failed.']),
    ].join('\n');
    return { section, failures, seconds };
  } finally {
    if (savedCache === undefined) delete process.env.PROTOBALANCE_CACHE_DIR;
    else process.env.PROTOBALANCE_CACHE_DIR = savedCache;
    await rm(root, { recursive: true, force: true }).catch(() => undefined);
  }
}
