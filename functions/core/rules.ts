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
 * - timeout: the members that reported before the deadline, and the rest as `missing`.
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
  const { kind, definition, members } = args;
  const byMember = new Map(members.map((m) => [m.member, m]));
  const results: [string, string][] = [];
  const missing: string[] = [];
  for (const id of definition.expected) {
    const stored = byMember.get(id);
    const counted = stored && (kind !== 'timeout' || stored.atMs < args.deadlineMs);
    if (!counted) {
      missing.push(id);
      continue;
    }
    results.push([id, stored.error !== undefined ? 'null' : stored.result]);
  }
  return {
    kind,
    groupId: definition.id,
    createdMs: args.createdMs,
    resolvedMs: args.nowMs,
    results,
    payload: definition.payload,
    ttlSeconds: definition.ttlSeconds,
    ...(kind === 'member-failure' ? { entity: args.entity, error: args.error } : {}),
    ...(kind === 'timeout' ? { missing } : {}),
  };
}

/** True when every expected member has a stored report without error. */
export function allReported(definition: GroupDefinition, members: StoredReport[]): boolean {
  const ok = new Set(members.filter((m) => m.error === undefined).map((m) => m.member));
  return definition.expected.every((id) => ok.has(id));
}
