/** The `protobalance` command: the core's command line, handed the built-in plugins. */
import { runCli } from '../core/cli.ts';
import { assembly } from './builtins.ts';

await runCli(assembly());
