/**
 * Shows the bus as a person wants to see it: every outcome and dead letter as
 * it arrives, one readable line each.
 *
 *   npm run watch                  # from now on
 *   npm run watch -- --from-start  # everything the topics hold
 */
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { LOCAL } from '#local/settings.ts';
import { DLQ_HEADERS, ENV, TOPICS } from '#shared/config.ts';
import { parseOutcome } from '../client/index.ts';

const color = process.stdout.isTTY
  ? { green: '\x1b[32m', red: '\x1b[31m', yellow: '\x1b[33m', dim: '\x1b[2m', reset: '\x1b[0m' }
  : { green: '', red: '', yellow: '', dim: '', reset: '' };

const short = (value: unknown, max = 100) => {
  const text = JSON.stringify(value) ?? 'undefined';
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

/** One line for a record of the outcome or dead-letter topic, or undefined for anything else. */
export function describeRecord(
  topic: string,
  value: Buffer | null,
  headers: Record<string, string>,
  deadLetterTopic: string = TOPICS.deadLetter,
): string | undefined {
  const time = new Date().toISOString().slice(11, 23);
  if (topic === deadLetterTopic) {
    const reason = headers[DLQ_HEADERS.reason] ?? '?';
    const where = `${headers[DLQ_HEADERS.topic]}/${headers[DLQ_HEADERS.partition]}@${headers[DLQ_HEADERS.offset]}`;
    return `${time} ${color.yellow}DEAD LETTER${color.reset} ${reason} from ${where}: ${headers[DLQ_HEADERS.message] ?? ''} ${color.dim}${short(value?.toString('utf8') ?? '', 80)}${color.reset}`;
  }
  const outcome = parseOutcome(value);
  if (!outcome) return undefined;
  const took = Date.parse(outcome.resolved) - Date.parse(outcome.created);
  if (outcome.type === 'EventGroupCollectorSuccess') {
    const n = Object.keys(outcome.results).length;
    return `${time} ${color.green}SUCCESS${color.reset} group ${outcome.id} in ${took} ms: ${n} result(s) ${short(outcome.results)}`;
  }
  const timedOut = outcome.entity === outcome.id;
  const what = timedOut
    ? `timed out, missing ${short(outcome.missing ?? [])}`
    : `member ${outcome.entity} failed`;
  return `${time} ${color.red}FAILURE${color.reset} group ${outcome.id} in ${took} ms: ${what}: ${outcome.error}`;
}

async function main() {
  const fromStart = process.argv.includes('--from-start');
  const brokers = (process.env[ENV.kafkaBrokers] ?? `localhost:${LOCAL.kafkaPort}`).split(',');
  const outcomeTopic = process.env[ENV.outcomeTopic] ?? TOPICS.outcomes;
  const deadLetterTopic = process.env[ENV.deadLetterTopic] ?? TOPICS.deadLetter;
  const kafka = new Kafka({ clientId: 'group-collector-watch', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `group-collector-watch-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({
    topics: [...new Set([outcomeTopic, deadLetterTopic])],
    fromBeginning: fromStart,
  });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      const line = describeRecord(topic, message.value, headers, deadLetterTopic);
      if (line) console.log(line);
    },
  });
  console.error(`watching ${outcomeTopic} and ${deadLetterTopic} on ${brokers.join(',')} (Ctrl-C to stop)`);
  const stop = async () => {
    await consumer.disconnect();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
