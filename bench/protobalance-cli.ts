/**
 * Proto Balance as a user runs it: `node --no-node-snapshot bin/protobalance.js start
 * --config <temp dir>/protobalance.config.ts`, with a generated TypeScript config (one
 * listener and one single-node round-robin cluster per service, log silent, state in the
 * temp dir). Everything else is left at its default, as a user's first config would.
 * Two targets come from here: affinity off (the default), and the same config with
 * `affinity: { enabled: true }` on every cluster (client affinity, bindings in
 * `<stateDir>/affinity.db`).
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SERVICES, type Addresses, type Launch, type Ports, type ProxyKind } from './proxies.ts';

/** The config's `workers`: a process count, or one per CPU. */
export type Workers = number | 'auto';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = path.join(ROOT, 'bin', 'protobalance.js');

/**
 * Whether this checkout's config has the top-level `workers` field (one process per CPU by
 * default). Read from the source so the bench works on either side of that change.
 */
export function workersFieldExists(): boolean {
  try {
    return /^\s*workers\??\s*:/m.test(readFileSync(path.join(ROOT, 'core', 'types.ts'), 'utf8'));
  } catch {
    return false;
  }
}

function configText(dir: string, ports: Ports, upstreams: Addresses, workers: Workers | undefined, affinity: boolean): string {
  const listeners = SERVICES.map((s) => `    { port: ${ports[s]}, host: '127.0.0.1', cluster: '${s}' },`).join('\n');
  const aff = affinity ? ' affinity: { enabled: true },' : '';
  const clusters = SERVICES.map((s) => `    ${s}: { balance: 'round-robin',${aff} nodes: [{ id: '${s}', address: ${JSON.stringify(upstreams[s])} }] },`).join('\n');
  return `// written by bench/protobalance-cli.ts for one benchmark run
export default {
  listeners: [
${listeners}
  ],
  clusters: {
${clusters}
  },
  stateDir: ${JSON.stringify(path.join(dir, 'state'))},
  log: { level: 'silent' as const },${workers === undefined ? '' : `\n  workers: ${JSON.stringify(workers)},`}
};
`;
}

/**
 * `workers`: passed into the config only when given (and the field exists); otherwise the
 * core's default. `affinity`: `affinity: { enabled: true }` on every cluster (a target of
 * its own, `protobalance-affinity`).
 */
export function protoBalance(workers: Workers | undefined, affinity = false): ProxyKind {
  return {
    key: affinity ? 'protobalance-affinity' : 'protobalance',
    label: affinity ? 'Proto Balance (affinity on)' : 'Proto Balance',
    missing: undefined,
    async prepare(dir: string, ports: Ports, upstreams: Addresses): Promise<Launch> {
      const own = path.join(dir, `protobalance-${ports.echo}`);
      await mkdir(own, { recursive: true });
      const config = path.join(own, 'protobalance.config.ts');
      await writeFile(config, configText(own, ports, upstreams, workers, affinity));
      return { file: process.execPath, args: ['--no-node-snapshot', CLI, 'start', '--config', config], cwd: ROOT };
    },
  };
}
