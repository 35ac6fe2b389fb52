/**
 * Active health checks: every node of a cluster whose config has a `healthCheck` is
 * dialled every `interval`. Without `send` and `expect` a completed TCP connect passes;
 * `send` is written once connected; with `expect` the check passes only when the bytes
 * received (until `expect` is seen, the node closes, or `timeout`) contain `expect`.
 *
 * After `fall` failed checks in a row the node is marked unavailable
 * (`node.available = false`), and every further failed check, and every check while it is
 * still down, pushes `node.retryAt` one interval ahead so that the passive retry of failed
 * nodes leaves it alone until the checks say otherwise. After `rise` passed checks in a
 * row a node this plugin took down is available again (`retryAt = 0`). A node that only
 * the passive logic marked unavailable is left to that logic. A warning is logged when a
 * node goes down by check and an info line when it comes back, once per transition.
 *
 * Checkers belong to the generation that started them: they start in its `init` and stop
 * in its `shutdown`. The verdict (down or up, and the counts in a row) is kept per node
 * across generations, so that a reload neither forgets a node it took down nor logs the
 * same transition twice. When no checker runs for a node any more, the verdict is
 * forgotten; a node still down then comes back through the passive retry.
 *
 * Nothing here throws into the process: every socket has an error listener, every timer
 * is unref'd, and a check's outcome is settled at most once.
 */
import { lazyNet } from 'protobalance';
import { definePlugin, type BalancerNode, type Logger, type ResolvedHealthCheck } from 'protobalance';
import { describeError } from '../shared/describe-error.ts';
import { Periodic } from '../shared/periodic.ts';

/** The most of an answer that is searched for `expect`; a longer answer without it fails. */
const MAX_ANSWER = 64 * 1024;
/** Stage of the init tap: after other plugins' init taps (as load-probe), so that a
 * generation whose init fails has most likely not started checkers yet. */
const INIT_STAGE = 1000;

/** One check in flight: `abort()` closes its socket; `done` is then never called. */
interface Check {
  abort(): void;
  /** What the check still waits for, for a timeout's message. */
  waitingFor(): string;
}

type Done = (err: Error | undefined) => void;

/**
 * Dial `host:port` and judge the answer as `check` says. `done` is called at most once,
 * never synchronously.
 */
export function runCheck(host: string, port: number, check: Pick<ResolvedHealthCheck, 'send' | 'expect'>, done: Done): Check {
  let settled = false;
  const expect = check.expect === undefined ? undefined : Buffer.from(check.expect, 'utf8');
  let received = Buffer.alloc(0);
  const socket = lazyNet().connect({ host, port });
  socket.unref();
  const finish = (err: Error | undefined): void => {
    if (settled) return;
    settled = true;
    socket.destroy();
    done(err);
  };
  socket.on('error', (err) => finish(err));
  socket.on('connect', () => {
    if (!expect) {
      if (check.send === undefined) return finish(undefined);
      // Passed once the bytes are handed to the kernel.
      socket.write(check.send, 'utf8', (err) => finish(err ?? undefined));
      return;
    }
    if (check.send !== undefined) socket.write(check.send, 'utf8');
  });
  socket.on('data', (chunk: Buffer) => {
    if (!expect || settled) return;
    const from = Math.max(0, received.length - expect.length + 1);
    received = Buffer.concat([received, chunk]);
    if (received.indexOf(expect, from) >= 0) return finish(undefined);
    if (received.length > MAX_ANSWER) {
      finish(new Error(`no ${JSON.stringify(check.expect)} in the first ${MAX_ANSWER} bytes of the answer`));
    }
  });
  const sent = () => JSON.stringify(received.subarray(0, 80).toString('utf8'));
  socket.on('close', () =>
    finish(
      new Error(
        expect
          ? `the node closed without ${JSON.stringify(check.expect)}; it sent ${sent()}`
          : 'the node closed the connection before the check passed',
      ),
    ),
  );
  return {
    abort: () => {
      settled = true;
      socket.destroy();
    },
    waitingFor: () => {
      if (socket.connecting) return 'the connect';
      if (expect) return `${JSON.stringify(check.expect)}; it sent ${sent()}`;
      return 'the send';
    },
  };
}

/** The health verdict of one node, shared by the checkers of every generation. */
interface Health {
  /** Checkers running for the node. */
  checkers: number;
  /** True once this plugin has marked the node unavailable, until it marks it available. */
  down: boolean;
  /** Failed checks in a row. */
  failures: number;
  /** Passed checks in a row. */
  successes: number;
}

const health = new WeakMap<BalancerNode, Health>();

function attach(node: BalancerNode): Health {
  const h = health.get(node) ?? { checkers: 0, down: false, failures: 0, successes: 0 };
  h.checkers++;
  health.set(node, h);
  return h;
}

function detach(node: BalancerNode): void {
  const h = health.get(node);
  if (h && --h.checkers <= 0) health.delete(node);
}

/** Nodes whose missing port was already logged (once per node, not per reload). */
const portless = new WeakSet<BalancerNode>();

/** Checks one node every `interval` until stopped. */
class Checker {
  private readonly periodic: Periodic;
  private state: Health | undefined;

  constructor(
    private readonly node: BalancerNode,
    private readonly check: ResolvedHealthCheck,
    private readonly logger: Logger,
  ) {
    this.periodic = new Periodic(
      check.interval,
      check.timeout,
      (settle) => {
        // The port may have gone away in a reconfigure; the next generation logs it.
        if (node.port === undefined) return (settle(undefined), { abort() {} });
        return runCheck(node.host, node.port, check, settle);
      },
      (err) => {
        try {
          if (err) this.failed(err);
          else this.passed();
        } catch (e) {
          this.logger.error({ node: this.node.key, err: describeError(e) }, 'health check bookkeeping failed');
        }
      },
    );
  }

  start(): void {
    this.state = attach(this.node);
    this.periodic.start();
  }

  stop(): void {
    if (!this.state) return;
    this.periodic.stop();
    detach(this.node);
    this.state = undefined;
  }

  private fields(): Record<string, unknown> {
    return { node: this.node.key, address: this.node.address };
  }

  private passed(): void {
    const h = this.state!;
    h.failures = 0;
    h.successes++;
    if (!h.down) return;
    if (h.successes < this.check.rise) {
      this.holdDown();
      return;
    }
    h.down = false;
    this.node.available = true;
    this.node.retryAt = 0;
    this.logger.info({ ...this.fields(), passed: h.successes }, 'node passes its health check again; marked available');
  }

  private failed(err: Error): void {
    const h = this.state!;
    h.successes = 0;
    h.failures++;
    if (h.down) return this.holdDown();
    if (h.failures < this.check.fall) return;
    h.down = true;
    this.holdDown();
    this.logger.warn(
      { ...this.fields(), failed: h.failures, err: describeError(err) },
      'node failed its health check; marked unavailable',
    );
  }

  /** Keep the node unavailable until the next check has had its say. */
  private holdDown(): void {
    this.node.available = false;
    this.node.retryAt = Date.now() + this.check.interval;
  }
}

export default definePlugin({
  name: 'active-check',
  apply(hooks, api) {
    const checkers: Checker[] = [];
    hooks.init.tap({ name: 'active-check', stage: INIT_STAGE }, () => {
      for (const cluster of api.balancer.clusters()) {
        const check = cluster.config.healthCheck;
        if (!check) continue;
        for (const node of cluster.nodes) {
          if (node.port === undefined) {
            if (!portless.has(node)) {
              portless.add(node);
              api.logger.warn(
                { node: node.key, address: node.address },
                'node has no port (it takes the port the client dialled); not health-checked',
              );
            }
            continue;
          }
          const checker = new Checker(node, check, api.logger);
          checkers.push(checker);
          checker.start();
        }
      }
    });
    hooks.shutdown.tap('active-check', () => {
      for (const checker of checkers.splice(0)) checker.stop();
    });
  },
});
