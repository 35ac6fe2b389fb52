/**
 * The plugin's config fields, declared through the public `fields` of a plugin: a wrong
 * value is refused naming the field and the plugin; resolved values are what `api.config`
 * shows (a duration in ms, absent fields absent); `proxyProtocolMaxBytes` raises the
 * v2 limit for senders with large TLVs.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Config, Plugin, ResolvedConfig } from 'protobalance';
import { V2_SIGNATURE } from '../../../plugins/proxy-protocol/parse.ts';
import type { TestBalancer } from '../../helpers/balancer.ts';
import { waitFor } from '../../helpers/net.ts';
import { exchange, startCountingNode, startWithPlugin } from './harness.ts';

const fields = suite<{ tb?: TestBalancer; close?: () => Promise<void> }>('proxy-protocol fields');

fields.after.each(async (ctx) => {
  await ctx.tb?.stop();
  await ctx.close?.();
  ctx.tb = undefined;
  ctx.close = undefined;
});

function config(listener: Record<string, unknown>, cluster: Record<string, unknown> = {}): Config {
  return {
    listeners: [{ port: 0, host: '127.0.0.1', cluster: 'c', ...listener } as Config['listeners'][number]],
    clusters: { c: { nodes: [{ id: 'n', address: '127.0.0.1:9' }], ...cluster } },
  };
}

async function refusal(c: Config): Promise<string> {
  try {
    const tb = await startWithPlugin(c);
    await tb.stop();
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('the config was taken');
}

fields('a wrong value is refused, naming the field and the plugin', async () => {
  assert.match(await refusal(config({ acceptProxyProtocol: 'v3' })), 'listeners[0].acceptProxyProtocol: expected true, "v1" or "v2", got "v3" (a field of plugin proxy-protocol)');
  assert.match(await refusal(config({ acceptProxyProtocol: false })), 'listeners[0].acceptProxyProtocol: expected true, "v1" or "v2", got false');
  assert.match(await refusal(config({}, { proxyProtocol: 'v3' })), 'clusters.c.proxyProtocol: expected "v1" or "v2", got "v3" (a field of plugin proxy-protocol)');
  assert.match(await refusal(config({ proxyProtocolTimeout: 'soon' })), 'listeners[0].proxyProtocolTimeout: expected a duration');
  assert.match(await refusal(config({ proxyProtocolMaxBytes: 100 })), 'listeners[0].proxyProtocolMaxBytes: expected a whole number from 232 to 65551, got 100');
  assert.match(await refusal(config({ acceptProxyProtocoll: true })), /unknown field \(known: .*acceptProxyProtocol/);
});

fields('resolved: the timeout in ms, the others as written, and nothing added where they are absent', async (ctx) => {
  let seen: ResolvedConfig | undefined;
  const spy: Plugin = { name: 'spy', apply: (_hooks, api) => void (seen = api.config) };
  const c = config({ acceptProxyProtocol: 'v2', proxyProtocolTimeout: '1m30s', proxyProtocolMaxBytes: 600 }, { proxyProtocol: 'v1' });
  c.listeners.push({ port: 0, host: '127.0.0.1', cluster: 'c', name: 'plain' });
  ctx.tb = await startWithPlugin({ ...c, plugins: [spy] });
  const [front, plain] = seen!.listeners;
  assert.equal([front!.acceptProxyProtocol, front!.proxyProtocolTimeout, front!.proxyProtocolMaxBytes], ['v2', 90_000, 600]);
  assert.is(seen!.clusters.c!.proxyProtocol, 'v1');
  assert.ok(!('acceptProxyProtocol' in plain!) && !('proxyProtocolTimeout' in plain!) && !('proxyProtocolMaxBytes' in plain!), JSON.stringify(plain));
});

fields('proxyProtocolMaxBytes: a v2 header with 500 bytes of TLVs is refused by default and taken under a raised limit', async (ctx) => {
  const node = await startCountingNode();
  ctx.close = node.close;
  const tlv = Buffer.concat([Buffer.from([0xe0, 0x01, 0xf4]), Buffer.alloc(500, 0x61)]);
  const body = Buffer.concat([Buffer.from([10, 0, 0, 9, 10, 0, 0, 1, 0x30, 0x39, 0x01, 0xbb]), tlv]);
  const header = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, body.length >> 8, body.length & 0xff]), body]);
  const listeners: Config['listeners'] = [
    { port: 0, host: '127.0.0.1', cluster: 'c', name: 'default', acceptProxyProtocol: true },
    { port: 0, host: '127.0.0.1', cluster: 'c', name: 'raised', acceptProxyProtocol: true, proxyProtocolMaxBytes: 1024 },
  ];
  const tb = (ctx.tb = await startWithPlugin({ listeners, clusters: { c: { nodes: [{ id: 'n', address: `127.0.0.1:${node.port}` }] } }, log: { level: 'info', access: true } }));
  const portOf = (name: string) => tb.balancer.addresses().find((a) => a.listener === name)!.port;
  assert.is((await exchange(portOf('default'), [header, 'x'], { ms: 3000 })).answer.length, 0);
  assert.is((await exchange(portOf('raised'), [header, 'x'], { ms: 3000 })).answer.toString(), 'x');
  await waitFor(() => tb.logger.lines.filter((l) => l.msg === 'connection').length === 2, 3000, 'two access lines');
  const lines = tb.logger.lines.filter((l) => l.msg === 'connection').map((l) => l.fields);
  assert.match(String(lines.find((l) => l.listener === 'default')?.reason), 'a header of 531 bytes, over the limit of 232');
  assert.equal([lines.find((l) => l.listener === 'raised')?.client, lines.find((l) => l.listener === 'raised')?.clientPort], ['10.0.0.9', 12345]);
  assert.is(node.connections(), 1);
});

fields.run();
