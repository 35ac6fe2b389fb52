/**
 * createLogger (core/logger.ts): JSON lines on stderr through pino, loaded only when a
 * line is written; levels below the configured one are dropped; child bindings and
 * flush work whether pino was loaded or not.
 */
import { spawnSync } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

function run(script: string): { lines: Record<string, unknown>[]; stdout: string } {
  const r = spawnSync(process.execPath, ['--no-node-snapshot', '--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
    cwd: new URL('../../', import.meta.url),
  });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { lines, stdout: r.stdout };
}

test('lines at or above the level, with child bindings, as JSON on stderr', () => {
  const { lines } = run(`
    import { createLogger } from './core/logger.ts';
    const log = createLogger('info');
    log.debug('hidden');
    log.info({ a: 1 }, 'shown');
    log.child({ worker: 2 }).warn('from a child');
    log.flush(() => process.exit(0));
  `);
  // Sorted by level: the test is about what is written, not about the order the async
  // destination happens to flush in.
  assert.equal(
    lines.map((l) => [l.level, l.msg, l.a, l.worker]).sort((x, y) => Number(x[0]) - Number(y[0])),
    [
      [30, 'shown', 1, undefined],
      [40, 'from a child', undefined, 2],
    ],
  );
});

test('a logger that never writes never loads pino, and flush still calls back', () => {
  const { stdout } = run(`
    import { createRequire } from 'node:module';
    import { createLogger } from './core/logger.ts';
    const log = createLogger('warn');
    log.info('below the level');
    log.child({ x: 1 }).debug('also below');
    const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/pino/'));
    log.flush(() => { process.stdout.write(String(loaded)); process.exit(0); });
  `);
  assert.is(stdout, 'false');
});

test.run();
