/**
 * The runtime factory: the one place that builds a publisher, the store and
 * the collector service. Lambda builds one runtime per execution environment from process.env;
 * the local runtime, the tests and the benchmarks build theirs here too, from explicit settings.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { KafkaConfig } from 'kafkajs';
import { parseSigningKeySet } from '#core/signing.ts';
import { KafkaPublisher } from '#publish/kafka.ts';
import type { Publisher } from '#publish/publisher.ts';
import { OutcomeSigner, SigningPublisher } from '#publish/signing.ts';
import { Collector, type CollectorSettings } from '#service/collector.ts';
import { GroupStore, type StoreOptions } from '#store/group-store.ts';
import { ENV, loadSettings, type Settings } from './config.ts';
import { dynamoClient } from './dynamo.ts';
import { kafkaConnectionConfig } from './kafka-auth.ts';
import { METRICS, metricsObserver } from './metrics.ts';

export { dynamoClient } from './dynamo.ts';

export interface Runtime {
  settings: Settings;
  store: GroupStore;
  publisher: Publisher;
  collector: Collector;
  logger: Logger;
  metrics: Metrics;
}

/** A Kafka publisher (idempotent producer, acks from all in-sync replicas). */
export function kafkaPublisher(config: KafkaConfig): Publisher {
  return new KafkaPublisher(config);
}

/** The logger and metrics of a function, built at module load so that handler middlewares can use them. */
export function observability(functionName: string, settings: Settings = loadSettings()) {
  const logger = new Logger({ serviceName: METRICS.service, persistentKeys: { fn: functionName } });
  const metrics = new Metrics({
    namespace: settings.metricsNamespace,
    serviceName: METRICS.service,
    ...(settings.deployment
      ? { defaultDimensions: { [METRICS.deploymentDimension]: settings.deployment } }
      : {}),
  });
  return { logger, metrics };
}

export function collectorSettings(settings: Settings): CollectorSettings {
  return {
    outcomeTopic: settings.outcomeTopic,
    deadLetterTopic: settings.deadLetterTopic,
    earlyReportWaitSeconds: settings.earlyReportWaitSeconds,
    maxOutcomeBytes: settings.maxOutcomeBytes,
    maxTtlSeconds: settings.maxTtlSeconds,
  };
}

/**
 * Builds a runtime. Parts not given are built from the settings: a DynamoDB client for
 * `settings.dynamodbEndpoint` (or AWS), a Kafka publisher for `settings.kafkaBrokers`.
 */
export function createRuntime(parts: {
  settings: Settings;
  functionName: string;
  dynamo?: DynamoDBClient;
  publisher?: Publisher;
  logger?: Logger;
  metrics?: Metrics;
  /** Bounds on early reports (tests use small ones; the contract's by default). */
  earlyReports?: StoreOptions['earlyReports'];
  /** Largest group kept in one item (tests set 0 to exercise the multi-item layout; LAYOUT.single by default). */
  singleItemMembers?: StoreOptions['singleItemMembers'];
}): Runtime {
  const { settings, functionName } = parts;
  const made = parts.logger && parts.metrics ? undefined : observability(functionName, settings);
  const logger = parts.logger ?? (made as { logger: Logger }).logger;
  const metrics = parts.metrics ?? (made as { metrics: Metrics }).metrics;
  const dynamo = parts.dynamo ?? dynamoClient({ endpoint: settings.dynamodbEndpoint });
  const signer = outcomeSigner(settings, logger);
  const inner =
    parts.publisher ??
    kafkaPublisher({ clientId: `group-collector-${functionName}`, brokers: settings.kafkaBrokers });
  const publisher = signer ? new SigningPublisher(inner, signer) : inner;
  const store = new GroupStore(dynamo, {
    tableName: settings.tableName,
    retentionSeconds: settings.retentionSeconds,
    earlyReports: parts.earlyReports,
    singleItemMembers: parts.singleItemMembers,
    maxTtlSeconds: settings.maxTtlSeconds,
  });
  const collector = new Collector(
    store,
    publisher,
    collectorSettings(settings),
    metricsObserver(metrics),
    signer,
  );
  return { settings, store, publisher, collector, logger, metrics };
}

/**
 * Outcomes signed with the settings' key set (the JSON, or the secret: read at the first outcome of
 * the execution environment, kept 5 minutes) when decided; with neither, outcomes go unsigned and a
 * warning says so.
 */
function outcomeSigner(settings: Settings, logger: Logger): OutcomeSigner | undefined {
  const { signingKeys, signingSecretArn } = settings;
  if (signingKeys !== undefined) {
    const set = parseSigningKeySet(signingKeys);
    return new OutcomeSigner(async () => set, Number.POSITIVE_INFINITY);
  }
  if (signingSecretArn !== undefined) {
    return new OutcomeSigner(async () => {
      const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
      const response = await new SecretsManagerClient({}).send(
        new GetSecretValueCommand({ SecretId: signingSecretArn }),
      );
      return parseSigningKeySet(response.SecretString ?? '');
    });
  }
  if (process.env.AWS_LAMBDA_FUNCTION_NAME) {
    logger.warn(
      `outcomes are published unsigned: neither ${ENV.signingSecretArn} nor ${ENV.signingKeys} is set`,
    );
  }
  return undefined;
}

let shared: Promise<Runtime> | undefined;

/**
 * The execution environment's runtime, configured from process.env (created on first use and
 * reused by every invocation). `parts` are the function's logger and metrics, which its middlewares use.
 */
export function environmentRuntime(
  functionName: string,
  parts: { logger: Logger; metrics: Metrics; settings?: Settings },
): Promise<Runtime> {
  shared ??= (async () => {
    const settings = parts.settings ?? loadSettings();
    const connection = await kafkaConnectionConfig(process.env);
    const publisher = kafkaPublisher({
      clientId: `group-collector-${functionName}`,
      brokers: settings.kafkaBrokers,
      ...connection,
    });
    return createRuntime({ settings, functionName, publisher, logger: parts.logger, metrics: parts.metrics });
  })().catch((error: unknown) => {
    shared = undefined;
    throw error;
  });
  return shared;
}
