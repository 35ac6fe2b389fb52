// Runs every test/**/*.test.ts with uvu (under tsx), then the socket-level suites again on
// the public `net` data path (the default run uses the fast one where this Node has it),
// then prints the one closing line CI reads: `N passed, N failed`. Exit code: 0 only when
// every test passed. `node test/run.js <pattern>` runs the matching files, on both paths.
import { spawn } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const pattern = process.argv[2] ?? '\\.test\\.ts$';
/** Suites that drive real sockets through the data path: run once per data path. */
const SOCKET_SUITES = ['core/forward.test.ts', 'core/fallover.test.ts', 'core/balancer.test.ts', 'core/workers.test.ts'];

function run(args, env) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--no-node-snapshot', '--import', pathToFileURL(path.join(root, 'bin/sources.js')).href, path.join(root, 'node_modules/uvu/bin.js'), 'test', ...args],
      { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      process.stdout.write(chunk);
    });
    child.on('close', (code, signal) => {
      const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
      const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
      const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
      const failed = code === 0 && !signal ? total - passed : Math.max(total - passed, 1);
      resolve({ passed, failed });
    });
  });
}

const first = await run([pattern]);
// The socket suites among those files again, with the net data path forced.
const wanted = new RegExp(pattern);
const again = SOCKET_SUITES.filter((f) => wanted.test(f));
let second = { passed: 0, failed: 0 };
if (again.length > 0 && !process.env.PROTOBALANCE_DATAPATH) {
  process.stdout.write('\nThe socket suites again on the net data path (PROTOBALANCE_DATAPATH=net):\n');
  second = await run([`^(${again.map((f) => f.replace(/[.]/g, '\\.')).join('|')})$`], { PROTOBALANCE_DATAPATH: 'net' });
}
const passed = first.passed + second.passed;
const failed = first.failed + second.failed;
process.stdout.write(`\n${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
