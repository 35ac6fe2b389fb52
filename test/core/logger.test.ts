/**
 * createLogger (core/logger.ts): JSON lines on stderr through pino, loaded when the logger
 * is made (never at the first line, which may come at a fault such as running out of file
 * descriptors); at level silent, never; levels below the configured one are dropped;
 * child bindings and flush work; writing never throws.
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

test('pino is loaded when the logger is made, not at its first line; at level silent, never', () => {
  const { stdout } = run(`
    import { createRequire } from 'node:module';
    import { createLogger } from './core/logger.ts';
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/pino/'));
    const silent = createLogger('silent');
    silent.error('dropped');
    const before = loaded();
    const log = createLogger('warn');
    const after = loaded();
    log.flush(() => { process.stdout.write(JSON.stringify([before, after])); process.exit(0); });
  `);
  assert.is(stdout, '[false,true]');
});

test('out of file descriptors, lines are still written, from an uncaughtException handler too', () => {
  const { lines, stdout } = run(`
    import { openSync } from 'node:fs';
    import { createLogger } from './core/logger.ts';
    const log = createLogger('info').child({ worker: 1 });
    const held = [];
    try { for (;;) held.push(openSync('/dev/null', 'r')); } catch (err) { process.stdout.write(err.code); }
    process.on('uncaughtException', (err) => log.error({ err: err.message }, 'uncaught exception'));
    log.warn('at the limit');
    setTimeout(() => { throw new Error('boom'); }, 1);
    setTimeout(() => log.flush(() => process.exit(0)), 50);
  `);
  assert.is(stdout, 'EMFILE');
  assert.equal(
    lines.map((l) => [l.msg, l.worker, l.err]),
    [
      ['at the limit', 1, undefined],
      ['uncaught exception', 1, 'boom'],
    ],
  );
});

test.run();
