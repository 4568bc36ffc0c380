import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { LOCAL_TOPIC_PARTITIONS } from '#local/settings.ts';
import { ENV, TOPICS } from '#shared/config.ts';
import { TABLE } from '#store/layout.ts';
import { ensureTable, localDynamoClient, startDynamo } from './dynamodb.ts';
import { startKafka } from './kafka.ts';
import { freePort, portsInUse, ServiceStartError, waitFor } from './process.ts';

export interface Services {
  brokers: string[];
  dynamoEndpoint: string;
  tableName: string;
  streamArn: string;
  /** True when this process started the services (false when it uses KAFKA_BROKERS / DYNAMODB_ENDPOINT). */
  startedKafka: boolean;
  startedDynamo: boolean;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  /** Fixed ports (npm start); by default free ports are picked so that runs never collide. */
  kafkaPort?: number;
  dynamodbPort?: number;
  tableName?: string;
  topics?: { name: string; partitions: number }[];
  env?: Record<string, string | undefined>;
  log?: (line: string) => void;
  /**
   * Told when a service this process started ends without being stopped: `service` names it
   * (`Kafka`, `DynamoDB Local`), `how` says how (`exited with code 1`, `killed by SIGKILL`).
   */
  onExit?: (service: ServiceName, how: string) => void;
}

export type ServiceName = 'Kafka' | 'DynamoDB Local';

export const DEFAULT_TOPICS = [
  { name: TOPICS.input, partitions: LOCAL_TOPIC_PARTITIONS },
  { name: TOPICS.deadLetter, partitions: 3 },
  { name: TOPICS.esmFailure, partitions: 1 },
];

/**
 * Starts (or connects to) a Kafka broker and DynamoDB, waits until both answer,
 * creates the topics and the table, and returns how to reach them.
 * `KAFKA_BROKERS` and `DYNAMODB_ENDPOINT` / `AWS_ENDPOINT_URL` select existing services
 * (Kafka and LocalStack containers, for users with Docker).
 */
export async function startServices(options: ServiceOptions = {}): Promise<Services> {
  const env = options.env ?? process.env;
  const log = options.log ?? (() => {});
  const dataDir = mkdtempSync(join(tmpdir(), 'group-collector-'));
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const externalBrokers = env[ENV.kafkaBrokers];
    const externalDynamo = env[ENV.dynamodbEndpoint] || env[ENV.awsEndpoint];
    // Fixed ports are checked together before anything starts: a port in use fails the start at once.
    const fixed = [
      ...(externalBrokers || options.kafkaPort === undefined
        ? []
        : [{ service: 'Kafka', port: options.kafkaPort, instead: `set ${ENV.kafkaBrokers} to use it` }]),
      ...(externalDynamo || options.dynamodbPort === undefined
        ? []
        : [
            {
              service: 'DynamoDB Local',
              port: options.dynamodbPort,
              instead: `set ${ENV.dynamodbEndpoint} to use it`,
            },
          ]),
    ];
    const taken = await portsInUse(fixed);
    if (taken.length > 0) {
      throw new ServiceStartError(
        taken
          .map((t) => `port ${t.port} (${t.service}) is in use: stop whatever listens there or ${t.instead}`)
          .join('; '),
      );
    }
    const onExit = options.onExit;
    const startedAt = Date.now();
    const [kafka, dynamo] = await Promise.all([
      externalBrokers
        ? Promise.resolve({ brokers: externalBrokers.split(','), stop: async () => {} })
        : (async () => {
            const node = await startKafka({
              port: options.kafkaPort ?? (await freePort()),
              controllerPort: await freePort(),
              dataDir: join(dataDir, 'kafka'),
              ...(onExit ? { onExit: (how: string) => onExit('Kafka', how) } : {}),
            });
            log(`kafka ${node.brokers.join(',')} up in ${Date.now() - startedAt} ms`);
            return node;
          })(),
      externalDynamo
        ? Promise.resolve({ endpoint: externalDynamo, stop: async () => {} })
        : (async () => {
            const node = await startDynamo({
              port: options.dynamodbPort ?? (await freePort()),
              dataDir: join(dataDir, 'dynamodb'),
              ...(onExit ? { onExit: (how: string) => onExit('DynamoDB Local', how) } : {}),
            });
            log(`dynamodb ${node.endpoint} up in ${Date.now() - startedAt} ms`);
            return node;
          })(),
    ]);
    stops.push(kafka.stop, dynamo.stop);
    await createTopics(kafka.brokers, options.topics ?? DEFAULT_TOPICS);
    const tableName = options.tableName ?? TABLE.defaultName;
    const client = localDynamoClient(dynamo.endpoint);
    const streamArn = await ensureTable(client, tableName).finally(() => client.destroy());
    return {
      brokers: kafka.brokers,
      dynamoEndpoint: dynamo.endpoint,
      tableName,
      streamArn,
      startedKafka: !externalBrokers,
      startedDynamo: !externalDynamo,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Creates topics that do not exist yet and waits until each has a leader for every partition. */
export async function createTopics(
  brokers: string[],
  topics: { name: string; partitions: number; config?: Record<string, string> }[],
) {
  const kafka = new Kafka({ clientId: 'group-collector-setup', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length > 0) {
      // Leaders are awaited below with our own patience: under load kafkajs's own wait gives up early
      // ("This server does not host this topic-partition").
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: 1,
          ...(t.config
            ? { configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })) }
            : {}),
        })),
      });
    }
    await waitFor(
      'topic leaders',
      async () => {
        const { topics: meta } = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
        const byName = new Map(meta.map((t) => [t.name, t]));
        return topics.every((t) => {
          const partitions = byName.get(t.name)?.partitions ?? [];
          return partitions.length > 0 && partitions.every((p) => p.leader >= 0);
        });
      },
      60_000,
    );
  } finally {
    await admin.disconnect();
  }
}
