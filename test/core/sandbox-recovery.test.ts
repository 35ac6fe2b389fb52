/**
 * A call cut off before the isolate took the answer buffer (a time limit hit while the
 * call was still being entered) must not leave every later call writing into a buffer the
 * isolate never got: the next call hands it over again, and the algorithm recovers.
 * Found in a user trial: one CPU overrun of a cold client-hash broke it for good.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { createSandboxRunner } from '../../core/index.ts';
import { isDeferred, type CallResult, type DeferredChooser } from '../../core/algorithm-runner.ts';
import { tmpDir } from '../helpers/tmp.ts';
import { nodeView, testClient } from '../helpers/views.ts';

const CLIENT_HASH = fileURLToPath(new URL('../../plugins/balancers/client-hash.ts', import.meta.url));
const nodes = [nodeView('a'), nodeView('b'), nodeView('c')];

async function ask(chooser: DeferredChooser): Promise<CallResult> {
  const r = chooser.request(nodes, testClient, 0);
  return r.now ?? (await r.later!);
}

test('the first call cut off before it began: the next one answers', async () => {
  const runner = createSandboxRunner({ cpuTimeout: 50, memoryLimit: 16, baseDir: tmpDir() });
  const chooser = await runner.create(CLIENT_HASH, { cluster: 'c', hashSecret: 's' });
  assert.ok(isDeferred(chooser));
  try {
    // The host behind the chooser: its entry into the isolate fails once, as a time limit
    // hit before the prelude ran would.
    const host = (chooser as unknown as { host: { host: { runRef: { apply: (...a: unknown[]) => Promise<unknown> } } } }).host.host;
    const real = host.runRef.apply.bind(host.runRef);
    let cut = 0;
    host.runRef = {
      apply: (...args: unknown[]) => (cut++ === 0 ? Promise.reject(new Error('Script execution timed out.')) : real(...args)),
    } as typeof host.runRef;
    const first = await ask(chooser);
    assert.is(first.ok, false);
    for (let i = 0; i < 3; i++) {
      const next = await ask(chooser);
      assert.ok(next.ok, JSON.stringify(next));
    }
  } finally {
    runner.dispose();
  }
});

test.run();
