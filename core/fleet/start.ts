/** The fleet of a config, joined by `protobalance start` once the balancer serves. */
import type { Logger } from '../logger.ts';
import type { ResolvedConfig } from '../types.ts';
import type { ProcessGroup } from '../workers/group.ts';
import { FleetSync } from './sync.ts';
import type { FleetConnector } from './types.ts';

/**
 * A running FleetSync for `config.fleet`, or none without one. Changing `fleet` in the
 * file takes effect at the next start: the link is not rebuilt by a reload.
 */
export function joinFleet(config: ResolvedConfig, group: ProcessGroup, connector: FleetConnector | undefined, logger: Logger): FleetSync | undefined {
  const fleet = config.fleet;
  if (!fleet) return undefined;
  if (!connector) {
    logger.error({ fleet: fleet.name }, 'fleet: this program was put together without a fleet transport; node states stay local');
    return undefined;
  }
  const sync = new FleetSync({ group, transport: connector(fleet), fleet, logger });
  sync.start();
  logger.info({ fleet: fleet.name, member: fleet.member }, 'fleet: joining');
  return sync;
}
