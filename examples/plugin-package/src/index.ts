/**
 * protobalance-plugin-statsd: reports Proto Balance's connections, bytes, durations,
 * fall-overs and node states to a StatsD server over UDP.
 *
 * ```ts
 * // protobalance.config.ts
 * plugins: [['statsd', { host: '10.0.0.9', port: 8125, prefix: 'edge1', interval: '1s' }]],
 * ```
 *
 * The options are declared as a schema: the host validates them (an error names the
 * field, `plugins[0].port` …), fills in the defaults, turns durations into milliseconds,
 * and hands the result, typed from the schema, to `create`.
 */
import { definePlugin } from 'protobalance';
import { NAME, reporter } from './reporter.js';

export type { StatsdOptions } from './reporter.js';
export { metricName, pack, StatsdClient } from './client.js';

export default definePlugin({
  name: NAME,
  options: {
    host: { type: 'string', default: '127.0.0.1', description: 'host name or IP address of the StatsD server' },
    port: { type: 'port', default: 8125, description: 'UDP port of the StatsD server' },
    prefix: { type: 'string', default: 'protobalance', description: 'first part of every metric name ("" for none)' },
    interval: { type: 'duration', default: '1s', description: 'how often the metrics gathered are sent' },
    maxPacket: {
      type: 'integer',
      default: 1432,
      min: 64,
      max: 65507,
      description: 'largest datagram in bytes (1432 fits an Ethernet MTU; 512 for paths across the Internet)',
    },
  },
  create(options) {
    // test/scenarios/plugin-package.test.ts "upgrades" the compiled form of this line.
    return reporter(options);
  },
});
