/**
 * The `protobalance` command line: `start`, `check`, the control commands (`status`, `node`,
 * `route`, `reload`), `--version`, `--help`.
 * Expected failures (bad config, port in use) print one line and exit non-zero, no stack.
 */
import { writeSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { node as adminNode, reload as adminReload, route as adminRoute, status as adminStatus, type ControlOptions } from './admin/client.ts';
import { adminAddress, adminUrl, type AdminAddress, type AdminFlags } from './admin/address.ts';
import { AdminServer, type AffinityLookup } from './admin/server.ts';
import { adminToken, TOKEN_FILE } from './admin/token.ts';
import { Balancer } from './balancer.ts';
import { ProcessGroup } from './workers/group.ts';
import { loadConfig } from './config-load.ts';
import { describeError, ErrorCodes, isProtoBalanceError, pbError } from './errors.ts';
import { describeFdLimit, fdLimit } from './fd-limit.ts';
import type { ListeningAddress } from './hooks.ts';
import { whyNotListening } from './listener.ts';
import { createLogger, silentLogger, type Logger } from './logger.ts';
import type { PluginEntry, ResolvedConfig } from './types.ts';
import { nowMs } from './lazy-builtin.ts';
import { BUNDLED } from './paths.ts';
import { VERSION } from './version.ts';
import { watchConfig, type ConfigWatcher } from './watch.ts';
import { joinFleet } from './fleet/start.ts';
import type { FleetSync } from './fleet/sync.ts';
import type { FleetConnector } from './fleet/types.ts';

/**
 * What the command is handed by the place that puts the process together (app/cli.ts):
 * the core names no plugin, so the built-ins come from there.
 */
export interface CliAssembly {
  builtins: readonly PluginEntry[];
  /** The worker program, which loads the same built-ins. */
  workerEntry: string;
  affinity?: AffinityLookup;
  /** Opens a config's `fleet` (without it, a fleet config is logged and left local). */
  fleet?: FleetConnector;
}

let assembly: CliAssembly = { builtins: [], workerEntry: '' };

function fail(err: unknown): never {
  const message = isProtoBalanceError(err) ? err.message : `unexpected error: ${describeError(err)}`;
  process.stderr.write(`protobalance: ${message}\n`);
  if (!isProtoBalanceError(err) && process.env.PB_DEBUG) console.error(err);
  process.exit(isProtoBalanceError(err) && err.code === 'PB_ERR_CONFIG_NOT_FOUND' ? 2 : 1);
}

/** A Redis URL without its password, in the user part or as a query parameter. */
function maskRedisUrl(url: string): string {
  return url.replace(/(\/\/[^/:@]*:)[^/@]*@/, '$1***@').replace(/([?&][^=&]*pass[^=&]*=)[^&]*/gi, '$1***');
}

/** The resolved config with secrets masked, for `check`. */
function printable(config: ResolvedConfig): unknown {
  return JSON.parse(
    JSON.stringify(config, (key, value: unknown) => {
      if ((key === 'hashSecret' || key === 'token') && typeof value === 'string') return '***';
      if (typeof value === 'string' && /^rediss?:\/\//.test(value)) return maskRedisUrl(value);
      if (typeof value === 'function') return '[function]';
      return value;
    }),
  );
}

function describeListening(config: ResolvedConfig, addresses: readonly ListeningAddress[]): string {
  return addresses
    .map((a) => {
      const cluster = config.listeners.find((l) => l.name === a.listener)?.cluster ?? '?';
      const host = a.host.includes(':') ? `[${a.host}]` : a.host;
      return `  ${host}:${a.port} -> cluster ${cluster}`;
    })
    .join('\n');
}

async function start(options: { config?: string } & AdminFlags): Promise<void> {
  const loadStart = nowMs();
  const config = await loadConfig(options.config);
  // Resolved before anything listens: a bad PB_ADMIN_PORT or --admin-port opens no port.
  const adminAt = adminAddress(config, options);
  const loadMs = Math.round(nowMs() - loadStart);
  const logger = createLogger(config.log.level);
  process.on('unhandledRejection', (err) => logger.error({ err: describeError(err) }, 'unhandled rejection'));
  process.on('uncaughtException', (err) => logger.error({ err: describeError(err) }, 'uncaught exception'));
  const group = new ProcessGroup({ config, logger, workerEntry: assembly.workerEntry, balancer: { builtins: assembly.builtins } });
  // Handlers go in before anything listens, so no signal can find the process unguarded.
  let signals = 0;
  let starting: Promise<ListeningAddress[]> | undefined;
  let watcher: ConfigWatcher | undefined;
  let admin: AdminServer | undefined;
  let fleet: FleetSync | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      process.stdout.write(`${signal} again: closing open connections now\n`);
      void group.stop(0);
      return;
    }
    void watcher?.close();
    void admin?.close();
    void fleet?.stop();
    // The line is printed once every process has closed the listeners, so it is true.
    const stopped = (starting ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => group.stopAccepting())
      .then(() => {
        process.stdout.write(`${signal}: no longer accepting; draining for up to ${config.drainTimeout} ms\n`);
        return group.stop();
      });
    stopped.then(
      () => (logger.flush ? logger.flush(() => process.exit(0)) : process.exit(0)),
      (err: unknown) => fail(err),
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  starting = group.start();
  const addresses = await starting;
  watcher = watchConfig(group, { logger, watch: config.watch });
  process.on('SIGHUP', () => void watcher?.reload('SIGHUP'));
  const ms = Math.round(process.uptime() * 1000);
  const fds = fdLimit();
  // Written straight to fd 1: process.stdout would first build its stream (a score of
  // stream modules to compile without the start-up snapshot), delaying the line.
  writeSync(
    1,
    `Proto Balance ${VERSION} accepting connections (${ms} ms after process start, ${BUNDLED ? 'prebuilt bundle' : 'from sources'}; ` +
      `config ${config.source} loaded in ${loadMs} ms):\n` +
      `${describeListening(config, addresses)}\n` +
      (fds ? `${describeFdLimit(fds)}\n` : ''),
  );
  fleet = joinFleet(config, group, assembly.fleet, logger);
  try {
    admin = await startAdmin(config, adminAt, group, watcher, logger, fleet);
  } catch (err) {
    // No half-started balancer: one nobody can control is closed again, listeners and all.
    await watcher.close();
    await fleet?.stop();
    await group.stopAccepting().catch(() => undefined);
    await group.stop(0);
    throw err;
  }
  if (config.workers > 1) {
    await group.workersReady;
    const ms = Math.round(process.uptime() * 1000);
    const serving = group.serving;
    const of = serving < config.workers ? ` of ${config.workers} (see the errors above; the others are retried)` : '';
    process.stdout.write(`${serving}${of} processes serving (${ms} ms after process start; data path ${group.balancer.dataPath.name})\n`);
  }
}

/**
 * The admin API (core/admin/), at `at` (core/admin/address.ts), or none when the config
 * says `admin: false`. A port that cannot be had fails the start (PB_ERR_LISTEN): a
 * balancer that runs on without its control would ignore every later `protobalance node`
 * or `reload`, or worse, leave them to whatever else holds the port.
 */
async function startAdmin(
  config: ResolvedConfig,
  at: AdminAddress | undefined,
  group: ProcessGroup,
  watcher: ConfigWatcher,
  logger: Logger,
  fleet: FleetSync | undefined,
): Promise<AdminServer | undefined> {
  const file = path.basename(config.source ?? 'config');
  if (!at) {
    process.stdout.write(`admin API off (admin: false in ${file})\n`);
    return undefined;
  }
  const token = adminToken(config.admin.token, config.stateDir);
  const admin = new AdminServer({ group, token, logger, affinity: assembly.affinity, fleet, reload: (reason) => watcher.reload(reason) });
  let a: AddressInfo;
  try {
    a = await admin.listen(at.host, at.port);
  } catch (err) {
    const from = at.portFrom === 'admin.port' ? '' : ` (port from ${at.portFrom})`;
    const host = at.host.includes(':') ? `[${at.host}]` : at.host;
    throw pbError(
      ErrorCodes.LISTEN,
      `${file}: admin: cannot listen on ${host}:${at.port}${from}: ${whyNotListening(err)} (set admin.port, PB_ADMIN_PORT or --admin-port, or admin: false)`,
      { cause: err },
    );
  }
  const where = config.admin.token
    ? 'admin.token of the config'
    : process.env.PB_ADMIN_TOKEN
      ? 'the PB_ADMIN_TOKEN environment variable'
      : path.join(config.stateDir, TOKEN_FILE);
  const url = adminUrl({ host: a.address, port: a.port });
  fleet?.setAdmin(url);
  process.stdout.write(`admin API on ${url} (token: ${where})\n`);
  return admin;
}

async function check(options: { config?: string }): Promise<void> {
  const config = await loadConfig(options.config);
  // Building the balancer loads every plugin and algorithm, so `check` catches what
  // `start` would, without opening a port.
  const balancer = new Balancer(config, { logger: silentLogger, source: config.source, builtins: assembly.builtins });
  await balancer.validate();
  process.stdout.write(`${JSON.stringify(printable(config), null, 2)}\n`);
  process.stderr.write(`protobalance: ${config.source} is valid\n`);
}

const program = new Command('protobalance')
  .description('Proto Balance: a scriptable, live-reconfigurable TCP load balancer')
  .version(VERSION, '-v, --version')
  .showHelpAfterError();

program
  .command('start')
  .description('start the balancer')
  .option('-c, --config <file>', 'config file (default: search protobalance.config.ts and friends)')
  .option('--admin-host <host>', 'admin API address (beats PB_ADMIN_HOST and admin.host)')
  .option('--admin-port <port>', 'admin API port (beats PB_ADMIN_PORT and admin.port)')
  .action((o: { config?: string } & AdminFlags) => start(o).catch(fail));

program
  .command('check')
  .description('validate the config (plugins and algorithms included) and print it resolved')
  .option('-c, --config <file>', 'config file (default: search protobalance.config.ts and friends)')
  .action((o: { config?: string }) => check(o).then(() => process.exit(0), fail));

// Control commands: they talk to a running balancer's admin API.
const control = (cmd: Command) =>
  cmd
    .option('-c, --config <file>', "the balancer's config (for the admin address and token)")
    .option('--url <url>', 'admin API base URL (default: PB_ADMIN_HOST/PB_ADMIN_PORT, else the config), e.g. http://127.0.0.1:9100/api')
    .option('--token <token>', 'admin token (default: from the config or its state directory)')
    .option('--json', 'print the JSON the API answered');
const print = (text: string) => {
  process.stdout.write(`${text}\n`);
  process.exit(0);
};

control(program.command('status').description('show listeners, clusters and nodes of a running balancer')).action(
  (o: ControlOptions) => adminStatus(o).then(print, fail),
);

control(
  program
    .command('node')
    .description('change a node: <cluster>/<node> green|yellow|red, factor <n>, add <host:port> [factor], remove')
    .argument('<node>', '<cluster>/<node>')
    .argument('<action>', 'green, yellow, red, factor, add or remove')
    .argument('[args...]', 'the factor, or the address (and factor) to add'),
).action((node: string, action: string, args: string[], o: ControlOptions) => adminNode(o, node, action, args).then(print, fail));

control(
  program
    .command('route')
    .description('point a listener at a cluster: new clients go there, open connections stay where they are')
    .argument('<listener>', 'listener name (its port when unnamed)')
    .argument('<cluster>', 'cluster name'),
).action((listener: string, cluster: string, o: ControlOptions) => adminRoute(o, listener, cluster).then(print, fail));

control(program.command('reload').description('reload the config file of a running balancer')).action((o: ControlOptions) =>
  adminReload(o).then(print, fail),
);

program
  .command('init')
  .description('scaffold a project: config, a load-rating policy, a demo plugin and a tsconfig.json')
  .option('--dir <folder>', 'project folder (made if missing)', process.cwd())
  .option('--force', 'overwrite those files if they exist (default: write nothing and fail)')
  .action((o: { dir: string; force?: boolean }) =>
    import('./init.ts')
      .then(({ initProject, describeInit }) => describeInit(o.dir, initProject(o.dir, { force: o.force })))
      .then(print, fail),
  );

/** Run the command line on `process.argv`. */
export async function runCli(given: CliAssembly): Promise<void> {
  assembly = given;
  await program.parseAsync(process.argv);
}
