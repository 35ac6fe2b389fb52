/**
 * Every config error names the config file, as one line: the common mistakes run through
 * `protobalance start` and `check` (a port in use only through `start`, as `check` opens
 * none). The file's name leads, then the field path.
 */
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli } from '../helpers/cli.ts';
import { closeServer, freePort, portOf, startServer } from '../helpers/net.ts';
import { tmpDir } from '../helpers/tmp.ts';

/** A config with one listener and one cluster; `patch` is spliced in as TS text. */
function config(o: { port?: number; balance?: string; address?: string; extra?: string; listenerExtra?: string }): string {
  return `export default {
  listeners: [{ port: ${o.port ?? 8080}, host: '127.0.0.1', cluster: 'web'${o.listenerExtra ?? ''} }],
  clusters: { web: { balance: '${o.balance ?? 'round-robin'}', nodes: [{ id: 'a', address: '${o.address ?? '127.0.0.1:1'}' }] } },
  workers: 1, watch: false, admin: false, log: { level: 'warn' },${o.extra ?? ''}
};\n`;
}

/** Runs each command on the config and checks the one line it prints. */
async function fails(text: string, commands: string[], expected: (dir: string) => string | RegExp): Promise<void> {
  const dir = tmpDir({ 'protobalance.config.ts': text });
  for (const command of commands) {
    const f = await runCli([command], { PB_ADMIN_PORT: '', PB_ADMIN_HOST: '' }, dir);
    const lines = f.stderr.trim().split('\n');
    assert.is(lines.length, 1, `${command}: one line expected, got:\n${f.stderr}`);
    assert.not.match(f.stderr, /\n\s+at /);
    assert.is(f.code, 1, `${command}: ${f.stderr}`);
    assert.ok(lines[0]!.startsWith('protobalance: protobalance.config.ts: '), `${command}: ${lines[0]}`);
    const want = expected(dir);
    if (typeof want === 'string') assert.is(lines[0], want, command);
    else assert.match(lines[0]!, want, command);
  }
}

test('a policy file that does not exist', async () => {
  await fails(config({ balance: 'policy:./policies/nope.ts' }), ['start', 'check'], (dir) =>
    `protobalance: protobalance.config.ts: clusters.web.balance: policy file not found: ${path.join(dir, 'policies', 'nope.ts')}`,
  );
});

test('a listener port in use', async () => {
  const taken = await startServer(() => {});
  try {
    await fails(config({ port: portOf(taken) }), ['start'], () =>
      `protobalance: protobalance.config.ts: listeners[0]: cannot listen on 127.0.0.1:${portOf(taken)}: address already in use`,
    );
  } finally {
    await closeServer(taken);
  }
});

test('an unknown field', async () => {
  await fails(config({ port: await freePort(), listenerExtra: ', prot: 8081' }), ['start', 'check'], () =>
    /^protobalance: protobalance\.config\.ts: listeners\[0\]\.prot: unknown field \(known: port, /,
  );
});

test('a bad node address', async () => {
  await fails(config({ port: await freePort(), address: '10.0.0.1:99999' }), ['start', 'check'], () =>
    /^protobalance: protobalance\.config\.ts: clusters\.web\.nodes\[0\]\.address: expected .*, got "10\.0\.0\.1:99999"$/,
  );
});

test('a bad duration', async () => {
  await fails(config({ port: await freePort(), extra: " connectTimeout: '2 seconds'," }), ['start', 'check'], () =>
    'protobalance: protobalance.config.ts: connectTimeout: expected a duration like "500ms", "2s", "5m", "30d" or milliseconds, got "2 seconds"',
  );
});

test.run();
