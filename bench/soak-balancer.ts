/**
 * The balancer under soak, a child process of bench/soak.ts: a ProcessGroup (primary +
 * one worker) built from a config FILE in the run's temporary directory, as
 * `protobalance start` builds it (the workers load the file themselves).
 *
 * Args: `--dir=<temp dir> --backends=<p1,p2,p3>`. Announces the listening port, then obeys
 * the driver: node states, reloads (some after editing the file), resource figures (plain,
 * or after a full GC in every process), status, stop. Its stderr (the group's warn/error log lines) goes to the driver, which
 * counts them for the report.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { loadConfig, readConfigFile } from '../core/config-load.ts';
import { createLogger } from '../core/logger.ts';
import type { Config } from '../core/types.ts';
import { ProcessGroup } from '../core/workers/group.ts';
import { announceReady, serveCommands, type ReloadReply, type SoakCommand } from './soak-protocol.ts';
import { builtinPlugins, workerEntry } from '../app/builtins.ts';

/** The node whose loadFactor the edited reloads toggle. */
export const EDITED_NODE = 'n3';

function arg(name: string): string {
  const found = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (!found) throw new Error(`soak-balancer: --${name}= is required`);
  return found.slice(name.length + 3);
}

/** A free loopback port: listen on 0, read the port, close. The config needs a fixed one. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function writeConfig(file: string, dir: string, port: number, backends: number[], editedFactor: number): void {
  const config: Config = {
    listeners: [{ port, host: '127.0.0.1', cluster: 'c' }],
    clusters: {
      c: {
        balance: 'round-robin',
        nodes: backends.map((p, i) => ({
          id: `n${i + 1}`,
          address: `127.0.0.1:${p}`,
          loadFactor: `n${i + 1}` === EDITED_NODE ? editedFactor : 1,
        })),
      },
    },
    workers: 2,
    stateDir: path.join(dir, 'state'),
    log: { level: 'warn' },
    watch: false,
    // The driver stops the load before it stops the group: nothing should be left to drain.
    drainTimeout: '2s',
  };
  writeFileSync(file, `// Written by bench/soak-balancer.ts for one soak run.\nexport default ${JSON.stringify(config, null, 2)};\n`);
}

const dir = arg('dir');
const backends = arg('backends').split(',').map(Number);
const file = path.join(dir, 'protobalance.config.ts');
const port = await freePort();
let editedFactor = 1;
writeConfig(file, dir, port, backends, editedFactor);

const config = await loadConfig(file);
const group = new ProcessGroup({ config, logger: createLogger(config.log.level), workerEntry, balancer: { builtins: builtinPlugins() } });
await group.start();
await group.workersReady;
if (group.size !== config.workers) process.stderr.write(`soak-balancer: ${group.size} processes serving, ${config.workers} configured\n`);

async function reload(edit: boolean): Promise<ReloadReply> {
  if (edit) {
    editedFactor = editedFactor === 1 ? 2 : 1;
    writeConfig(file, dir, port, backends, editedFactor);
  }
  const started = performance.now();
  const { raw } = await readConfigFile(file);
  await group.reload(raw as Config);
  return { ms: performance.now() - started, loadFactor: editedFactor };
}

let stopping: Promise<void> | undefined;
function stop(drainMs: number): Promise<void> {
  stopping ??= group.stop(drainMs);
  return stopping;
}

async function handle(cmd: SoakCommand): Promise<unknown> {
  switch (cmd.op) {
    case 'state':
      await group.setNodeState(cmd.key, cmd.state);
      return null;
    case 'reload':
      return reload(cmd.edit);
    case 'resources':
      // The quiet samples ask for a full GC first (comparable heap levels); the samples under load do not.
      return group.resources({ gc: cmd.gc === true });
    case 'status':
      return group.status();
    case 'stop':
      await stop(2_000);
      setImmediate(() => process.exit(0));
      return null;
    case 'counts':
      throw new Error('the balancer has no counts; ask the backends');
  }
}

// The driver gone (crashed, killed): stop serving and leave, so no process outlives the run.
serveCommands(handle, () => void stop(0).finally(() => process.exit(0)));
announceReady([port]);
