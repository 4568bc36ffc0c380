import type { TestProject } from 'vitest/node';
import { type Services, startServices } from '#local/services/index.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    services: { brokers: string[]; dynamoEndpoint: string; tableName: string; streamArn: string };
  }
}

let services: Services | undefined;

/** Starts a real Kafka broker and DynamoDB Local once for all integration tests. */
export async function setup(project: TestProject) {
  const started = Date.now();
  services = await startServices({ log: (line) => console.log(`[services] ${line}`) });
  console.log(`[services] ready in ${Date.now() - started} ms`);
  project.provide('services', {
    brokers: services.brokers,
    dynamoEndpoint: services.dynamoEndpoint,
    tableName: services.tableName,
    streamArn: services.streamArn,
  });
}

export async function teardown() {
  await services?.stop();
}
