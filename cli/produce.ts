/**
 * `group-collector produce`: puts records on the collector's topic without kcat. A file is one
 * record (as `kcat -P file`), a sample is a file of events/samples/, and `-` reads standard input,
 * one record per non-empty line. Each record is checked first with the client's rules (the
 * collector's own decoder): one the collector would dead-letter is refused with the client's
 * ValidationError and nothing more is sent; `--raw` sends every record as given, so that dead
 * letters can be tried. `--group ID` (or `--new-id`) puts every record sent into that group;
 * `--await` then prints what they led to. `--protected` makes a new protected group and
 * `--credentials FILE` keeps or gives its credentials: its records carry their proofs, made by the
 * client's own code (client/proofs.ts).
 */
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { ValidationError } from '../client/errors.ts';
import { proofHeaders } from '../client/proofs.ts';
import { checkValue } from '../client/validation.ts';
import {
  type GroupCredentials,
  isProtected,
  type MemberCredentials,
  newProtectedGroup,
} from '../functions/core/capabilities.ts';
import { COMMAND_TYPES } from '../functions/core/events.ts';
import { ENV, EVENT_TYPES, LIMITS, TOPICS } from '../functions/shared/config.ts';
import { LOCAL } from '../local/settings.ts';

import { type AwaitPlan, positionsBefore, type SentExpectation, type Watch, watch } from './await.ts';
import { CONNECTION_OPTIONS, CONNECTION_USAGE, type Connection, connectionOf } from './connection.ts';
import { CommandError, kafkaFailure, UsageError } from './errors.ts';

import type { Command, Io } from './types.ts';

/** The contract's sample events: events/samples/ beside cli/ in the repository, beside dist/ in the package. */
export const SAMPLES_DIR = fileURLToPath(new URL('../events/samples/', import.meta.url));

const DEFAULT_AWAIT_SECONDS = 60;

const USAGE = `usage: group-collector produce [--brokers host:port[,…]] [--topic TOPIC] [--key KEY]
         [--group ID | --new-id | --protected] [--credentials FILE] [--await [--timeout SECONDS]] [--raw]
         (FILE.json … | --sample NAME … | -)

  FILE.json         send the file as one record (several files: several records, in order)
  --sample NAME     send events/samples/NAME.json (${listSamples().join(', ')}); repeatable
  -                 read standard input, one record per non-empty line
  --group ID        every record belongs to group ID: a Create's "id" and every other event's "group" become ID
  --new-id          as --group, with a new id (printed first: "group <id>"), so the samples can be sent again
  --protected       as --new-id, for a new protected group: its id is made from a new group key, and
                    every record carries its proof (docs/SECURITY.md, "Member capabilities");
                    with --credentials FILE its credentials are written there (secret; an existing
                    file is not overwritten), else they are forgotten when the command ends
  --credentials     FILE with a protected group's credentials (as --protected writes them, or the
                    client's groupCredentials(id)), or a member's (the client's memberCredentials(id,
                    member), as JSON): the records go into its group (as --group) and carry proofs
                    made with them: the group's prove a Create, Cancel or Extend and any member's
                    report, a member's only its own reports. An Extend of a protected group gets a
                    random "nonce" (each Extend is a record of its own). A record of a protected
                    group that cannot be proven is refused as the client refuses it (unauthenticated);
                    with --raw it is sent without proofs (the collector dead-letters it)
  --await           then print the outcome of each group created and the dead letter of each record refused
                    (the value, two spaces, its headers), and exit 1 if any is missing after --timeout
  --timeout         seconds --await waits (default: ${DEFAULT_AWAIT_SECONDS})
  --raw             send every record as given, even one the collector dead-letters (not JSON,
                    an unknown type, "expected": [] …); without it such a record is refused
  --brokers         default: $${ENV.kafkaBrokers}, else localhost:${LOCAL.kafkaPort}
  --topic           default: ${TOPICS.input}
  --key             record key (default: none; with --group or --new-id, the group id)

Each record is checked as the client checks what it publishes (the collector's own rules, a ttl
up to ${LIMITS.maxTtlSeconds} s): the first one the collector would dead-letter is refused with the
client's ValidationError, and it and the records after it are not sent.

Exit code: 0 when every record was sent (and, with --await, everything awaited came), 1 for a
refused record, a broker that cannot be reached or something awaited that did not come, 2 for a
wrong command line.

${CONNECTION_USAGE}`;

export function listSamples(): string[] {
  try {
    return readdirSync(SAMPLES_DIR)
      .filter((f) => f.endsWith('.json'))
      .map((f) => f.replace(/.json$/, ''))
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
    if ([values.group !== undefined, values['new-id'], values.protected].filter(Boolean).length > 1)
      throw new UsageError(`one of --group, --new-id and --protected\n\n${USAGE}`);
    if (values['new-id'] && values.credentials !== undefined)
      throw new UsageError(`--credentials names its group: not with --new-id\n\n${USAGE}`);
    const timeoutSeconds = Number(values.timeout ?? DEFAULT_AWAIT_SECONDS);
    if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout must be a number of seconds\n\n${USAGE}`);
    const credentials = credentialsOf(values.protected === true, values.credentials, values.group);
    const group = values['new-id'] ? randomUUID().toUpperCase() : (credentials?.groupId ?? values.group);
    if (values['new-id'] || values.protected) io.stdout.write(`group ${group}\n`);
    if (values.protected && values.credentials !== undefined && credentials) {
      try {
        writeFileSync(values.credentials, `${JSON.stringify(credentials)}\n`, { mode: 0o600, flag: 'wx' });
      } catch (error) {
        throw new CommandError(
          `cannot write the group's credentials to ${values.credentials}: ${error instanceof Error ? error.message : String(error)}\n` +
            '  fix: name a file that does not exist yet (an existing one is never overwritten)',
          1,
        );
      }
      io.stderr.write(`credentials of group ${group} written to ${values.credentials} (secret)\n`);
    } else if (values.protected) {
      io.stderr.write(
        `note: the credentials of group ${group} are not kept (give --credentials FILE to keep them): nothing else can be sent for it\n`,
      );
    }
    const connection = connectionOf(values, io.env);
    const result = await produce({
      brokers,
      connection,
      topic,
      // A group's records keyed by its id share a partition: they reach the collector in the order sent.
      key: values.key ?? group,
      sources,
      io,
      group,
      credentials,
      raw: values.raw === true,
      awaitMs: values.await ? timeoutSeconds * 1000 : undefined,
    });
    io.stderr.write(`sent ${result.sent} record(s) to ${topic} on ${brokers.join(',')}\n`);
    if (result.missing.length === 0) return 0;
    io.stderr.write(`no ${result.missing.join(', no ')} within ${timeoutSeconds} s\n`);
    return 1;
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
      group: { type: 'string' },
      'new-id': { type: 'boolean' },
      await: { type: 'boolean' },
      timeout: { type: 'string' },
      raw: { type: 'boolean' },
      protected: { type: 'boolean' },
      credentials: { type: 'string' },
      sample: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
      ...CONNECTION_OPTIONS,
    },
  });
}

/**
 * The protected group's credentials: new ones (--protected), or read from --credentials FILE (a
 * group's or a member's); undefined for an unprotected group.
 */
function credentialsOf(
  protect: boolean,
  file: string | undefined,
  group: string | undefined,
): GroupCredentials | MemberCredentials | undefined {
  if (protect) return newProtectedGroup();
  if (file === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(
      `--credentials ${file}: ${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`,
    );
  }
  const c = parsed as Partial<MemberCredentials> | null;
  const strings = (...values: unknown[]) => values.every((v) => typeof v === 'string' && v !== '');
  const member = c !== null && 'member' in c;
  if (
    !c ||
    !strings(c.groupId, c.x, c.d) ||
    !isProtected(c.groupId ?? '') ||
    (member && !strings(c.member, c.groupKey, c.certificate))
  ) {
    throw new UsageError(
      `--credentials ${file}: not a protected group's credentials ({groupId, x, d}) nor a member's ({groupId, member, groupKey, x, d, certificate})\n\n${USAGE}`,
    );
  }
  if (group !== undefined && group !== c.groupId) {
    throw new UsageError(
      `--group ${group} is not the group of --credentials ${file} (${c.groupId})\n\n${USAGE}`,
    );
  }
  return c as GroupCredentials | MemberCredentials;
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
  group: string | undefined;
  /** A protected group's credentials (--protected, --credentials): its records carry proofs. */
  credentials: GroupCredentials | MemberCredentials | undefined;
  raw: boolean;
  /** With --await: how long to wait for what the records lead to. */
  awaitMs: number | undefined;
}): Promise<{ sent: number; missing: string[] }> {
  const { brokers, connection, topic, key, sources, io, group, credentials, raw, awaitMs } = options;
  const kafka = new Kafka({
    clientId: 'group-collector-cli',
    brokers,
    logLevel: logLevel.NOTHING,
    ...connection,
  });
  const values = async function* () {
    for (const source of sources) {
      for await (const value of source.values()) {
        const moved = group === undefined ? value : inGroup(value, group);
        yield { label: source.label, value: withNonce(moved) };
      }
    }
  };
  // --await reads everything first: the topics to read (any replyTo) are known before the first send.
  const records = awaitMs === undefined ? values() : await collect(values());
  const plan: AwaitPlan = {
    outcomeTopics: [
      io.env[ENV.outcomeTopic] || TOPICS.outcomes,
      ...(Array.isArray(records) ? records.flatMap((r) => replyTopic(r.value) ?? []) : []),
    ],
    deadLetterTopic: io.env[ENV.deadLetterTopic] || TOPICS.deadLetter,
  };
  const print = (line: string) => io.stdout.write(`${line}\n`);
  // Positions first, then the reader (its group join overlaps with the sends below).
  const watching: Watch | undefined =
    awaitMs === undefined
      ? undefined
      : await watch({
          kafka,
          plan,
          positions: await positionsBefore(kafka, [...plan.outcomeTopics, plan.deadLetterTopic]),
          print,
        });
  // Connected on the first record to send: a refused first record needs no broker.
  let producer: Producer | undefined;
  const sent: SentExpectation[] = [];
  try {
    for await (const { label, value } of records) {
      // The record's proofs (a protected group's): refused as the client refuses a record it cannot prove.
      let proofs: { name: string; value: string }[] | undefined;
      const refusal =
        refusalOf(value) ??
        (() => {
          try {
            proofs = proofsOf(value, credentials);
            return undefined;
          } catch (error) {
            if (error instanceof ValidationError) return error;
            throw error;
          }
        })();
      if (refusal && !raw) {
        const field = refusal.field === '(value)' ? 'the record' : `field "${refusal.field}"`;
        throw new CommandError(
          `${label}: ${refusal.name} (${field}, reason ${refusal.reason}): ${refusal.message}\n` +
            `  not sent, nor anything after it${sent.length > 0 ? ` (${sent.length} record(s) sent before it)` : ''}; ` +
            'fix: correct the record, or give --raw to send it as it is (the collector dead-letters it)',
          1,
          { cause: refusal },
        );
      }
      if (refusal) {
        io.stderr.write(
          `note: ${label}: sent as given (--raw); the collector dead-letters it (${refusal.reason}): ${refusal.message}\n`,
        );
      }
      let meta: Awaited<ReturnType<Producer['send']>>[number] | undefined;
      try {
        if (!producer) {
          // A missing topic is told at once (a producer retries it for seconds before it gives up).
          await ensureTopic(kafka, { brokers, topic });
          producer = kafka.producer({
            idempotent: true,
            maxInFlightRequests: 1,
            allowAutoTopicCreation: false,
          });
          await producer.connect();
        }
        const headers = proofs && Object.fromEntries(proofs.map((h) => [h.name, h.value]));
        [meta] = await producer.send({
          topic,
          acks: -1,
          messages: [{ key: key ?? null, value, ...(headers ? { headers } : {}) }],
        });
      } catch (error) {
        throw kafkaFailure(error, { brokers, topic });
      }
      const partition = meta?.partition ?? 0;
      const offset = meta?.baseOffset ?? '0';
      sent.push({
        record: { topic, partition, offset },
        createdGroup: createdGroup(value),
        expectDeadLetter: refusal !== undefined,
      });
      io.stdout.write(`${label} → ${topic}/${partition}@${offset}\n`);
    }
  } catch (error) {
    await watching?.results([], 0);
    throw error;
  } finally {
    await producer?.disconnect();
  }
  if (awaitMs === undefined || watching === undefined) return { sent: sent.length, missing: [] };
  return { sent: sent.length, missing: await watching.results(sent, awaitMs) };
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** The value as a JSON object, or undefined. */
function objectOf(value: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The value moved into group `id`: a Create's `id`, any other event's `group`; anything else unchanged. */
function inGroup(value: string, id: string): string {
  const event = objectOf(value);
  if (!event) return value;
  if (event.type === EVENT_TYPES.create) return JSON.stringify({ ...event, id });
  if (typeof event.group === 'string') return JSON.stringify({ ...event, group: id });
  return value;
}

/** A protected group's Extend without a `nonce` gets one (as the client's extendGroup): each Extend is a record of its own. */
function withNonce(value: string): string {
  const event = objectOf(value);
  if (event?.type !== COMMAND_TYPES.extend || typeof event.group !== 'string') return value;
  if (!isProtected(event.group) || event.nonce !== undefined) return value;
  return JSON.stringify({ ...event, nonce: randomUUID() });
}

/**
 * The proof headers of a record (the client's proofs: client/proofs.ts); undefined for a record of an
 * unprotected group, or one that is no event.
 * @throws ValidationError (unauthenticated) for a protected group's record the credentials cannot prove.
 */
export function proofsOf(
  value: string,
  credentials: GroupCredentials | MemberCredentials | undefined,
): { name: string; value: string }[] | undefined {
  const event = objectOf(value);
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const bytes = Buffer.from(value, 'utf8');
  const id = str(event?.id);
  const group = str(event?.group);
  if (event?.type === EVENT_TYPES.create && id)
    return proofHeaders({ kind: 'create', group: id }, bytes, credentials);
  if (event?.type === EVENT_TYPES.done && id && group) {
    return proofHeaders({ kind: 'report', group, member: id }, bytes, credentials);
  }
  if (event?.type === COMMAND_TYPES.cancel && group)
    return proofHeaders({ kind: 'cancel', group }, bytes, credentials);
  if (event?.type === COMMAND_TYPES.extend && group)
    return proofHeaders({ kind: 'extend', group }, bytes, credentials);
  return undefined;
}

function createdGroup(value: string): string | undefined {
  const event = objectOf(value);
  return event?.type === EVENT_TYPES.create && typeof event.id === 'string' ? event.id : undefined;
}

function replyTopic(value: string): string | undefined {
  const event = objectOf(value);
  return event?.type === EVENT_TYPES.create && typeof event.replyTo === 'string' ? event.replyTo : undefined;
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

/** Fails with the producer's own unknown-topic error when the topic is not on the cluster (one metadata call). */
async function ensureTopic(
  kafka: Kafka,
  target: { brokers: readonly string[]; topic: string },
): Promise<void> {
  const { brokers, topic } = target;
  const admin = kafka.admin();
  await admin.connect();
  try {
    // A cluster lists only the topics the principal may describe: absent, or not allowed, look alike.
    if (!(await admin.listTopics()).includes(topic)) {
      throw new CommandError(
        `cannot send to topic ${topic} on ${brokers.join(',')}: the cluster does not list it: it does not exist, or this principal is not authorized to describe it\n` +
          `  fix: topic ${topic}: check --topic; create it (topics are not created on use), or grant this principal Write and Describe on it`,
        1,
      );
    }
  } finally {
    await admin.disconnect();
  }
}
