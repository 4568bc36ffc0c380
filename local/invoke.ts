/**
 * Runs one function once with one event file against the local services
 * (started by `npm start`, or KAFKA_BROKERS / DYNAMODB_ENDPOINT), and prints
 * what it returned, what it published and the capacity it used.
 *
 *   npm run invoke -- collector events/collector/msk-create.json
 *   npm run invoke -- timeouts events/timeouts/ttl-remove-open-group.json --in 125
 *   npm run invoke -- sweeper events/sweeper/scheduled.json --in 125
 *
 * `--in N` runs the function as if N seconds had passed (to see a deadline expire).
 */
import { readFileSync } from 'node:fs';
import type { DynamoDBStreamEvent } from 'aws-lambda';
import { LOCAL } from '#local/settings.ts';
import type { OutgoingMessage, Publisher } from '#publish/publisher.ts';
import { ENV, loadSettings } from '#shared/config.ts';
import { createRuntime, kafkaPublisher } from '#shared/runtime.ts';
import { processKafkaEvent } from '../functions/collector/handler.ts';
import { sweepOnce } from '../functions/sweeper/handler.ts';
import { processStreamEvent } from '../functions/timeouts/handler.ts';
import { localDynamoClient } from './services/dynamodb.ts';

const FUNCTIONS = ['collector', 'timeouts', 'sweeper'] as const;
type FunctionName = (typeof FUNCTIONS)[number];

class RecordingPublisher implements Publisher {
  readonly sent: OutgoingMessage[] = [];
  constructor(private readonly inner: Publisher) {}
  async publish(messages: OutgoingMessage[]) {
    await this.inner.publish(messages);
    this.sent.push(...messages);
  }
  disconnect() {
    return this.inner.disconnect();
  }
}

export async function invoke(fn: FunctionName, event: unknown, offsetSeconds = 0) {
  const env = {
    ...process.env,
    [ENV.kafkaBrokers]: process.env[ENV.kafkaBrokers] ?? `localhost:${LOCAL.kafkaPort}`,
    [ENV.dynamodbEndpoint]:
      process.env[ENV.dynamodbEndpoint] ??
      process.env[ENV.awsEndpoint] ??
      `http://localhost:${LOCAL.dynamodbPort}`,
  };
  const settings = loadSettings(env);
  const dynamo = localDynamoClient(settings.dynamodbEndpoint as string);
  const publisher = new RecordingPublisher(
    kafkaPublisher({ clientId: `invoke-${fn}`, brokers: settings.kafkaBrokers }),
  );
  const runtime = createRuntime({ settings, dynamo, publisher, functionName: fn });
  runtime.logger.setLogLevel('WARN');
  const now = () => Date.now() + offsetSeconds * 1000;
  const records: unknown[] = [];
  try {
    const result =
      fn === 'collector'
        ? await processKafkaEvent(event, runtime, now, (record, outcome) =>
            records.push({
              record: `${record.origin.topic}-${record.origin.partition}@${record.origin.offset}`,
              ...(outcome.status === 'fulfilled'
                ? outcome.value
                : { status: 'failed', error: String(outcome.reason) }),
            }),
          )
        : fn === 'timeouts'
          ? await processStreamEvent(event as DynamoDBStreamEvent, runtime, now)
          : await sweepOnce(runtime, now);
    return {
      result,
      ...(fn === 'collector' ? { records } : {}),
      published: publisher.sent.map((m) => ({
        topic: m.destination,
        key: m.key === null ? null : Buffer.from(m.key).toString(),
        value: Buffer.from(m.value).toString(),
        headers: Object.fromEntries((m.headers ?? []).map((h) => [h.name, Buffer.from(h.value).toString()])),
      })),
      capacity: { writeUnits: runtime.store.meter.write, readUnits: runtime.store.meter.read },
    };
  } finally {
    await publisher.disconnect();
    dynamo.destroy();
  }
}

async function main() {
  // Standard output is the invocation's JSON alone (no EMF metric lines), so it can be piped to jq.
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  const args = process.argv.slice(2);
  const inIndex = args.indexOf('--in');
  const offset = inIndex >= 0 ? Number(args[inIndex + 1]) : 0;
  const [fn, file] = args.filter((_, i) => inIndex < 0 || (i !== inIndex && i !== inIndex + 1));
  if (!fn || !file || !FUNCTIONS.includes(fn as FunctionName) || !Number.isFinite(offset)) {
    console.error('usage: npm run invoke -- <collector|timeouts|sweeper> <event.json> [--in <seconds>]');
    process.exit(2);
  }
  const event = JSON.parse(readFileSync(file, 'utf8'));
  const output = await invoke(fn as FunctionName, event, offset);
  console.log(JSON.stringify(output, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
    if (error instanceof Error && error.cause) console.error('caused by:', error.cause);
    process.exit(1);
  });
}
