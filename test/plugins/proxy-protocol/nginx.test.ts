/**
 * PROXY protocol toward nodes, read by a real reader: nginx (Debian's package) with
 * `listen ... proxy_protocol` behind a cluster with `proxyProtocol: 'v1'`, then `'v2'`.
 * nginx's access log must show, as `$proxy_protocol_addr` / `$proxy_protocol_port`, the
 * client's address and port as the balancer saw them (the client dials from 127.0.0.2, so
 * it cannot be mistaken for the balancer's own 127.0.0.1, which nginx sees as the socket's
 * peer), and as the destination the balancer's listener. An IPv6 client gets TCP6; an IPv4
 * client of a dual-stack listener (`::ffff:127.0.0.2` to the socket) gets TCP4. Every case
 * runs on both data paths.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config } from 'protobalance';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { waitFor } from '../../helpers/net.ts';
import { DATA_PATHS, exchange, startWithPlugin, type DataPathName } from './harness.ts';
import { startNginxReader, type NginxReader } from './nginx-reader.ts';

const nginx = suite<{ reader?: NginxReader; tb?: TestBalancer }>('nginx reads what Proto Balance sends');

nginx.after.each(async (ctx) => {
  await ctx.tb?.stop();
  await ctx.reader?.stop();
  ctx.tb = undefined;
  ctx.reader = undefined;
});

function config(dataPath: DataPathName, version: 'v1' | 'v2', readerPort: number, host = '127.0.0.1'): Config {
  return {
    dataPath,
    listeners: [{ port: 0, host, cluster: 'c', name: 'front' }],
    clusters: { c: { proxyProtocol: version, nodes: [{ id: 'nginx', address: `127.0.0.1:${readerPort}` }] } },
    log: { level: 'info', access: true },
  };
}

/** The tests, on one data path. */
function onDataPath(dataPath: DataPathName): void {
  for (const version of ['v1', 'v2'] as const) {
    nginx(`${version} (${dataPath} data path): nginx logs the client's address and port as the balancer saw them`, async (ctx) => {
      const reader = (ctx.reader = await startNginxReader());
      const tb = (ctx.tb = await startWithPlugin(config(dataPath, version, reader.port)));
      const path = `/${version}-check`;
      const ex = await exchange(tb.port, [`GET ${path} HTTP/1.0\r\nHost: pb\r\n\r\n`], { from: '127.0.0.2' });
      const answer = ex.answer.toString('latin1');
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.ok(answer.includes(`proxy_protocol_addr=127.0.0.2 proxy_protocol_port=${ex.localPort}\n`), answer);

      await waitFor(() => reader.log().some((e) => e.request.includes(path)), 5000, "nginx's access log line");
      const entry = reader.log().find((e) => e.request.includes(path))!;
      assert.equal(entry, {
        address: '127.0.0.2',
        port: ex.localPort,
        serverAddress: '127.0.0.1',
        serverPort: tb.port,
        remoteAddress: '127.0.0.1', // the socket's peer: the balancer
        request: `GET ${path} HTTP/1.0`,
        status: 200,
      });
      // The balancer's own access log names the same client.
      await waitFor(() => tb.logger.lines.some((l) => l.msg === 'connection'), 3000, 'the access log line');
      const line = tb.logger.lines.find((l) => l.msg === 'connection')!.fields;
      assert.equal([line.client, line.clientPort, line.node], ['127.0.0.2', ex.localPort, 'c/nginx']);
    });
  }

  nginx(`v2 from an IPv6 client (${dataPath} data path): nginx reads the IPv6 address (TCP over IPv6)`, async (ctx) => {
    const reader = (ctx.reader = await startNginxReader());
    const tb = (ctx.tb = await startWithPlugin(config(dataPath, 'v2', reader.port, '::1')));
    const ex = await exchange(tb.port, ['GET /six HTTP/1.0\r\nHost: pb\r\n\r\n'], { host: '::1' });
    assert.ok(ex.answer.toString('latin1').includes(`proxy_protocol_addr=::1 proxy_protocol_port=${ex.localPort}\n`), ex.answer.toString('latin1'));
    await waitFor(() => reader.log().some((e) => e.request.includes('/six')), 5000, "nginx's access log line");
    const entry = reader.log().find((e) => e.request.includes('/six'))!;
    assert.equal([entry.address, entry.port, entry.serverAddress, entry.serverPort], ['::1', ex.localPort, '::1', tb.port]);
  });

  nginx(`v1 from an IPv4 client of a dual-stack listener (${dataPath} data path): sent as TCP4, not as IPv4-mapped IPv6`, async (ctx) => {
    const reader = (ctx.reader = await startNginxReader());
    const tb = (ctx.tb = await startWithPlugin(config(dataPath, 'v1', reader.port, '::')));
    const ex = await exchange(tb.port, ['GET /dual HTTP/1.0\r\nHost: pb\r\n\r\n'], { from: '127.0.0.2' });
    assert.ok(ex.answer.toString('latin1').includes(`proxy_protocol_addr=127.0.0.2 proxy_protocol_port=${ex.localPort}\n`), ex.answer.toString('latin1'));
    await waitFor(() => reader.log().some((e) => e.request.includes('/dual')), 5000, "nginx's access log line");
    const entry = reader.log().find((e) => e.request.includes('/dual'))!;
    assert.equal([entry.address, entry.serverAddress, entry.serverPort], ['127.0.0.2', '127.0.0.1', tb.port]);
  });
}

for (const dataPath of DATA_PATHS) onDataPath(dataPath);

nginx.run();
