/**
 * What an algorithm or policy may answer, and the caps on what its failures may write.
 *
 * A pick must answer one candidate's id: a string of at most `MAX_ANSWER_LENGTH`
 * characters. Anything else (a number, NaN, undefined, an object, a 20 MB string) is a bad
 * answer, described in a few words: the description never holds more than
 * `ANSWER_SHOWN` characters of what was answered, so a bad answer cannot bloat a log line.
 *
 * The sandbox checks the type and the length inside the isolate, before anything is copied
 * out (core/sandbox-prelude.ts holds the same rules in the isolate's JavaScript); the
 * guard (core/guard.ts) checks the candidate here. Both use the words below.
 */

/** The longest answer taken as a node id, in characters. */
export const MAX_ANSWER_LENGTH = 1024;
/** The most characters of an error's text kept for logs and status (1 KiB). */
export const MAX_ERROR_TEXT = 1024;
/** The most characters of a whole error line: the text, its `file:line:column` and the cut mark. */
export const MAX_ERROR_LINE = MAX_ERROR_TEXT + 256;
/** The most characters of an answer quoted in a description. */
export const ANSWER_SHOWN = 64;

/** `text` cut to `max` characters, marked with an ellipsis when cut. */
export function capText(text: string, max = MAX_ERROR_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

/** A string quoted as JSON, cut to `ANSWER_SHOWN` characters first. */
export function quote(text: string): string {
  return JSON.stringify(text.length <= ANSWER_SHOWN ? text : `${text.slice(0, ANSWER_SHOWN)}…`);
}

/**
 * A few words for an answer that is no node id (never its whole content). The isolate's
 * twin (sandbox-prelude.ts) gives the same words for the same values.
 */
export function describeAnswer(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'string':
      return value.length > MAX_ANSWER_LENGTH
        ? `a string of ${value.length} characters (the limit is ${MAX_ANSWER_LENGTH})`
        : quote(value);
    case 'number':
      return `the number ${String(value)}`;
    case 'boolean':
      return `the boolean ${String(value)}`;
    case 'bigint':
      return 'a bigint';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      try {
        return Array.isArray(value) ? 'an array' : 'an object';
      } catch {
        return 'an object'; // a revoked proxy
      }
  }
}

export type AnswerCheck = { ok: true; index: number } | { ok: false; problem: string; shown: string | undefined };

/**
 * Where `answer` is among `nodes`, or what is wrong with it. Never throws, whatever the
 * answer (proxies, getters and huge strings included: only `typeof` and `length` are read).
 * `shown` is the answer itself, capped, when it was a string: for the log's `answer` field.
 */
export function checkAnswer(answer: unknown, nodes: readonly { id: string }[]): AnswerCheck {
  if (typeof answer !== 'string') {
    return { ok: false, problem: `answered ${describeAnswer(answer)}, which is no node id (a string)`, shown: undefined };
  }
  if (answer.length > MAX_ANSWER_LENGTH) {
    return { ok: false, problem: `answered ${describeAnswer(answer)}, which is no node id`, shown: `${answer.slice(0, ANSWER_SHOWN)}…` };
  }
  for (let i = 0; i < nodes.length; i++) if (nodes[i]!.id === answer) return { ok: true, index: i };
  return { ok: false, problem: `answered ${quote(answer)}, which is no candidate`, shown: answer.length <= ANSWER_SHOWN ? answer : `${answer.slice(0, ANSWER_SHOWN)}…` };
}
