/**
 * The user docs follow the code: docs/plugins.md has one `### \`hook\`` section per hook of
 * the real catalogue (createHooks()), whose Kind line names the hook's tapable class, and
 * names no hook that does not exist; docs/policies.md lists every field of NodeView.
 * The checkers are plain functions, also run here on doctored inputs to show that they
 * report what they must (a hook added without docs, a hook removed, a wrong kind).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { AsyncSeriesHook, SyncHook } from 'tapable';
import { createHooks } from '../../core/hooks.ts';

const read = (relative: string) => readFileSync(new URL(relative, import.meta.url), 'utf8');
const PLUGINS_MD = read('../../docs/plugins.md');
const POLICIES_MD = read('../../docs/policies.md');
const TYPES_TS = read('../../core/types.ts');

/** Hook name → tapable class name, as the catalogue builds them. */
function catalogue(hooks: Record<string, object>): Map<string, string> {
  return new Map(Object.entries(hooks).map(([name, hook]) => [name, hook.constructor.name]));
}

/** Each `### \`name\`` section of `doc`: the name, and the class its `Kind:` line names. */
function hookSections(doc: string): { name: string; kind: string | undefined }[] {
  const out: { name: string; kind: string | undefined }[] = [];
  const headings = [...doc.matchAll(/^### `([^`]+)`[ \t]*$/gm)];
  headings.forEach((h, i) => {
    const end = doc.slice(h.index! + h[0].length).search(/^#{1,3} /m);
    const body = doc.slice(h.index! + h[0].length, end < 0 ? undefined : h.index! + h[0].length + end);
    const kind = /^Kind: `?(\w+)`?[ \t]*·[ \t]*Previous:.+·[ \t]*Next:.+$/m.exec(body)?.[1];
    out.push({ name: h[1]!, kind });
  });
  return out;
}

/** Every problem between the hook catalogue and the plugin docs; empty when they agree. */
function checkHookDocs(doc: string, hooks: Map<string, string>): string[] {
  const problems: string[] = [];
  const sections = hookSections(doc);
  const counts = new Map<string, number>();
  for (const s of sections) counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
  for (const [name, kind] of hooks) {
    const section = sections.find((s) => s.name === name);
    if (!section) problems.push(`hook ${name} has no "### \`${name}\`" section`);
    else if (section.kind === undefined) problems.push(`hook ${name}: no "Kind: … · Previous: … · Next: …" line`);
    else if (section.kind !== kind) problems.push(`hook ${name}: documented as ${section.kind}, is ${kind}`);
  }
  for (const [name, n] of counts) {
    if (!hooks.has(name)) problems.push(`section "### \`${name}\`" names no hook`);
    if (n > 1) problems.push(`section "### \`${name}\`" appears ${n} times`);
  }
  // Code and prose that use a hook (`hooks.name.tap…`) must use a real one (a path such
  // as core/hooks.ts is no use of a hook).
  for (const m of doc.matchAll(/(?<![\w/])hooks\.(\w+)/g)) {
    if (!hooks.has(m[1]!)) problems.push(`"hooks.${m[1]}" names no hook`);
  }
  return [...new Set(problems)];
}

/** The field names of `export interface <name> { … }` in TypeScript source `text`. */
function interfaceFields(text: string, name: string): string[] {
  const start = text.search(new RegExp(`^export interface ${name}\\b[^{]*\\{`, 'm'));
  if (start < 0) throw new Error(`no interface ${name}`);
  const body = text.slice(text.indexOf('{', start) + 1, text.indexOf('\n}', start));
  return [...body.matchAll(/^\s*(?:readonly\s+)?(\w+)\??\s*:/gm)].map((m) => m[1]!);
}

/** The first column of the table under `heading` (up to the next heading), unquoted. */
function tableNames(doc: string, heading: string): string[] {
  const at = doc.indexOf(`\n${heading}\n`);
  if (at < 0) return [];
  const rest = doc.slice(at + heading.length + 2);
  const end = rest.search(/^#/m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]!);
}

/** Every problem between the NodeView interface and the policy docs' field table. */
function checkNodeViewDocs(doc: string, fields: readonly string[]): string[] {
  const listed = tableNames(doc, '### NodeView fields');
  const problems = fields.filter((f) => !listed.includes(f)).map((f) => `NodeView.${f} is not in "### NodeView fields"`);
  for (const f of listed) if (!fields.includes(f)) problems.push(`"### NodeView fields" lists ${f}, which NodeView has not`);
  return problems;
}

const hooks = catalogue(createHooks());

const plugins = suite('docs/plugins.md: the hook catalogue');

plugins('every hook has its section with the right Kind, and no section or hooks.x names a hook that is not', () => {
  assert.ok(hooks.size >= 12, `catalogue read: ${[...hooks.keys()].join(', ')}`);
  assert.equal(checkHookDocs(PLUGINS_MD, hooks), []);
});

plugins('the sections follow the catalogue order', () => {
  const names = hookSections(PLUGINS_MD).map((s) => s.name);
  assert.equal(names, [...hooks.keys()]);
});

plugins('the checker reports a hook added to the catalogue without docs', () => {
  const more = catalogue({ ...createHooks(), beforeDial: new SyncHook(['ctx']) });
  assert.equal(checkHookDocs(PLUGINS_MD, more), ['hook beforeDial has no "### `beforeDial`" section']);
});

plugins('the checker reports docs of a hook that is gone, and a wrong kind', () => {
  const { nodeStateChanged: _gone, ...rest } = createHooks();
  const fewer = catalogue({ ...rest, listening: new AsyncSeriesHook(['addresses']) });
  const problems = checkHookDocs(PLUGINS_MD, fewer);
  assert.ok(problems.includes('section "### `nodeStateChanged`" names no hook'), problems.join('\n'));
  assert.ok(problems.includes('"hooks.nodeStateChanged" names no hook'), problems.join('\n'));
  assert.ok(problems.includes('hook listening: documented as SyncHook, is AsyncSeriesHook'), problems.join('\n'));
});

plugins('the checker reads a Kind line only in its own section', () => {
  const doc = '### `accept`\n\nno kind line here\n\n### `closed`\n\nKind: `SyncHook` · Previous: a · Next: b\n';
  assert.equal(hookSections(doc), [
    { name: 'accept', kind: undefined },
    { name: 'closed', kind: 'SyncHook' },
  ]);
});

const policies = suite('docs/policies.md: NodeView');

policies('every NodeView field is in the table, and the table lists no other', () => {
  const fields = interfaceFields(TYPES_TS, 'NodeView');
  assert.ok(fields.includes('id') && fields.includes('metrics'), `fields read: ${fields.join(', ')}`);
  assert.equal(checkNodeViewDocs(POLICIES_MD, fields), []);
});

policies('the checker reports a field added to NodeView without docs', () => {
  const fields = [...interfaceFields(TYPES_TS, 'NodeView'), 'queueDepth'];
  assert.equal(checkNodeViewDocs(POLICIES_MD, fields), ['NodeView.queueDepth is not in "### NodeView fields"']);
});

plugins.run();
policies.run();
