/**
 * The table's layout: its schema, the items of a group, their keys and attribute names,
 * and the stream filter that selects TTL deletions. Only functions/store reads this file
 * (the CDK stack and the local services import the schema and the filter to build the same table).
 * DESIGN.md "Items" describes each item.
 */
import { fnv1a } from '#core/canonical.ts';
import type { DueEntry } from '#core/model.ts';
import { DEFAULTS } from '#shared/config.ts';

/** DynamoDB table schema, shared by the stack, the local services and the store. */
export const TABLE = {
  defaultName: DEFAULTS.tableName,
  partitionKey: 'pk',
  sortKey: 'sk',
  /** TTL attribute: Unix epoch seconds (DynamoDB ignores any other format). */
  ttlAttribute: 'expiresAt',
  /** Sparse index of open deadlines, sharded so that many groups expiring at once share no hot key. */
  deadlineIndex: {
    name: 'deadlines',
    partitionKey: 'dlShard',
    sortKey: 'dlAt',
    shards: 16,
  },
  /** The stream carries old images: the TTL handler needs the removed item. */
  streamViewType: 'NEW_AND_OLD_IMAGES',
} as const;

/** Item kinds, stored in attribute `kind` so that stream filters can select them. */
export const ITEM_KINDS = {
  definition: 'def',
  state: 'state',
  outcome: 'out',
  member: 'member',
  lease: 'lease',
  /** A STATE key that holds only the count of events kept before any Create (`earlyN`, `hadEarly`): a stub, no group. */
  earlyCount: 'early-count',
  /** A page of a larger group's reports (functions/store/pages.ts). */
  page: 'page',
  /** A command of the group: a Cancel or an Extend (early ones kept until their group's Create). */
  command: 'cmd',
} as const;

/** Stored value of the STATE item's `status` while a group is open. */
export const OPEN = 'open';

/** Item layout constants: member items spread over buckets, counted in shards. */
export const LAYOUT = {
  /** Member reports of one group are spread over this many partition keys (no hot key for a large group). */
  memberBuckets: 8,
  /** A decided group's definition and members outlive its STATE by this margin, seconds. */
  definitionMarginSeconds: 86_400,
  /** DynamoDB's item size limit (400 KB) less a margin for the estimate. */
  maxItemBytes: 400 * 1024 - 1024,
  /** Outcome bytes are stored in chunks of this size (DynamoDB items are at most 400 KB). */
  outcomeChunkBytes: 300 * 1024,
  /**
   * A small group lives in one item: its STATE also holds the definition and the members'
   * reports, so a Create is one Put and a report one conditional UpdateItem that stores and counts it.
   * A write bills the whole item per started KB, so only small groups qualify: at most `maxMembers`
   * members and `maxDefinitionBytes` of member ids, payload and reply topic; a report whose result and
   * error exceed `maxInlineBytes` is stored in its own member item and only referenced from STATE.
   */
  single: { maxMembers: 8, maxDefinitionBytes: 1024, maxInlineBytes: 256 },
} as const;

/** Whether a group lives in one item (LAYOUT.single): decided by its definition alone, so every process agrees. */
export function isSingleItem(
  definition: { expected: readonly string[]; payload?: string; replyTo?: string },
  maxMembers: number = LAYOUT.single.maxMembers,
): boolean {
  if (definition.expected.length > maxMembers) return false;
  const bytes =
    definition.expected.reduce((sum, m) => sum + Buffer.byteLength(m) + 4, 0) +
    Buffer.byteLength(definition.payload ?? '') +
    Buffer.byteLength(definition.replyTo ?? '');
  return bytes <= LAYOUT.single.maxDefinitionBytes;
}

/**
 * The group's part of a partition key: its id prefixed with its length, so that no id can spell
 * another group's key (without it, group `g#M3`'s items would share a partition with group `g`'s
 * member bucket 3).
 */
const groupKey = (groupId: string) => `G#${groupId.length}:${groupId}`;

/** Sort key prefix of a group's Extend items (`CMD#extend#<origin>`), early or not. */
export const EXTEND_PREFIX = 'CMD#extend#';

/**
 * STATE attribute name prefix of a stored Extend: `ext:<topic>:<partition>:<offset>` = its first stored
 * time (epoch ms). The Extend is stored and put in force by the same write.
 */
export const EXTEND_ATTRIBUTE = 'ext:';

/** The partition holding a group's DEF, STATE and command items (for a Query of its early Extends). */
export const groupPartition = groupKey;

export const keys = {
  definition: (groupId: string) => ({ pk: groupKey(groupId), sk: 'DEF' }),
  state: (groupId: string) => ({ pk: groupKey(groupId), sk: 'STATE' }),
  /** A decision's outcome chunk: written before the conditional decision names `decision` as the winner. */
  outcome: (groupId: string, chunk: number, decision?: string) => ({
    pk: groupKey(groupId),
    sk: decision === undefined ? `OUT#${chunk}` : `OUT#${decision}#${chunk}`,
  }),
  /** A Cancel that arrived before its group's Create: no member can take this key (members are `M#…` in `#M<b>` partitions). */
  cancel: (groupId: string) => ({ pk: groupKey(groupId), sk: 'CMD#cancel' }),
  /** An Extend record's first stored time, by its origin: a redelivery finds it (the contract's "stored time"). */
  extend: (groupId: string, origin: string) => ({ pk: groupKey(groupId), sk: `${EXTEND_PREFIX}${origin}` }),
  member: (groupId: string, member: string) => ({
    pk: memberPartition(groupId, fnv1a(member) % LAYOUT.memberBuckets),
    sk: `M#${member}`,
  }),
  sweeperLease: () => ({ pk: 'L#sweeper', sk: 'LEASE' }),
};

/** What a deadline index entry's keys point at. */
export function entryOf(key: { pk: string; sk: string }): DueEntry | undefined {
  const groupId = groupIdOf(key.pk);
  if (groupId === undefined) return undefined;
  if (key.sk === 'STATE') return { kind: 'group', groupId };
  if (key.sk === 'CMD#cancel') return { kind: 'early-cancel', groupId };
  if (key.sk.startsWith(EXTEND_PREFIX))
    return { kind: 'early-extend', groupId, origin: key.sk.slice(EXTEND_PREFIX.length) };
  if (key.sk.startsWith('M#')) return { kind: 'early', groupId, member: key.sk.slice(2) };
  return undefined;
}

/** The group id a partition key belongs to (reads the length prefix). */
function groupIdOf(pk: string): string | undefined {
  const match = /^G#(\d+):/.exec(pk);
  if (!match?.[1]) return undefined;
  const start = match[0].length;
  return pk.slice(start, start + Number(match[1]));
}

export const memberPartition = (groupId: string, bucket: number) => `${groupKey(groupId)}#M${bucket}`;
export const memberBuckets = () => Array.from({ length: LAYOUT.memberBuckets }, (_, b) => b);
/** The buckets that can hold reports of these members: a group of 3 reads at most 3 partitions, not 8. */
export const bucketsOf = (members: readonly string[]) =>
  [...new Set(members.map((m) => fnv1a(m) % LAYOUT.memberBuckets))].sort((a, b) => a - b);

/** The deadline index partition of a group: spread so that many deadlines in one second share no key. */
export const deadlineShard = (id: string) => `D#${fnv1a(id) % TABLE.deadlineIndex.shards}`;
export const deadlineShards = () => Array.from({ length: TABLE.deadlineIndex.shards }, (_, s) => `D#${s}`);

/**
 * Page `n` of a larger group's reports: spread over `partitions` partition keys (no hot key for a
 * large group), keyed by the group's creation time too, so that a later group of the same id never
 * reads an earlier one's pages.
 */
export const pageKey = (groupId: string, createdMs: number, n: number, partitions: number) => ({
  pk: `${groupKey(groupId)}#P${createdMs}#${n % partitions}`,
  sk: `P#${n}`,
});

/** How many partition keys a group's pages use: one per 1,250 members, at most 8. */
export const pagePartitions = (members: number) => Math.max(1, Math.min(8, Math.ceil(members / 1250)));

export const epochSeconds = (ms: number) => Math.ceil(ms / 1000);

/** Splits outcome bytes into chunks that each fit one DynamoDB item. */
export function chunk(bytes: Uint8Array, size: number = LAYOUT.outcomeChunkBytes): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let offset = 0; offset < bytes.length; offset += size)
    chunks.push(bytes.subarray(offset, offset + size));
  return chunks.length > 0 ? chunks : [new Uint8Array()];
}

/**
 * Filter criteria for the DynamoDB stream event source mapping of the timeouts
 * function: TTL deletions (the DynamoDB service as `userIdentity`, lowercase as
 * Lambda delivers it) of an open group's STATE item or of an early report
 * whose group never arrived. Filters are OR-ed; keys inside one are AND-ed.
 * Used verbatim by the CDK stack and by the local stream emulator.
 */
export const TTL_STREAM_FILTERS: readonly Record<string, unknown>[] = [
  {
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: { OldImage: { kind: { S: [ITEM_KINDS.state] }, status: { S: [OPEN] } } },
  },
  {
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: { OldImage: { kind: { S: [ITEM_KINDS.member] }, early: { BOOL: [true] } } },
  },
  {
    // A Cancel or an Extend whose group was never created within the early-report wait.
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: { OldImage: { kind: { S: [ITEM_KINDS.command] }, early: { BOOL: [true] } } },
  },
  {
    // A decided group whose outcome was never published (its destination kept refusing it):
    // published from the stored bytes now, or the stream's retries end in its failure destination.
    eventName: ['REMOVE'],
    userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] },
    dynamodb: {
      OldImage: {
        kind: { S: [ITEM_KINDS.state] },
        status: { S: [{ 'anything-but': [OPEN] }] },
        published: { BOOL: [{ exists: false }] },
      },
    },
  },
];
