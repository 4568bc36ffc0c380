/**
 * What every part of the store shares: the document client, the table, the capacity meter, the
 * settings, and the few helpers each part needs (`StorePart`). Nothing here reads or writes an item
 * of its own: each kind of item is read and written in one module (DESIGN.md "Where each item lives").
 */
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Group, GroupState, StoredReport } from '#core/model.ts';
import { LIMITS } from '#shared/config.ts';
import type { CapacityMeter } from './capacity.ts';
import { type StateItem, stateOf } from './items.ts';
import { epochSeconds, isSingleItem, LAYOUT } from './layout.ts';

export interface StoreOptions {
  tableName: string;
  /** How long a decided group is remembered (late reports recognised), seconds. */
  retentionSeconds: number;
  /**
   * Groups of at most this many members live in one item (default LAYOUT.single.maxMembers; 0: none).
   * Every process sharing a table must use the same value: tests use it to explore both layouts.
   */
  singleItemMembers?: number;
  /** Bounds on reports kept before their group's Create (default: the contract's, LIMITS). */
  earlyReports?: { maxPerGroup: number; maxBytes: number };
  /** How long the decider (or a later claimer) alone may publish an outcome, ms (default PUBLISH_CLAIM_MS). */
  publishClaimMs?: number;
  /**
   * The longest a group may live from its creation, seconds (`COLLECTOR_MAX_TTL_SECONDS`): an Extend
   * can move the deadline up to it, so a group's data must outlive it (default: the deadline as created).
   */
  maxTtlSeconds?: number;
}

/**
 * The publish lease taken by a decision: long enough for a produce with its retries, short enough that
 * the sweeper publishes an outcome whose publisher died within seconds of the lease lapsing.
 */
export const PUBLISH_CLAIM_MS = 15_000;

/** The client, table, meter and settings the parts of one store share. */
export interface StoreContext {
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly meter: CapacityMeter;
  readonly retentionSeconds: number;
  readonly maxTtlMs: number;
  readonly singleItemMembers: number;
  readonly publishClaimMs: number;
  readonly earlyLimits: { maxPerGroup: number; maxBytes: number };
}

/** The shared context of a store built with `options`. */
export function storeContext(
  doc: DynamoDBDocumentClient,
  meter: CapacityMeter,
  options: StoreOptions,
): StoreContext {
  return {
    doc,
    meter,
    tableName: options.tableName,
    retentionSeconds: options.retentionSeconds,
    maxTtlMs: (options.maxTtlSeconds ?? 0) * 1000,
    singleItemMembers: options.singleItemMembers ?? LAYOUT.single.maxMembers,
    publishClaimMs: options.publishClaimMs ?? PUBLISH_CLAIM_MS,
    earlyLimits: options.earlyReports ?? {
      maxPerGroup: LIMITS.maxEarlyReportsPerGroup,
      maxBytes: LIMITS.maxEarlyReportBytes,
    },
  };
}

/** A part of the store: one kind of item, read and written here only. */
export abstract class StorePart {
  protected readonly doc: DynamoDBDocumentClient;
  protected readonly tableName: string;
  protected readonly meter: CapacityMeter;
  protected readonly retentionSeconds: number;
  protected readonly maxTtlMs: number;
  protected readonly singleItemMembers: number;
  protected readonly publishClaimMs: number;
  protected readonly earlyLimits: { maxPerGroup: number; maxBytes: number };

  constructor(context: StoreContext) {
    this.doc = context.doc;
    this.tableName = context.tableName;
    this.meter = context.meter;
    this.retentionSeconds = context.retentionSeconds;
    this.maxTtlMs = context.maxTtlMs;
    this.singleItemMembers = context.singleItemMembers;
    this.publishClaimMs = context.publishClaimMs;
    this.earlyLimits = context.earlyLimits;
  }

  /** Whether a group with this definition lives in one item (LAYOUT.single). */
  isSingle(definition: Group['definition']): boolean {
    return isSingleItem(definition, this.singleItemMembers);
  }

  /**
   * When a group's definition, reports and counters may go: the retention after the latest deadline
   * the group can reach (an Extend moves it up to `maxTtlSeconds` from creation), plus a margin.
   * They outlive any decision on the group.
   */
  dataExpiresAt(group: Group): number {
    const latestDeadlineMs = Math.max(group.deadlineMs, group.createdMs + this.maxTtlMs);
    return epochSeconds(latestDeadlineMs) + this.retentionSeconds + LAYOUT.definitionMarginSeconds;
  }

  /** Items by key, strongly consistent, 100 keys per BatchGetItem, unprocessed keys asked again. */
  protected async batchGet<T>(all: { pk: string; sk: string }[]): Promise<T[]> {
    const batches: { pk: string; sk: string }[][] = [];
    for (let i = 0; i < all.length; i += 100) batches.push(all.slice(i, i + 100));
    const pages = await Promise.all(
      batches.map(async (batch) => {
        const items: Record<string, unknown>[] = [];
        let pending: Record<string, unknown>[] = batch;
        for (let attempt = 0; pending.length > 0; attempt++) {
          if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1_000, 25 * 2 ** attempt)));
          const out = await this.doc.send(
            new BatchGetCommand({
              RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } },
              ReturnConsumedCapacity: 'TOTAL',
            }),
          );
          this.meter.add(out.ConsumedCapacity, 'read');
          items.push(...(out.Responses?.[this.tableName] ?? []));
          pending = out.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        }
        return items;
      }),
    );
    return pages.flat() as T[];
  }
}

/** The reply of a conditional write, or undefined when its condition did not hold (any other fault throws). */
export async function ifConditionHolds<T>(request: Promise<T>): Promise<T | undefined> {
  try {
    return await request;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

/** Reports holding at most `budgetBytes` of result text: past it a result stands as `null` (its bytes counted). */
export function bounded(
  all: StoredReport[],
  budgetBytes: number,
): { reports: StoredReport[]; unloadedBytes: number } {
  let loaded = 0;
  let unloadedBytes = 0;
  const reports = all.map((report) => {
    const bytes = Buffer.byteLength(report.result);
    if (loaded + bytes <= budgetBytes) {
      loaded += bytes;
      return report;
    }
    unloadedBytes += bytes - 4;
    return { ...report, result: 'null', unloaded: bytes - 4 };
  });
  return { reports, unloadedBytes };
}

/** An item's size as DynamoDB counts it (attribute names plus values), rounded up for numbers. */
export function itemBytes(item: object): number {
  let total = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    total += Buffer.byteLength(name);
    if (typeof value === 'string') total += Buffer.byteLength(value);
    else if (value instanceof Uint8Array) total += value.length;
    else if (typeof value === 'number') total += 21;
    else if (typeof value === 'boolean') total += 1;
    else total += Buffer.byteLength(JSON.stringify(value));
  }
  return total;
}

/** A STATE item as a group's state; a stub (events kept before any Create: no status) is no group. */
export function stateOrNone(item: StateItem | undefined): GroupState | undefined {
  return item && item.status !== undefined ? stateOf(item) : undefined;
}
