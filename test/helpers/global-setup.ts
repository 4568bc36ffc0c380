import type { TestProject } from 'vitest/node';
import { type Services, startServices } from '#local/services/index.ts';
import { isLocalStack } from '#local/services/localstack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: {
      brokers: string[];
      dynamoEndpoint: string;
      tableName: string;
      streamArn: string;
      /** The DynamoDB endpoint is LocalStack's (it deletes no expired item by itself). */
      localstack: boolean;
    };
  }
}

let services: Services | undefined;

/** Starts a real Kafka broker and DynamoDB Local once for all integration tests. */
export async function setup(project: TestProject) {
  const started = Date.now();
  services = await startServices({ log: (line) => console.log(`[services] ${line}`) });
  const localstack = !services.startedDynamo && (await isLocalStack(services.dynamoEndpoint));
  console.log(`[services] ready in ${Date.now() - started} ms${localstack ? ' (DynamoDB: LocalStack)' : ''}`);
  project.provide('services', {
    brokers: services.brokers,
    dynamoEndpoint: services.dynamoEndpoint,
    tableName: services.tableName,
    streamArn: services.streamArn,
    localstack,
  });
}

export async function teardown() {
  await services?.stop();
}
