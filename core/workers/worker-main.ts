/**
 * A worker process: waits for the primary's listening sockets and the config file's
 * path, builds its own balancer from the same file, adopts the sockets and serves. It
 * does what the primary asks (node states, reload, status, stop) and answers each
 * request. It exits when the primary goes away.
 */
import { attachSharedCounters } from '../shared-counters.ts';
import { Balancer } from '../balancer.ts';
import { loadConfig, readConfigFile } from '../config-load.ts';
import type { Config, PluginEntry } from '../types.ts';
import { describeError } from '../errors.ts';
import type { SharedListen } from '../listener.ts';
import { createLogger, type Logger } from '../logger.ts';
import { PeerBus } from './peers.ts';
import type { FromWorker, Request, ToWorker } from './protocol.ts';
import { processResources } from './resources.ts';

const LOAD_EVERY_MS = 1_000;

const send = (msg: FromWorker): void => {
  if (process.connected) process.send!(msg);
};

let balancer: Balancer | undefined;
let logger: Logger | undefined;
let configPath = '';
const shared: SharedListen[] = [];
let init: Extract<ToWorker, { t: 'init' }> | undefined;
let builtins: readonly PluginEntry[] = [];
/** The primary's generation this process serves: the one it started on, or last took. */
let servedGeneration = 0;
const peers = new PeerBus((topic, msg) => send({ t: 'peer', topic, msg }));

async function start(msg: Extract<ToWorker, { t: 'init' }>): Promise<void> {
  configPath = msg.configPath;
  servedGeneration = msg.generation;
  const config = await loadConfig(configPath);
  logger = createLogger(config.log.level).child({ worker: msg.index });
  const counters = attachSharedCounters(msg.counters, msg.index, config.workers);
  balancer = new Balancer(config, { builtins, logger, source: config.source, adopt: shared, peers, persistStates: false, runtimeChanges: msg.changes, counters });
  await balancer.start();
  setInterval(() => balancer && send({ t: 'load', nodes: balancer.localLoad() }), LOAD_EVERY_MS).unref();
  send({ t: 'ready' });
}

async function handle(req: Request): Promise<unknown> {
  const b = balancer;
  if (!b) throw new Error('the worker is not serving yet');
  switch (req.op) {
    case 'setNodeState':
      b.setNodeState(req.key, req.state);
      return null;
    case 'reload': {
      const { raw } = await readConfigFile(configPath);
      await b.reload(raw as Config, req.changes);
      servedGeneration = req.generation;
      return servedGeneration;
    }
    case 'changes':
      await b.applyChanges(req.changes);
      servedGeneration = req.generation;
      return servedGeneration;
    case 'snapshot':
      return { ...b.snapshot(), generation: servedGeneration };
    case 'resources':
      return processResources(req.gc === true);
    case 'stopAccepting':
      await b.stopAccepting();
      return null;
    case 'stop':
      await b.stop(req.drainTimeout);
      setImmediate(() => process.exit(0));
      return null;
  }
}

/** Do `req` and answer it, with its error when it failed: every request gets an answer. */
function answer(id: number, req: Request): void {
  handle(req).then(
    (value) => send({ t: 'res', id, ok: true, value }),
    (err: unknown) => send({ t: 'res', id, ok: false, error: describeError(err) }),
  );
}

/**
 * Serve as a worker of the group that forked this process. `builtins` are the plugins
 * the primary loads before the config's own: the same list, or configs would differ.
 */
export function runWorker(options: { builtins: readonly PluginEntry[] }): void {
  builtins = options.builtins;
  process.on('unhandledRejection', (err) => logger?.error({ err: describeError(err) }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger?.error({ err: describeError(err) }, 'uncaught exception'));
  // Signals are the primary's business: a Ctrl-C reaches the whole process group.
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => {});
  process.on('SIGHUP', () => {});
  process.on('disconnect', () => {
    // The primary is gone: nobody can steer this process any more.
    void (balancer?.stop(0) ?? Promise.resolve()).finally(() => process.exit(0));
  });

  process.on('message', (msg: ToWorker, handle?: object) => {
    switch (msg.t) {
      case 'listen':
        // Sockets after the start are for a listener the next change adds.
        if (handle && balancer) balancer.offerListeners([{ listener: msg.listener, key: msg.key, handle }]);
        else if (handle) shared.push({ listener: msg.listener, key: msg.key, handle });
        break;
      case 'init':
        init = msg;
        break;
      case 'req':
        answer(msg.id, msg.req);
        return;
      case 'peer':
        peers.deliver(msg.topic, msg.msg, (err) => logger?.error({ topic: msg.topic, err: describeError(err) }, 'a peer message handler failed'));
        return;
      case 'peerLoad':
        balancer?.applyPeerLoad(msg.nodes);
        return;
    }
    if (init && shared.length === init.listeners && !balancer) {
      const m = init;
      start(m).catch((err: unknown) => {
        send({ t: 'failed', error: describeError(err) });
        setImmediate(() => process.exit(1));
      });
    }
  });
}
