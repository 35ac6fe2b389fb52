/**
 * Where the admin API is (core/admin/address.ts): flags beat PB_ADMIN_HOST / PB_ADMIN_PORT,
 * which beat the config; `admin: false` means none. And the mark every admin answer
 * carries, which the control commands require (core/admin/server.ts, client.ts).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { adminAddress, adminUrl, MARK_HEADER } from '../../core/admin/address.ts';
import { defineConfig, validateConfig, isProtoBalanceError, VERSION, type Config } from '../../core/index.ts';
import { startControlled } from '../helpers/admin.ts';

// `admin: false` is part of the typed contract: this compiles under `tsc --noEmit`.
const base = (admin?: Config['admin']): Config =>
  defineConfig({
    listeners: [{ port: 8080, cluster: 'web' }],
    clusters: { web: { nodes: [{ id: 'a', address: '10.0.0.1:80' }] } },
    ...(admin === undefined ? {} : { admin }),
  });
const resolved = (admin?: Config['admin']) => validateConfig(base(admin), '/etc/pb/protobalance.config.ts');

const order = suite('admin address: flags, then environment, then config');

order('the config, else 127.0.0.1:9100', () => {
  assert.equal(adminAddress(resolved(), {}, {}), { host: '127.0.0.1', port: 9100, hostFrom: 'admin.host', portFrom: 'admin.port' });
  assert.equal(adminAddress(resolved({ host: '::1', port: 9200 }), {}, {}), { host: '::1', port: 9200, hostFrom: 'admin.host', portFrom: 'admin.port' });
});

order('PB_ADMIN_HOST and PB_ADMIN_PORT beat the config; empty ones count as unset', () => {
  const env = { PB_ADMIN_HOST: '127.0.0.2', PB_ADMIN_PORT: '9300' };
  assert.equal(adminAddress(resolved({ port: 9200 }), {}, env), { host: '127.0.0.2', port: 9300, hostFrom: 'PB_ADMIN_HOST', portFrom: 'PB_ADMIN_PORT' });
  assert.equal(adminAddress(resolved({ port: 9200 }), {}, { PB_ADMIN_PORT: '' })?.port, 9200);
});

order('--admin-host and --admin-port beat the environment', () => {
  const env = { PB_ADMIN_HOST: '127.0.0.2', PB_ADMIN_PORT: '9300' };
  const a = adminAddress(resolved({ port: 9200 }), { adminHost: '0.0.0.0', adminPort: '9400' }, env);
  assert.equal(a, { host: '0.0.0.0', port: 9400, hostFrom: '--admin-host', portFrom: '--admin-port' });
  assert.is(adminUrl({ host: '::1', port: 9100 }), 'http://[::1]:9100/api');
});

order('a bad port names where it came from', () => {
  const message = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      assert.ok(isProtoBalanceError(err));
      return err.message;
    }
    throw new Error('expected a throw');
  };
  assert.is(message(() => adminAddress(resolved(), {}, { PB_ADMIN_PORT: 'abc' })), 'PB_ADMIN_PORT: expected a port 0-65535, got "abc"');
  assert.is(message(() => adminAddress(resolved(), { adminPort: '70000' }, {})), '--admin-port: expected a port 0-65535, got "70000"');
  assert.is(message(() => adminAddress(resolved(), { adminHost: ' ' }, {})), '--admin-host: expected a host name or address, got ""');
});

order('admin: false is accepted, typed, and means no admin API whatever the environment says', () => {
  const config = resolved(false);
  assert.is(config.admin.enabled, false);
  assert.is(adminAddress(config, {}, { PB_ADMIN_PORT: '9300' }), undefined);
  assert.is(resolved().admin.enabled, true);
});

order('admin must be an object or false', () => {
  for (const bad of [true, 'off', 9100]) {
    try {
      validateConfig({ ...base(), admin: bad }, '/etc/pb/protobalance.config.ts');
      assert.unreachable(`admin: ${String(bad)} accepted`);
    } catch (err) {
      assert.ok(isProtoBalanceError(err));
      assert.match(err.message, /^protobalance\.config\.ts: admin: expected an object \{ host, port, token \}, or false for no admin API, got /);
    }
  }
});

const mark = suite('admin server: every answer carries x-protobalance');

mark('API answers, refusals and the dashboard all carry the version', async () => {
  const c = await startControlled(`export default {
  listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c' }],
  clusters: { c: { nodes: [{ id: 'n0', address: '127.0.0.1:1' }] } },
  workers: 1, watch: false, stateDir: './state', log: { level: 'silent' },
};\n`);
  try {
    const headers = async (url: string, auth = true) => {
      const res = await fetch(url, { headers: auth ? { authorization: `Bearer ${c.token}` } : {} });
      await res.arrayBuffer();
      return [res.status, res.headers.get(MARK_HEADER)];
    };
    assert.equal(await headers(`${c.base}/status`), [200, VERSION]);
    assert.equal(await headers(`${c.base}/status`, false), [401, VERSION]);
    assert.equal(await headers(`${c.base}/nope`), [404, VERSION]);
    assert.equal(await headers(`${c.origin}/dashboard`, false), [200, VERSION]);
  } finally {
    await c.stop();
  }
});

order.run();
mark.run();
