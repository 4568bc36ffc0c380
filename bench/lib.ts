/**
 * Shared helpers of the benchmark: runtimes on the local services, Kafka events
 * as the event source mapping builds them, timing of DynamoDB calls and of
 * publishes, percentiles. Traffic goes only to the services started on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics, type Services } from '#local/services/index.ts';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import { EVENT_TYPES, loadSettings, type Settings } from '#shared/config.ts';
import {
  createRuntime,
  kafkaPublisher,
  type Runtime,
  dynamoClient as runtimeDynamoClient,
} from '#shared/runtime.ts';

export const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function dynamoClient(services: Services): DynamoDBClient {
  return runtimeDynamoClient({ endpoint: services.dynamoEndpoint });
}

export function kafka(services: Services, clientId = 'bench'): Kafka {
  return new Kafka({ clientId, brokers: services.brokers, logLevel: logLevel.NOTHING });
}

/** A fresh topic with a unique name. */
export async function freshTopic(
  services: Services,
  prefix: string,
  partitions = 3,
  config?: Record<string, string>,
): Promise<string> {
  const name = `bench-${prefix}-${randomUUID().slice(0, 8)}`;
  await createTopics(services.brokers, [{ name, partitions, ...(config ? { config } : {}) }]);
  return name;
}

/** Per-call statistics of the DynamoDB client. */
export interface CallTrace {
  calls: number;
  ms: number;
  byCommand: Record<string, number>;
  /** Capacity units reported by each command (CapacityUnits, or Read+WriteCapacityUnits for transactions). */
  capacityByCommand: Record<string, number>;
}

/** Adds a middleware that counts and times every DynamoDB call of this client. */
export function traceCalls(client: DynamoDBClient): CallTrace {
  const trace: CallTrace = { calls: 0, ms: 0, byCommand: {}, capacityByCommand: {} };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const started = performance.now();
      try {
        const out = await next(args);
        const consumed = (out.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
        const name = String(context.commandName ?? 'unknown');
        for (const c of (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as {
          CapacityUnits?: number;
          ReadCapacityUnits?: number;
          WriteCapacityUnits?: number;
        }[]) {
          const units =
            c.WriteCapacityUnits !== undefined || c.ReadCapacityUnits !== undefined
              ? (c.WriteCapacityUnits ?? 0) + (c.ReadCapacityUnits ?? 0)
              : (c.CapacityUnits ?? 0);
          trace.capacityByCommand[name] = (trace.capacityByCommand[name] ?? 0) + units;
        }
        return out;
      } finally {
        const ms = performance.now() - started;
        trace.calls += 1;
        trace.ms += ms;
        const name = String(context.commandName ?? 'unknown');
        trace.byCommand[name] = (trace.byCommand[name] ?? 0) + 1;
      }
    },
    { step: 'initialize', name: 'benchCallTrace' },
  );
  return trace;
}

/** A Publisher that times each publish and remembers when each key's outcome was acknowledged. */
export class TimedPublisher implements Publisher {
  readonly ackedAt = new Map<string, number>();
  publishes = 0;
  /** Messages produced (a publish may carry several). */
  messages = 0;
  publishMs = 0;

  constructor(private readonly inner: Publisher) {}

  async publish(messages: OutgoingMessage[]): Promise<void> {
    const started = performance.now();
    try {
      await this.inner.publish(messages);
    } finally {
      const ms = performance.now() - started;
      this.publishes += 1;
      this.messages += messages.length;
      this.publishMs += ms;
      const at = Date.now();
      for (const m of messages) if (m.key !== null) this.ackedAt.set(String(m.key), at);
    }
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

export interface BenchRuntime extends Runtime {
  trace: CallTrace;
  timed: TimedPublisher;
  close(): Promise<void>;
}

/** A runtime on the local services with its own outcome and dead-letter topics (or those given). */
export async function benchRuntime(
  services: Services,
  name: string,
  overrides: Partial<Settings> = {},
): Promise<BenchRuntime> {
  const outcomeTopic = overrides.outcomeTopic ?? (await freshTopic(services, `${name}-out`, 3));
  const deadLetterTopic = overrides.deadLetterTopic ?? (await freshTopic(services, `${name}-dlq`, 1));
  const settings: Settings = {
    ...loadSettings({}),
    tableName: services.tableName,
    kafkaBrokers: services.brokers,
    ...overrides,
    outcomeTopic,
    deadLetterTopic,
  };
  const dynamo = dynamoClient(services);
  const trace = traceCalls(dynamo);
  const timed = new TimedPublisher(kafkaPublisher({ clientId: `bench-${name}`, brokers: services.brokers }));
  const runtime = createRuntime({ settings, dynamo, publisher: timed, functionName: `bench-${name}` });
  runtime.logger.setLogLevel('SILENT');
  return {
    ...runtime,
    trace,
    timed,
    async close() {
      await timed.disconnect().catch(() => {});
      dynamo.destroy();
    },
  };
}

export interface BenchRecord {
  key?: string;
  value: string | Buffer;
  partition?: number;
  offset?: number;
  timestamp?: number;
}

let offsetCounter = 0;

/** A Kafka event exactly as Lambda's event source mapping builds it (MSK form). */
export function kafkaEvent(records: BenchRecord[], topic = 'eventbus-collector') {
  const grouped: Record<string, unknown[]> = {};
  for (const r of records) {
    const partition = r.partition ?? 0;
    const id = `${topic}-${partition}`;
    const list = grouped[id] ?? [];
    grouped[id] = list;
    list.push({
      topic,
      partition,
      offset: r.offset ?? offsetCounter++,
      timestamp: r.timestamp ?? Date.now(),
      timestampType: 'CREATE_TIME',
      ...(r.key === undefined ? {} : { key: Buffer.from(r.key).toString('base64') }),
      value: Buffer.from(r.value).toString('base64'),
      headers: [],
    });
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/bench/abc',
    bootstrapServers: '127.0.0.1:9092',
    records: grouped,
  };
}

export const newId = () => randomUUID().toUpperCase();

export const createValue = (
  id: string,
  expected: string[],
  ttl: number,
  payload: unknown = { bench: true },
  policy: { tolerate?: number; quorum?: number } = {},
) => JSON.stringify({ id, type: EVENT_TYPES.create, expected, ttl, payload, ...policy });

export const doneValue = (group: string, id: string, result: unknown) =>
  JSON.stringify({ id, type: EVENT_TYPES.done, group, result });

/** A result whose JSON text is `bytes` long: {"data":"xxx…"}. */
export const resultOf = (bytes: number) => ({ data: 'x'.repeat(Math.max(0, bytes - 11)) });

export const memberIds = (group: string, n: number) =>
  Array.from({ length: n }, (_, i) => `m-${String(i).padStart(5, '0')}-${group.slice(0, 8)}`);

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const median = (values: number[]) => percentile(values, 50);

export function summary(values: number[]) {
  return {
    n: values.length,
    p50: round(percentile(values, 50)),
    p95: round(percentile(values, 95)),
    p99: round(percentile(values, 99)),
    max: round(values.length ? Math.max(...values) : Number.NaN),
    mean: round(values.length ? values.reduce((a, b) => a + b, 0) / values.length : Number.NaN),
  };
}

export const round = (x: number, digits = 2) => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `work` over `items` with at most `limit` at once. */
export async function pool<T>(items: T[], limit: number, work: (item: T, i: number) => Promise<void>) {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      await work(items[i] as T, i);
    }
  });
  await Promise.all(workers);
}

export function shuffle<T>(items: T[], seed = 42): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const rand = () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

export function log(line: string) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}
