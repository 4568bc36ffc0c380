/**
 * `npm start`: the collector running locally, as a service. Starts Kafka (localhost:9092) and
 * DynamoDB Local (localhost:8000) — or uses KAFKA_BROKERS and DYNAMODB_ENDPOINT —, creates the
 * topics and the table, and runs the three functions under the local event source mapping
 * emulators.
 *
 * - When it accepts input it prints one line beginning with `ready: ` (no other line begins so).
 * - A port in use is reported before anything starts: a line beginning with `error: `, exit code 1.
 * - SIGINT, SIGTERM or SIGHUP (or the end of the process that started it, such as npm) stops every
 *   service it started, then it exits with code 0: the next start finds the ports free.
 * - A service that ends underneath it (Kafka or DynamoDB Local) is named in an `error: ` line;
 *   everything else is stopped and it exits with code 1.
 *
 * LOCAL_KAFKA_PORT and LOCAL_DYNAMODB_PORT choose other ports.
 */

import { generateSigningJwk, parseSigningKeySet } from '#core/signing.ts';
import { LOCAL, START_LINES } from '#local/settings.ts';
import { loadSettings, TOPICS } from '#shared/config.ts';
import { type LocalCollector, startLocalCollector } from './collector.ts';
import { localLogger } from './pretty-logger.ts';
import { type Services, startServices } from './services/index.ts';

const port = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value <= 0 || value > 65_535) {
    throw new Error(`${name} must be a port number`);
  }
  return value;
};

const say = (line: string) => console.log(line);
const fail = (line: string) => console.error(`${START_LINES.error}${line}`);

let services: Services | undefined;
let collector: LocalCollector | undefined;
let stopping = false;

/** Stops what was started (the collector first, then the services) and exits with `code`. */
async function shutdown(code: number, why: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  say(`stopping (${why})…`);
  await collector?.stop().catch((error: unknown) => fail(`stopping the collector: ${describe(error)}`));
  await services?.stop();
  say('stopped');
  process.exit(code);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

async function main() {
  const started = Date.now();
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => void shutdown(0, signal));
  }
  // npm and tsx may end without passing their signal on: the end of the parent stops this service too.
  const parent = process.ppid;
  setInterval(() => {
    try {
      process.kill(parent, 0);
    } catch {
      void shutdown(0, `parent process ${parent} ended`);
    }
  }, 500).unref();
  const kafkaPort = port('LOCAL_KAFKA_PORT', LOCAL.kafkaPort);
  const dynamodbPort = port('LOCAL_DYNAMODB_PORT', LOCAL.dynamodbPort);
  say('starting Kafka and DynamoDB Local (the first run fetches the Kafka jars with Maven)…');
  services = await startServices({
    kafkaPort,
    dynamodbPort,
    log: say,
    onExit: (service, how) => {
      if (stopping) return;
      fail(`${service} ${how}; stopping everything`);
      void shutdown(1, `${service} ended`);
    },
  });
  if (stopping) return;
  // Outcomes are signed as on AWS: with COLLECTOR_SIGNING_KEYS, else a key made for this run (its
  // state lives in memory and goes with it); its public key is what a client's outcomeKeys take.
  const signingKeys =
    loadSettings().signingKeys ??
    JSON.stringify({ keys: [generateSigningJwk(`local-${new Date().toISOString().slice(0, 10)}`, 0)] });
  collector = await startLocalCollector({
    brokers: services.brokers,
    dynamoEndpoint: services.dynamoEndpoint,
    tableName: services.tableName,
    streamArn: services.streamArn,
    logger: localLogger,
    log: (line) => say(`[esm] ${line}`),
    settings: { signingKeys },
  });
  if (stopping) return;
  const { settings } = collector;
  say(
    `outcome keys: ${parseSigningKeySet(signingKeys)
      .keys.map((k) => k.publicKey)
      .join(',')}`,
  );
  say(
    `${START_LINES.ready}Kafka ${services.brokers.join(',')} · DynamoDB ${services.dynamoEndpoint} · ` +
      `input ${TOPICS.input} · outcomes ${settings.outcomeTopic} · ` +
      `dead letters ${settings.deadLetterTopic} · up in ${Date.now() - started} ms (Ctrl-C to stop)`,
  );
}

main().catch(async (error: unknown) => {
  fail(describe(error));
  if (stopping) return;
  stopping = true;
  await collector?.stop().catch(() => {});
  await services?.stop();
  process.exit(1);
});
