/**
 * `group-collector produce`: puts records on the collector's topic without kcat. A file is one
 * record (as `kcat -P file`), a sample is a file of events/samples/, and `-` reads standard input,
 * one record per non-empty line. Each record is checked first with the client's rules (the
 * collector's own decoder): one the collector would dead-letter is refused with the client's
 * ValidationError and nothing more is sent. `--raw` sends every record as given, so that dead
 * letters can be tried.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { ValidationError } from '../client/errors.ts';
import { checkValue } from '../client/validation.ts';
import { ENV, LIMITS, TOPICS } from '../functions/shared/config.ts';
import { LOCAL } from '../local/settings.ts';
import { CommandError, kafkaFailure, UsageError } from './errors.ts';
import type { Command, Io } from './types.ts';

/** The contract's sample events: events/samples/ beside cli/ in the repository, beside dist/ in the package. */
export const SAMPLES_DIR = fileURLToPath(new URL('../events/samples/', import.meta.url));

const USAGE = `usage: group-collector produce [--brokers host:port[,…]] [--topic TOPIC] [--key KEY] [--raw] (FILE.json … | --sample NAME … | -)

  FILE.json         send the file as one record (several files: several records, in order)
  --sample NAME     send events/samples/NAME.json (${listSamples().join(', ')}); repeatable
  -                 read standard input, one record per non-empty line
  --brokers         default: $${ENV.kafkaBrokers}, else localhost:${LOCAL.kafkaPort}
  --topic           default: ${TOPICS.input}
  --key             record key (default: none)
  --raw             send every record as given, even one the collector dead-letters (not JSON,
                    an unknown type, "expected": [] …); without it such a record is refused

Each record is checked as the client checks what it publishes (the collector's own rules, a ttl
up to ${LIMITS.maxTtlSeconds} s): the first one the collector would dead-letter is refused with the
client's ValidationError, and it and the records after it are not sent.

Exit code: 0 when every record was sent, 1 for a refused record or a broker that cannot be
reached, 2 for a wrong command line.`;

export function listSamples(): string[] {
  try {
    return readdirSync(SAMPLES_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/\.json$/, ''))
      .sort();
  } catch {
    return [];
  }
}

interface Source {
  readonly label: string;
  readonly values: () => AsyncIterable<string>;
}

export const produceCommand: Command = {
  summary: 'send a JSON file, a sample event or standard input to the collector topic',
  async run(args, io) {
    let parsed: ReturnType<typeof parse>;
    try {
      parsed = parse(args);
    } catch (error) {
      throw new UsageError(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`);
    }
    const { values, tokens } = parsed;
    if (values.help) {
      io.stdout.write(`${USAGE}\n`);
      return 0;
    }
    // In command-line order: samples and files may be mixed.
    const sources = tokens.flatMap((token): Source[] => {
      if (token.kind === 'positional') return [pathSource(token.value, io)];
      if (token.kind === 'option' && token.name === 'sample' && token.value !== undefined) {
        return [sampleSource(token.value)];
      }
      return [];
    });
    if (sources.length === 0) throw new UsageError(`nothing to send\n\n${USAGE}`);
    const brokers = (values.brokers ?? io.env[ENV.kafkaBrokers] ?? `localhost:${LOCAL.kafkaPort}`)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
    const topic = values.topic ?? TOPICS.input;
    const sent = await produce({ brokers, topic, key: values.key, raw: values.raw === true, sources, io });
    io.stderr.write(`sent ${sent} record(s) to ${topic} on ${brokers.join(',')}\n`);
    return 0;
  },
};

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    tokens: true,
    options: {
      brokers: { type: 'string' },
      topic: { type: 'string' },
      key: { type: 'string' },
      sample: { type: 'string', multiple: true },
      raw: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function sampleSource(name: string): Source {
  const file = name.endsWith('.json') ? name : `${name}.json`;
  if (!listSamples().includes(file.replace(/\.json$/, ''))) {
    throw new UsageError(`no sample "${name}": choose one of ${listSamples().join(', ')}`);
  }
  return { label: `sample ${name}`, values: fileValues(join(SAMPLES_DIR, file)) };
}

function pathSource(path: string, io: Io): Source {
  if (path === '-') return { label: 'stdin', values: () => lines(io) };
  return { label: path, values: fileValues(path) };
}

function fileValues(path: string): () => AsyncIterable<string> {
  return async function* () {
    yield readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  };
}

async function* lines(io: Io): AsyncIterable<string> {
  for await (const line of createInterface({ input: io.stdin, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line.trim() !== '') yield line;
  }
}

async function produce(options: {
  brokers: string[];
  topic: string;
  key: string | undefined;
  raw: boolean;
  sources: Source[];
  io: Io;
}): Promise<number> {
  const { brokers, topic, key, raw, sources, io } = options;
  const kafka = new Kafka({ clientId: 'group-collector-cli', brokers, logLevel: logLevel.NOTHING });
  // Connected on the first record to send: a refused first record needs no broker.
  let producer: Producer | undefined;
  let sent = 0;
  try {
    for (const source of sources) {
      for await (const value of source.values()) {
        const refusal = refusalOf(value);
        if (refusal && !raw) {
          throw new CommandError(
            `${source.label}: ${refusal.name} (${refusal.field === '(value)' ? 'the record' : `field "${refusal.field}"`}, reason ${refusal.reason}): ${refusal.message}\n` +
              `  not sent, nor anything after it${sent > 0 ? ` (${sent} record(s) sent before it)` : ''}; ` +
              'fix: correct the record, or give --raw to send it as it is (the collector dead-letters it)',
            1,
            { cause: refusal },
          );
        }
        if (refusal) {
          io.stderr.write(
            `note: ${source.label}: sent as given (--raw); the collector dead-letters it (${refusal.reason}): ${refusal.message}\n`,
          );
        }
        try {
          if (!producer) {
            producer = kafka.producer({
              idempotent: true,
              maxInFlightRequests: 1,
              allowAutoTopicCreation: false,
            });
            await producer.connect();
          }
          const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: key ?? null, value }] });
          sent += 1;
          io.stdout.write(`${source.label} → ${topic}/${meta?.partition}@${meta?.baseOffset}\n`);
        } catch (error) {
          throw kafkaFailure(error, { brokers, topic });
        }
      }
    }
  } finally {
    await producer?.disconnect();
  }
  return sent;
}

/** The client's refusal of a record (the collector's decoder and limits), or undefined when it is sendable. */
export function refusalOf(value: string): ValidationError | undefined {
  try {
    checkValue(value, { maxTtlSeconds: LIMITS.maxTtlSeconds });
    return undefined;
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
}
