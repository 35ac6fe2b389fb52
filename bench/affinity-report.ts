/** The markdown section of the affinity bench (bench/affinity-stores.ts): two tables and their notes. */
import type { ThroughPlan, ThroughResult, Variant } from './affinity-through.ts';
import { fmt } from './report.ts';

/** One store's pass over the workload; per-connection figures are per get + set pair. */
export interface StoreRun {
  pairs: number;
  misses: number;
  /** Time inside `get` + `set` only, all slices (µs per pair). */
  callMicros: number;
  /** The same over slices of new clients (misses). */
  freshMicros: number;
  /** The same over slices of returning clients (hits). */
  seenMicros: number;
  /** Wall time from the first call until every write is stored (µs per pair). */
  windowMicros: number;
  /** This process's CPU over that window (µs per pair). */
  cpuMicros: number;
  /** redis-server's CPU over that window (µs per pair); Redis only. */
  serverCpuMicros: number | undefined;
  /** Longest time between two slices: background work holding the event loop (ms). */
  longestPauseMs: number;
  /** From the last call until everything was stored (ms). */
  drainMs: number;
}

export const AFFINITY_HEADING = '## Affinity lookup: Redis store vs SQLite store';

type Cell = number | undefined;

function median(xs: readonly number[]): number | undefined {
  if (xs.length === 0) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1]! + s[m]!) / 2;
}

/** Only between positive figures: a difference to a reference may be negative (noise). */
const ratio = (a: Cell, b: Cell) => (a !== undefined && b !== undefined && a > 0 && b > 0 ? a / b : undefined);

function tableOf(head: readonly string[], rows: readonly (readonly [string, Cell, Cell, Cell])[], skipped: boolean): string {
  const lines = [
    `| figure | ${head[0]} | ${head[1]} | ${head[2]} | ${head[1]}/${head[0]} | ${head[2]}/${head[0]} | ${head[2]}/${head[1]} |`,
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [figure, a, b, c] of rows) {
    const third = skipped ? 'skipped' : fmt(c);
    lines.push(`| ${figure} | ${fmt(a)} | ${fmt(b)} | ${third} | ${fmt(ratio(b, a))} | ${fmt(ratio(c, a))} | ${fmt(ratio(c, b))} |`);
  }
  return lines.join('\n');
}

export function affinityTables(o: {
  quick: boolean;
  plan: { pairs: number; distinct: number; rounds: number; budgetMs: number; warmPairs: number; through: ThroughPlan };
  slice: number;
  runs: Map<'map' | 'sqlite' | 'redis', StoreRun[]>;
  through: Map<Variant, ThroughResult> | undefined;
  /** What served the Redis store; undefined: not installed. */
  redis: string | undefined;
  redisKeys: number | undefined;
  seconds: number;
  /** 1-minute load average when the section started. */
  loadBefore: number;
  warnings: readonly string[];
}): string {
  const skipped = o.redis === undefined;
  const m = (store: 'map' | 'sqlite' | 'redis', f: (r: StoreRun) => number | undefined): Cell => {
    const xs = (o.runs.get(store) ?? []).map(f).filter((x): x is number => x !== undefined);
    return median(xs);
  };
  const row = (figure: string, f: (r: StoreRun) => number | undefined, withMap = true) => [figure, withMap ? m('map', f) : undefined, m('sqlite', f), m('redis', f)] as const;
  const stores = tableOf(
    ['Map', 'SQLite', 'Redis'],
    [
      row('`get` + `set` per connection, time in the calls (µs)', (r) => r.callMicros),
      row('… for a new client (a miss, then a new binding) (µs)', (r) => r.freshMicros),
      row('… for a returning client (a hit, then a refresh) (µs)', (r) => r.seenMicros),
      row('wall time per connection, first call until every write is stored (µs)', (r) => r.windowMicros),
      row('CPU per connection over that window, this process (µs)', (r) => r.cpuMicros),
      row('CPU per connection over that window, this process + redis-server (µs)', (r) => r.cpuMicros + (r.serverCpuMicros ?? 0)),
      row('longest pause between two slices of 1,000 (ms): background work holding the event loop', (r) => r.longestPauseMs),
      row('from the last call until everything is stored (ms)', (r) => r.drainMs, false),
    ],
    skipped,
  );
  const t = (v: Variant, f: (r: ThroughResult) => number | undefined): Cell => {
    const r = o.through?.get(v);
    return r ? f(r) : undefined;
  };
  const trow = (figure: string, f: (r: ThroughResult) => number | undefined) => [figure, t('off', f), t('sqlite', f), t('redis', f)] as const;
  const off = o.through?.get('off');
  const tp = o.plan.through;
  const balancer = tableOf(
    ['affinity off', 'SQLite', 'Redis'],
    [
      trow(`new connections/s (${tp.concurrency} loops: connect, 16 B request, 64 B answer, close)`, (r) => r.perSecond),
      trow('wall time per connection, 1 / rate (µs)', (r) => 1e6 / r.perSecond),
      trow('new connection p99 latency (ms)', (r) => r.p99Ms),
      trow('CPU per connection, this process: load generator + balancer (µs)', (r) => r.cpuMicros),
      trow('CPU per connection, this process + redis-server (µs)', (r) => r.cpuMicros + (r.serverCpuMicros ?? 0)),
      trow('CPU per connection over affinity off, this process + redis-server (µs)', (r) => (off && r !== off ? r.cpuMicros + (r.serverCpuMicros ?? 0) - off.cpuMicros : undefined)),
    ],
    skipped,
  );
  const first = o.runs.get('map')?.[0] ?? o.runs.get('sqlite')?.[0];
  // Each round measures the variants back to back: their ratio is the least drift-prone figure.
  const paired = (a: Variant, b: Variant) => {
    const x = o.through?.get(a)?.rounds;
    const y = o.through?.get(b)?.rounds;
    return x && y ? median(x.map((v, i) => v / (y[i] ?? Number.NaN)).filter(Number.isFinite)) : undefined;
  };
  const rounds = (v: Variant) => o.through?.get(v)?.rounds.map((x) => fmt(x)).join(', ') ?? '—';
  const notes = [
    `run: ${new Date().toISOString()}, ${o.quick ? '--quick' : 'default'} mode, ${o.seconds.toFixed(1)} s; node ${process.version}; ${o.redis ?? 'redis-server not installed: the Redis column is skipped'}; 1-minute load average before ${o.loadBefore.toFixed(2)} on 2 CPUs shared with the rest of the machine, so the ratios say more than the figures, and CPU per connection more than the rates`,
    `stores alone (first table): median of ${o.plan.rounds} round(s), the stores' order rotated each round, a fresh store each time (SQLite: a new temp file, WAL, the store's defaults; Redis: \`RedisAffinityStore\` on a local redis-server, FLUSHDB first, \`--save '' --appendonly no\`; Map: one \`Map\` per cluster, get and set); per connection one \`get(cluster, client)\` then one \`set(cluster, client, bound ?? node)\`, as the affinity plugin's resolveAffinity and connected taps do; ttl 30 days, maxEntries 100,000`,
    `workload: ${(first?.pairs ?? o.plan.pairs).toLocaleString('en-US')} connections (at most ${o.plan.budgetMs / 1000} s) over ${o.plan.distinct.toLocaleString('en-US')} client addresses (7 in 8 IPv4, the rest IPv6), in slices of ${o.slice.toLocaleString('en-US')}: one slice in four brings new clients (${(first?.misses ?? 0).toLocaleString('en-US')} misses), the others returning clients drawn at random; the event loop turns between slices, so the write-behind (SQLite: one transaction every 250 ms; Redis: a pipeline of \`SET … PX\` every 50 ms, a \`PUBLISH\` per new binding, a \`GET\` + \`PTTL\` per missed client, gathered into one pipeline per turn of the event loop; a returning client's binding written again only after a twentieth of its TTL) runs within the window; a warm-up of ${o.plan.warmPairs.toLocaleString('en-US')} connections on another cluster first`,
    'window: from the first call until SQLite has flushed, or until the Redis store has sent its queue and a PING is answered on both of its connections (after the pipeline\'s replies and the store\'s own published messages); redis-server CPU from /proc (10 ms ticks)',
    `through the balancer (second table): \`createBalancer\` in the bench process with the built-in plugins and \`createInProcessRunner()\` (round robin, two nodes on the Node request/response backend in a child process), \`admin: false\`, logs silent, a temp stateDir each; affinity \`{ enabled: true }\` (SQLite) or \`{ enabled: true, store: 'redis://127.0.0.1:<port>/0' }\`; clients connect from 127.1.0.1 and up, one connection in four from an address not seen before; ${tp.rounds} round(s) of ${tp.roundMs / 1000} s per variant after a ${tp.warmupMs} ms warm-up each, alternating who goes first; at most ${tp.maxOps.toLocaleString('en-US')} connections per round; figures are totals over the rounds`,
    `median of the per-round ratios of the connection rates: SQLite/off ${fmt(paired('sqlite', 'off'))}, Redis/off ${fmt(paired('redis', 'off'))}, Redis/SQLite ${fmt(paired('redis', 'sqlite'))}`,
    `rounds (connections/s): off ${rounds('off')}; SQLite ${rounds('sqlite')}; Redis ${rounds('redis')}; client addresses used: off ${t('off', (r) => r.clients) ?? '—'}, SQLite ${t('sqlite', (r) => r.clients) ?? '—'}, Redis ${t('redis', (r) => r.clients) ?? '—'}${o.redisKeys === undefined ? '' : ` (Redis held ${o.redisKeys} binding keys after)`}; errors: off ${t('off', (r) => r.errors) ?? '—'}, SQLite ${t('sqlite', (r) => r.errors) ?? '—'}, Redis ${t('redis', (r) => r.errors) ?? '—'}`,
    ...o.warnings,
  ];
  const calls = row('', (r) => r.callMicros);
  const windows = row('', (r) => r.windowMicros);
  const rate = trow('', (r) => r.perSecond);
  const summary =
    `Stores alone, per connection: \`get\` + \`set\` take ${fmt(calls[2])} µs on SQLite${skipped ? ' (Redis not measured: redis-server is not installed)' : ` and ${fmt(calls[3])} µs on Redis (${fmt(ratio(calls[3], calls[2]))}× SQLite)`}, ` +
    `${fmt(calls[1])} µs on a plain Map; with the write-behind until stored, ${fmt(windows[2])} µs (SQLite)${skipped ? '' : ` and ${fmt(windows[3])} µs (Redis)`} of wall time. ` +
    `Through a balancer: ${fmt(rate[1])} new connections/s with affinity off, ${fmt(rate[2])} on SQLite${skipped ? '' : `, ${fmt(rate[3])} on Redis`}.`;
  return [
    AFFINITY_HEADING,
    '',
    'Per connection, with client affinity on (`npm run bench -- --only=affinity` runs this part alone).',
    summary,
    '',
    stores,
    '',
    balancer,
    '',
    ...notes.map((n) => `- ${n}`),
  ].join('\n');
}
