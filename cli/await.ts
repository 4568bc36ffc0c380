/**
 * `group-collector produce --await`: what the records just sent led to. The outcome of each group
 * they created, and the dead letter of each record the collector refused, read from the offsets the
 * topics had before the records were sent (so nothing older is shown, and nothing is missed).
 */
import { randomUUID } from 'node:crypto';
import type { Consumer, Kafka } from 'kafkajs';
import { DLQ_HEADERS, EVENT_TYPES } from '../functions/shared/config.ts';

/** Where a sent record went. */
export interface SentRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

export interface AwaitPlan {
  /** The collector's outcome topics to read (its configured one, and any `replyTo`). */
  readonly outcomeTopics: readonly string[];
  readonly deadLetterTopic: string;
}

/** Positions of every partition of the topics, taken before anything is sent. */
export type Positions = Map<string, Map<number, string>>;

export async function positionsBefore(kafka: Kafka, topics: readonly string[]): Promise<Positions> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const positions: Positions = new Map();
    for (const topic of new Set(topics)) {
      const offsets = await admin.fetchTopicOffsets(topic);
      positions.set(topic, new Map(offsets.map((p) => [p.partition, p.offset])));
    }
    return positions;
  } finally {
    await admin.disconnect();
  }
}

export interface SentExpectation {
  readonly record: SentRecord;
  readonly createdGroup?: string | undefined;
  readonly expectDeadLetter: boolean;
}

export interface Watch {
  /**
   * Waits until every group created by `sent` has its outcome and every record expected to be
   * refused its dead letter; prints each outcome (its JSON) and each dead letter of a sent record
   * (value, two spaces, headers, as `kcat -f '%s  %h\n'` shows them) as it arrives. A Create that is
   * dead-lettered is not awaited further. Resolves to what is still missing after `timeoutMs`
   * (empty when everything arrived), and ends the watch.
   */
  results(sent: readonly SentExpectation[], timeoutMs: number): Promise<string[]>;
}

/**
 * Starts reading the topics from `positions` (taken before anything was sent) at once, so that
 * joining the consumer group overlaps with sending; what is read is kept until {@link Watch.results}.
 */
export async function watch(options: {
  kafka: Kafka;
  plan: AwaitPlan;
  positions: Positions;
  print: (line: string) => void;
}): Promise<Watch> {
  const { kafka, plan, positions, print } = options;
  const groupId = `group-collector-cli-${randomUUID()}`;
  const consumer: Consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
  const seen: { topic: string; value: string; headers: (readonly [string, string])[] }[] = [];
  let onRecord: () => void = () => {};
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    for (const [topic, partitions] of Object.entries(payload.memberAssignment)) {
      for (const partition of partitions) {
        const offset = positions.get(topic)?.get(partition);
        if (offset !== undefined) consumer.seek({ topic, partition, offset });
      }
    }
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [...positions.keys()], fromBeginning: false });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, message }) => {
      seen.push({
        topic,
        value: message.value?.toString('utf8') ?? '',
        headers: Object.entries(message.headers ?? {}).map(
          ([name, v]) => [name, Array.isArray(v) ? v.join(',') : (v?.toString('utf8') ?? '')] as const,
        ),
      });
      onRecord();
    },
  });
  const end = async () => {
    await consumer.disconnect().catch(() => {});
    // The consumer group was this command's alone: none is left behind.
    const admin = kafka.admin();
    await admin
      .connect()
      .then(() => admin.deleteGroups([groupId]))
      .catch(() => {})
      .finally(() => admin.disconnect().catch(() => {}));
  };
  return {
    async results(sent, timeoutMs) {
      const key = (r: SentRecord) => `${r.topic}/${r.partition}@${r.offset}`;
      const byRecord = new Map(sent.map((s) => [key(s.record), s]));
      const groups = new Set(sent.flatMap((s) => (s.createdGroup ? [s.createdGroup] : [])));
      const deadLetters = new Set(sent.filter((s) => s.expectDeadLetter).map((s) => key(s.record)));
      const waiting = () => groups.size > 0 || deadLetters.size > 0;
      let handled = 0;
      const take = () => {
        for (; handled < seen.length; handled++) {
          const { topic, value, headers } = seen[handled] as (typeof seen)[number];
          if (topic === plan.deadLetterTopic) {
            const header = (name: string) => headers.find(([n]) => n === name)?.[1];
            const source = `${header(DLQ_HEADERS.topic)}/${header(DLQ_HEADERS.partition)}@${header(DLQ_HEADERS.offset)}`;
            const origin = byRecord.get(source);
            if (!origin) continue;
            print(`${value}  ${headers.map(([n, v]) => `${n}=${v}`).join(',')}`);
            deadLetters.delete(source);
            if (origin.createdGroup) groups.delete(origin.createdGroup);
            continue;
          }
          const id = outcomeId(value);
          if (id === undefined || !groups.has(id)) continue;
          print(value);
          groups.delete(id);
        }
      };
      try {
        await new Promise<void>((done) => {
          const timer = setTimeout(done, timeoutMs);
          onRecord = () => {
            take();
            if (!waiting()) {
              clearTimeout(timer);
              done();
            }
          };
          onRecord();
        });
        return [
          ...[...groups].map((g) => `outcome of group ${g}`),
          ...[...deadLetters].map((r) => `dead letter of ${r}`),
        ];
      } finally {
        await end();
      }
    },
  };
}

/** The group id of an outcome record, or undefined for anything else. */
function outcomeId(value: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { type, id } = parsed as { type?: unknown; id?: unknown };
    const isOutcome = type === EVENT_TYPES.success || type === EVENT_TYPES.failure;
    return isOutcome && typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}
