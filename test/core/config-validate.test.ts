import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { validateConfig, isProtoBalanceError, type Config } from '../../core/index.ts';

const good = (): Config => ({
  listeners: [{ port: 8080, host: '0.0.0.0', cluster: 'web' }],
  clusters: {
    web: {
      nodes: [
        { id: 'a', address: '10.0.0.1:80', loadFactor: 2, fallover: 'c' },
        { id: 'b', address: '10.0.0.2:80' },
        { id: 'c', address: '[::1]:80' },
      ],
    },
  },
});

/** The single problem validation reports for `config`. */
function problem(config: unknown): string {
  try {
    validateConfig(config, '/etc/pb/protobalance.config.ts');
  } catch (err) {
    assert.ok(isProtoBalanceError(err), 'a coded error');
    assert.is(err.code, 'PB_ERR_CONFIG_INVALID');
    assert.is(err.details.length, 1, `one problem, got: ${err.details.join(' | ')}`);
    assert.is(err.message, `protobalance.config.ts: ${err.details[0]}`);
    return err.details[0]!;
  }
  throw new Error('expected the config to be rejected');
}

function withCluster(patch: (c: Config) => void): Config {
  const c = good();
  patch(c);
  return c;
}

const resolve = suite('config: resolved values');

resolve('defaults and parsed fields', () => {
  const r = validateConfig(good(), '/etc/pb/protobalance.config.ts');
  assert.is(r.connectTimeout, 2000);
  assert.is(r.retryInterval, 10_000);
  assert.is(r.drainTimeout, 10_000);
  assert.is(r.baseDir, '/etc/pb');
  assert.is(r.stateDir, '/etc/pb/.protobalance');
  assert.equal(r.listeners, [{ name: '8080', host: '0.0.0.0', portFrom: 8080, portTo: 8080, cluster: 'web' }]);
  const web = r.clusters.web!;
  assert.is(web.balance, 'round-robin');
  assert.equal(web.nodes[0], { id: 'a', host: '10.0.0.1', port: 80, loadFactor: 2, fallover: 'c', connectTimeout: 2000, probe: undefined });
  assert.equal(web.nodes[2], { id: 'c', host: '::1', port: 80, loadFactor: 1, fallover: undefined, connectTimeout: 2000, probe: undefined });
});

resolve('durations cascade from global to cluster to node', () => {
  const r = validateConfig(
    withCluster((c) => {
      c.connectTimeout = '5s';
      c.clusters.web!.connectTimeout = '1500ms';
      c.clusters.web!.nodes[1]!.connectTimeout = 250;
    }),
  );
  assert.equal(r.clusters.web!.nodes.map((n) => n.connectTimeout), [1500, 250, 1500]);
});

resolve('a port range listener lets its nodes omit the port', () => {
  const r = validateConfig({
    listeners: [{ port: '50000-50100', cluster: 'ftp' }],
    clusters: { ftp: { nodes: [{ id: 'x', address: '10.0.0.7' }] } },
  });
  assert.equal([r.listeners[0]!.portFrom, r.listeners[0]!.portTo], [50000, 50100]);
  assert.is(r.clusters.ftp!.nodes[0]!.port, undefined);
});

const errors = suite('config: each bad input names the field and what was expected');

errors('malformed address', () => {
  assert.is(
    problem(withCluster((c) => (c.clusters.web!.nodes[0]!.address = '10.0.0.1:99999'))),
    'clusters.web.nodes[0].address: expected "host:port", got "10.0.0.1:99999"',
  );
});

errors('bad duration', () => {
  assert.is(
    problem({ ...good(), connectTimeout: '2 parsecs' }),
    'connectTimeout: expected a duration like "500ms", "2s", "5m", "30d" or milliseconds, got "2 parsecs"',
  );
});

errors('load factor not positive', () => {
  assert.is(
    problem(withCluster((c) => (c.clusters.web!.nodes[1]!.loadFactor = 0))),
    'clusters.web.nodes[1].loadFactor: expected a number greater than 0, got 0',
  );
});

errors('listener cluster that does not exist', () => {
  assert.is(
    problem({ ...good(), listeners: [{ port: 80, cluster: 'nope' }] }),
    'listeners[0].cluster: no cluster "nope" (clusters: web)',
  );
});

errors('listener port out of range', () => {
  assert.is(
    problem({ ...good(), listeners: [{ port: 70000, cluster: 'web' }] }),
    'listeners[0].port: expected a port 1-65535 (0 for any free port) or a range "50000-50100", got 70000',
  );
});

errors('no listeners', () => {
  assert.is(problem({ ...good(), listeners: [] }), 'listeners: expected a non-empty array of { port, cluster }, got an array');
});

errors('no clusters', () => {
  assert.is(problem({ ...good(), clusters: {} }), 'clusters: expected an object of named clusters, got an object');
});

errors('duplicate node id', () => {
  assert.is(problem(withCluster((c) => (c.clusters.web!.nodes[1]!.id = 'a'))), 'clusters.web.nodes[1].id: duplicate node id "a"');
});

errors('fall-over node that does not exist', () => {
  assert.is(
    problem(withCluster((c) => (c.clusters.web!.nodes[0]!.fallover = 'z'))),
    'clusters.web.nodes[0].fallover: no node "z" in this cluster (nodes: a, b, c)',
  );
});

errors('fall-over cycle is named', () => {
  assert.is(
    problem(
      withCluster((c) => {
        c.clusters.web!.nodes[1]!.fallover = 'c';
        c.clusters.web!.nodes[2]!.fallover = 'b';
      }),
    ),
    'clusters.web.nodes: fall-over nodes form a cycle: c -> b -> c',
  );
});

errors('unknown field (a typo) is reported with the known ones', () => {
  assert.is(
    problem(withCluster((c) => ((c.clusters.web as unknown as Record<string, unknown>).balanse = 'random'))),
    'clusters.web.balanse: unknown field (known: balance, balanceOptions, hashSecret, affinity, fallover, connectTimeout, healthCheck, nodes)',
  );
});

errors('wrong type for a nested object', () => {
  assert.is(
    problem(withCluster((c) => ((c.clusters.web as unknown as Record<string, unknown>).affinity = true))),
    'clusters.web.affinity: expected an object { enabled, ttl, maxEntries, store }, got true',
  );
});

errors('bad plugin entry', () => {
  assert.is(
    problem({ ...good(), plugins: [42 as never] }),
    'plugins[0]: expected a module name, a plugin { name, apply } or { name, options, create }, or either as [it, options], got 42',
  );
});

errors('bad log level', () => {
  assert.is(problem({ ...good(), log: { level: 'loud' as never } }), 'log.level: expected one of trace, debug, info, warn, error, fatal, silent, got "loud"');
  assert.is(problem({ ...good(), log: { access: 'yes' as never } }), 'log.access: expected true or false, got "yes"');
});

errors('not an object at all', () => {
  assert.throws(() => validateConfig('hello', '/x/protobalance.config.ts'), /protobalance.config.ts: expected an object/);
});

errors('several problems are all reported', () => {
  try {
    validateConfig({ listeners: [{ port: 'x', cluster: 'web' }], clusters: { web: { nodes: [{ id: 'a', address: 'nope:port' }] } } });
    assert.unreachable();
  } catch (err) {
    assert.ok(isProtoBalanceError(err));
    assert.is(err.details.length, 2);
    assert.match(err.message, /^config: 2 problems: listeners\[0\]\.port: .*; clusters\.web\.nodes\[0\]\.address: /);
  }
});

resolve.run();
errors.run();

const added = suite('config: probes, sandbox limits, rate window');

added('probe, sandbox and rateWindow resolve with defaults', () => {
  const c = good();
  c.clusters.web!.nodes[0]!.probe = { url: 'http://10.0.0.1:9000/load' };
  c.clusters.web!.nodes[1]!.probe = { tcp: '10.0.0.2:9001', interval: '1s', timeout: '5s', metric: 'queue' };
  c.sandbox = { cpuTimeout: '20ms' };
  c.rateWindow = '30s';
  const r = validateConfig(c);
  assert.equal(r.clusters.web!.nodes[0]!.probe, { kind: 'http', target: 'http://10.0.0.1:9000/load', interval: 5000, timeout: 2000, metric: 'load' });
  assert.equal(r.clusters.web!.nodes[1]!.probe, { kind: 'tcp', target: '10.0.0.2:9001', interval: 1000, timeout: 1000, metric: 'queue' });
  assert.equal(r.sandbox, { cpuTimeout: 20, memoryLimit: 32, maxFailures: 5 });
  assert.is(r.rateWindow, 30_000);
  assert.is(r.watch, true);
});

added('bad probe and sandbox values name their field', () => {
  assert.is(
    problem(withCluster((c) => (c.clusters.web!.nodes[0]!.probe = { url: 'ftp://x' }))),
    'clusters.web.nodes[0].probe.url: expected an "http://host:port/path" URL, got "ftp://x"',
  );
  assert.is(
    problem(withCluster((c) => (c.clusters.web!.nodes[0]!.probe = { url: 'http://x/', tcp: 'x:1' }))),
    'clusters.web.nodes[0].probe: give exactly one of "url" (http://…) or "tcp" ("host:port")',
  );
  assert.is(problem({ ...good(), sandbox: { memoryLimit: 2 } }), 'sandbox.memoryLimit: expected a number of MiB, at least 8, got 2');
});

added.run();

const healthChecks = suite('config: cluster health checks');

healthChecks('no healthCheck resolves to undefined; an empty one takes every default', () => {
  assert.is(validateConfig(good()).clusters.web!.healthCheck, undefined);
  const r = validateConfig(withCluster((c) => (c.clusters.web!.healthCheck = {})));
  assert.equal(r.clusters.web!.healthCheck, { interval: 5000, timeout: 2000, send: undefined, expect: undefined, rise: 2, fall: 3 });
});

healthChecks('given fields resolve; the timeout is never more than the interval', () => {
  const r = validateConfig(
    withCluster(
      (c) => (c.clusters.web!.healthCheck = { interval: '1s', timeout: 250, send: 'PING\r\n', expect: '+PONG', rise: 1, fall: 5 }),
    ),
  );
  assert.equal(r.clusters.web!.healthCheck, { interval: 1000, timeout: 250, send: 'PING\r\n', expect: '+PONG', rise: 1, fall: 5 });
  const short = validateConfig(withCluster((c) => (c.clusters.web!.healthCheck = { interval: '100ms' })));
  assert.is(short.clusters.web!.healthCheck!.timeout, 100, 'the default timeout is cut to the interval');
  const longer = validateConfig(withCluster((c) => (c.clusters.web!.healthCheck = { interval: '1s', timeout: '5s' })));
  assert.is(longer.clusters.web!.healthCheck!.timeout, 1000);
});

healthChecks('bad healthCheck values name their field', () => {
  const bad = (healthCheck: unknown) =>
    problem(withCluster((c) => ((c.clusters.web as unknown as Record<string, unknown>).healthCheck = healthCheck)));
  assert.is(bad('5s'), 'clusters.web.healthCheck: expected an object { interval, timeout, send, expect, rise, fall }, got "5s"');
  assert.is(
    bad({ intervall: '1s' }),
    'clusters.web.healthCheck.intervall: unknown field (known: interval, timeout, send, expect, rise, fall)',
  );
  assert.is(
    bad({ interval: 'soon' }),
    'clusters.web.healthCheck.interval: expected a duration like "500ms", "2s", "5m", "30d" or milliseconds, got "soon"',
  );
  assert.is(bad({ interval: '50ms' }), 'clusters.web.healthCheck.interval: expected at least "100ms", got "50ms"');
  assert.is(bad({ timeout: 0 }), 'clusters.web.healthCheck.timeout: expected at least "1ms", got 0');
  assert.is(bad({ send: '' }), 'clusters.web.healthCheck.send: expected a non-empty string, got ""');
  assert.is(bad({ expect: 42 }), 'clusters.web.healthCheck.expect: expected a non-empty string, got 42');
  assert.is(bad({ rise: 0 }), 'clusters.web.healthCheck.rise: expected a whole number of at least 1, got 0');
  assert.is(bad({ fall: 1.5 }), 'clusters.web.healthCheck.fall: expected a whole number of at least 1, got 1.5');
  assert.is(bad({ fall: '3' }), 'clusters.web.healthCheck.fall: expected a whole number of at least 1, got "3"');
});

healthChecks.run();

const policyFiles = suite('config: policy files stay inside the config folder');

policyFiles('a policy path outside the config folder is refused, unless its folder is in policyDirs', () => {
  const base = {
    listeners: [{ port: 8080, cluster: 'web' }],
    clusters: { web: { balance: 'policy:../../../../etc/hostname', nodes: [{ id: 'a', address: '10.0.0.1:80' }] } },
  };
  const err = (() => {
    try {
      validateConfig(base, '/srv/lb/protobalance.config.ts');
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  assert.ok(err, 'refused');
  assert.match(err!.message, 'clusters.web.balance: the file "../../../../etc/hostname" is outside the config\'s folder /srv/lb');
  assert.not.match(err!.message, 'vm is not defined');
  for (const balance of ['policy:/etc/passwd', 'policy:../other/p.ts']) {
    assert.throws(() => validateConfig({ ...base, clusters: { web: { ...base.clusters.web, balance } } }, '/srv/lb/protobalance.config.ts'), /outside the config's folder/);
  }
  const inside = { ...base, clusters: { web: { ...base.clusters.web, balance: 'policy:./policies/p.ts' } } };
  assert.is(validateConfig(inside, '/srv/lb/protobalance.config.ts').clusters.web!.balance, 'policy:./policies/p.ts');
  const allowed = { ...base, policyDirs: ['/etc'], clusters: { web: { ...base.clusters.web, balance: 'policy:/etc/lb/p.ts' } } };
  assert.is(validateConfig(allowed, '/srv/lb/protobalance.config.ts').clusters.web!.balance, 'policy:/etc/lb/p.ts');
  assert.throws(() => validateConfig({ ...base, policyDirs: 'x' }, '/srv/lb/protobalance.config.ts'), /policyDirs: expected an array of folders/);
});

policyFiles.run();

const factors = suite('config: load factor bounds');

factors('a load factor is a number from 0.001 to 1000, as through the admin API', () => {
  const at = (loadFactor: unknown) => ({
    listeners: [{ port: 8080, cluster: 'web' }],
    clusters: { web: { nodes: [{ id: 'a', address: '10.0.0.1:80', loadFactor }] } },
  });
  assert.throws(() => validateConfig(at(5e-324)), /clusters\.web\.nodes\[0\]\.loadFactor: expected a number from 0\.001 to 1000, got 5e-324/);
  assert.throws(() => validateConfig(at(1e6)), /loadFactor: expected a number from 0\.001 to 1000/);
  assert.is(validateConfig(at(0.5)).clusters.web!.nodes[0]!.loadFactor, 0.5);
});

factors.run();
