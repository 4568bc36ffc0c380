import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { Kafka, logLevel } from 'kafkajs';
import { inject } from 'vitest';
import { createTopics } from '#local/services/index.ts';
import { LOCAL } from '#shared/config.ts';

/** The real services started by the global setup (or given by KAFKA_BROKERS / DYNAMODB_ENDPOINT). */
export function services() {
  return inject('services');
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ endpoint: services().dynamoEndpoint, region: LOCAL.region, credentials });
}

export function streamsClient(): DynamoDBStreamsClient {
  return new DynamoDBStreamsClient({
    endpoint: services().dynamoEndpoint,
    region: LOCAL.region,
    credentials,
  });
}

export function kafka(clientId = 'test'): Kafka {
  return new Kafka({ clientId, brokers: services().brokers, logLevel: logLevel.NOTHING });
}

/** A fresh topic with a unique name, so that tests never see each other's records. */
export async function freshTopic(prefix: string, partitions = 3): Promise<string> {
  const name = `${prefix}-${randomUUID().slice(0, 8)}`;
  await createTopics(services().brokers, [{ name, partitions }]);
  return name;
}

export const uniqueId = (prefix = 'id') => `${prefix}-${randomUUID()}`;
