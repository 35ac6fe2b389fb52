/**
 * The guard around every algorithm instance: whatever the algorithm does, each choice
 * gets a candidate, soon.
 *
 * - A sandboxed algorithm (a DeferredChooser) runs off the event loop. A choice waits for
 *   its answer at most a short deadline: 5 ms (never more than `sandbox.cpuTimeout`). A
 *   late answer, a failure, or an isolate still busy with an earlier call: that choice
 *   takes a weighted rotation (the fallback), and nothing waits any longer. The deadline
 *   does not stretch for a slow algorithm: the event loop is shared by every listener, and
 *   a policy that takes 40 ms (or waits 40 ms) on every call would cost them all 40 ms a
 *   choice. A healthy call answers in 30-80 µs; 5 ms covers the scheduling of a busy machine.
 * - After a late answer or a call cut off by its time or memory limit, choices stop
 *   waiting at all (the calls go on in the background, their answers unused) until a call
 *   answers within the deadline again. So a loop costs the event loop one deadline, once.
 * - Failures in a row open a circuit breaker (core/circuit-breaker.ts): no more calls,
 *   a trial call now and then, nobody waiting for it.
 * - Each failure is reported by its cause, with at most 1 KiB of text; a bad answer is
 *   described in a few words, never copied whole into a log line.
 * An in-process algorithm (trusted, createInProcessRunner) is called directly, with the
 * same answer checks and breaker.
 */
import { isDeferred, type CallResult, type FailureCause, type PickRequest } from './algorithm-runner.ts';
import { CircuitBreaker, type Admission, type BreakerOptions } from './circuit-breaker.ts';
import { describeError } from './errors.ts';
import type { Logger } from './logger.ts';
import { capText, checkAnswer, MAX_ERROR_LINE } from './policy-answer.ts';
import type { Chooser, ClientView, NodeView } from './types.ts';

/** What the forwarding path calls: a node among the candidates, always one of them. */
export interface NodeChooser {
  choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N;
  /** The candidates best first, when the algorithm ranks (client-hash); else undefined. */
  rank<N extends NodeView>(nodes: readonly N[], client: ClientView): N[] | undefined;
  readonly health: AlgorithmHealth;
}

type CountedCause = Exclude<FailureCause, 'disposed'>;

/** How an algorithm instance is faring, for status reports (a snapshot). */
export interface AlgorithmHealth {
  /** `ok`; `broken`: choices use the fallback without asking it; `probing`: one trial call is running. */
  state: 'ok' | 'broken' | 'probing';
  /** True while broken or probing. */
  broken: boolean;
  /** Failed calls in a row (throws, time or memory limits, bad answers). */
  failuresInARow: number;
  totalFailures: number;
  /** Failed calls by cause: `cpu`, `deadline` (waiting), `memory`, `throw`, `answer`. */
  failures: Record<CountedCause, number>;
  /** Choices made by the fallback for any reason (failures, late answers, broken). */
  fallbackChoices: number;
  /** Answers that came after the choice's deadline (not failures: that choice used the fallback). */
  lateAnswers: number;
  /** The last failure's text, at most 1 KiB, with the user's `file:line:column` when known. */
  lastError: string | undefined;
  /** When the next trial call may run (ISO time), while broken. */
  nextTrial: string | undefined;
}

export interface GuardOptions extends BreakerOptions {
  /** The longest wait for an answer, ms (default 5; at most the algorithm's time limit). */
  deadline?: number;
  /**
   * Answers the choices the algorithm could not (late, failed, broken) instead of the
   * weighted rotation: the same trusted module run in this process, for an algorithm whose
   * answer must not depend on timing (client-hash: twins must place a client alike).
   */
  fallback?: Chooser;
}

const SLOW_CAUSES: ReadonlySet<FailureCause> = new Set(['cpu', 'deadline', 'memory']);
const LATE_LOG_EVERY = 60_000;

/**
 * Wraps a chooser so that a throw, a late or bad answer, or a broken algorithm falls back
 * to a weighted rotation over the candidates (smooth round robin), and is logged, instead
 * of failing or holding up the client. The answer is looked up here, so the caller gets
 * the node itself.
 */
export function guardChooser(inner: Chooser, logger: Logger, maxFailures = 5, options: GuardOptions = {}): NodeChooser {
  const rotation = weightedRotation();
  const breaker = new CircuitBreaker(maxFailures, options);
  const deferred = isDeferred(inner) ? inner : undefined;
  const deadline = Math.min(options.deadline ?? 5, deferred?.callLimit ?? 5);
  const failures: Record<CountedCause, number> = { cpu: 0, deadline: 0, memory: 0, throw: 0, answer: 0 };
  let totalFailures = 0;
  let fallbackChoices = 0;
  let lateAnswers = 0;
  let lastError: string | undefined;
  let lateLogged = -Infinity;
  /** Choices do not wait (a late answer or a time or memory failure, until an answer in time). */
  let slow = false;

  const stand = options.fallback;
  /** What answers when the algorithm cannot, for the log. */
  const instead = stand ? 'the same algorithm in this process' : 'a weighted rotation';
  /** `now`: a choice the algorithm missed now and then (not a broken one, which the weighted rotation takes whole). */
  const fallback = <N extends NodeView>(nodes: readonly N[], client: ClientView, now = true): N => {
    fallbackChoices++;
    if (stand) {
      try {
        const id = stand.pick(nodes, client);
        const node = nodes.find((n) => n.id === id);
        if (node) return node;
      } catch {
        // The stand-in failed too: the rotation answers.
      }
    }
    return (now ? deferred?.standIn?.(nodes) : undefined) ?? rotation(nodes);
  };
  const failed = (cause: CountedCause, error: string, answer?: string): void => {
    error = capText(error, MAX_ERROR_LINE);
    totalFailures++;
    failures[cause]++;
    lastError = error;
    if (SLOW_CAUSES.has(cause)) slow = true;
    const step = breaker.failure();
    const retry = Math.round((breaker.retryAt - Date.now()) / 1000);
    if (step === 'opened') {
      logger.error({ failures: breaker.failuresInARow, cause, err: error }, `algorithm is broken: every choice is made by ${instead}; it is tried again in ${retry} s`);
    } else if (step === 'still') {
      logger.warn({ cause, err: error }, `algorithm still broken; tried again in ${retry} s`);
    } else if (step === 'counted') {
      logger.error({ cause, err: error, ...(answer === undefined ? {} : { answer }) }, `algorithm failed; ${instead} makes this choice`);
    }
  };
  const succeeded = (ms: number): void => {
    if (ms < deadline) slow = false;
    if (breaker.success()) logger.info({}, 'algorithm works again');
  };
  /** Account for how a call ended; the node it chose when the answer is a candidate. */
  const settle = <N extends NodeView>(res: CallResult, nodes: readonly N[]): N | undefined => {
    if (!res.ok) {
      if (res.cause !== 'disposed') failed(res.cause, res.error);
      return undefined;
    }
    if (res.index !== undefined && nodes[res.index]?.id === res.id) {
      succeeded(res.ms);
      return nodes[res.index];
    }
    const check = checkAnswer(res.id, nodes);
    if (!check.ok) return failed('answer', check.problem, check.shown), undefined;
    succeeded(res.ms);
    return nodes[check.index];
  };
  /** The late call of an earlier choice, accounted once: when it is seen in, or when it settles. */
  let late: { poll: () => CallResult | undefined; nodes: readonly NodeView[]; done: boolean } | undefined;
  const track = (r: PickRequest, nodes: readonly NodeView[]): void => {
    const entry = { poll: r.poll ?? (() => undefined), nodes, done: false };
    late = entry;
    void r.later!.then((res) => {
      if (!entry.done) (entry.done = true), settle(res, nodes);
    });
  };
  const pollLate = (): void => {
    const entry = late;
    if (!entry || entry.done) return;
    const res = entry.poll();
    if (res) (entry.done = true), settle(res, entry.nodes);
  };
  const noteLate = (waited: number): void => {
    lateAnswers++;
    slow = true;
    if (Date.now() - lateLogged < LATE_LOG_EVERY) return;
    lateLogged = Date.now();
    logger.warn({ deadlineMs: Math.round(waited), lateAnswers }, `no answer from the algorithm within the choice deadline; such choices are made by ${instead} (logged once a minute)`);
  };
  const askDeferred = <N extends NodeView>(nodes: readonly N[], client: ClientView, admit: Admission): N => {
    if (slow) pollLate();
    const waitMs = admit === 'call' && !slow ? deadline : 0;
    let r: PickRequest;
    try {
      r = deferred!.request(nodes, client, waitMs);
    } catch (err) {
      r = { now: { ok: false, cause: 'throw', error: safeDescribe(err) } };
    }
    if (r.now) {
      const answered = settle(r.now, nodes);
      if (answered) return counted(nodes, answered, r.now.ok ? r.now.index : undefined);
      return counted(nodes, fallback(nodes, client), undefined);
    }
    if (r.later) {
      if (waitMs > 0) noteLate(waitMs);
      track(r, nodes);
    } else if (admit === 'trial') breaker.trialNotStarted();
    return counted(nodes, fallback(nodes, client), undefined);
  };
  const counted = <N extends NodeView>(nodes: readonly N[], node: N, index: number | undefined): N => {
    deferred!.chosen?.(nodes, node, index);
    return node;
  };
  const askNow = <N extends NodeView>(nodes: readonly N[], client: ClientView): N => {
    let answer: unknown;
    try {
      answer = inner.pick(nodes, client);
    } catch (err) {
      failed('throw', safeDescribe(err));
      return fallback(nodes, client);
    }
    return settle({ ok: true, id: answer as string, ms: 0 }, nodes) ?? fallback(nodes, client);
  };

  return {
    get health(): AlgorithmHealth {
      const state = breaker.state === 'closed' ? 'ok' : breaker.state === 'open' ? 'broken' : 'probing';
      return {
        state,
        broken: state !== 'ok',
        failuresInARow: breaker.failuresInARow,
        totalFailures,
        failures: { ...failures },
        fallbackChoices,
        lateAnswers,
        lastError,
        nextTrial: state === 'broken' ? new Date(breaker.retryAt).toISOString() : undefined,
      };
    },
    choose<N extends NodeView>(nodes: readonly N[], client: ClientView): N {
      const admit = breaker.admit();
      if (admit === 'skip') return deferred ? counted(nodes, fallback(nodes, client, false), undefined) : fallback(nodes, client, false);
      return deferred ? askDeferred(nodes, client, admit) : askNow(nodes, client);
    },
    rank<N extends NodeView>(nodes: readonly N[], client: ClientView): N[] | undefined {
      if (!inner.rank || breaker.state !== 'closed') return undefined;
      try {
        const order = inner.rank(nodes, client);
        const byId = new Map(nodes.map((n) => [n.id, n]));
        return order.map((id) => byId.get(id)).filter((n): n is N => n !== undefined);
      } catch (err) {
        logger.error({ err: capText(safeDescribe(err)) }, 'algorithm failed to rank');
        return undefined;
      }
    },
  };
}

function safeDescribe(err: unknown): string {
  try {
    return capText(describeError(err), MAX_ERROR_LINE);
  } catch {
    return 'a value that cannot be shown';
  }
}

/**
 * Smooth weighted round robin, kept in the core as the safe choice when an algorithm
 * fails: it needs no sandbox and honours load factors like every algorithm must.
 */
function weightedRotation(): <N extends NodeView>(nodes: readonly N[]) => N {
  const current = new Map<string, number>();
  return (nodes) => {
    let total = 0;
    let best = 0;
    let bestWeight = -Infinity;
    for (let i = 0; i < nodes.length; i++) {
      const weight = (current.get(nodes[i]!.id) ?? 0) + nodes[i]!.loadFactor;
      current.set(nodes[i]!.id, weight);
      total += nodes[i]!.loadFactor;
      if (weight > bestWeight) {
        bestWeight = weight;
        best = i;
      }
    }
    current.set(nodes[best]!.id, bestWeight - total);
    if (current.size > nodes.length * 4) current.clear();
    return nodes[best]!;
  };
}
