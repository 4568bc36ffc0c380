/**
 * `npm start`: the collector running locally. Starts Kafka (localhost:9092) and
 * DynamoDB Local (localhost:8000) — or uses KAFKA_BROKERS and DYNAMODB_ENDPOINT —,
 * creates the topics and the table, and runs the three functions under the local
 * event source mapping emulators. Prints a line with `ready` when it accepts input.
 *
 * LOCAL_KAFKA_PORT and LOCAL_DYNAMODB_PORT choose other ports.
 */

import { LOCAL } from '#local/settings.ts';
import { TOPICS } from '#shared/config.ts';
import { startLocalCollector } from './collector.ts';
import { localLogger } from './pretty-logger.ts';
import { startServices } from './services/index.ts';

const port = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0) throw new Error(`${name} must be a port number`);
  return value;
};

async function main() {
  const started = Date.now();
  const say = (line: string) => console.log(line);
  say('starting Kafka and DynamoDB Local (the first run fetches the Kafka jars with Maven)…');
  const services = await startServices({
    kafkaPort: port('LOCAL_KAFKA_PORT', LOCAL.kafkaPort),
    dynamodbPort: port('LOCAL_DYNAMODB_PORT', LOCAL.dynamodbPort),
    log: say,
  });
  const collector = await startLocalCollector({
    brokers: services.brokers,
    dynamoEndpoint: services.dynamoEndpoint,
    tableName: services.tableName,
    streamArn: services.streamArn,
    logger: localLogger,
    log: (line) => say(`[esm] ${line}`),
  }).catch(async (error: unknown) => {
    await services.stop();
    throw error;
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping…');
    await collector.stop();
    await services.stop();
    say('stopped');
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const { settings } = collector;
  say(
    `ready: Kafka ${services.brokers.join(',')} · DynamoDB ${services.dynamoEndpoint} · ` +
      `input ${TOPICS.input} · outcomes ${settings.outcomeTopic} · ` +
      `dead letters ${settings.deadLetterTopic} · up in ${Date.now() - started} ms (Ctrl-C to stop)`,
  );
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? `${error.name}: ${error.message}` : error);
  process.exit(1);
});
