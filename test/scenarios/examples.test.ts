/**
 * Every shipped example config stays valid: `protobalance check` loads it whole (plugins
 * and algorithms included) and exits 0, as a user copying it would first do.
 */
import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, runCli } from '../helpers/cli.ts';

const examples = readdirSync(path.join(ROOT, 'examples')).filter((d) => existsSync(path.join(ROOT, 'examples', d, 'protobalance.config.ts')));

test('the examples are there', () => {
  assert.ok(examples.includes('controller') && examples.includes('single-port-forward'), examples.join(', '));
});

for (const name of examples) {
  test(`examples/${name} passes protobalance check`, async () => {
    const r = await runCli(['check', '--config', path.join('examples', name, 'protobalance.config.ts')]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, 'is valid');
  });
}

test.run();
