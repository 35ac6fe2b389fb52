/**
 * core/config-extras.ts: the sandbox block's bounds (issue 12: any `memoryLimit` passed,
 * Infinity and 1e308 included, which leave an isolate without a limit).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { MAX_MEMORY_MIB, sandboxOf } from '../../core/config-extras.ts';
import { Problems } from '../../core/config-fields.ts';

const memory = suite('config: sandbox.memoryLimit is bounded, 8 to 4096 MiB');

const problems = (raw: unknown) => {
  const p = new Problems();
  const out = sandboxOf(p, raw);
  return { list: p.list, out };
};

memory('8 and 4096 are taken, as the default 32 when unset', () => {
  assert.is(problems({ memoryLimit: 8 }).out.memoryLimit, 8);
  assert.is(problems({ memoryLimit: MAX_MEMORY_MIB }).out.memoryLimit, 4096);
  assert.equal(problems({}).list, []);
  assert.is(problems({}).out.memoryLimit, 32);
});

memory('over 4096, Infinity and 1e308 are refused naming the field; the default stays', () => {
  for (const value of [4097, 1e308, Infinity]) {
    const { list, out } = problems({ memoryLimit: value });
    assert.equal(list, [`sandbox.memoryLimit: expected a number of MiB, at most 4096, got ${value}`]);
    assert.is(out.memoryLimit, 32);
  }
});

memory('under 8, NaN and non-numbers keep the old message', () => {
  for (const value of [2, -1, NaN, '64', null]) {
    assert.match(problems({ memoryLimit: value }).list[0] ?? '', /^sandbox\.memoryLimit: expected a number of MiB, at least 8, got /);
  }
});

memory.run();
