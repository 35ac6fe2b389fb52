/**
 * `npm run fuzz -- <target> [--seconds N]`: coverage-guided fuzzing of one target with
 * Jazzer.js (libFuzzer). A target is any bench/fuzz/*.ts that exports `fuzz(data: Buffer)`
 * and throws only on a real bug (a broken promise of the code under test); it may export
 * `SEEDS` (strings or bytes) to start an empty corpus with.
 *
 *   npm run fuzz                               lists the targets
 *   npm run fuzz -- config --seconds 600       fuzzes one for 10 minutes
 *   npm run fuzz -- all --seconds 60           each in turn
 *   options: --timeout MS (a hang: default 5000)  --max-len N  --keep-going N (findings
 *            before stopping: default 5)  --verbose  --plain (the fallback below)
 *            -- <libFuzzer flags>
 *
 * Everything it writes is under .fuzz/ (git-ignored): corpus/<target>/ (kept between
 * runs), artifacts/<target>/ (crash-*, timeout-* inputs), build/ (the bundled target),
 * native/ (the Jazzer.js addon when it has to be built, see runner/native.ts), logs/,
 * results/<target>.json. It ends with a summary: executions, exec/s, crashes, hangs, and
 * the files of the inputs found. Exit code 1 when anything was found or the run failed.
 *
 * `--plain`, or when the Jazzer.js addon cannot be had: runner/plain.ts drives the same
 * targets with random and mutated inputs; NOT coverage-guided, and labelled so.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleTarget } from './runner/bundle.ts';
import { runJazzer, wasInterrupted, type RunOptions, type RunResult } from './runner/jazzer.ts';
import { ensureJazzerAddon, type JazzerAddon } from './runner/native.ts';
import { runPlain } from './runner/plain.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const OUT = path.join(ROOT, '.fuzz');

/** The targets: bench/fuzz/*.ts that export `fuzz` (this runner aside). */
function targets(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of readdirSync(HERE).sort()) {
    if (!file.endsWith('.ts') || file === 'run.ts') continue;
    const text = readFileSync(path.join(HERE, file), 'utf8');
    if (/export\s+(async\s+)?function\s+fuzz\b|export\s+const\s+fuzz\b/.test(text)) found.set(file.slice(0, -3), path.join(HERE, file));
  }
  return found;
}

interface Args extends RunOptions {
  names: string[];
  plain: boolean;
}

function parseArgs(argv: string[]): Args {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const a: Args = { names: [], seconds: 60, timeoutMs: 5000, maxLen: undefined, keepGoing: 5, verbose: false, extra: dash < 0 ? [] : argv.slice(dash + 1), plain: false };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} needs a positive number, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < own.length; i++) {
    const arg = own[i]!;
    const [flag, inline] = arg.includes('=') ? (arg.split(/=(.*)/s) as [string, string]) : [arg, undefined];
    const value = () => inline ?? own[++i];
    if (flag === '--seconds') a.seconds = num(flag, value());
    else if (flag === '--timeout') a.timeoutMs = num(flag, value());
    else if (flag === '--max-len') a.maxLen = Math.floor(num(flag, value()));
    else if (flag === '--keep-going') a.keepGoing = Math.floor(num(flag, value()));
    else if (flag === '--verbose') a.verbose = true;
    else if (flag === '--plain') a.plain = true;
    else if (flag.startsWith('-')) throw new Error(`unknown option ${flag}`);
    else a.names.push(arg);
  }
  return a;
}

/** Writes the target's `seeds` into an empty corpus folder. */
async function seedCorpus(file: string, corpus: string): Promise<number> {
  if (readdirSync(corpus).length > 0) return 0;
  type Seeds = readonly (string | Uint8Array)[];
  const mod = (await import(pathToFileURL(file).href)) as { SEEDS?: Seeds; seeds?: Seeds };
  const seeds = mod.SEEDS ?? mod.seeds ?? [];
  for (const seed of seeds) {
    const bytes = typeof seed === 'string' ? Buffer.from(seed) : seed;
    writeFileSync(path.join(corpus, `seed-${createHash('sha1').update(bytes).digest('hex')}`), bytes);
  }
  return seeds.length;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en')} ${n === 1 ? one : many}`;

async function fuzzOne(name: string, file: string, a: Args, addon: JazzerAddon | undefined): Promise<boolean> {
  const corpus = path.join(OUT, 'corpus', name);
  const artifacts = path.join(OUT, 'artifacts', name);
  for (const dir of [corpus, artifacts, path.join(OUT, 'logs'), path.join(OUT, 'results')]) mkdirSync(dir, { recursive: true });
  const seeded = await seedCorpus(file, corpus);
  const log = path.join(OUT, 'logs', `${name}.log`);
  const mode = addon ? 'coverage-guided (Jazzer.js / libFuzzer)' : 'plain random/mutation, NOT coverage-guided';
  process.stderr.write(`fuzz ${name}: ${a.seconds} s, ${mode}${seeded ? `, corpus seeded with ${seeded} inputs` : ''}; log ${path.relative(ROOT, log)}\n`);
  let r: RunResult;
  if (addon) {
    const bundle = await bundleTarget(file, path.join(OUT, 'build'), name);
    r = await runJazzer(bundle, corpus, artifacts, log, addon, a);
  } else {
    r = await runPlain(file, corpus, artifacts, a, 1);
  }
  const crashes = r.findings.filter((f) => f.kind !== 'timeout');
  const hangs = r.findings.filter((f) => f.kind === 'timeout');
  const perSec = r.seconds > 0 ? Math.round(r.execs / r.seconds) : 0;
  const inputs = readdirSync(corpus).length;
  const summary = {
    target: name, mode, seconds: Math.round(r.seconds), executions: r.execs, execPerSec: perSec,
    crashes: crashes.length, hangs: hangs.length, corpus: { dir: path.relative(ROOT, corpus), inputs },
    findings: r.findings.map((f) => ({ ...f, file: f.file && path.relative(ROOT, f.file) })), error: r.error,
  };
  writeFileSync(path.join(OUT, 'results', `${name}.json`), `${JSON.stringify(summary, null, 2)}\n`);
  const lines = [
    `fuzz ${name}: ${plural(r.execs, 'execution')} in ${Math.round(r.seconds)} s (${perSec.toLocaleString('en')} exec/s), ` +
      `${plural(crashes.length, 'crash', 'crashes')}, ${plural(hangs.length, 'hang')} (timeouts); corpus ${summary.corpus.dir} (${plural(inputs, 'input')}); ${mode}`,
    ...r.findings.map((f) => `  ${f.kind} ${f.file ? path.relative(ROOT, f.file) : ''}: ${f.message}`),
    ...(r.error ? [`  the run stopped short: ${r.error}`] : []),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return r.findings.length === 0 && !r.error;
}

async function main(): Promise<number> {
  const a = parseArgs(process.argv.slice(2));
  const all = targets();
  if (a.names.length === 0) {
    process.stdout.write(`Fuzz targets (npm run fuzz -- <target> --seconds N):\n${[...all.keys()].map((n) => `  ${n}`).join('\n')}\n`);
    return 0;
  }
  const names = a.names.includes('all') ? [...all.keys()] : a.names;
  const unknown = names.filter((n) => !all.has(n));
  if (unknown.length > 0) throw new Error(`no fuzz target ${unknown.join(', ')} (targets: ${[...all.keys()].join(', ')})`);
  let addon: JazzerAddon | undefined;
  if (!a.plain) {
    try {
      addon = ensureJazzerAddon(path.join(OUT, 'native'), (line) => process.stderr.write(`${line}\n`));
      process.stderr.write(`Jazzer.js with ${addon.how}\n`);
    } catch (err) {
      process.stderr.write(`Jazzer.js cannot run here: ${(err as Error).message}\nFalling back to plain random/mutation fuzzing (NOT coverage-guided).\n`);
    }
  }
  let clean = true;
  for (const name of names) {
    if (wasInterrupted()) break;
    clean = (await fuzzOne(name, all.get(name)!, a, addon)) && clean;
  }
  return clean ? 0 : 1;
}

if (!existsSync(path.join(ROOT, 'node_modules', '@jazzer.js', 'core'))) process.stderr.write('@jazzer.js/core is not installed (npm install)\n');
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
