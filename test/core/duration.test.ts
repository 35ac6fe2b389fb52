import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseDuration } from '../../core/index.ts';

const duration = suite('parseDuration');

duration('units', () => {
  assert.is(parseDuration('500ms'), 500);
  assert.is(parseDuration('2s'), 2000);
  assert.is(parseDuration('1.5s'), 1500);
  assert.is(parseDuration('5m'), 300_000);
  assert.is(parseDuration('1h'), 3_600_000);
  assert.is(parseDuration('30d'), 30 * 86_400_000);
  assert.is(parseDuration('1m30s'), 90_000);
  assert.is(parseDuration(' 2s '), 2000);
});

duration('numbers are milliseconds', () => {
  assert.is(parseDuration(250), 250);
  assert.is(parseDuration('250'), 250);
  assert.is(parseDuration(0), 0);
});

duration('rejects what is not a duration', () => {
  for (const bad of ['', 's', '2x', '2 s x', '-1s', 'ten seconds', -5, Number.NaN, null, undefined, {}]) {
    assert.is(parseDuration(bad), undefined, String(bad));
  }
});

duration.run();
