/**
 * The collector's rules as plain functions: keys, shards, deadlines, what an
 * outcome contains. No I/O; `now` is always passed in.
 */
import { LAYOUT, TABLE } from '#shared/config.ts';
import { fnv1a } from './canonical.ts';
import type { GroupDefinition } from './events.ts';
import type { OutcomeInput, OutcomeKind } from './outcome.ts';

export const keys = {
  definition: (groupId: string) => ({ pk: `G#${groupId}`, sk: 'DEF' }),
  state: (groupId: string) => ({ pk: `G#${groupId}`, sk: 'STATE' }),
  outcome: (groupId: string, chunk: number) => ({ pk: `G#${groupId}`, sk: `OUT#${chunk}` }),
  counter: (groupId: string, shard: number) => ({ pk: `G#${groupId}#C${shard}`, sk: 'C' }),
  member: (groupId: string, member: string) => ({
    pk: memberPartition(groupId, fnv1a(member) % LAYOUT.memberBuckets),
    sk: `M#${member}`,
  }),
};

export const memberPartition = (groupId: string, bucket: number) => `G#${groupId}#M${bucket}`;
export const memberBuckets = () => Array.from({ length: LAYOUT.memberBuckets }, (_, b) => b);
/** The buckets that can hold reports of these members: a group of 3 reads at most 3 partitions, not 8. */
export const bucketsOf = (members: readonly string[]) =>
  [...new Set(members.map((m) => fnv1a(m) % LAYOUT.memberBuckets))].sort((a, b) => a - b);

/** The deadline index partition of a group: spread so that many deadlines in one second share no key. */
export const deadlineShard = (id: string) => `D#${fnv1a(id) % TABLE.deadlineIndex.shards}`;
export const deadlineShards = () => Array.from({ length: TABLE.deadlineIndex.shards }, (_, s) => `D#${s}`);

export const shardCount = (members: number) => Math.ceil(members / LAYOUT.counterShardSize);
export const shardOf = (index: number) => Math.floor(index / LAYOUT.counterShardSize);
export const shardCapacity = (shard: number, members: number) =>
  Math.min(LAYOUT.counterShardSize, members - shard * LAYOUT.counterShardSize);

export const epochSeconds = (ms: number) => Math.ceil(ms / 1000);

/** Timing of a new group: created now, deadline after ttl. */
export function groupTimes(definition: GroupDefinition, nowMs: number, retentionSeconds: number) {
  const deadlineMs = nowMs + definition.ttlSeconds * 1000;
  return {
    createdMs: nowMs,
    deadlineMs,
    /** The STATE item expires at the deadline: TTL then removes an open group (the TTL path). */
    stateExpiresAt: epochSeconds(deadlineMs),
    /** Definition, counters and members outlive any decision on the group. */
    dataExpiresAt: epochSeconds(deadlineMs) + retentionSeconds + LAYOUT.definitionMarginSeconds,
  };
}

/** A stored member report, as the decision needs it. */
export interface StoredMember {
  member: string;
  result: string;
  error: string | undefined;
  atMs: number;
}

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
  members: StoredMember[];
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
export function allReported(definition: GroupDefinition, members: StoredMember[]): boolean {
  const ok = new Set(members.filter((m) => m.error === undefined).map((m) => m.member));
  return definition.expected.every((id) => ok.has(id));
}

/** Splits outcome bytes into chunks that each fit one DynamoDB item. */
export function chunk(bytes: Uint8Array, size: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size)
    chunks.push(bytes.subarray(offset, offset + size));
  return chunks.length > 0 ? chunks : [new Uint8Array()];
}
