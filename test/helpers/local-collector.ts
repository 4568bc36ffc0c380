/**
 * The whole collector (startLocalCollector: both mappings, the sweeper unless switched off) on fresh
 * topics, and a client listening on its outcome topic: the set-up of the end-to-end tests.
 */
import { randomUUID } from 'node:crypto';
import { type LocalCollector, type LocalCollectorOptions, startLocalCollector } from '#local/collector.ts';
import type { Settings } from '#shared/config.ts';
import { type ClientOptions, GroupCollectorClient } from '../../client/index.ts';
import { freshTable, freshTopic, services } from './services.ts';

export interface CollectorOnTopics {
  input: string;
  outcomes: string;
  deadLetters: string;
  collector: LocalCollector;
  client: GroupCollectorClient;
  stop(): Promise<void>;
}

export async function collectorOnFreshTopics(
  name: string,
  options: {
    partitions?: number;
    /** A small table of its own (DynamoDB Local's TTL stalls when the shared table's index is large). */
    ownTable?: boolean;
    settings?: Partial<Settings>;
    sweeper?: LocalCollectorOptions['sweeper'];
    client?: Partial<ClientOptions>;
  } = {},
): Promise<CollectorOnTopics> {
  const partitions = options.partitions ?? 1;
  const [input, outcomes, deadLetters] = await Promise.all([
    freshTopic(`${name}-in`, partitions),
    freshTopic(`${name}-out`, partitions),
    freshTopic(`${name}-dlq`, 1),
  ]);
  const table = options.ownTable ? await freshTable(name) : {};
  const collector = await startLocalCollector({
    ...services(),
    ...table,
    inputTopics: [input],
    groupId: `${name}-${randomUUID()}`,
    kafka: { maximumBatchingWindowSeconds: 0 },
    settings: { outcomeTopic: outcomes, deadLetterTopic: deadLetters, ...options.settings },
    ...(options.sweeper === undefined ? {} : { sweeper: options.sweeper }),
  });
  const client = new GroupCollectorClient({
    kafka: services().brokers,
    topic: input,
    outcomeTopic: outcomes,
    ...options.client,
  });
  await client.listen();
  return {
    input,
    outcomes,
    deadLetters,
    collector,
    client,
    async stop() {
      await client.close();
      await collector.stop();
    },
  };
}
