/** The public entry of Proto Balance: re-exports only. */
export { defineAlgorithm, defineConfig, definePlugin, definePolicy } from './define.ts';
export { Balancer, createBalancer, type BalancerOptions, type ConnectionInfo } from './balancer.ts';
export { loadConfig, readConfigFile } from './config-load.ts';
export { validateConfig } from './config-validate.ts';
export { parseDuration } from './duration.ts';
export { ErrorCodes, ProtoBalanceError, isProtoBalanceError, type ErrorCode } from './errors.ts';
export { createHooks, type Hooks, type PluginHooks, type ListeningAddress } from './hooks.ts';
export type { ConnectionContext, ConnectionOutcome, ConnectionTotals } from './context.ts';
export type { BalancerNode, Cluster } from './cluster.ts';
export type { BalancerView, PluginApi } from './plugin-api.ts';
export type { Logger } from './logger.ts';
export { createInProcessRunner, type AlgorithmRunner } from './algorithm-runner.ts';
export { createSandboxRunner, type SandboxLimits } from './sandbox.ts';
export type { AlgorithmHealth, NodeChooser, RegisterOptions } from './algorithms.ts';
export { VERSION } from './version.ts';
export type * from './types.ts';
