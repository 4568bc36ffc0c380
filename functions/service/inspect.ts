/**
 * A group as an operator needs to see it: its status, when it was created and
 * when it is due, who reported and who is missing, the errors so far, reports still waiting for
 * a group that does not exist yet, and the outcome with whether it was published.
 *
 * Read-only: a handful of strongly consistent reads, results not loaded (the outcome is, when
 * decided). It needs DynamoDB access to the collector's table, so it lives apart from the
 * Kafka client (`client/`).
 */
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { GroupState } from '#core/model.ts';
import {
  checkStoredSignature,
  type OutcomeVerifyingKeys,
  parseOutcomeKeys,
  type StoredSignatureCheck,
} from '#core/signing.ts';
import { LIMITS } from '#shared/config.ts';
import { dynamoClient } from '#shared/dynamo.ts';
import { GroupStore } from '#store/group-store.ts';
import { storedOutcome } from './outcomes.ts';

/** What an operator sees of a group's status (the stored `timedout` is spelled `timed-out`). */
export type InspectedStatus = 'open' | 'succeeded' | 'failed' | 'cancelled' | 'timed-out' | 'unknown';

export interface GroupInspection {
  group: string;
  /** `unknown`: no group of this id is stored (never created, or removed after its retention). */
  status: InspectedStatus;
  /** ISO-8601 times; absent when the group is unknown. */
  created?: string;
  deadline?: string;
  /** Whether the deadline has passed at `inspectedAt` (an open group past it is about to time out). */
  overdue?: boolean;
  resolved?: string;
  counts: { expected: number; reported: number; succeeded: number; failed: number; waitingEarly: number };
  /** Expected members with no stored report, in the order of `expected`. */
  missing: string[];
  /** Member id → error message, for members that reported an error. */
  errors: Record<string, string>;
  /** Reports stored before their group exists (or whose adoption is under way), with when they arrived. */
  early: { member: string; at: string }[];
  /** Where the outcome goes. */
  outcomeTopic?: string;
  /** Whether the decided outcome was published (acknowledged by the broker). */
  published?: boolean;
  /** When it was first acknowledged (ISO-8601), once published. */
  publishedAt?: string;
  /** The outcome exactly as published (parsed JSON), once decided. */
  outcome?: unknown;
  /**
   * Once decided: the signature stored with the decision (every copy of the outcome carries it),
   * checked against the outcome bytes with the public keys given (`outcomeKeys`).
   */
  signature?: StoredSignatureCheck;
  inspectedAt: string;
}

export interface InspectOptions {
  /** The collector's table (the stack's `TableName` output; locally `eventbus-group-collector`). */
  tableName: string;
  /** A client to use; otherwise one is built for `endpoint` (DynamoDB Local) or the AWS default chain. */
  dynamodb?: DynamoDBClient;
  endpoint?: string;
  region?: string;
  /** The time to judge the deadline against (epoch ms; default now). */
  nowMs?: number;
  /**
   * The collector's outcome public keys (`kid:x`, as the stack output `OutcomePublicKeys` and
   * `npm start` print them; comma-separated or several): the stored signature is checked with them.
   */
  outcomeKeys?: readonly string[];
}

const STATUS: Record<GroupState['status'], InspectedStatus> = {
  open: 'open',
  succeeded: 'succeeded',
  failed: 'failed',
  cancelled: 'cancelled',
  timedout: 'timed-out',
};

const iso = (ms: number) => new Date(ms).toISOString();

/** Reads one group from the collector's table. */
export async function inspectGroup(groupId: string, options: InspectOptions): Promise<GroupInspection> {
  // Parsed first: a wrong key is refused before any read (SigningKeyError).
  const keys = options.outcomeKeys?.length ? parseOutcomeKeys(options.outcomeKeys) : undefined;
  const client = options.dynamodb ?? dynamoClient({ endpoint: options.endpoint, region: options.region });
  try {
    const store = new GroupStore(client, { tableName: options.tableName, retentionSeconds: 0 });
    return await inspectWith(store, groupId, options.nowMs ?? Date.now(), keys);
  } finally {
    if (!options.dynamodb) client.destroy();
  }
}

/** The same, on a store the caller holds (the collector's runtime, tests). */
export async function inspectWith(
  store: GroupStore,
  groupId: string,
  nowMs: number,
  outcomeKeys?: OutcomeVerifyingKeys,
): Promise<GroupInspection> {
  const [group, state, stored] = await Promise.all([
    store.getGroup(groupId),
    store.getState(groupId),
    store.storedReportsOf(groupId),
  ]);
  const expected = group?.definition.expected ?? [];
  const expectedSet = new Set(expected);
  const counted = stored.filter((r) => !r.early && expectedSet.has(r.member));
  const early = stored.filter((r) => r.early).sort((a, b) => a.atMs - b.atMs);
  const reported = new Set(
    [...counted, ...early.filter((r) => expectedSet.has(r.member))].map((r) => r.member),
  );
  // No prototype: a member called `__proto__` is an own key like any other (on `{}` its assignment is lost).
  const errors: Record<string, string> = Object.create(null);
  for (const r of counted) if (r.error !== undefined) errors[r.member] = r.error;
  const deadlineMs = state?.deadlineMs ?? group?.deadlineMs;
  const createdMs = group?.createdMs ?? state?.createdMs;
  let outcome: unknown;
  let signature: StoredSignatureCheck | undefined;
  if (state && state.status !== 'open' && (state.outcomeParts !== undefined || state.outcomeInput)) {
    // Built from reports only (no Extend in the fold): the ttl bound plays no part.
    const bytes = await storedOutcome(store, state, {
      maxOutcomeBytes: 0,
      maxTtlSeconds: LIMITS.maxTtlSeconds,
    });
    outcome = JSON.parse(Buffer.from(bytes).toString('utf8'));
    signature = checkStoredSignature(outcomeKeys, {
      topic: state.outcomeTopic ?? group?.outcomeTopic ?? '',
      key: groupId,
      value: bytes,
      signature: state.signature,
    });
  }
  return {
    group: groupId,
    status: state ? STATUS[state.status] : 'unknown',
    ...(createdMs === undefined ? {} : { created: iso(createdMs) }),
    ...(deadlineMs === undefined ? {} : { deadline: iso(deadlineMs), overdue: nowMs >= deadlineMs }),
    ...(state?.resolvedMs === undefined ? {} : { resolved: iso(state.resolvedMs) }),
    counts: {
      expected: expected.length,
      reported: reported.size,
      succeeded: counted.filter((r) => r.error === undefined).length,
      failed: counted.filter((r) => r.error !== undefined).length,
      waitingEarly: early.length,
    },
    missing: expected.filter((m) => !reported.has(m)),
    errors,
    early: early.map((r) => ({ member: r.member, at: iso(r.atMs) })),
    ...(group || state ? { outcomeTopic: state?.outcomeTopic ?? group?.outcomeTopic } : {}),
    ...(state && state.status !== 'open' ? { published: state.published } : {}),
    ...(state?.publishedMs === undefined ? {} : { publishedAt: iso(state.publishedMs) }),
    ...(outcome === undefined ? {} : { outcome }),
    ...(signature === undefined ? {} : { signature }),
    inspectedAt: iso(nowMs),
  };
}

/** The inspection as lines for a person (the command line's default output). */
export function formatInspection(view: GroupInspection): string {
  const lines = [
    `group      ${view.group}`,
    `status     ${view.status}${view.overdue && view.status === 'open' ? ' (deadline passed: timing out)' : ''}`,
  ];
  if (view.created) lines.push(`created    ${view.created}`);
  if (view.deadline) lines.push(`deadline   ${view.deadline}`);
  if (view.resolved) lines.push(`resolved   ${view.resolved}`);
  const c = view.counts;
  lines.push(
    `reported   ${c.reported} of ${c.expected} (${c.succeeded} succeeded, ${c.failed} failed)${c.waitingEarly ? `; ${c.waitingEarly} early` : ''}`,
  );
  if (view.missing.length > 0) lines.push(`missing    ${view.missing.join(', ')}`);
  for (const [member, error] of Object.entries(view.errors)) lines.push(`error      ${member}: ${error}`);
  for (const e of view.early) lines.push(`early      ${e.member} (stored ${e.at})`);
  if (view.outcomeTopic) lines.push(`topic      ${view.outcomeTopic}`);
  if (view.published !== undefined) {
    lines.push(`published  ${view.published ? (view.publishedAt ?? 'yes') : 'not yet'}`);
  }
  if (view.signature) lines.push(`signature  ${signatureLine(view.signature)}`);
  if (view.outcome !== undefined) lines.push(`outcome    ${JSON.stringify(view.outcome)}`);
  return lines.join('\n');
}

/** The stored signature's check in words. */
export function signatureLine(check: StoredSignatureCheck): string {
  switch (check.verified) {
    case 'valid':
      return `valid (key ${check.keyId})`;
    case 'invalid':
      return `INVALID: does not verify with key ${check.keyId}`;
    case 'unknown-key':
      return `key ${check.keyId} is not among the outcome keys given`;
    case 'not-checked':
      return `key ${check.keyId}, not checked (no outcome keys given)`;
    case 'not-stored':
      return 'none stored (decided with signing off)';
  }
}
