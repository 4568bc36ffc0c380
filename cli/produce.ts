/**
 * `group-collector produce`: puts records on the collector's topic without kcat. A file is one
 * record (as `kcat -P file`), a sample is a file of events/samples/, and `-` reads standard input,
 * one record per non-empty line. Values are sent as given: something that is not JSON is sent too
 * (with a note), so that dead letters can be tried.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { ENV, TOPICS } from '../functions/shared/config.ts';
import { LOCAL } from '../local/settings.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, type Connection, connectionOf } from './connection.ts';
import { UsageError } from './errors.ts';
import type { Command, Io } from './types.ts';

/** The contract's sample events: events/samples/ beside cli/ in the repository, beside dist/ in the package. */
export const SAMPLES_DIR = fileURLToPath(new URL('../events/samples/', import.meta.url));

const USAGE = `usage: group-collector produce [--brokers host:port[,…]] [--topic TOPIC] [--key KEY] (FILE.json … | --sample NAME … | -)

  FILE.json         send the file as one record (several files: several records, in order)
  --sample NAME     send events/samples/NAME.json (${listSamples().join(', ')}); repeatable
  -                 read standard input, one record per non-empty line
  --brokers         default: $${ENV.kafkaBrokers}, else localhost:${LOCAL.kafkaPort}
  --topic           default: ${TOPICS.input}
  --key             record key (default: none)

${CONNECTION_USAGE}`;

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
    const connection = connectionOf(values, io.env);
    const sent = await produce({ brokers, connection, topic, key: values.key, sources, io });
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
      help: { type: 'boolean', short: 'h' },
      ...CONNECTION_OPTIONS,
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
  connection: Connection;
  topic: string;
  key: string | undefined;
  sources: Source[];
  io: Io;
}): Promise<number> {
  const { brokers, connection, topic, key, sources, io } = options;
  const kafka = new Kafka({
    clientId: 'group-collector-cli',
    brokers,
    logLevel: logLevel.NOTHING,
    ...connection,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  let sent = 0;
  try {
    for (const source of sources) {
      for await (const value of source.values()) {
        if (!isJson(value)) {
          io.stderr.write(`note: ${source.label}: not JSON; sent anyway (the collector dead-letters it)\n`);
        }
        const [meta] = await producer.send({ topic, acks: -1, messages: [{ key: key ?? null, value }] });
        sent += 1;
        io.stdout.write(`${source.label} → ${topic}/${meta?.partition}@${meta?.baseOffset}\n`);
      }
    }
  } finally {
    await producer.disconnect();
  }
  return sent;
}

function isJson(value: string): boolean {
  try {
    JSON.parse(value);
    return true;
  } catch {
    return false;
  }
}
