import { randomUUID } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBStreamsClient } from '@aws-sdk/client-dynamodb-streams';
import { Kafka, logLevel } from 'kafkajs';
import { inject, type TestContext } from 'vitest';
import { ensureTable } from '#local/services/dynamodb.ts';
import { createTopics } from '#local/services/index.ts';
import { LOCAL } from '#local/settings.ts';
import { dynamoClient as runtimeDynamoClient } from '#shared/runtime.ts';

/** The real services started by the global setup (or given by KAFKA_BROKERS / DYNAMODB_ENDPOINT). */
export function services() {
  return inject('services');
}

/**
 * Skips a test that needs DynamoDB to delete expired items by itself (TTL) when the endpoint is
 * LocalStack's, and says why in the test report. LocalStack records UpdateTimeToLive but deletes
 * expired items only by an hourly job (DYNAMODB_REMOVE_EXPIRED_ITEMS) or when asked through its
 * own endpoint, and its REMOVE records carry no userIdentity, which the collector's TTL stream
 * filters require (as AWS writes them): there, only the sweeper times groups out.
 */
export function skipWithoutTtlDeletions(context: TestContext): void {
  context.skip(
    services().localstack,
    'needs TTL deletions by the service, which LocalStack does not make (its timeouts come from the sweeper alone)',
  );
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

export function dynamoClient(): DynamoDBClient {
  return runtimeDynamoClient({ endpoint: services().dynamoEndpoint });
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

/**
 * A fresh collector table (same schema, its own stream) for tests that wait for TTL deletions:
 * DynamoDB Local 2.6.1's TTL stops finding expired items once the table's GSI holds a few hundred
 * unexpired ones (open groups of other tests), so such tests need a small table of their own.
 */
export async function freshTable(prefix = 'ttl'): Promise<{ tableName: string; streamArn: string }> {
  const tableName = `${prefix}-${randomUUID().slice(0, 8)}`;
  const client = dynamoClient();
  try {
    return { tableName, streamArn: await ensureTable(client, tableName) };
  } finally {
    client.destroy();
  }
}
