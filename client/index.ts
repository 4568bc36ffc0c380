/**
 * A typed client for producers and consumers of the bus: create a group,
 * report a member done or failed, await a group's outcome.
 *
 *   import { GroupCollectorClient } from 'eventbus-group-collector/client';
 *
 * One client holds one producer and one consumer, however many waits are
 * open; see the README section "A client for producers and consumers".
 */
import { randomUUID } from 'node:crypto';
import { Kafka, type KafkaConfig, logLevel, type Producer } from 'kafkajs';
import {
  type GroupCredentials,
  isProtected,
  type MemberCredentials,
  memberCredentials,
  newProtectedGroup,
} from '../functions/core/capabilities.ts';
import { DLQ_REASONS } from '../functions/core/errors.ts';
import { COMMAND_TYPES } from '../functions/core/events.ts';
import { parseOutcomeKeys } from '../functions/core/signing.ts';
import { EVENT_TYPES, LIMITS, TOPICS } from '../functions/shared/config.ts';
import { ClientClosedError, OutcomeTimeoutError, ValidationError, WaitAbortedError } from './errors.ts';
import { OutcomeListener, type RefusedOutcomes, type Waiter } from './listener.ts';
import { BoundedLru } from './lru.ts';
import type { Outcome } from './outcome.ts';
import { proofHeaders } from './proofs.ts';
import { encodeChecked } from './validation.ts';

export type { GroupCredentials, MemberCredentials } from '../functions/core/capabilities.ts';
export {
  ClientClosedError,
  GroupCollectorClientError,
  OutcomeTimeoutError,
  ValidationError,
  WaitAbortedError,
} from './errors.ts';
export type { RefusedOutcomes } from './listener.ts';
export {
  type FailureCause,
  type FailureOutcome,
  type FailureReason,
  failureCause,
  type Outcome,
  parseOutcome,
  type SuccessOutcome,
} from './outcome.ts';

/** Defaults of {@link ClientOptions}. */
export const CLIENT_DEFAULTS = {
  groupIdPrefix: 'group-collector-client',
  maxBufferedOutcomes: 1_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  maxTrackedGroups: 10_000,
  clockToleranceMs: 5_000,
  timeoutMs: 60_000,
  maxWaitTimeInMs: 500,
} as const;

export interface ClientOptions {
  /** Broker addresses, or a full kafkajs configuration (TLS, SASL). */
  kafka: string[] | KafkaConfig;
  /** The collector's input topic (default `eventbus-collector`). */
  topic?: string;
  /** Where outcomes arrive (the input topic by default, as the bus has always done). */
  outcomeTopic?: string;
  /**
   * The deployment's largest `ttl` in seconds (its `COLLECTOR_MAX_TTL_SECONDS`); groups over it are
   * refused before sending. Default: the collector's default, 7 days.
   */
  maxTtlSeconds?: number;
  /**
   * Outcomes read but not (yet) awaited are kept for a later `awaitOutcome`, the most recently
   * used first, up to this many (default 1,000) and {@link ClientOptions.maxBufferedBytes} bytes;
   * twice: once for the groups this client created, once for all others (so other applications'
   * traffic never pushes out an outcome of this client's group). An older outcome is read again
   * from Kafka if it is awaited (for groups this client created, or with `since`).
   */
  maxBufferedOutcomes?: number;
  /** Bound on the bytes (UTF-8 JSON characters) of each of the two buffers (default 16 MiB). */
  maxBufferedBytes?: number;
  /** How many created groups the client remembers (id, outcome topic, creation time); default 10,000. */
  maxTrackedGroups?: number;
  /**
   * Outcomes are searched from this long before a group's creation (or `since`), for clock
   * differences between this host and the collector's; default 5,000 ms.
   */
  clockToleranceMs?: number;
  /** Default timeout of `awaitOutcome` and `collect`, ms (default 60,000). */
  timeoutMs?: number;
  /** Prefix of the client's consumer group id; the group id is `${prefix}-${uuid}`, one per client instance. */
  groupIdPrefix?: string;
  /**
   * The collector's outcome public keys, as its stack output `OutcomePublicKeys` and `npm start`
   * print them: `kid:x` (several, or one string with commas, while a rotation is under way). Given
   * them, the client accepts only outcomes signed by the collector (docs/SECURITY.md): any other
   * record on the outcome topic is ignored and counted in `refusedOutcomes`. Without them, every
   * outcome-shaped record is taken for an outcome, whoever wrote it.
   */
  outcomeKeys?: readonly string[];
}

export interface NewGroup {
  /** The group id; a random UUID when omitted. */
  id?: string;
  /** Distinct, non-empty member ids (at least one). */
  expected: string[];
  /** Seconds the group may stay open: a positive whole number (the collector's default is 30). */
  ttl?: number;
  /** Any JSON; carried unchanged into the outcome. */
  payload?: unknown;
  /** Topic for this group's outcome; the client then listens there for it. */
  replyTo?: string;
  /**
   * Members that may fail while the group still succeeds (0 to n; `n` is `Promise.allSettled`):
   * the success lists the failed ones under `errors`.
   */
  tolerate?: number;
  /**
   * The group succeeds as soon as this many members succeeded (1 to n; `1` is `Promise.any`),
   * with `errors` and `missing`; it fails as soon as a quorum can no longer be reached.
   */
  quorum?: number;
  /**
   * A protected group (docs/SECURITY.md, "Member capabilities"): its id is made from a key the
   * client generates (`id` must then be omitted), and the collector accepts its reports, Cancels and
   * Extends only with proofs made from that key. Give each member its `memberCredentials(id, member)`
   * with its job; the client keeps the group's own credentials (`groupCredentials(id)`) for Cancel
   * and Extend. Default false: an unprotected group, which any producer on the topic may report for.
   */
  protected?: boolean;
}

export interface AwaitOptions {
  /** Reject with OutcomeTimeoutError after this many ms (default: the client's `timeoutMs`); `Infinity` waits forever. */
  timeoutMs?: number;
  /** Reject with WaitAbortedError when this signal aborts. */
  signal?: AbortSignal;
  /**
   * For groups created elsewhere: an outcome published at or after this time (less the clock
   * tolerance) is found even if it was published before the call. Groups this client created use
   * their creation time without being told.
   */
  since?: Date | number;
  /** The topic the outcome arrives on, for groups created elsewhere with a `replyTo` (default: the client's outcome topic). */
  topic?: string;
}

/**
 * Producer and consumer of the group collector's events.
 *
 * Every method that publishes validates the event first, with the collector's own
 * decoder and limits, and rejects with ValidationError (publishing nothing) if
 * the collector would dead-letter it. Waits share one consumer; `close()` ends them.
 */
export class GroupCollectorClient {
  /** The consumer group id of this client instance (deleted on close). */
  readonly consumerGroupId: string;
  private readonly kafka: Kafka;
  private readonly topic: string;
  private readonly outcomeTopic: string;
  private readonly maxTtlSeconds: number;
  private readonly clockToleranceMs: number;
  private readonly timeoutMs: number;
  private readonly listener: OutcomeListener;
  private producer: Promise<Producer> | undefined;
  private closing: Promise<void> | undefined;
  /** The credentials of protected groups this client created (as many as it tracks). */
  private readonly groupKeys: BoundedLru<string, GroupCredentials>;

  constructor(options: ClientOptions) {
    const config = Array.isArray(options.kafka) ? { brokers: options.kafka } : options.kafka;
    this.kafka = new Kafka({ clientId: 'group-collector-client', logLevel: logLevel.NOTHING, ...config });
    this.topic = options.topic ?? TOPICS.input;
    this.outcomeTopic = options.outcomeTopic ?? TOPICS.outcomes;
    this.maxTtlSeconds = options.maxTtlSeconds ?? LIMITS.maxTtlSeconds;
    this.clockToleranceMs = options.clockToleranceMs ?? CLIENT_DEFAULTS.clockToleranceMs;
    this.timeoutMs = options.timeoutMs ?? CLIENT_DEFAULTS.timeoutMs;
    this.consumerGroupId = `${options.groupIdPrefix ?? CLIENT_DEFAULTS.groupIdPrefix}-${randomUUID()}`;
    this.groupKeys = new BoundedLru(options.maxTrackedGroups ?? CLIENT_DEFAULTS.maxTrackedGroups);
    this.listener = new OutcomeListener({
      kafka: this.kafka,
      groupId: this.consumerGroupId,
      maxBufferedOutcomes: options.maxBufferedOutcomes ?? CLIENT_DEFAULTS.maxBufferedOutcomes,
      maxBufferedBytes: options.maxBufferedBytes ?? CLIENT_DEFAULTS.maxBufferedBytes,
      maxTrackedGroups: options.maxTrackedGroups ?? CLIENT_DEFAULTS.maxTrackedGroups,
      maxWaitTimeInMs: CLIENT_DEFAULTS.maxWaitTimeInMs,
      outcomeKeys: options.outcomeKeys === undefined ? undefined : parseOutcomeKeys(options.outcomeKeys),
    });
  }

  /**
   * Outcome records read and ignored: `unsigned` and `invalid` (only with `outcomeKeys`), and
   * `stale`: an outcome of a group this client created whose `created` is before the client sent
   * the Create (less the clock tolerance), an earlier group's that had the same id.
   */
  get refusedOutcomes(): RefusedOutcomes {
    return this.listener.refused;
  }

  /** Outcomes read but not awaited, currently kept (both buffers; see `maxBufferedOutcomes`). */
  get buffered(): { outcomes: number; bytes: number } {
    return this.listener.buffered;
  }

  /**
   * Publishes an EventGroupCollectorCreate; resolves with the group id once the broker has it.
   * @throws ValidationError (nothing published) when the collector would refuse the group.
   */
  async createGroup(group: NewGroup): Promise<string> {
    this.assertOpen('createGroup');
    if (group.protected && group.id !== undefined) {
      throw new ValidationError(
        'id',
        DLQ_REASONS.invalidField,
        'a protected group\u2019s id is made from its key: omit id',
      );
    }
    const credentials = group.protected ? newProtectedGroup() : undefined;
    const id = credentials?.groupId ?? group.id ?? randomUUID();
    const value = encodeChecked(
      {
        id,
        type: EVENT_TYPES.create,
        expected: group.expected,
        ...(group.ttl === undefined ? {} : { ttl: group.ttl }),
        ...(group.payload === undefined ? {} : { payload: group.payload }),
        ...(group.replyTo === undefined ? {} : { replyTo: group.replyTo }),
        ...(group.tolerate === undefined ? {} : { tolerate: group.tolerate }),
        ...(group.quorum === undefined ? {} : { quorum: group.quorum }),
      },
      { maxTtlSeconds: this.maxTtlSeconds },
    );
    // Remembered before sending: the outcome cannot be published before this moment.
    this.listener.track(id, group.replyTo ?? this.outcomeTopic, Date.now() - this.clockToleranceMs);
    if (credentials) this.groupKeys.set(id, credentials);
    await this.send(
      id,
      value,
      credentials ? proofHeaders({ kind: 'create', group: id }, value, credentials) : undefined,
    );
    return id;
  }

  /**
   * A protected group's own credentials (secret), for another process of the owner that cancels or
   * extends it (`cancelGroup(id, message, { credentials })`); undefined for a group this client did
   * not create protected (or no longer remembers: see `maxTrackedGroups`).
   */
  groupCredentials(groupId: string): GroupCredentials | undefined {
    return this.groupKeys.peek(groupId);
  }

  /**
   * What one member of a protected group needs to report for itself (secret: give it to that member
   * only, with its job); the same every time. From the group's credentials (`group`), or those this
   * client kept when it created the group.
   * @throws ValidationError (reason `unauthenticated`) for a group whose credentials it does not hold.
   */
  memberCredentials(groupId: string, member: string, group?: GroupCredentials): MemberCredentials {
    return memberCredentials(this.heldCredentials(groupId, group), member);
  }

  /**
   * Reports a member done with its result.
   * @throws ValidationError (nothing published) when the collector would refuse the report.
   */
  async reportDone(
    group: string,
    member: string,
    result?: unknown,
    options: { credentials?: MemberCredentials } = {},
  ): Promise<void> {
    this.assertOpen('reportDone');
    const value = encodeChecked(
      { id: member, type: EVENT_TYPES.done, group, ...(result === undefined ? {} : { result }) },
      { maxTtlSeconds: this.maxTtlSeconds },
    );
    await this.send(group, value, this.reportProof(group, member, value, options.credentials));
  }

  /**
   * Reports a member failed with a non-empty error message: the group fails at once.
   * @throws ValidationError (nothing published) when the collector would refuse the report.
   */
  async reportFailed(
    group: string,
    member: string,
    error: string,
    options: { credentials?: MemberCredentials } = {},
  ): Promise<void> {
    this.assertOpen('reportFailed');
    const value = encodeChecked(
      { id: member, type: EVENT_TYPES.done, group, error },
      { maxTtlSeconds: this.maxTtlSeconds },
    );
    await this.send(group, value, this.reportProof(group, member, value, options.credentials));
  }

  /**
   * Publishes an EventGroupCollectorCancel: the open group fails at once (`reason: cancelled`), with
   * the results so far and who is missing. A Cancel after the outcome, or at or after the deadline,
   * is late (the outcome already decided stands).
   * @throws ValidationError (nothing published) when the collector would refuse the Cancel.
   */
  async cancelGroup(
    group: string,
    message?: string,
    options: { credentials?: GroupCredentials } = {},
  ): Promise<void> {
    this.assertOpen('cancelGroup');
    const value = encodeChecked(
      { type: COMMAND_TYPES.cancel, group, ...(message === undefined ? {} : { message }) },
      { maxTtlSeconds: this.maxTtlSeconds },
    );
    await this.send(group, value, this.groupProof(group, 'cancel', value, options.credentials));
  }

  /**
   * Publishes an EventGroupCollectorExtend: the open group's deadline becomes at least the
   * time the collector stores it + `ttl` seconds, within the maximum ttl from its creation. An
   * Extend at or after the deadline is late; one sent before the group's Create is kept until it
   * (or dead-lettered `group-never-created` when no Create comes within the early-report wait).
   * @throws ValidationError (nothing published) when the collector would refuse the Extend.
   */
  async extendGroup(
    group: string,
    ttl: number,
    options: { credentials?: GroupCredentials } = {},
  ): Promise<void> {
    this.assertOpen('extendGroup');
    // A protected Extend is one signed record (a nonce makes each one distinct): a copy is a duplicate.
    const value = encodeChecked(
      { type: COMMAND_TYPES.extend, group, ttl, ...(isProtected(group) ? { nonce: randomUUID() } : {}) },
      { maxTtlSeconds: this.maxTtlSeconds },
    );
    await this.send(group, value, this.groupProof(group, 'extend', value, options.credentials));
  }

  /** A protected group's report proof: from the member's credentials, or derived from the group's own. */
  private reportProof(group: string, member: string, value: Buffer, credentials?: MemberCredentials) {
    return proofHeaders({ kind: 'report', group, member }, value, credentials ?? this.groupKeys.peek(group));
  }

  private groupProof(
    group: string,
    kind: 'cancel' | 'extend',
    value: Buffer,
    credentials?: GroupCredentials,
  ) {
    return proofHeaders({ kind, group }, value, credentials ?? this.groupKeys.peek(group));
  }

  /** The protected group's credentials: those given, else those this client kept when it created it. */
  private heldCredentials(groupId: string, given?: GroupCredentials): GroupCredentials {
    const credentials = given ?? this.groupKeys.peek(groupId);
    if (!credentials || credentials.groupId !== groupId) {
      throw new ValidationError(
        'group',
        DLQ_REASONS.unauthenticated,
        `no credentials for protected group ${groupId}`,
      );
    }
    return credentials;
  }

  /**
   * Starts the client's consumer on the outcome topic (and `topics`), reading from
   * their current end. Optional: `awaitOutcome` starts it too, and finds outcomes
   * published before the call for groups this client created or with `since`.
   * Useful to await groups created elsewhere without `since`.
   */
  async listen(options: { topics?: string[] } = {}): Promise<void> {
    this.assertOpen('listen');
    for (const topic of new Set([this.outcomeTopic, ...(options.topics ?? [])])) {
      await this.listener.cover(topic);
    }
  }

  /**
   * Waits for a group's outcome. A number as second argument is `timeoutMs` (the older form).
   * Each wait resolves once, with the outcome (copies on the topic are ignored).
   * @throws OutcomeTimeoutError after `timeoutMs`; WaitAbortedError when `signal` aborts;
   *   ClientClosedError when the client is closed first.
   */
  awaitOutcome(groupId: string, options: AwaitOptions | number = {}): Promise<Outcome> {
    const opts = typeof options === 'number' ? { timeoutMs: options } : options;
    if (this.closing) return Promise.reject(new ClientClosedError('awaitOutcome'));
    const created = this.listener.tracked(groupId);
    const ownGroup = created !== undefined && !created.delivered && opts.since === undefined;
    const topic = opts.topic ?? created?.topic ?? this.outcomeTopic;
    const since = opts.since === undefined ? created?.since : toEpochMs(opts.since) - this.clockToleranceMs;
    // `since` before this client's Create: the caller expects an outcome of an earlier Create of the id.
    if (created && opts.since !== undefined && since !== undefined) this.listener.acceptSince(groupId, since);
    const known = this.listener.lookup(groupId);
    if (known) return Promise.resolve(known);
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(new WaitAbortedError(groupId, { cause: signal.reason }));
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;

    return new Promise<Outcome>((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = () => {
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.listener.removeWaiter(groupId, waiter);
      };
      const waiter: Waiter = {
        resolve: (outcome) => {
          if (settled) return;
          settle();
          resolve(outcome);
        },
        reject: (error) => {
          if (settled) return;
          settle();
          reject(error);
        },
      };
      const onAbort = () => waiter.reject(new WaitAbortedError(groupId, { cause: signal?.reason }));
      if (Number.isFinite(timeoutMs)) {
        timer = setTimeout(() => waiter.reject(new OutcomeTimeoutError(groupId, timeoutMs)), timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.listener.addWaiter(groupId, waiter);
      this.listener.cover(topic, since, ownGroup).catch((error: unknown) => waiter.reject(error));
    });
  }

  /**
   * Creates a group and waits for its outcome, in one call. To dispatch the jobs
   * meanwhile, choose the id yourself (`id`) and start them while this runs:
   * reports that arrive before the group are kept by the collector.
   * @throws ValidationError before anything is published; then as `awaitOutcome`.
   */
  async collect(group: NewGroup, options: AwaitOptions = {}): Promise<Outcome> {
    const id = await this.createGroup(group);
    return this.awaitOutcome(id, options);
  }

  /**
   * Rejects every pending wait with ClientClosedError, disconnects the producer and the consumer,
   * and deletes the client's consumer group. Later calls reject with ClientClosedError; calling
   * close() again returns the same promise.
   */
  close(): Promise<void> {
    if (!this.closing) {
      const producer = this.producer;
      this.producer = undefined;
      this.closing = Promise.all([
        this.listener.close(),
        producer?.then((p) => p.disconnect()).catch(() => {}),
      ]).then(() => {});
    }
    return this.closing;
  }

  private assertOpen(what: string): void {
    if (this.closing) throw new ClientClosedError(what);
  }

  private producerReady(): Promise<Producer> {
    if (!this.producer) {
      const producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      const ready = producer.connect().then(() => producer);
      this.producer = ready;
      ready.catch(() => {
        if (this.producer === ready) this.producer = undefined;
      });
    }
    return this.producer;
  }

  private async send(key: string, value: Buffer, headers?: { name: string; value: string }[]): Promise<void> {
    const producer = await this.producerReady();
    const message = headers
      ? { key, value, headers: Object.fromEntries(headers.map((h) => [h.name, h.value])) }
      : { key, value };
    await producer.send({ topic: this.topic, acks: -1, messages: [message] });
  }
}

const toEpochMs = (since: Date | number) => (typeof since === 'number' ? since : since.getTime());
