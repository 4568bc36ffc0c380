/**
 * The stored items of a group and their conversion to and from the domain (#core/model.ts).
 * Private to functions/store.
 */
import type {
  DecisionInput,
  EarlyCancel,
  EarlyClaim,
  EarlyExtend,
  EarlyReport,
  Group,
  GroupState,
  GroupStatus,
  RawRecord,
  SingleItemGroup,
  StoredReport,
} from '#core/model.ts';
import type { OutcomeSignature } from '#core/signing.ts';
import { deadlineShard, EXTEND_ATTRIBUTE, EXTEND_PREFIX, ITEM_KINDS, keys } from './layout.ts';

export interface DefinitionItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.definition;
  gid: string;
  expected: string[];
  ttlSeconds: number;
  payload?: string;
  replyTo?: string;
  /** Present only for a group that has them. */
  tolerate?: number;
  quorum?: number;
  outcomeTopic: string;
  defHash: string;
  createdMs: number;
  deadlineMs: number;
  expiresAt: number;
}

export interface StateItem {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.state;
  gid: string;
  status: GroupStatus;
  createdMs: number;
  deadlineMs: number;
  ttlSeconds: number;
  expiresAt: number;
  dlShard?: string;
  dlAt?: number;
  resolvedMs?: number;
  outcomeChunks?: number;
  /** The winning decision's id: its outcome chunks are `OUT#<id>#<n>`. */
  outcomeKey?: string;
  /** A small outcome's exact bytes, kept in STATE itself (no OUT item; `outcomeChunks` is 0). */
  outcome?: Uint8Array;
  /** A larger group's outcome is not stored: what it is built again from, with its pages. */
  oin?: DecisionInput;
  /** The outcome's signature, stored with the decision (GroupState.signature): key id and signature. */
  sig?: StoredSignature;
  outcomeTopic?: string;
  published?: boolean;
  /** When the outcome was first acknowledged by the broker (epoch ms). */
  publishedMs?: number;
  /** Publish lease: who may publish the decided outcome until when (see GroupState.publishClaim). */
  publishClaimBy?: string;
  publishClaimUntil?: number;
  /** Events were kept before the Create (GroupState.hadEarly): reports go through member items. */
  hadEarly?: boolean;
  /** Early events counted on this key before the Create (a stub has only these). */
  earlyN?: number;
  /** The early reports were adopted (committed) by the group: its reports may be committed. */
  adopted?: boolean;
  /** A larger group's committed report pages (functions/store/pages.ts), entries in them, errors among them. */
  pages?: number;
  reported?: number;
  failedCount?: number;
  /** Page numbers that hold nothing (never committable). */
  voids?: Set<number>;
  /** GroupState.tail, each entry with the token of the write that appended it. */
  tail?: { i: number; at: number; res: string; err?: string; by?: string }[];
  /** A single-item group's definition (LAYOUT.single): present only on such a group's STATE. */
  def?: SingleDefinition;
  /** A single-item group's reports by the member's position in `expected`: the first write of each wins (`if_not_exists`). */
  r?: Record<string, SingleEntry>;
}

/** The definition fields a single-item group keeps in its STATE (`deadlineMs`: the Create's; STATE's own moves). */
export interface SingleDefinition {
  expected: string[];
  ttlSeconds: number;
  payload?: string;
  replyTo?: string;
  tolerate?: number;
  quorum?: number;
  outcomeTopic: string;
  defHash: string;
  deadlineMs: number;
}

/** One member's report in a single-item group: inline, or `ref` to its own member item (too large). */
export interface SingleEntry {
  at: number;
  res?: string;
  err?: string;
  ref?: true;
  /** A referenced report that carries an error (counted without reading its item). */
  fail?: true;
}

/** What an item kept before its group's Create carries (a member report, a Cancel, an Extend). */
export interface EarlyFields {
  /** Who is handling the early item: the group's adoption, or its expiry (first to claim wins). */
  claim?: EarlyClaim;
  raw?: Uint8Array;
  rawKey?: Uint8Array;
  /** JSON text of `[name, base64 value][]`: header order and repeated names kept. */
  rawHeaders?: string;
  /** Origin of the raw record: topic, partition, offset. */
  srcTopic?: string;
  srcPartition?: number;
  srcOffset?: number;
  /** Deadline index keys while it waits. */
  dlShard?: string;
  dlAt?: number;
}

export interface MemberItem extends EarlyFields {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.member;
  gid: string;
  member: string;
  result: string;
  error?: string;
  atMs: number;
  expiresAt: number;
  early?: boolean;
}

/** A Cancel kept before its group's Create (`CMD#cancel`), with its raw record as an early report keeps it. */
export interface CancelItem extends EarlyFields {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.command;
  gid: string;
  /** The Cancel's message, if any. */
  message?: string;
  atMs: number;
  expiresAt: number;
  early: true;
}

/**
 * An Extend record's first stored time (`CMD#extend#<origin>`); an early one (before its group's
 * Create) also keeps its request and raw record, and sits in the deadline index until its wait ends.
 */
export interface ExtendItem extends EarlyFields {
  pk: string;
  sk: string;
  kind: typeof ITEM_KINDS.command;
  gid: string;
  atMs: number;
  expiresAt: number;
  ttlSeconds?: number;
  early?: true;
}

export function definitionItem(group: Group, expiresAt: number): DefinitionItem {
  const d = group.definition;
  return {
    ...keys.definition(d.id),
    kind: ITEM_KINDS.definition,
    gid: d.id,
    expected: d.expected,
    ttlSeconds: d.ttlSeconds,
    payload: d.payload,
    replyTo: d.replyTo,
    tolerate: d.tolerate,
    quorum: d.quorum,
    outcomeTopic: group.outcomeTopic,
    defHash: group.defHash,
    createdMs: group.createdMs,
    deadlineMs: group.deadlineMs,
    expiresAt,
  };
}

/** The group as created, from a DEF item or the `def` of a small group's STATE. */
export function groupOf(item: Omit<DefinitionItem, 'pk' | 'sk' | 'kind' | 'shards' | 'expiresAt'>): Group {
  return {
    definition: {
      id: item.gid,
      expected: item.expected,
      ttlSeconds: item.ttlSeconds,
      payload: item.payload,
      replyTo: item.replyTo,
      ...(item.tolerate === undefined ? {} : { tolerate: item.tolerate }),
      ...(item.quorum === undefined ? {} : { quorum: item.quorum }),
    },
    defHash: item.defHash,
    outcomeTopic: item.outcomeTopic,
    createdMs: item.createdMs,
    deadlineMs: item.deadlineMs,
  };
}

/** An open group's STATE: it expires at the deadline (the TTL path) and sits in the deadline index. */
export function openStateItem(group: Group, expiresAt: number): StateItem {
  const gid = group.definition.id;
  return {
    ...keys.state(gid),
    kind: ITEM_KINDS.state,
    gid,
    status: 'open',
    createdMs: group.createdMs,
    deadlineMs: group.deadlineMs,
    ttlSeconds: group.definition.ttlSeconds,
    expiresAt,
    dlShard: deadlineShard(gid),
    dlAt: group.deadlineMs,
  };
}

/** A small group's open STATE with its definition and no report yet (LAYOUT.single). */
export function singleStateItem(group: Group, expiresAt: number): StateItem {
  const d = group.definition;
  return {
    ...openStateItem(group, expiresAt),
    def: {
      expected: d.expected,
      ttlSeconds: d.ttlSeconds,
      payload: d.payload,
      replyTo: d.replyTo,
      tolerate: d.tolerate,
      quorum: d.quorum,
      outcomeTopic: group.outcomeTopic,
      defHash: group.defHash,
      deadlineMs: group.deadlineMs,
    },
    r: {},
  };
}

/** A report as a single-item group stores it: inline when small, otherwise a reference to its member item. */
export function singleEntryOf(report: StoredReport, inlineBytes: number): SingleEntry {
  const bytes = Buffer.byteLength(report.result) + Buffer.byteLength(report.error ?? '');
  if (bytes > inlineBytes) return refEntryOf(report.atMs, report.error !== undefined);
  return {
    at: report.atMs,
    res: report.result,
    ...(report.error === undefined ? {} : { err: report.error }),
  };
}

/** A reference to a report kept in its member item (`fail`: it carries an error). */
export const refEntryOf = (atMs: number, failed: boolean): SingleEntry => ({
  at: atMs,
  ref: true,
  ...(failed ? { fail: true } : {}),
});

/** Whether two entries are the same stored report (a write finds its own entry, or another report's). */
export const sameEntry = (a: SingleEntry | undefined, b: SingleEntry): boolean =>
  a !== undefined && a.at === b.at && a.res === b.res && a.err === b.err && a.ref === b.ref;

function singleOf(item: StateItem): SingleItemGroup | undefined {
  const def = item.def;
  if (!def) return undefined;
  const group = groupOf({ ...def, gid: item.gid, createdMs: item.createdMs });
  const reports: StoredReport[] = [];
  const referenced: SingleItemGroup['referenced'] = [];
  // Entries are keyed by the member's position in `expected` (an id is no safe map key).
  const entries = Object.entries(item.r ?? {});
  for (const [position, e] of entries) {
    const member = def.expected[Number(position)];
    if (member === undefined) continue;
    if (e.ref) referenced.push({ member, failed: e.fail === true, atMs: e.at });
    else reports.push({ member, result: e.res ?? 'null', error: e.err, atMs: e.at });
  }
  return { group, reports, referenced, count: entries.length };
}

/** An outcome signature as STATE stores it (short names: it is in every decided STATE). */
export interface StoredSignature {
  kid: string;
  s: string;
}

export const storedSignature = (signature: OutcomeSignature): StoredSignature => ({
  kid: signature.keyId,
  s: signature.signature,
});

export function stateOf(item: StateItem): GroupState {
  const single = singleOf(item);
  return {
    ...(single ? { single } : {}),
    ...(item.hadEarly ? { hadEarly: true } : {}),
    ...extendsOf(item),
    ...(item.pages !== undefined
      ? {
          pages: item.pages,
          reported: item.reported ?? 0,
          failedCount: item.failedCount ?? 0,
          ...(item.voids ? { voids: [...item.voids] } : {}),
          ...(item.tail?.length
            ? {
                tail: item.tail.map(({ i, at, res, err }) =>
                  err === undefined ? { i, at, res } : { i, at, res, err },
                ),
              }
            : {}),
          ...(item.adopted ? { adopted: true } : {}),
        }
      : {}),
    groupId: item.gid,
    status: item.status,
    createdMs: item.createdMs,
    deadlineMs: item.deadlineMs,
    ttlSeconds: item.ttlSeconds,
    published: item.published === true,
    publishedMs: item.publishedMs,
    outcomeTopic: item.outcomeTopic,
    resolvedMs: item.resolvedMs,
    outcomeParts: item.outcomeChunks,
    outcomeKey: item.outcomeKey,
    ...(item.oin ? { outcomeInput: item.oin } : {}),
    ...(item.sig ? { signature: { keyId: item.sig.kid, signature: item.sig.s } } : {}),
    outcomeInline: item.outcome,
    publishClaim:
      item.publishClaimUntil !== undefined
        ? { by: item.publishClaimBy ?? '', untilMs: item.publishClaimUntil }
        : undefined,
  };
}

export const reportOf = (item: MemberItem): StoredReport => ({
  member: item.member,
  result: item.result,
  error: item.error,
  atMs: item.atMs,
});

export function rawOfItem(item: MemberItem | CancelItem | ExtendItem): RawRecord {
  const headers = item.rawHeaders
    ? (JSON.parse(item.rawHeaders) as [string, string][]).map(([name, value]) => ({
        name,
        value: Buffer.from(value, 'base64'),
      }))
    : [];
  return {
    key: item.rawKey,
    value: item.raw ?? null,
    headers,
    origin:
      item.srcTopic !== undefined && item.srcPartition !== undefined && item.srcOffset !== undefined
        ? { topic: item.srcTopic, partition: item.srcPartition, offset: item.srcOffset }
        : undefined,
  };
}

export const earlyOf = (item: MemberItem): EarlyReport => ({
  report: { group: item.gid, member: item.member, result: item.result, error: item.error },
  atMs: item.atMs,
  raw: rawOfItem(item),
  claim: item.claim,
});

export const earlyCancelOf = (item: CancelItem): EarlyCancel => ({
  cancel: { group: item.gid, message: item.message },
  atMs: item.atMs,
  raw: rawOfItem(item),
  claim: item.claim,
});

export const earlyExtendOf = (item: ExtendItem): EarlyExtend => ({
  extend: { group: item.gid, ttlSeconds: item.ttlSeconds ?? 0 },
  origin: item.sk.slice(EXTEND_PREFIX.length),
  atMs: item.atMs,
  raw: rawOfItem(item),
  claim: item.claim,
});

/** The raw record's fields as an early item stores them. */
export function rawFields(raw: RawRecord) {
  return {
    raw: raw.value ?? new Uint8Array(),
    rawKey: raw.key,
    rawHeaders: JSON.stringify(raw.headers.map((h) => [h.name, Buffer.from(h.value).toString('base64')])),
    srcTopic: raw.origin?.topic,
    srcPartition: raw.origin?.partition,
    srcOffset: raw.origin?.offset,
  };
}

/** The Extends a STATE holds (`ext:<origin>` = first stored time), by origin. */
function extendsOf(item: StateItem): { extendedAt?: Record<string, number> } {
  const found = Object.entries(item as unknown as Record<string, unknown>).filter(
    ([k, v]) => k.startsWith(EXTEND_ATTRIBUTE) && typeof v === 'number',
  );
  if (found.length === 0) return {};
  return {
    extendedAt: Object.fromEntries(found.map(([k, v]) => [k.slice(EXTEND_ATTRIBUTE.length), v as number])),
  };
}

/**
 * Whether a member item is a report that counts: not an early copy its expiry claimed (that one is
 * being, or was, dead-lettered `group-never-created`; a report is counted or dead-lettered, never both).
 */
export const counts = (item: MemberItem): boolean => !(item.early === true && item.claim === 'dead');
