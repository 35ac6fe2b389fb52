import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { isProtoBalanceError, loadConfig } from '../../core/index.ts';
import { tmpDir } from '../helpers/tmp.ts';

const body = (port: number) =>
  `{ listeners: [{ port: ${port}, cluster: 'c' }], clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1' }] } } }`;

async function codeOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    assert.ok(isProtoBalanceError(err), `coded error, got ${String(err)}`);
    return { code: err.code, message: err.message };
  }
  throw new Error('expected a failure');
}

const find = suite('config: found by cosmiconfig in every supported form');

const forms: Record<string, string> = {
  'protobalance.config.ts': `const port: number = 1001;\nexport default { ...${body(0)}, listeners: [{ port, cluster: 'c' }] };`,
  'protobalance.config.mjs': `export default ${body(1002)};`,
  'protobalance.config.js': `export default ${body(1003)};`,
  'protobalance.config.json': JSON.stringify({
    listeners: [{ port: 1004, cluster: 'c' }],
    clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1' }] } },
  }),
};

for (const [file, content] of Object.entries(forms)) {
  find(`${file} is found and loaded`, async () => {
    const dir = tmpDir({ [file]: content, 'package.json': '{"type":"module"}' });
    const config = await loadConfig(undefined, dir);
    assert.is(config.source, path.join(dir, file));
    assert.is(config.baseDir, dir);
    assert.is(config.listeners[0]!.portFrom, 1000 + Object.keys(forms).indexOf(file) + 1);
  });
}

find('a "protobalance" key in package.json', async () => {
  const dir = tmpDir({
    'package.json': JSON.stringify({
      name: 'x',
      protobalance: { listeners: [{ port: 1005, cluster: 'c' }], clusters: { c: { nodes: [{ id: 'a', address: '127.0.0.1:1' }] } } },
    }),
  });
  const config = await loadConfig(undefined, dir);
  assert.is(config.listeners[0]!.portFrom, 1005);
});

find('an explicit file wins, and a reload sees the edited file', async () => {
  const dir = tmpDir({ 'a.config.ts': `export default ${body(1006)};` });
  const file = path.join(dir, 'a.config.ts');
  assert.is((await loadConfig(file)).listeners[0]!.portFrom, 1006);
  writeFileSync(file, `export default ${body(1007)};`);
  assert.is((await loadConfig(file)).listeners[0]!.portFrom, 1007);
});

const fail = suite('config: loading failures are coded and name the file');

fail('no config anywhere', async () => {
  const dir = tmpDir({});
  const { code, message } = await codeOf(loadConfig(undefined, dir));
  assert.is(code, 'PB_ERR_CONFIG_NOT_FOUND');
  assert.ok(message.includes(dir));
});

fail('an explicit file that does not exist', async () => {
  const { code, message } = await codeOf(loadConfig('/nonexistent/pb.config.ts'));
  assert.is(code, 'PB_ERR_CONFIG_NOT_FOUND');
  assert.is(message, 'config file not found: /nonexistent/pb.config.ts');
});

fail('a syntax error names the file', async () => {
  const dir = tmpDir({ 'protobalance.config.ts': 'export default { listeners: [ ;' });
  const { code, message } = await codeOf(loadConfig(undefined, dir));
  assert.is(code, 'PB_ERR_CONFIG_LOAD');
  assert.ok(message.includes(path.join(dir, 'protobalance.config.ts')), message);
});

fail('a config that throws while evaluating', async () => {
  const dir = tmpDir({ 'protobalance.config.mjs': 'throw new Error("no secret set");' });
  const { code, message } = await codeOf(loadConfig(undefined, dir));
  assert.is(code, 'PB_ERR_CONFIG_LOAD');
  assert.ok(message.includes('no secret set'), message);
});

fail('a valid file with invalid content names file and field', async () => {
  const dir = tmpDir({ 'protobalance.config.mjs': `export default { listeners: [{ port: 80, cluster: 'c' }], clusters: { c: { nodes: [{ id: 'a', address: 'x:y' }] } } };` });
  const { code, message } = await codeOf(loadConfig(undefined, dir));
  assert.is(code, 'PB_ERR_CONFIG_INVALID');
  assert.is(message, 'protobalance.config.mjs: clusters.c.nodes[0].address: expected "host:port", got "x:y"');
});

find.run();
fail.run();
