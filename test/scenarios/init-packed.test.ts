/**
 * `protobalance init` as a new user runs it: the balancer packed as npm would publish it,
 * installed into a fresh project whose package.json is what `npm init -y` writes (npm 11:
 * "type": "commonjs"), then `npx protobalance init`, `tsc --noEmit`, `npx protobalance
 * start` and a client through it; init again refuses and changes nothing.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort } from '../helpers/net.ts';
import { makeProject, packRepo, repoVersion, signalGroup } from '../helpers/packed.ts';

const FILES = ['protobalance.config.ts', 'policies/least-load.ts', 'plugins/hello-nodes.mjs', 'tsconfig.json'];

test('init in a new project from the tarball: tsc passes, start serves, a second init refuses', async () => {
  const project = await makeProject([await packRepo(), `typescript@${repoVersion('typescript')}`]);
  const pkg = path.join(project.dir, 'package.json');
  writeFileSync(pkg, JSON.stringify({ ...JSON.parse(readFileSync(pkg, 'utf8')), type: 'commonjs' }));
  const bin = path.join(project.dir, 'node_modules/.bin/protobalance');

  const init = await project.run(bin, ['init']);
  assert.is(init.code, 0, init.stderr);
  for (const f of FILES) assert.match(init.stdout, f);
  const written = FILES.map((f) => readFileSync(path.join(project.dir, f), 'utf8'));

  const tsc = await project.run(process.execPath, ['node_modules/typescript/bin/tsc', '--noEmit']);
  assert.is(tsc.code, 0, `${tsc.stdout}${tsc.stderr}`);

  const again = await project.run(bin, ['init']);
  assert.is(again.code, 1);
  assert.match(again.stderr, 'already exist; nothing written');
  assert.equal(FILES.map((f) => readFileSync(path.join(project.dir, f), 'utf8')), written, 'nothing changed');

  const [port, a, b, admin] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const balancer = project.start(bin, ['start'], {
    env: { PB_PORT: String(port), PB_NODE_PORTS: `${a},${b}`, PB_ADMIN_PORT: String(admin) },
  });
  try {
    await balancer.waitForOutput('accepting connections', 30_000);
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) });
      answers.push(await res.text());
    }
    assert.ok(answers.some((t) => t.includes('node a')) && answers.some((t) => t.includes('node b')), answers.join(''));
  } finally {
    signalGroup(balancer, 'SIGTERM');
  }
  const end = await balancer.exited;
  assert.is(end.code, 0, end.stderr);
});

test.run();
