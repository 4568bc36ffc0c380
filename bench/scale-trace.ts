/**
 * The request trace behind `npm run bench:scale` and the model built from it. A middleware on the
 * runtime's DynamoDB document client records every request: operation, the partition key (and sort
 * key) of each item it touches, the units it consumed as AWS bills them, success or failure, start
 * and end. The analysis (pure, unit-tested) turns a trace into units per report for each partition
 * key, the bound each key puts on reports per second, and the sequential DynamoDB round trips of an
 * invocation (the input of the Kafka-side bound).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { deadlineShard } from '#store/layout.ts';

/** Units one request consumed on one key (AWS-billed; `index`: a key of the deadline index). */
export interface KeyUnits {
  key: string;
  /** Sort key, when the request names one item. */
  item?: string;
  index?: boolean;
  wcu: number;
  rcu: number;
}

export interface TracedCall {
  run: string;
  inv: number;
  phase: string;
  op: string;
  start: number;
  end: number;
  /** Failed (a conditional check, a cancelled transaction, a throttle): its units are estimated. */
  failed?: string;
  units: KeyUnits[];
}

/** What the running code is doing: set around each invocation or sweep. */
export interface TraceContext {
  run: string;
  inv: number;
  phase: string;
}

export const traceContext = new AsyncLocalStorage<TraceContext>();

/** AWS's per-partition ceilings (TroubleshootingThrottlingOnDemand.html, warm-throughput-scenarios.html). */
export const PARTITION = { wcuPerSecond: 1000, rcuPerSecond: 3000 } as const;
/** A new on-demand table (pre-warming-on-demand-capacity-mode.html). */
export const NEW_TABLE = { wcuPerSecond: 4000, rcuPerSecond: 12000 } as const;

const ITEM_OPS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
  'TransactWriteItems',
  'TransactGetItems',
]);

const MARSHALLED = new Set(['S', 'N', 'B', 'M', 'L', 'BOOL', 'NULL', 'SS', 'NS', 'BS']);

function isMarshalled(v: object): boolean {
  const keys = Object.keys(v);
  return keys.length === 1 && MARSHALLED.has(keys[0] as string);
}

/** A string attribute, marshalled (`{S}`) or not. */
function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as { S?: unknown }).S === 'string')
    return (v as { S: string }).S;
  return undefined;
}

/** Approximate DynamoDB size of a value (attribute names + values, DynamoDB's sizing rules, roughly). */
export function sizeOf(v: unknown): number {
  if (v === null || v === undefined) return 1;
  if (typeof v === 'string') return Buffer.byteLength(v);
  if (typeof v === 'number' || typeof v === 'bigint') return 8;
  if (typeof v === 'boolean') return 1;
  if (v instanceof Uint8Array) return v.byteLength;
  if (v instanceof Set) return [...v].reduce((a: number, x) => a + sizeOf(x), 3);
  if (Array.isArray(v)) return v.reduce((a: number, x) => a + 1 + sizeOf(x), 3);
  if (typeof v === 'object') {
    if (isMarshalled(v)) {
      const [tag, inner] = Object.entries(v)[0] as [string, unknown];
      if (tag === 'N') return 8;
      if (tag === 'M') {
        return Object.entries(inner as object).reduce(
          (a, [k, x]) => a + Buffer.byteLength(k) + 1 + sizeOf(x),
          3,
        );
      }
      return sizeOf(inner);
    }
    return Object.entries(v).reduce((a, [k, x]) => a + Buffer.byteLength(k) + 1 + sizeOf(x), 3);
  }
  return 1;
}

/** Size of an item (its attribute names and values). */
const itemSize = (item: Record<string, unknown>) =>
  Object.entries(item).reduce((a, [k, x]) => a + Buffer.byteLength(k) + sizeOf(x), 0);

const wcuOf = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** The deadline-index shard of a group key (`G#<len>:<id>…`), for index units of a write. */
export function shardOfKey(pk: string): string | undefined {
  const match = /^G#(\d+):/.exec(pk);
  if (!match) return undefined;
  const start = match[0].length;
  return deadlineShard(pk.slice(start, start + Number(match[1])));
}

interface Consumed {
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
  Table?: { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number };
  GlobalSecondaryIndexes?: Record<
    string,
    { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number }
  >;
}

type Cap = { CapacityUnits?: number; ReadCapacityUnits?: number; WriteCapacityUnits?: number } | undefined;
const total = (c: Cap) =>
  c ? (c.CapacityUnits ?? (c.ReadCapacityUnits ?? 0) + (c.WriteCapacityUnits ?? 0)) : 0;

function split(c: Consumed | undefined): { table: number; index: number } {
  if (!c) return { table: 0, index: 0 };
  const index = Object.values(c.GlobalSecondaryIndexes ?? {}).reduce((a, g) => a + total(g), 0);
  const table = c.Table ? total(c.Table) : Math.max(0, total(c) - index);
  return { table, index };
}

const keyOf = (k: unknown) => {
  const rec = (k ?? {}) as Record<string, unknown>;
  return { pk: str(rec.pk) ?? '?', sk: str(rec.sk) };
};

/**
 * The keys and units of one request. `output` is undefined for a failed request: a failed conditional
 * write still consumes write units on AWS (the larger of the existing and new item, at least 1:
 * developerguide/read-write-operations.html); estimated as 1, or the Put item's size.
 */
export function unitsOf(op: string, input: Record<string, unknown>, output: unknown): KeyUnits[] {
  const consumed = (output as { ConsumedCapacity?: Consumed | Consumed[] } | undefined)?.ConsumedCapacity;
  const first = Array.isArray(consumed) ? consumed[0] : consumed;
  const failed = output === undefined;
  switch (op) {
    case 'GetItem': {
      const { pk, sk } = keyOf(input.Key);
      return [{ key: pk, ...(sk ? { item: sk } : {}), wcu: 0, rcu: split(first).table }];
    }
    case 'PutItem':
    case 'UpdateItem':
    case 'DeleteItem': {
      const source = op === 'PutItem' ? input.Item : input.Key;
      const { pk, sk } = keyOf(source);
      const { table, index } = split(first);
      const estimate = op === 'PutItem' ? wcuOf(itemSize(input.Item as Record<string, unknown>)) : 1;
      const rows: KeyUnits[] = [
        { key: pk, ...(sk ? { item: sk } : {}), wcu: failed ? estimate : table, rcu: 0 },
      ];
      const shard =
        (op === 'PutItem' ? str((input.Item as Record<string, unknown>).dlShard) : undefined) ??
        shardOfKey(pk);
      if (index > 0) rows.push({ key: shard ?? 'D#?', index: true, wcu: index, rcu: 0 });
      return rows;
    }
    case 'Query':
    case 'Scan': {
      const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
      const cond = String(input.KeyConditionExpression ?? '');
      const name = /(?:pk|dlShard)\s*=\s*(:\w+)/.exec(cond)?.[1];
      const key = (name ? str(values[name]) : undefined) ?? '?';
      const { table, index } = split(first);
      return [
        {
          key,
          ...(input.IndexName ? { index: true } : {}),
          wcu: 0,
          rcu: input.IndexName ? index || table : table,
        },
      ];
    }
    case 'BatchGetItem': {
      const requested = Object.values(
        (input.RequestItems ?? {}) as Record<string, { Keys?: unknown[] }>,
      ).flatMap((r) => r.Keys ?? []);
      const all = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
        (a, c) => a + split(c).table,
        0,
      );
      return requested.map((k) => {
        const { pk, sk } = keyOf(k);
        return { key: pk, ...(sk ? { item: sk } : {}), wcu: 0, rcu: all / Math.max(1, requested.length) };
      });
    }
    case 'TransactWriteItems': {
      const items = (input.TransactItems ?? []) as Record<string, Record<string, unknown>>[];
      // DynamoDB Local reports 4 units per KB per item in a transaction, AWS bills 2 (bench/pricing.ts):
      // halved. Shared out by each item's AWS figure (2 per KB of a Put's item, 2 for the others).
      const parts = items.map((entry) => {
        const [kind, body] = Object.entries(entry)[0] as [string, Record<string, unknown>];
        const { pk, sk } = keyOf(kind === 'Put' ? body.Item : body.Key);
        const weight = kind === 'Put' ? 2 * wcuOf(itemSize(body.Item as Record<string, unknown>)) : 2;
        return { pk, sk, weight, kind, body };
      });
      const weights = parts.reduce((a, p) => a + p.weight, 0);
      const { table, index } = split(first);
      const billed = failed ? weights : table / 2;
      const rows: KeyUnits[] = parts.map((p) => ({
        key: p.pk,
        ...(p.sk ? { item: p.sk } : {}),
        wcu: (billed * p.weight) / Math.max(1, weights),
        rcu: 0,
      }));
      if (index > 0) {
        const put = parts.find(
          (p) => p.kind === 'Put' && str(p.body.Item && (p.body.Item as Record<string, unknown>).dlShard),
        );
        const shard = put
          ? str((put.body.Item as Record<string, unknown>).dlShard)
          : shardOfKey(parts[0]?.pk ?? '');
        rows.push({ key: shard ?? 'D#?', index: true, wcu: index / 2, rcu: 0 });
      }
      return rows;
    }
    default:
      return [];
  }
}

/** Minimal shape of an SDK middleware stack (the document client shares its client's). */
interface StackLike {
  add(
    middleware: (
      next: (args: { input: object }) => Promise<{ output: unknown }>,
      context: { commandName?: string },
    ) => (args: { input: object }) => Promise<{ output: unknown }>,
    options: { step: 'initialize'; name: string },
  ): void;
}

/** Records every request of a client into `calls`, asking for INDEXES capacity (no product code changes). */
export function traceRequests(stack: unknown, calls: TracedCall[]): void {
  (stack as StackLike).add(
    (next, context) => async (args) => {
      const op = String(context.commandName ?? 'unknown')
        .replace(/Command$/, '')
        .replace(/^(Get|Put|Update|Delete|BatchGet|BatchWrite)$/, '$1Item')
        .replace(/^TransactWrite$/, 'TransactWriteItems')
        .replace(/^TransactGet$/, 'TransactGetItems');
      const input = args.input as Record<string, unknown>;
      if (ITEM_OPS.has(op)) input.ReturnConsumedCapacity = 'INDEXES';
      const ctx = traceContext.getStore() ?? { run: '?', inv: 0, phase: '?' };
      const start = performance.now();
      try {
        const out = await next(args);
        calls.push({ ...ctx, op, start, end: performance.now(), units: unitsOf(op, input, out.output) });
        return out;
      } catch (error) {
        const name = error instanceof Error ? error.name : 'Error';
        calls.push({
          ...ctx,
          op,
          start,
          end: performance.now(),
          failed: name,
          units: unitsOf(op, input, undefined),
        });
        throw error;
      }
    },
    { step: 'initialize', name: 'scaleModelTrace' },
  );
}

// ---------------------------------------------------------------------------------------------
// Analysis

/** The most DynamoDB round trips that ran one after another (none overlapping): interval scheduling. */
export function sequentialDepth(calls: readonly { start: number; end: number }[]): number {
  let depth = 0;
  let lastEnd = Number.NEGATIVE_INFINITY;
  for (const c of [...calls].sort((a, b) => a.end - b.end)) {
    if (c.start >= lastEnd) {
      depth += 1;
      lastEnd = c.end;
    }
  }
  return depth;
}

/** Milliseconds with at least one request in flight. */
export function busyMs(calls: readonly { start: number; end: number }[]): number {
  let busy = 0;
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  for (const c of [...calls].sort((a, b) => a.start - b.start)) {
    if (c.start > to) {
      if (to > from) busy += to - from;
      from = c.start;
      to = c.end;
    } else if (c.end > to) {
      to = c.end;
    }
  }
  if (to > from) busy += to - from;
  return busy;
}

export type KeyClass =
  | 'group key G#g (STATE, DEF, OUT)'
  | 'report page partition G#g#P…#k'
  | 'member bucket G#g#M<b>'
  | 'deadline index shard D#k (GSI)'
  | 'sweeper lease L#sweeper'
  | 'other';

export function classOf(u: KeyUnits): KeyClass {
  if (u.index) return 'deadline index shard D#k (GSI)';
  if (u.key === 'L#sweeper') return 'sweeper lease L#sweeper';
  if (/^G#\d+:.*#P\d+#\d+$/.test(u.key)) return 'report page partition G#g#P…#k';
  if (/^G#\d+:.*#M\d+$/.test(u.key)) return 'member bucket G#g#M<b>';
  if (/^G#\d+:/.test(u.key)) return 'group key G#g (STATE, DEF, OUT)';
  return 'other';
}

export interface KeyLoad {
  keyClass: KeyClass;
  key: string;
  keys: number;
  wcuPerUnit: number;
  rcuPerUnit: number;
  /** Of the hottest key's writes, those on its STATE item (the one item that cannot be split). */
  stateWcuPerUnit: number;
  /** Units of work (reports, timeouts) per second this key allows: min(1000 / WCU, 3000 / RCU). */
  bound: number;
  limitedBy: 'write' | 'read' | 'none';
}

export function boundOf(wcu: number, rcu: number): { bound: number; limitedBy: KeyLoad['limitedBy'] } {
  const w = wcu > 0 ? PARTITION.wcuPerSecond / wcu : Number.POSITIVE_INFINITY;
  const r = rcu > 0 ? PARTITION.rcuPerSecond / rcu : Number.POSITIVE_INFINITY;
  if (!Number.isFinite(w) && !Number.isFinite(r))
    return { bound: Number.POSITIVE_INFINITY, limitedBy: 'none' };
  return w <= r ? { bound: w, limitedBy: 'write' } : { bound: r, limitedBy: 'read' };
}

/** Per key class, its hottest key: units per unit of work (`per`) and the bound it sets. */
export function keyLoads(calls: readonly TracedCall[], per: number): KeyLoad[] {
  const byKey = new Map<string, { keyClass: KeyClass; wcu: number; rcu: number; state: number }>();
  for (const c of calls) {
    for (const u of c.units) {
      const keyClass = classOf(u);
      const id = `${u.index ? 'gsi:' : ''}${u.key}`;
      const row = byKey.get(id) ?? { keyClass, wcu: 0, rcu: 0, state: 0 };
      row.wcu += u.wcu;
      row.rcu += u.rcu;
      if (u.item === 'STATE') row.state += u.wcu;
      byKey.set(id, row);
    }
  }
  const classes = new Map<KeyClass, KeyLoad>();
  const counts = new Map<KeyClass, number>();
  for (const [id, row] of byKey) {
    counts.set(row.keyClass, (counts.get(row.keyClass) ?? 0) + 1);
    const wcu = row.wcu / per;
    const rcu = row.rcu / per;
    const { bound, limitedBy } = boundOf(wcu, rcu);
    const current = classes.get(row.keyClass);
    if (!current || bound < current.bound) {
      classes.set(row.keyClass, {
        keyClass: row.keyClass,
        key: id.replace(/^gsi:/, ''),
        keys: 0,
        wcuPerUnit: wcu,
        rcuPerUnit: rcu,
        stateWcuPerUnit: row.state / per,
        bound,
        limitedBy,
      });
    }
  }
  return [...classes.values()]
    .map((k) => ({ ...k, keys: counts.get(k.keyClass) ?? 0 }))
    .sort((a, b) => a.bound - b.bound);
}

/** Requests of a trace by phase, operation, key class and item kind: count and units (for the raw figures). */
export function breakdown(
  calls: readonly TracedCall[],
): Record<string, { n: number; wcu: number; rcu: number }> {
  const out: Record<string, { n: number; wcu: number; rcu: number }> = {};
  for (const c of calls) {
    const first = c.units[0];
    const item = first?.item?.replace(/#.*$/, '#…') ?? '';
    const label = `${c.phase} ${c.op} ${first ? classOf(first).split(' ')[0] : '?'}${first?.index ? '(GSI)' : ''} ${item}${c.failed ? ` FAILED ${c.failed}` : ''}`;
    const row = out[label] ?? { n: 0, wcu: 0, rcu: 0 };
    row.n += 1;
    for (const u of c.units) {
      row.wcu += u.wcu;
      row.rcu += u.rcu;
    }
    out[label] = row;
  }
  return out;
}

export interface InvocationShape {
  invocations: number;
  recordsPerInvocation: number;
  localMs: number;
  calls: number;
  depth: number;
  dynamoBusyMs: number;
  /** Local wall time with no DynamoDB request in flight (decode, rules, JSON; this machine). */
  otherMs: number;
  /** Medians per invocation (the means include this process's warm-up and noisy neighbours). */
  medianDepth: number;
  medianOtherMs: number;
}

const medianOf = (xs: number[]) => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/** Mean shape of the invocations of one phase. */
export function invocationShape(
  calls: readonly TracedCall[],
  invocations: readonly { inv: number; ms: number; records: number; otherMs?: number; cpuMs?: number }[],
): InvocationShape {
  const byInv = new Map<number, TracedCall[]>();
  for (const c of calls) byInv.set(c.inv, [...(byInv.get(c.inv) ?? []), c]);
  let depth = 0;
  let n = 0;
  let busy = 0;
  let ms = 0;
  let records = 0;
  let other = 0;
  const depths: number[] = [];
  const others: number[] = [];
  for (const i of invocations) {
    const own = byInv.get(i.inv) ?? [];
    const b = busyMs(own);
    const d = sequentialDepth(own);
    // The handler's own time: wall time with no request in flight, or this process's CPU time if more
    // (CPU spent while requests are in flight is hidden from the first).
    const o = Math.max(Math.max(0, i.ms - b - (i.otherMs ?? 0)), i.cpuMs ?? 0);
    depth += d;
    depths.push(d);
    others.push(o);
    n += own.length;
    busy += b;
    ms += i.ms;
    records += i.records;
    other += o;
  }
  const k = Math.max(1, invocations.length);
  return {
    invocations: invocations.length,
    recordsPerInvocation: records / k,
    localMs: ms / k,
    calls: n / k,
    depth: depth / k,
    dynamoBusyMs: busy / k,
    otherMs: other / k,
    medianDepth: medianOf(depths),
    medianOtherMs: medianOf(others),
  };
}

/** `text` with its scale-model section replaced by `section` (appended when it has none). */
export function withScaleSection(text: string, section: string): string {
  return withSection(text, 'scale-model', section);
}

/** The scale-model section of a RESULTS.md, if any (`npm run bench` keeps it when it rewrites the file). */
export function scaleSectionOf(text: string): string | undefined {
  return sectionOf(text, 'scale-model');
}

/** A named section of RESULTS.md written by a bench of its own (`<!-- NAME:begin … -->` … `<!-- NAME:end -->`). */
export function sectionOf(text: string, name: string): string | undefined {
  const begin = text.indexOf(`<!-- ${name}:begin`);
  const endMark = `<!-- ${name}:end -->`;
  const end = text.indexOf(endMark);
  return begin >= 0 && end > begin ? text.slice(begin, end + endMark.length) : undefined;
}

/** `text` with its section NAME replaced by `section` (appended when it has none). */
export function withSection(text: string, name: string, section: string): string {
  const begin = text.indexOf(`<!-- ${name}:begin`);
  const endMark = `<!-- ${name}:end -->`;
  const end = text.indexOf(endMark);
  if (begin >= 0 && end > begin)
    return `${text.slice(0, begin)}${section}${text.slice(end + endMark.length)}`;
  return `${text.trimEnd()}\n\n${section}\n`;
}
