/**
 * Cold and warm start, and idle memory with the shipped demo and the bench config.
 *
 * - Cold: a new folder with a `.ts` config (bench/startup.ts's: one listener on a free port,
 *   one round-robin cluster of one node, the admin API on a free port, log silent,
 *   everything else at its defaults, so `workers` is one process per CPU), `PROTOBALANCE_CACHE_DIR` a new empty folder: spawn to
 *   "accepting connections" (the primary), and to "N processes serving" (every process).
 * - Warm: the same folder and cache, started again right after.
 * - Floor: a bare Node TCP server with the same flags (bench/startup.ts's `bareNodeStartup`).
 * - Idle RSS per process: the bench config (after the warm start, 1 s after serving), and the
 *   shipped demo (`npm start`: bin/protobalance.js start in the repo root, which finds
 *   protobalance.config.ts there) on free ports (PB_DEMO_PORT, PB_DEMO_NODE_PORTS,
 *   PB_ADMIN_PORT), its own temp bundle cache, 1 s after serving.
 * Each figure is the median of `runs`; every wait is bounded.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bareNodeStartup } from './startup.ts';
import { freePort, launch, MiB, reason, ROOT } from './scale-proc.ts';

const START_MS = 20_000;

export interface StartFigures {
  coldAccepting: number[];
  coldServing: number[];
  warmAccepting: number[];
  warmServing: number[];
  /** "N ms after process start", as the cold / warm start printed it. */
  coldSelf: number[];
  warmSelf: number[];
  bareMs: number | undefined;
  /** MiB per process, the primary first. */
  benchRss: number[] | undefined;
  demoRss: number[] | undefined;
  failures: string[];
}

export const median = (xs: readonly number[]): number | undefined => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] : undefined);

function configText(dir: string, port: number, adminPort: number): string {
  return `// written by bench/scale-start.ts
const node: string = '127.0.0.1:1';
export default {
  listeners: [{ port: ${port}, host: '127.0.0.1', cluster: 'bench' }],
  clusters: { bench: { balance: 'round-robin', nodes: [{ id: 'a', address: node }] } },
  stateDir: ${JSON.stringify(path.join(dir, 'state'))},
  admin: { host: '127.0.0.1', port: ${adminPort} },
  log: { level: 'silent' as const },
};
`;
}

/** One start to every process serving: its figures, and RSS per process 1 s later when `rss`. */
async function startOnce(config: string, cacheDir: string, rss: boolean): Promise<{ accepting: number; serving: number; self: number; rss?: number[] }> {
  const pb = launch(['start', '--config', config], { PROTOBALANCE_CACHE_DIR: cacheDir });
  try {
    const a = await pb.waitFor(/accepting connections \((\d+) ms after process start/, START_MS, '"accepting connections"');
    const s = await pb.waitFor(/processes serving/, START_MS, '"processes serving"', true);
    let mem: number[] | undefined;
    if (rss) {
      await new Promise((r) => setTimeout(r, 1_000));
      mem = pb.rssPerProcess().map((b) => b / MiB);
    }
    return { accepting: a.atMs, serving: s.atMs, self: Number(a.match[1]), rss: mem };
  } finally {
    await pb.stop();
  }
}

/** The shipped demo as `npm start` runs it, on free ports: RSS per process 1 s after every process serves. */
async function demoRss(cacheDir: string, stateToken: string): Promise<number[]> {
  const [port, a, b, c, adminPort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const pb = launch(['start'], {
    PROTOBALANCE_CACHE_DIR: cacheDir,
    PB_DEMO_PORT: String(port),
    PB_DEMO_NODE_PORTS: `${a},${b},${c}`,
    PB_ADMIN_PORT: String(adminPort!),
    // The demo keeps its state in <repo>/.protobalance (gitignored); a token from the
    // environment spares it writing one there.
    PB_ADMIN_TOKEN: stateToken,
  });
  try {
    await pb.waitFor(/processes serving/, START_MS, '"processes serving" (the demo)');
    await new Promise((r) => setTimeout(r, 1_000));
    return pb.rssPerProcess().map((x) => x / MiB);
  } finally {
    await pb.stop();
  }
}

export async function startFigures(root: string, runs: number, log: (l: string) => void): Promise<StartFigures> {
  const f: StartFigures = { coldAccepting: [], coldServing: [], warmAccepting: [], warmServing: [], coldSelf: [], warmSelf: [], bareMs: undefined, benchRss: undefined, demoRss: undefined, failures: [] };
  try {
    f.bareMs = (await bareNodeStartup(runs)).spawnToLineMs;
  } catch (err) {
    f.failures.push(`bare Node start: ${reason(err)}`);
  }
  for (let i = 0; i < runs; i++) {
    const dir = await mkdtemp(path.join(root, 'start-'));
    const cache = path.join(dir, 'cache');
    await mkdir(cache);
    const config = path.join(dir, 'protobalance.config.ts');
    await writeFile(config, configText(dir, await freePort(), await freePort()));
    try {
      const cold = await startOnce(config, cache, false);
      f.coldAccepting.push(cold.accepting);
      f.coldServing.push(cold.serving);
      f.coldSelf.push(cold.self);
      const warm = await startOnce(config, cache, i === runs - 1);
      f.warmAccepting.push(warm.accepting);
      f.warmServing.push(warm.serving);
      f.warmSelf.push(warm.self);
      if (warm.rss) f.benchRss = warm.rss;
      log(`  start ${i + 1}/${runs}: cold ${cold.accepting.toFixed(0)} ms accepting, ${cold.serving.toFixed(0)} ms serving; warm ${warm.accepting.toFixed(0)} / ${warm.serving.toFixed(0)} ms`);
    } catch (err) {
      f.failures.push(`cold/warm start ${i + 1}: ${reason(err)}`);
      log(`  start ${i + 1}/${runs}: failed: ${reason(err)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const demoCache = await mkdtemp(path.join(root, 'demo-cache-'));
  try {
    f.demoRss = await demoRss(demoCache, 'bench-scale-demo-token');
    log(`  demo (${path.join(ROOT, 'protobalance.config.ts')}): RSS ${f.demoRss.map((x) => x.toFixed(1)).join(' + ')} MiB`);
  } catch (err) {
    f.failures.push(`demo: ${reason(err)}`);
    log(`  demo: failed: ${reason(err)}`);
  }
  return f;
}
