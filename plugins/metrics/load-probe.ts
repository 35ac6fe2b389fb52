/**
 * Load probes: polls a number from every node whose config has a `probe` (an HTTP URL
 * answering a number, or a TCP `host:port` that writes one and closes) into
 * `node.metrics[probe.metric]`, where algorithms and policies read it.
 *
 * Pollers belong to the generation that started them: they start in its `init` and stop
 * in its `shutdown`. A reload builds the new generation (whose init starts new pollers)
 * before the old one shuts down, so two generations may poll the same node for a moment.
 * A metric that no running poller feeds any more (its probe was removed or renamed, or
 * the balancer stopped) is deleted from the node, so that no stale value lingers.
 *
 * A failed fetch (refused, reset, timed out, HTTP status not 2xx, no number in the body)
 * keeps the last value; after `MAX_FAILURES` in a row the metric is deleted. Warnings are
 * logged when the failure state changes, never on every poll. Nothing here throws into the
 * process: every request and socket has an error listener, every timer is unref'd.
 */
import { lazyBuiltin, lazyNet } from 'protobalance';
import { describeError } from '../shared/describe-error.ts';
import { Periodic } from '../shared/periodic.ts';
import { definePlugin, type BalancerNode, type Logger, type ResolvedProbe } from 'protobalance';

// node:http is loaded by the first HTTP probe, not by every start.
const http = lazyBuiltin<typeof import('node:http')>('node:http');

/** Failed fetches in a row after which the metric is deleted. */
export const MAX_FAILURES = 3;
/** The most of a probe's answer that is read; a longer one is a failure. */
const MAX_BODY = 64 * 1024;
/** Stage of the init tap: after other plugins' init taps, so that a generation whose init
 * fails (and is then dropped without a shutdown) has most likely not started pollers yet. */
const INIT_STAGE = 1000;

/** The first number in `text` (`"0.73\n"`, `"load 12"`, `"-1.5e3 ms"`), or undefined. */
export function parseNumber(text: string): number | undefined {
  const m = /[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/.exec(text.trim());
  if (!m) return undefined;
  const value = Number(m[0]);
  return Number.isFinite(value) ? value : undefined;
}

/** `host:port` or `[v6]:port` (already validated by the config) as connect options. */
function hostPort(target: string): { host: string; port: number } {
  const colon = target.lastIndexOf(':');
  const host = target.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: Number(target.slice(colon + 1)) };
}

/** One fetch in flight: `abort()` ends it without a result. */
interface Fetch {
  abort(): void;
}

type Done = (err: Error | undefined, body?: string) => void;

/** GET `url`; the body of a 2xx answer, or an error. `done` is called at most once. */
function fetchHttp(url: string, done: Done): Fetch {
  let chunks: Buffer[] = [];
  let size = 0;
  const req = http().get(url, { agent: false }, (res) => {
    res.on('error', (err) => done(err));
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) {
      res.resume();
      req.destroy();
      return done(new Error(`HTTP status ${status}`));
    }
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        chunks = [];
        req.destroy();
        return done(new Error(`answer longer than ${MAX_BODY} bytes`));
      }
      chunks.push(chunk);
    });
    res.on('end', () => done(undefined, Buffer.concat(chunks).toString('utf8')));
    res.on('close', () => {
      if (!res.complete) done(new Error('the answer was cut off'));
    });
  });
  req.on('error', (err) => done(err));
  req.on('socket', (socket) => socket.unref());
  return { abort: () => req.destroy() };
}

/** Connect to `host:port` and read until the peer closes. `done` is called at most once. */
function fetchTcp(target: string, done: Done): Fetch {
  let chunks: Buffer[] = [];
  let size = 0;
  const socket = lazyNet().connect(hostPort(target));
  socket.unref();
  socket.on('error', (err) => done(err));
  socket.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      chunks = [];
      socket.destroy();
      return done(new Error(`answer longer than ${MAX_BODY} bytes`));
    }
    chunks.push(chunk);
  });
  socket.on('end', () => {
    done(undefined, Buffer.concat(chunks).toString('utf8'));
    socket.destroy();
  });
  socket.on('close', () => done(new Error('connection closed before its end')));
  return { abort: () => socket.destroy() };
}

/** How many running pollers feed each metric of each node, across generations. */
const feeders = new WeakMap<BalancerNode, Map<string, number>>();

function addFeeder(node: BalancerNode, metric: string): void {
  const byMetric = feeders.get(node) ?? new Map<string, number>();
  byMetric.set(metric, (byMetric.get(metric) ?? 0) + 1);
  feeders.set(node, byMetric);
}

/** Remove one feeder; true when nothing feeds `metric` of `node` any more. */
function removeFeeder(node: BalancerNode, metric: string): boolean {
  const byMetric = feeders.get(node);
  const left = (byMetric?.get(metric) ?? 1) - 1;
  if (left > 0) {
    byMetric!.set(metric, left);
    return false;
  }
  byMetric?.delete(metric);
  return true;
}

/** Replace (never mutate) the node's metrics object, so readers keep a consistent snapshot. */
function setMetric(node: BalancerNode, metric: string, value: number): void {
  node.metrics = { ...node.metrics, [metric]: value };
}

function deleteMetric(node: BalancerNode, metric: string): boolean {
  if (!Object.hasOwn(node.metrics, metric)) return false;
  const { [metric]: _dropped, ...rest } = node.metrics;
  node.metrics = rest;
  return true;
}

/** Polls one node's probe every `interval` until stopped. */
class Poller {
  private readonly periodic: Periodic;
  private started = false;
  /** Failed fetches in a row. */
  private failures = 0;
  private readonly fields: Record<string, unknown>;

  constructor(
    private readonly node: BalancerNode,
    private readonly probe: ResolvedProbe,
    private readonly logger: Logger,
  ) {
    this.fields = { node: node.key, probe: probe.target, metric: probe.metric };
    this.periodic = new Periodic(
      probe.interval,
      probe.timeout,
      (settle) => (probe.kind === 'http' ? fetchHttp(probe.target, settle) : fetchTcp(probe.target, settle)),
      (err, body) => {
        const value = err ? undefined : parseNumber(body ?? '');
        if (value !== undefined) this.succeeded(value);
        else this.failed(err ?? new Error(`no number in the answer ${JSON.stringify((body ?? '').slice(0, 80))}`));
      },
    );
  }

  start(): void {
    addFeeder(this.node, this.probe.metric);
    this.started = true;
    // The first poll right away, but not inside init: init is not slowed by it, and a
    // generation dropped straight after its init (`protobalance check`) never polls.
    this.periodic.start();
  }

  stop(): void {
    if (!this.started) return;
    this.started = false;
    this.periodic.stop();
    if (removeFeeder(this.node, this.probe.metric)) deleteMetric(this.node, this.probe.metric);
  }

  private succeeded(value: number): void {
    if (this.failures > 0) {
      this.logger.info({ ...this.fields, failures: this.failures, value }, 'load probe answers again');
    }
    this.failures = 0;
    setMetric(this.node, this.probe.metric, value);
  }

  private failed(err: Error): void {
    this.failures++;
    const reason = describeError(err);
    if (this.failures === 1) {
      this.logger.warn({ ...this.fields, err: reason }, 'load probe failed; keeping the last value');
    }
    if (this.failures === MAX_FAILURES && deleteMetric(this.node, this.probe.metric)) {
      this.logger.warn(
        { ...this.fields, err: reason, failures: this.failures },
        `load probe failed ${MAX_FAILURES} times in a row; metric dropped`,
      );
    }
  }
}

export default definePlugin({
  name: 'load-probe',
  apply(hooks, api) {
    const pollers: Poller[] = [];
    hooks.init.tap({ name: 'load-probe', stage: INIT_STAGE }, () => {
      for (const cluster of api.balancer.clusters()) {
        for (const config of cluster.config.nodes) {
          const node = cluster.node(config.id);
          if (!config.probe || !node) continue;
          const poller = new Poller(node, config.probe, api.logger);
          pollers.push(poller);
          poller.start();
        }
      }
    });
    hooks.shutdown.tap('load-probe', () => {
      for (const poller of pollers.splice(0)) poller.stop();
    });
  },
});
