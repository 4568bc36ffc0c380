/**
 * Clients built once per execution environment and reused by every invocation:
 * the DynamoDB client, the Kafka producer, the store and the collector service.
 */

import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KafkaPublisher, type Publisher } from '#publish/kafka-publisher.ts';
import { Collector, type CollectorSettings, type Observer } from '#service/collector.ts';
import { GroupStore } from '#store/dynamo-store.ts';
import { loadSettings, METRICS, type Settings } from './config.ts';
import { kafkaConnectionConfig } from './kafka-auth.ts';

export interface Runtime {
  settings: Settings;
  store: GroupStore;
  publisher: Publisher;
  collector: Collector;
  logger: Logger;
  metrics: Metrics;
}

export function collectorSettings(settings: Settings): CollectorSettings {
  return {
    outcomeTopic: settings.outcomeTopic,
    deadLetterTopic: settings.deadLetterTopic,
    retentionSeconds: settings.retentionSeconds,
    earlyReportWaitSeconds: settings.earlyReportWaitSeconds,
    maxOutcomeBytes: settings.maxOutcomeBytes,
    maxTtlSeconds: settings.maxTtlSeconds,
  };
}

export function metricsObserver(metrics: Metrics): Observer {
  return {
    count: (name, detail) => {
      metrics.addMetric(name, MetricUnit.Count, 1);
      // Dead letters are also counted per reason, each in its own EMF record.
      if (name === 'DeadLetters' && detail?.reason !== undefined) {
        const single = metrics.singleMetric();
        single.addDimension('reason', String(detail.reason));
        single.addMetric('DeadLettersByReason', MetricUnit.Count, 1);
      }
    },
  };
}

/** Builds a runtime from explicit parts (tests, local runtime) or from the environment (Lambda). */
export function createRuntime(parts: {
  settings: Settings;
  dynamo: DynamoDBClient;
  publisher: Publisher;
  functionName: string;
  logger?: Logger;
}): Runtime {
  const logger =
    parts.logger ?? new Logger({ serviceName: METRICS.service, persistentKeys: { fn: parts.functionName } });
  const metrics = new Metrics({ namespace: METRICS.namespace, serviceName: METRICS.service });
  const store = new GroupStore(parts.dynamo, parts.settings.tableName);
  const collector = new Collector(
    store,
    parts.publisher,
    collectorSettings(parts.settings),
    metricsObserver(metrics),
  );
  return { settings: parts.settings, store, publisher: parts.publisher, collector, logger, metrics };
}

let shared: Promise<Runtime> | undefined;

/** The execution environment's runtime, configured from process.env (created on first use). */
export function environmentRuntime(functionName: string): Promise<Runtime> {
  shared ??= (async () => {
    const settings = loadSettings();
    const dynamo = new DynamoDBClient(
      settings.dynamodbEndpoint ? { endpoint: settings.dynamodbEndpoint } : {},
    );
    const connection = await kafkaConnectionConfig(process.env);
    const publisher = new KafkaPublisher({
      clientId: `group-collector-${functionName}`,
      brokers: settings.kafkaBrokers,
      ...connection,
    });
    return createRuntime({ settings, dynamo, publisher, functionName });
  })().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
