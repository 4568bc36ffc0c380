/**
 * The collector's rules as plain functions: what an outcome contains, whether a group is
 * complete. No I/O; `now` is always passed in.
 */
import type { GroupDefinition } from './events.ts';
import type { StoredReport } from './model.ts';
import type { OutcomeInput, OutcomeKind } from './outcome.ts';

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
    ...(kind === 'member-failure' ? { entity, error } : {}),
    ...(kind === 'timeout' ? { missing } : {}),
  };
}

/** True when every expected member has a stored report without error. */
export function allReported(definition: GroupDefinition, members: StoredReport[]): boolean {
  const ok = new Set(members.filter((m) => m.error === undefined).map((m) => m.member));
  return definition.expected.every((id) => ok.has(id));
}
