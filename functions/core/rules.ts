/**
 * The collector's rules as plain functions: what an outcome contains, whether a group is
 * complete. No I/O; `now` is always passed in.
 *
 * Two layers live here. `outcomeInput` and `allReported` are
 * the plain `Promise.all` rules the service calls today. `decideGroup` and the functions it is made
 * of (`policyOf`, `verdictOfCounts`, `extendedDeadline`, `recordingOrder`, `statusOf`) are the rules
 * for tolerated failures, quorum, cancel and deadline extension; for a plain group they
 * give today's outcome, plus `reason` on a failure.
 */
import type { GroupDefinition } from './events.ts';
import type { GroupStatus, StoredReport } from './model.ts';
import { cancelledMessage, type GroupOutcomeKind, type OutcomeInput, type OutcomeKind } from './outcome.ts';

/**
 * Decides what an outcome contains, from the definition and the members stored so far.
 * - success: every expected member, in `expected` order.
 * - member-failure: the failing member (result null) and every member stored before the decision.
 * - timeout (the deadline has passed): only reports stored before the deadline count, and what
 *   they say decides (guarantee 9): a stored error fails the group with that member's error (the
 *   earliest stored, then the first in `expected`); every member stored without error is a
 *   success; otherwise a timeout, whose `missing` is never empty.
 */
export function outcomeInput(args: {
  kind: OutcomeKind;
  definition: GroupDefinition;
  createdMs: number;
  deadlineMs: number;
  nowMs: number;
  members: StoredReport[];
  entity?: string;
  error?: string;
}): OutcomeInput {
  const { definition } = args;
  const atDeadline = args.kind === 'timeout';
  const byMember = new Map(
    args.members.filter((m) => !atDeadline || m.atMs < args.deadlineMs).map((m) => [m.member, m]),
  );
  const results: [string, string][] = [];
  const missing: string[] = [];
  let failed: StoredReport | undefined;
  for (const id of definition.expected) {
    const stored = byMember.get(id);
    if (!stored) {
      missing.push(id);
      continue;
    }
    results.push([id, stored.error !== undefined ? 'null' : stored.result]);
    if (stored.error !== undefined && (!failed || stored.atMs < failed.atMs)) failed = stored;
  }
  let kind = args.kind;
  let entity = args.entity;
  let error = args.error;
  if (atDeadline && failed) {
    kind = 'member-failure';
    entity = failed.member;
    error = failed.error;
  } else if (atDeadline && missing.length === 0) {
    kind = 'success';
  }
  return {
    kind,
    groupId: definition.id,
    createdMs: args.createdMs,
    resolvedMs: args.nowMs,
    results,
    payload: definition.payload,
    ttlSeconds: definition.ttlSeconds,
    reasons: true,
    ...(kind === 'member-failure' ? { entity, error } : {}),
    ...(kind === 'timeout' ? { missing } : {}),
  };
}

/** True when every expected member has a stored report without error. */
export function allReported(definition: GroupDefinition, members: StoredReport[]): boolean {
  const ok = new Set(members.filter((m) => m.error === undefined).map((m) => m.member));
  return definition.expected.every((id) => ok.has(id));
}

/** How a group decides, from its definition. */
export interface Policy {
  /** n: the members expected. */
  members: number;
  /** Errors the group survives: it fails at the first error beyond them. */
  tolerate: number;
  /** Successes that decide it at once; undefined: it succeeds only when every member reported. */
  quorum: number | undefined;
}

export function policyOf(definition: GroupDefinition): Policy {
  return {
    members: definition.expected.length,
    tolerate: definition.tolerate ?? 0,
    quorum: definition.quorum,
  };
}

/** A group without `tolerate` or `quorum`: `Promise.all`, whose outcomes keep their pre-issue-20 shape. */
export const isPlain = (definition: GroupDefinition): boolean =>
  definition.tolerate === undefined && definition.quorum === undefined;

/**
 * What a group's counts decide, for the service to test after each counted report (and for
 * `decideGroup`): more errors than tolerated fail it; a quorum of successes, or every member
 * reported within the tolerance, succeeds it. Errors are tested first: one report changes one
 * count, so from an open group at most one condition can become true.
 */
export function verdictOfCounts(
  policy: Policy,
  counts: { succeeded: number; failed: number },
): 'open' | 'too-many-errors' | 'quorum' | 'complete' {
  if (counts.failed > policy.tolerate) return 'too-many-errors';
  if (policy.quorum !== undefined && counts.succeeded >= policy.quorum) return 'quorum';
  if (counts.succeeded + counts.failed >= policy.members) return 'complete';
  return 'open';
}

/**
 * A group's deadline after an Extend stored at `atMs`: the later of the current deadline and
 * `atMs + ttl`, never beyond `created + maxTtl` (and never earlier than it was). An Extend at or
 * after the deadline is late. A redelivered Extend (same `atMs`) gives the same deadline again.
 */
export function extendedDeadline(
  group: { createdMs: number; deadlineMs: number; maxTtlSeconds: number },
  extend: { atMs: number; ttlSeconds: number },
): { late: true } | { late: false; deadlineMs: number } {
  if (extend.atMs >= group.deadlineMs) return { late: true };
  const wanted = Math.min(
    extend.atMs + extend.ttlSeconds * 1000,
    group.createdMs + group.maxTtlSeconds * 1000,
  );
  return { late: false, deadlineMs: Math.max(group.deadlineMs, wanted) };
}

/** An event of a group's life, as stored (`atMs`: when it was stored). */
export type GroupEvent =
  | { kind: 'report'; report: StoredReport }
  | { kind: 'cancel'; atMs: number; message: string | undefined }
  | { kind: 'extend'; atMs: number; ttlSeconds: number };

const atMsOf = (event: GroupEvent): number => (event.kind === 'report' ? event.report.atMs : event.atMs);

/**
 * The order in which a store that keeps only stored times recorded a group's events: by stored
 * time; at the same millisecond reports first, in `expected` order (as `outcomeInput` picks the
 * first error), then Extends, then Cancels (a group completed in the same millisecond as its
 * Cancel stays completed). Stable otherwise.
 */
export function recordingOrder(definition: GroupDefinition, events: readonly GroupEvent[]): GroupEvent[] {
  const index = new Map(definition.expected.map((m, i) => [m, i]));
  const rank = (e: GroupEvent) =>
    e.kind === 'report' ? (index.get(e.report.member) ?? index.size) : e.kind === 'extend' ? 1e9 : 2e9;
  return events
    .map((event, position) => ({ event, position }))
    .sort(
      (x, y) => atMsOf(x.event) - atMsOf(y.event) || rank(x.event) - rank(y.event) || x.position - y.position,
    )
    .map(({ event }) => event);
}

/** A group's life so far: what the Create fixed, and every event stored for it, in recording order. */
export interface GroupHistory {
  definition: GroupDefinition;
  createdMs: number;
  /** The deployment's largest ttl: no Extend takes a group beyond `created + maxTtl`. */
  maxTtlSeconds: number;
  /** In the order recorded (see `recordingOrder`), early ones (before the Create) included. */
  events: readonly GroupEvent[];
  /**
   * The deadline in force when the store keeps it with its Extends already applied (then `events`
   * holds no Extend); absent: `created + ttl`, moved by the Extends in `events`.
   */
  deadlineMs?: number;
}

/** What a group's history says at a moment. */
export type GroupVerdict =
  | { status: 'open'; deadlineMs: number }
  | {
      status: 'decided';
      outcome: OutcomeInput<GroupOutcomeKind>;
      /** The deadline in force when it was decided. */
      deadlineMs: number;
      /** The index of the event that decided the group, or `deadline` when its deadline passed first. */
      decidedBy: number | 'deadline';
      /** Events from this index on came after the decision: late (guarantee 7). */
      lateFrom: number;
    };

/**
 * The one outcome of a group, or "still open", from its history and `nowMs`:
 * - reports count in the order recorded; the first report of a member counts, repeats and members
 *   the group does not expect do not;
 * - more than `tolerate` errors fail the group at once (`entity`: the member whose error crossed the
 *   line); `quorum` successes, or every member reported within the tolerance, succeed it;
 * - a Cancel fails it at once (`reason: cancelled`), with what was collected and who is missing;
 * - an Extend moves the deadline (`extendedDeadline`);
 * - the first event stored at or after the deadline in force is late, and so is everything after
 *   it: the group timed out at its deadline with what was stored before it. With nothing late, a
 *   group still open when `nowMs` reaches the deadline times out too.
 * Which condition is reached first depends on the order of the events, as with `Promise.any`;
 * a decision never changes when more events are appended (every later one is late).
 * For a plain group (no `tolerate`, no `quorum`) with reports only, the outcome is `outcomeInput`'s
 * for the same reports, plus `reason` on a failure.
 */
export function decideGroup(history: GroupHistory, nowMs: number): GroupVerdict {
  const { definition, createdMs, events } = history;
  const policy = policyOf(definition);
  const expected = new Set(definition.expected);
  const stored = new Map<string, StoredReport>();
  let succeeded = 0;
  let failed = 0;
  let deadlineMs = history.deadlineMs ?? createdMs + definition.ttlSeconds * 1000;
  const decided = (
    kind: GroupOutcomeKind,
    decidedBy: number | 'deadline',
    lateFrom: number,
    failure?: { entity?: string; error: string },
  ): GroupVerdict => ({
    status: 'decided',
    deadlineMs,
    decidedBy,
    lateFrom,
    outcome: groupOutcome({ kind, definition, createdMs, deadlineMs, nowMs, stored, ...failure }),
  });
  for (const [i, event] of events.entries()) {
    if (atMsOf(event) >= deadlineMs) return decided('timeout', 'deadline', i);
    if (event.kind === 'extend') {
      const extended = extendedDeadline(
        { createdMs, deadlineMs, maxTtlSeconds: history.maxTtlSeconds },
        event,
      );
      if (!extended.late) deadlineMs = extended.deadlineMs;
      continue;
    }
    if (event.kind === 'cancel')
      return decided('cancelled', i, i + 1, { error: cancelledMessage(event.message) });
    const { report } = event;
    if (!expected.has(report.member) || stored.has(report.member)) continue;
    stored.set(report.member, report);
    if (report.error === undefined) succeeded++;
    else failed++;
    const verdict = verdictOfCounts(policy, { succeeded, failed });
    if (verdict === 'too-many-errors') {
      return decided('member-failure', i, i + 1, { entity: report.member, error: report.error ?? '' });
    }
    if (verdict !== 'open') return decided('success', i, i + 1);
  }
  if (nowMs >= deadlineMs) return decided('timeout', 'deadline', events.length);
  return { status: 'open', deadlineMs };
}

/**
 * What a Cancel of an open group publishes: `reason: cancelled`, error "Cancelled" (with the Cancel's
 * message), the members stored so far (a failed one as `null`) and who is missing; `errors` for a
 * group with `tolerate` or `quorum`.
 */
export function cancelledInput(args: {
  definition: GroupDefinition;
  createdMs: number;
  deadlineMs: number;
  nowMs: number;
  members: readonly StoredReport[];
  message: string | undefined;
}): OutcomeInput<GroupOutcomeKind> {
  return groupOutcome({
    kind: 'cancelled',
    definition: args.definition,
    createdMs: args.createdMs,
    deadlineMs: args.deadlineMs,
    nowMs: args.nowMs,
    stored: new Map(args.members.map((m) => [m.member, m])),
    error: cancelledMessage(args.message),
  });
}

/** The status a decided group takes for each outcome kind. */
export function statusOf(kind: GroupOutcomeKind): Exclude<GroupStatus, 'open'> {
  return STATUS_OF[kind];
}
const STATUS_OF = {
  success: 'succeeded',
  'member-failure': 'failed',
  timeout: 'timedout',
  cancelled: 'cancelled',
} as const satisfies Record<GroupOutcomeKind, GroupStatus>;

/**
 * What a decided outcome contains: a success lists the members that succeeded; a failure
 * every member stored, failed ones as `null`; `errors` when a group with `tolerate` or `quorum` has
 * any; `missing` on a timeout, a cancel and a quorum's success.
 */
function groupOutcome(args: {
  kind: GroupOutcomeKind;
  definition: GroupDefinition;
  createdMs: number;
  deadlineMs: number;
  nowMs: number;
  stored: ReadonlyMap<string, StoredReport>;
  entity?: string;
  error?: string;
}): OutcomeInput<GroupOutcomeKind> {
  const { kind, definition, stored } = args;
  const results: [string, string][] = [];
  const errors: [string, string][] = [];
  const missing: string[] = [];
  for (const id of definition.expected) {
    const report = stored.get(id);
    if (!report) missing.push(id);
    else if (report.error === undefined) results.push([id, report.result]);
    else {
      errors.push([id, report.error]);
      if (kind !== 'success') results.push([id, 'null']);
    }
  }
  const withMissing =
    kind === 'timeout' || kind === 'cancelled' || (kind === 'success' && definition.quorum !== undefined);
  return {
    kind,
    groupId: definition.id,
    createdMs: args.createdMs,
    resolvedMs: args.nowMs,
    results,
    payload: definition.payload,
    ttlSeconds: Math.round((args.deadlineMs - args.createdMs) / 1000),
    reasons: true,
    ...(kind === 'member-failure' ? { entity: args.entity, error: args.error } : {}),
    ...(kind === 'cancelled' ? { error: args.error } : {}),
    ...(withMissing ? { missing } : {}),
    ...(!isPlain(definition) && errors.length > 0 ? { errors } : {}),
  };
}
