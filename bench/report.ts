/** The results table (markdown), the machine it ran on, and bench/RESULTS.md. */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

export interface Row {
  figure: string;
  direct: number | undefined;
  balancer: number | undefined;
}

export function fmt(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function table(rows: readonly Row[]): string {
  const lines = ['| figure | direct | balancer | ratio (balancer/direct) |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    const ratio = r.direct !== undefined && r.balancer !== undefined && r.direct !== 0 ? r.balancer / r.direct : undefined;
    lines.push(`| ${r.figure} | ${fmt(r.direct)} | ${fmt(r.balancer)} | ${fmt(ratio)} |`);
  }
  return lines.join('\n');
}

export interface SelectionTableRow {
  algorithm: string;
  nodes: number;
  batchable: boolean | undefined;
  inProcess: { picks: number; microsPerPick: number } | undefined;
  sandboxed: { picks: number; microsPerPick: number } | undefined;
}

/** µs per pick of each algorithm, in-process and sandboxed. */
export function selectionTable(rows: readonly SelectionTableRow[]): string {
  const lines = [
    '| algorithm | candidates | batchable | in-process (µs/pick) | sandboxed (µs/pick) | ratio (sandboxed/in-process) | picks timed (in-process / sandboxed) |',
    '|---|---:|:---:|---:|---:|---:|---:|',
  ];
  for (const r of rows) {
    const i = r.inProcess?.microsPerPick;
    const s = r.sandboxed?.microsPerPick;
    const ratio = i !== undefined && s !== undefined && i > 0 ? s / i : undefined;
    const batchable = r.batchable === undefined ? '—' : r.batchable ? 'yes' : 'no';
    const picks = `${r.inProcess?.picks.toLocaleString('en-US') ?? '—'} / ${r.sandboxed?.picks.toLocaleString('en-US') ?? '—'}`;
    lines.push(`| ${r.algorithm} | ${r.nodes} | ${batchable} | ${fmt(i)} | ${fmt(s)} | ${fmt(ratio)} | ${picks} |`);
  }
  return lines.join('\n');
}

export interface PairRow {
  figure: string;
  inProcess: number | undefined;
  sandboxed: number | undefined;
}

/** Sandboxed against in-process figures of the same balancer. */
export function runnerTable(rows: readonly PairRow[]): string {
  const lines = ['| figure | in-process round robin | sandboxed round robin | ratio (sandboxed/in-process) |', '|---|---:|---:|---:|'];
  for (const r of rows) {
    const ratio = r.inProcess !== undefined && r.sandboxed !== undefined && r.inProcess !== 0 ? r.sandboxed / r.inProcess : undefined;
    lines.push(`| ${r.figure} | ${fmt(r.inProcess)} | ${fmt(r.sandboxed)} | ${fmt(ratio)} |`);
  }
  return lines.join('\n');
}

export function machine(): string {
  let cpu = 'unknown CPU';
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu;
  } catch {
    // not Linux
  }
  return `${availableParallelism()} CPUs (nproc), ${cpu}`;
}

/** `body`: the main table, then any further sections (markdown). */
export async function writeResults(file: URL, body: string, notes: readonly string[]): Promise<void> {
  const text = [
    '# Proto Balance benchmark results',
    '',
    'Written by `npm run bench` (bench/run.ts); every run replaces this file.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- node: ${process.version}`,
    `- machine: ${machine()}`,
    ...notes.map((n) => `- ${n}`),
    '',
    body,
    '',
  ].join('\n');
  await writeFile(file, text);
}

/** The side-by-side targets, in column order. */
export const SIDE_COLUMNS = [
  ['direct', 'direct'],
  ['protobalance', 'Proto Balance'],
  ['protobalance-affinity', 'Proto Balance (affinity on)'],
  ['haproxy', 'HAProxy'],
  ['nginx', 'nginx'],
] as const;
export type SideColumn = (typeof SIDE_COLUMNS)[number][0];

export interface SideRow {
  figure: string;
  values: Partial<Record<SideColumn, number>>;
}

/** The ratio columns, in order: a Proto Balance target's figure over another proxy's. */
const SIDE_RATIOS = [
  ['PB/HAProxy', 'protobalance', 'haproxy'],
  ['PB+aff/HAProxy', 'protobalance-affinity', 'haproxy'],
  ['PB/nginx', 'protobalance', 'nginx'],
  ['PB+aff/nginx', 'protobalance-affinity', 'nginx'],
] as const satisfies readonly (readonly [string, SideColumn, SideColumn])[];

/**
 * Direct, Proto Balance with affinity off and on, HAProxy and nginx, then each Proto
 * Balance target's figure over each of the other two proxies'. `absent`: targets that
 * could not run here; their cells say so rather than look like a failed measurement.
 */
export function sideBySideTable(rows: readonly SideRow[], absent: ReadonlySet<SideColumn>): string {
  const labels = [...SIDE_COLUMNS.map(([, label]) => label), ...SIDE_RATIOS.map(([label]) => label)];
  const lines = [`| figure | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---:').join('|')}|`];
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b !== 0 ? a / b : undefined);
  for (const r of rows) {
    const cells = SIDE_COLUMNS.map(([key]) => (absent.has(key) ? 'absent' : fmt(r.values[key])));
    const ratios = SIDE_RATIOS.map(([, a, b]) => fmt(ratio(r.values[a], r.values[b])));
    lines.push(`| ${r.figure} | ${[...cells, ...ratios].join(' | ')} |`);
  }
  return lines.join('\n');
}

/**
 * Put `section` (starting with `heading`) in place of that section of `file`, up to the next
 * `## ` heading, or at the end when absent: for a part run alone, so the other sections of
 * the last full run stay.
 */
export async function replaceSection(file: URL, heading: string, section: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    text = '# Proto Balance benchmark results\n\nWritten by `npm run bench` (bench/run.ts); every run replaces this file.\n';
  }
  const lines = text.replace(/\n+$/, '').split('\n');
  const start = lines.indexOf(heading);
  if (start === -1) {
    await writeFile(file, `${lines.join('\n')}\n\n${section}\n`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && l.startsWith('## '));
  if (end === -1) end = lines.length;
  const before = lines.slice(0, start).join('\n').replace(/\n+$/, '');
  const after = lines.slice(end).join('\n');
  await writeFile(file, `${before}\n\n${section}\n${after ? `\n${after}\n` : ''}`);
}
