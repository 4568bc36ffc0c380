/**
 * Memory of a client that reads many outcomes it never awaits (issue 19: "a long-running
 * service with a million groups stays flat"). One client listens on a fresh outcome topic;
 * N outcomes of groups it never waits for are published to it; after every step the heap is
 * measured once the client has read everything (a sentinel per partition, awaited), after a GC.
 *
 *   npm run bench:client                          # 100,000 outcomes, bounded (the default options)
 *   npm run bench:client -- --outcomes 1000000    # a million
 *   npm run bench:client -- --unbounded           # also run with the bound lifted, for comparison
 *
 * Needs only Kafka: started here from the Maven jars (see local/services/kafka.ts), or
 * KAFKA_BROKERS to use a running broker. Run through `node --expose-gc` (the npm script does).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { createTopics } from '#local/services/index.ts';
import { startKafka } from '#local/services/kafka.ts';
import { freePort } from '#local/services/process.ts';
import { EVENT_TYPES } from '#shared/config.ts';
import { GroupCollectorClient } from '../client/index.ts';

const { values: args } = parseArgs({
  options: {
    outcomes: { type: 'string', default: '100000' },
    step: { type: 'string', default: '10000' },
    partitions: { type: 'string', default: '6' },
    unbounded: { type: 'boolean', default: false },
  },
});
const total = Number(args.outcomes);
const step = Math.min(Number(args.step), total);
const partitions = Number(args.partitions);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run bench:client does)');
const heapMb = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
};

/** A timeout failure as the collector publishes it (~400 bytes), for a group nobody awaits. */
function outcome(id: string, n: number): string {
  const at = new Date().toISOString();
  return JSON.stringify({
    type: EVENT_TYPES.failure,
    id,
    entity: id,
    error: 'Operation timed out after 30 seconds',
    created: at,
    resolved: at,
    results: { [`member-a-${n}`]: { job: 'A', ok: true }, [`member-b-${n}`]: { job: 'B', ok: true } },
    missing: [`member-c-${n}`],
    payload: { order: n, note: 'a group this client never awaits' },
  });
}

async function run(
  brokers: string[],
  label: string,
  bound: { maxBufferedOutcomes?: number; maxBufferedBytes?: number },
) {
  const topic = `bench-client-memory-${randomUUID().slice(0, 8)}`;
  await createTopics(brokers, [{ name: topic, partitions }]);
  const kafka = new Kafka({ clientId: 'bench-client-memory', brokers, logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const client = new GroupCollectorClient({ kafka: brokers, outcomeTopic: topic, ...bound });
  await client.listen();
  const rows: { outcomes: number; heapMb: number; buffered: number; bufferedMb: number }[] = [];
  rows.push({ outcomes: 0, heapMb: heapMb(), buffered: 0, bufferedMb: 0 });
  let sent = 0;
  const started = Date.now();
  while (sent < total) {
    const upTo = Math.min(sent + step, total);
    for (let from = sent; from < upTo; from += 1_000) {
      const messages = [];
      for (let n = from; n < Math.min(from + 1_000, upTo); n++) {
        const id = `unawaited-${n}`;
        messages.push({ key: id, value: outcome(id, n) });
      }
      await producer.send({ topic, messages });
    }
    sent = upTo;
    // One sentinel per partition: once all are read, so is everything before them.
    const sentinels = Array.from({ length: partitions }, (_, p) => ({
      partition: p,
      id: `sentinel-${sent}-${p}`,
    }));
    await producer.send({
      topic,
      messages: sentinels.map(({ partition, id }) => ({ partition, key: id, value: outcome(id, -1) })),
    });
    await Promise.all(sentinels.map(({ id }) => client.awaitOutcome(id, { timeoutMs: 120_000 })));
    const { outcomes: buffered, bytes } = client.buffered;
    rows.push({ outcomes: sent, heapMb: heapMb(), buffered, bufferedMb: bytes / 2 ** 20 });
  }
  const seconds = (Date.now() - started) / 1000;
  const closeStarted = Date.now();
  await client.close();
  const closeMs = Date.now() - closeStarted;
  await producer.disconnect();
  console.log(
    `\n${label}: ${total.toLocaleString('en')} outcomes never awaited, read in ${seconds.toFixed(1)} s; close() ${closeMs} ms`,
  );
  console.log('outcomes read   heapUsed MB   buffered outcomes   buffered MB');
  for (const r of rows) {
    console.log(
      `${r.outcomes.toLocaleString('en').padStart(13)}   ${r.heapMb.toFixed(1).padStart(11)}   ${String(r.buffered).padStart(17)}   ${r.bufferedMb.toFixed(2).padStart(11)}`,
    );
  }
  return rows;
}

const external = process.env.KAFKA_BROKERS;
const dataDir = mkdtempSync(join(tmpdir(), 'client-memory-'));
const node = external
  ? undefined
  : await startKafka({ port: await freePort(), controllerPort: await freePort(), dataDir });
const brokers = external ? external.split(',') : (node?.brokers ?? []);
try {
  const bounded = await run(
    brokers,
    'bounded (defaults: maxBufferedOutcomes 1,000, maxBufferedBytes 16 MiB)',
    {},
  );
  const first = bounded[1]?.heapMb ?? 0;
  const last = bounded.at(-1)?.heapMb ?? 0;
  console.log(
    `heap after ${total.toLocaleString('en')}: ${last.toFixed(1)} MB (after the first step: ${first.toFixed(1)} MB)`,
  );
  if (args.unbounded) {
    await run(brokers, 'unbounded (every outcome kept, as the client did before)', {
      maxBufferedOutcomes: Number.MAX_SAFE_INTEGER,
      maxBufferedBytes: Number.POSITIVE_INFINITY,
    });
  }
} finally {
  await node?.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
