/**
 * The collector's use cases, shared by the three functions: a group is created,
 * a member reports, a deadline passes, an early report waits too long.
 * Rules come from #core (pure); reads and writes from the store; messages from the publisher.
 */
import { canonicalJson, sha256 } from '#core/canonical.ts';
import { DeadLetterError, DLQ_REASONS, InconsistentStateError } from '#core/errors.ts';
import { type DecodeLimits, decodeValue, type GroupDefinition, type MemberReport } from '#core/events.ts';
import { buildBoundedOutcome, type OutcomeKind } from '#core/outcome.ts';
import {
  allReported,
  bucketsOf,
  chunk,
  deadlineShard,
  epochSeconds,
  groupTimes,
  keys,
  outcomeInput,
  shardCapacity,
  shardCount,
  shardOf,
} from '#core/rules.ts';
import type { Publisher } from '#publish/kafka-publisher.ts';
import { DLQ_HEADERS, GROUP_STATUS, ITEM_KINDS, LIMITS } from '#shared/config.ts';
import {
  type DefinitionItem,
  definitionOf,
  type GroupStore,
  type MemberItem,
  newGroupItems,
  type StateItem,
} from '#store/dynamo-store.ts';

export interface CollectorSettings extends DecodeLimits {
  outcomeTopic: string;
  deadLetterTopic: string;
  retentionSeconds: number;
  earlyReportWaitSeconds: number;
  maxOutcomeBytes: number;
}

/** One Kafka record as the collector sees it (decoded from the event source mapping's event). */
export interface SourceRecord {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | undefined;
  value: Buffer | null;
  headers: { name: string; value: Buffer }[];
}

export type RecordResult =
  | { status: 'accepted'; action: 'created' | 'duplicate-create' | 'reported' | 'early' | 'duplicate-report' }
  | { status: 'ignored'; reason: 'outcome-type' | 'late' }
  | { status: 'dead'; reason: string; message: string };

/** Counters the functions turn into CloudWatch metrics. */
export type Observation =
  | 'GroupsCreated'
  | 'GroupsSucceeded'
  | 'GroupsFailed'
  | 'GroupsTimedOut'
  | 'OutcomesRepublished'
  | 'LateReports'
  | 'DuplicateReports'
  | 'EarlyReports'
  | 'DeadLetters';

export interface Observer {
  count(name: Observation, detail?: Record<string, string | number>): void;
}

export const silentObserver: Observer = { count: () => {} };

export class Collector {
  constructor(
    private readonly store: GroupStore,
    private readonly publisher: Publisher,
    private readonly settings: CollectorSettings,
    private readonly observer: Observer = silentObserver,
  ) {}

  /** Decodes one record and applies it. Dead letters are published here; transient faults throw. */
  async handleRecord(record: SourceRecord, nowMs: number): Promise<RecordResult> {
    try {
      const decoded = decodeValue(record.value, this.settings);
      if (decoded.kind === 'ignored') return { status: 'ignored', reason: 'outcome-type' };
      if (decoded.kind === 'create') return await this.create(decoded.definition, nowMs);
      return await this.report(decoded.report, nowMs, rawOf(record));
    } catch (error) {
      if (!(error instanceof DeadLetterError)) throw error;
      await this.deadLetter(rawOf(record), error);
      return { status: 'dead', reason: error.reason, message: error.message };
    }
  }

  async create(definition: GroupDefinition, nowMs: number): Promise<RecordResult> {
    const defHash = sha256(
      canonicalJson({
        id: definition.id,
        expected: definition.expected,
        ttl: definition.ttlSeconds,
        payload: definition.payload === undefined ? null : JSON.parse(definition.payload),
        replyTo: definition.replyTo ?? null,
      }),
    );
    if (
      definition.replyTo &&
      this.publisher.topicExists &&
      !(await this.publisher.topicExists(definition.replyTo))
    ) {
      // Refused now rather than failing the publish of its outcome on every retry later.
      throw new DeadLetterError(
        DLQ_REASONS.replyTopicUnknown,
        `replyTo topic "${definition.replyTo}" does not exist or is not visible to the collector`,
      );
    }
    const times = groupTimes(definition, nowMs, this.settings.retentionSeconds);
    const items = newGroupItems(
      definition,
      defHash,
      times,
      shardCount(definition.expected.length),
      this.settings.outcomeTopic,
    );
    const outcome = await this.store.createGroup(items.def, items.state);
    let def = items.def;
    if (!outcome.created) {
      if (outcome.existing.defHash !== defHash) {
        throw new DeadLetterError(
          DLQ_REASONS.createConflict,
          `group "${definition.id}" already exists with a different definition`,
        );
      }
      def = outcome.existing;
    } else {
      this.observer.count('GroupsCreated');
    }
    await this.adoptEarlyReports(def, nowMs);
    if (!outcome.created) {
      const state = await this.store.getState(def.gid);
      if (state && state.status !== GROUP_STATUS.open) await this.ensurePublished(state);
    }
    return { status: 'accepted', action: outcome.created ? 'created' : 'duplicate-create' };
  }

  /** Reports that arrived before their group: dead-letter those not expected, count the others. */
  private async adoptEarlyReports(def: DefinitionItem, nowMs: number): Promise<void> {
    const early = (await this.store.listMembers(def.gid, bucketsFor(def))).filter((m) => m.early);
    const index = indexOf(def);
    for (const item of early) {
      if (!index.has(item.member)) {
        await this.deadLetter(rawOfItem(item), notExpected(item.member, def.gid));
        await this.store.deleteEarly(def.gid, item.member);
        continue;
      }
      // Count first, then clear the early flag: a Create retried in between still finds the report early.
      await this.progress(def, item, nowMs);
      await this.store.promoteEarly(def.gid, item.member, def.expiresAt);
    }
  }

  async report(report: MemberReport, nowMs: number, raw: RawRecordData): Promise<RecordResult> {
    const state = await this.store.getState(report.group);
    if (state && state.status !== GROUP_STATUS.open) {
      // A member the group never expected is bad input whenever it comes, not a late report.
      const decided = await this.store.getDefinition(report.group);
      if (decided && !indexOf(decided).has(report.member)) {
        throw notExpected(report.member, report.group);
      }
      await this.ensurePublished(state);
      this.observer.count('LateReports');
      return { status: 'ignored', reason: 'late' };
    }
    let def = await this.store.getDefinition(report.group);
    if (!def) {
      const stored = await this.storeEarly(report, nowMs, raw);
      // The group may have been created meanwhile; its Create may have listed members before this write.
      def = await this.store.getDefinition(report.group);
      if (!def) {
        this.observer.count('EarlyReports');
        return { status: 'accepted', action: stored ? 'early' : 'duplicate-report' };
      }
    }
    if (!state) {
      // Definition without STATE: TTL removed the expired group; its timeout is being published.
      const current = await this.store.getState(report.group);
      if (!current || current.status !== GROUP_STATUS.open) {
        if (current) await this.ensurePublished(current);
        this.observer.count('LateReports');
        return { status: 'ignored', reason: 'late' };
      }
    }
    const index = indexOf(def).get(report.member);
    if (index === undefined) {
      throw notExpected(report.member, report.group);
    }
    if (nowMs >= def.deadlineMs) {
      // Past the deadline the group can only time out: decide it now rather than wait for the sweeper.
      await this.timeoutGroup(def.gid, nowMs);
      this.observer.count('LateReports');
      return { status: 'ignored', reason: 'late' };
    }
    const item = memberItem(report, nowMs, def.expiresAt);
    const put = await this.store.putMember(item);
    let stored = item;
    if (put.status === 'exists') {
      stored = put.old;
      if (put.old.early) await this.store.promoteEarly(def.gid, report.member, def.expiresAt);
      this.observer.count('DuplicateReports');
    }
    await this.progress(def, stored, nowMs);
    return { status: 'accepted', action: put.status === 'new' ? 'reported' : 'duplicate-report' };
  }

  /** Counts a stored member and decides the group when the member failed or was the last one. */
  private async progress(def: DefinitionItem, member: MemberItem, nowMs: number): Promise<void> {
    const index = indexOf(def).get(member.member);
    if (index === undefined) return;
    if (member.error !== undefined) {
      await this.decide(def, 'member-failure', nowMs, { entity: member.member, error: member.error });
      return;
    }
    const shard = shardOf(index);
    const size = await this.store.countMember(def.gid, shard, index, def.expiresAt);
    if (size < shardCapacity(shard, def.expected.length)) return;
    if (def.shards > 1) {
      const full = await this.store.markShardFull(def.gid, shard);
      if (full === undefined) {
        const state = await this.store.getState(def.gid);
        if (state && state.status !== GROUP_STATUS.open) await this.ensurePublished(state);
        return;
      }
      if (full < def.shards) return;
    }
    await this.decide(def, 'success', nowMs);
  }

  /**
   * Decides the outcome with the one conditional transition (store.decide), then publishes it.
   * When another decision won, publishes the winner's stored bytes if nobody has yet.
   */
  private async decide(
    def: DefinitionItem,
    kind: OutcomeKind,
    nowMs: number,
    failure?: { entity: string; error: string },
    removedState?: StateItem,
  ): Promise<void> {
    const members = (await this.store.listMembers(def.gid, bucketsFor(def))).map((m) => ({
      member: m.member,
      result: m.result,
      error: m.error,
      atMs: m.atMs,
    }));
    const definition = definitionOf(def);
    if (kind === 'success' && !allReported(definition, members)) {
      throw new InconsistentStateError(`group ${def.gid} counted complete but a member report is missing`);
    }
    const input = outcomeInput({
      kind,
      definition,
      createdMs: def.createdMs,
      deadlineMs: def.deadlineMs,
      nowMs,
      members,
      ...failure,
    });
    const outcome = buildBoundedOutcome(input, this.settings.maxOutcomeBytes);
    const bytes = Buffer.from(outcome.text, 'utf8');
    const topic = def.outcomeTopic;
    const state: StateItem = removedState ?? {
      ...keys.state(def.gid),
      kind: ITEM_KINDS.state,
      gid: def.gid,
      status: GROUP_STATUS.open,
      createdMs: def.createdMs,
      deadlineMs: def.deadlineMs,
      ttlSeconds: def.ttlSeconds,
      shards: def.shards,
      expiresAt: epochSeconds(def.deadlineMs),
    };
    const won = await this.store.decide({
      state,
      kind: outcome.kind,
      mode: removedState ? 'recreate' : kind === 'timeout' ? 'after-deadline' : 'before-deadline',
      nowMs,
      chunks: chunk(bytes, LIMITS.outcomeChunkBytes),
      outcomeTopic: topic,
      retentionSeconds: this.settings.retentionSeconds,
      dataExpiresAt: def.expiresAt,
    });
    if (won) {
      await this.publisher.publish([{ topic, key: def.gid, value: bytes }]);
      await this.store.markPublished(def.gid);
      this.observer.count(
        outcome.kind === 'success'
          ? 'GroupsSucceeded'
          : kind === 'timeout'
            ? 'GroupsTimedOut'
            : 'GroupsFailed',
      );
      return;
    }
    const current = await this.store.getState(def.gid);
    if (!current) return; // TTL removed the expired group: the stream handler decides its timeout.
    if (current.status !== GROUP_STATUS.open) {
      await this.ensurePublished(current);
    } else if (kind !== 'timeout' && nowMs >= current.deadlineMs) {
      await this.decide(def, 'timeout', nowMs);
    }
  }

  /** Publishes a decided group's stored outcome if no copy has been published yet (identical bytes). */
  async ensurePublished(state: StateItem): Promise<void> {
    if (state.published || state.status === GROUP_STATUS.open) return;
    if (!state.outcomeChunks || !state.outcomeTopic) {
      throw new InconsistentStateError(`decided group ${state.gid} has no stored outcome`);
    }
    const bytes = await this.store.loadOutcome(state.gid, state.outcomeChunks);
    await this.publisher.publish([{ topic: state.outcomeTopic, key: state.gid, value: bytes }]);
    await this.store.markPublished(state.gid);
    this.observer.count('OutcomesRepublished');
  }

  /**
   * Times out an open group whose deadline has passed (sweeper, late report, or the
   * TTL stream handler with the removed STATE). Does nothing for a decided group but
   * make sure its outcome was published.
   */
  async timeoutGroup(groupId: string, nowMs: number, removedState?: StateItem): Promise<void> {
    const state = await this.store.getState(groupId);
    if (state) {
      if (state.status !== GROUP_STATUS.open) {
        await this.ensurePublished(state);
        return;
      }
      if (nowMs < state.deadlineMs) return;
    } else if (!removedState) {
      return;
    }
    const def = await this.store.getDefinition(groupId);
    if (!def) throw new InconsistentStateError(`group ${groupId} has a STATE but no definition`);
    await this.decide(def, 'timeout', nowMs, undefined, state ? undefined : removedState);
  }

  /**
   * An early report waited `earlyReportWaitSeconds` for its group. If the group exists
   * now, the report is applied; otherwise it is dead-lettered as `group never created`.
   * `item` is the stored early report (from the sweeper, or the TTL-removed old image).
   */
  async expireEarly(item: MemberItem, nowMs: number, removedByTtl: boolean): Promise<RecordResult> {
    const def = await this.store.getDefinition(item.gid);
    if (def) {
      try {
        return await this.report(
          { group: item.gid, member: item.member, result: item.result, error: item.error },
          nowMs,
          rawOfItem(item),
        );
      } catch (error) {
        // The group exists but does not expect this member: a dead letter, then the report is gone.
        if (!(error instanceof DeadLetterError)) throw error;
        await this.deadLetter(rawOfItem(item), error);
        if (!removedByTtl) await this.store.deleteEarly(item.gid, item.member);
        return { status: 'dead', reason: error.reason, message: error.message };
      }
    }
    const error = new DeadLetterError(
      DLQ_REASONS.groupNeverCreated,
      `group "${item.gid}" was never created within ${this.settings.earlyReportWaitSeconds} seconds`,
    );
    await this.deadLetter(rawOfItem(item), error);
    if (!removedByTtl) await this.store.deleteEarly(item.gid, item.member);
    return { status: 'dead', reason: error.reason, message: error.message };
  }

  /** Stores a report whose group is unknown, with its original record for a possible dead letter. */
  private async storeEarly(report: MemberReport, nowMs: number, raw: RawRecordData): Promise<boolean> {
    const waitMs = this.settings.earlyReportWaitSeconds * 1000;
    const item: MemberItem = {
      ...memberItem(report, nowMs, epochSeconds(nowMs + waitMs)),
      early: true,
      raw: raw.value ?? new Uint8Array(),
      rawKey: raw.key,
      rawHeaders: JSON.stringify(raw.headers.map((h) => [h.name, h.value.toString('base64')])),
      source: raw.source,
      dlShard: deadlineShard(`${report.group}/${report.member}`),
      dlAt: nowMs + waitMs,
    };
    const put = await this.store.putMember(item);
    return put.status === 'new';
  }

  private async deadLetter(raw: RawRecordData, error: DeadLetterError): Promise<void> {
    const [topic = '', partition = '', offset = ''] = raw.source.split('/');
    const headers: Record<string, Buffer | string> = {};
    for (const h of raw.headers) headers[h.name] = h.value;
    headers[DLQ_HEADERS.reason] = error.reason;
    headers[DLQ_HEADERS.message] = error.message;
    headers[DLQ_HEADERS.topic] = topic;
    headers[DLQ_HEADERS.partition] = partition;
    headers[DLQ_HEADERS.offset] = offset;
    await this.publisher.publish([
      {
        topic: this.settings.deadLetterTopic,
        key: raw.key ? Buffer.from(raw.key) : null,
        value: raw.value ? Buffer.from(raw.value) : Buffer.alloc(0),
        headers,
      },
    ]);
    this.observer.count('DeadLetters', { reason: error.reason });
  }
}

const notExpected = (member: string, group: string) =>
  new DeadLetterError(
    DLQ_REASONS.memberNotExpected,
    `member "${member}" is not expected by group "${group}"`,
  );

/** The original bytes of a record, kept for dead letters. `source` is "topic/partition/offset". */
export interface RawRecordData {
  key: Uint8Array | undefined;
  value: Uint8Array | null;
  headers: { name: string; value: Buffer }[];
  source: string;
}

const rawOf = (r: SourceRecord): RawRecordData => ({
  key: r.key,
  value: r.value,
  headers: r.headers,
  source: `${r.topic}/${r.partition}/${r.offset}`,
});

function rawOfItem(item: MemberItem): RawRecordData {
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
    source: item.source ?? '//',
  };
}

function memberItem(report: MemberReport, nowMs: number, expiresAt: number): MemberItem {
  return {
    ...keys.member(report.group, report.member),
    kind: ITEM_KINDS.member,
    gid: report.group,
    member: report.member,
    result: report.result,
    error: report.error,
    hash: sha256(canonicalJson({ result: JSON.parse(report.result), error: report.error ?? null })),
    atMs: nowMs,
    expiresAt,
  };
}

const buckets = new WeakMap<DefinitionItem, number[]>();
/** Buckets of the expected members. Early reports of strangers elsewhere are dead-lettered when they expire. */
function bucketsFor(def: DefinitionItem): number[] {
  let list = buckets.get(def);
  if (!list) {
    list = bucketsOf(def.expected);
    buckets.set(def, list);
  }
  return list;
}

const indexes = new WeakMap<DefinitionItem, Map<string, number>>();
function indexOf(def: DefinitionItem): Map<string, number> {
  let index = indexes.get(def);
  if (!index) {
    index = new Map(def.expected.map((m, i) => [m, i]));
    indexes.set(def, index);
  }
  return index;
}
