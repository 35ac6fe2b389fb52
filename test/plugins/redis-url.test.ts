/** Redis URLs as logs and status show them: never a password. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { redactRedisUrl } from '../../plugins/shared/redis-connection.ts';

test('the password is masked in the user part and as a query parameter', () => {
  assert.is(redactRedisUrl('redis://u:secret@127.0.0.1:6379/0'), 'redis://u:***@127.0.0.1:6379/0');
  assert.is(redactRedisUrl('redis://127.0.0.1:6379/0?username=u&password=secret'), 'redis://127.0.0.1:6379/0?username=u&password=***');
  assert.is(redactRedisUrl('rediss://:secret@h:1/2'), 'rediss://:***@h:1/2');
  assert.is(redactRedisUrl('redis://127.0.0.1:6379/0'), 'redis://127.0.0.1:6379/0');
});

test.run();
