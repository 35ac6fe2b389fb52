/**
 * A balancer group under control, for tests of the control plane: a ProcessGroup started
 * from a config file in a temporary folder, its config watcher, the admin token and an
 * AdminServer on 127.0.0.1:0, with a `call` for the admin API.
 *
 * The backends the config points at are the caller's: start them before, close them after
 * `stop()` (or keep them for a restart on the same file).
 */
import path from 'node:path';
import { AdminServer } from '../../core/admin/server.ts';
import { adminToken } from '../../core/admin/token.ts';
import { loadConfig } from '../../core/config-load.ts';
import { watchConfig, type ReloadOutcome } from '../../core/watch.ts';
import { ProcessGroup } from '../../core/workers/group.ts';
import { recordingLogger } from './balancer.ts';
import { withTimeout } from './net.ts';
import { tmpDir } from './tmp.ts';
import { withBuiltins, affinityLookup } from './assembly.ts';

export interface ControlledOptions {
  /** Watch the config file and reload on edits (default: no, reloads only when asked). */
  watch?: boolean;
  /** The watcher's debounce of edits (default: watchConfig's). */
  debounceMs?: number;
}

/** An admin API answer: the status and the JSON body. */
export interface ApiReply {
  status: number;
  body: Record<string, unknown>;
}

/**
 * Writes `configText` as `protobalance.config.ts` in a new folder, starts the group from it
 * (every worker ready), then the watcher (watching once `ready`) and the admin server.
 */
export async function startControlled(configText: string, options: ControlledOptions = {}) {
  const dir = tmpDir({ 'protobalance.config.ts': configText });
  const file = path.join(dir, 'protobalance.config.ts');
  const config = await loadConfig(file);
  const logger = recordingLogger();
  const group = new ProcessGroup({ config, logger, ...withBuiltins() });
  await group.start();
  await withTimeout(group.workersReady, 30_000, 'the worker');
  /** Every reload outcome, from file edits and from the API alike, in order. */
  const outcomes: ReloadOutcome[] = [];
  const watcher = watchConfig(group, {
    logger,
    watch: options.watch ?? false,
    debounceMs: options.debounceMs,
    onReload: (outcome) => void outcomes.push(outcome),
  });
  await watcher.ready;
  const token = adminToken(config.admin.token, config.stateDir);
  const admin = new AdminServer({ group, token, logger, affinity: affinityLookup, reload: (reason) => watcher.reload(reason) });
  const { port } = await admin.listen('127.0.0.1', 0);
  const origin = `http://127.0.0.1:${port}`;
  const base = `${origin}/api`;
  /** The admin API at `route` (under /api); a string body is sent as it is; `auth` null sends no token. */
  const call = async (method: string, route: string, body?: unknown, auth: string | null = token): Promise<ApiReply> => {
    const res = await fetch(`${base}${route}`, {
      method,
      headers: { ...(auth === null ? {} : { authorization: `Bearer ${auth}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  /** Admin server, watcher and group, in that order; the backends stay. */
  const stop = async () => {
    await admin.close();
    await watcher.close();
    await group.stop(0);
  };
  return { group, dir, file, config, logger, token, origin, base, call, watcher, admin, outcomes, stop };
}
