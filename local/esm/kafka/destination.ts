import { randomUUID } from 'node:crypto';
import type { Message } from 'kafkajs';
import { functionArn } from '../context.ts';
import { type KafkaSourceIdentity, type LambdaKafkaRecord, onFailureRecord } from '../kafka-event.ts';
import type { Discarded } from '../retry.ts';

export interface FailureMessageContext {
  functionName: string;
  source: KafkaSourceIdentity;
  now: number;
}

/**
 * The messages a Kafka on-failure destination receives for records given up on: one per
 * record, keyed by the record's key (kafka-on-failure-destination.html). Pure.
 */
export function failureMessages(d: Discarded<LambdaKafkaRecord>, ctx: FailureMessageContext): Message[] {
  const functionError = d.lastResult && !d.lastResult.ok ? 'Unhandled' : undefined;
  return d.records.map((record) => ({
    // "key = original key; keyless => round-robin" (kafka-on-failure-destination.html)
    key: record.key === undefined ? null : Buffer.from(record.key, 'base64'),
    value: JSON.stringify(
      onFailureRecord(record, {
        // Records that expired before any invocation have no request of their own.
        requestId: d.lastResult?.requestId ?? randomUUID(),
        functionArn: functionArn(ctx.functionName),
        condition: d.condition,
        approximateInvokeCount: d.invokeCount,
        functionError,
        batch: d.records,
        source: ctx.source,
        now: ctx.now,
      }),
    ),
  }));
}

/** Where records given up on go: the on-failure topic, or nowhere (logged) without one. */
export type Discarder = (partitionId: string, discarded: Discarded<LambdaKafkaRecord>) => Promise<void>;

export interface DestinationCounters {
  recordsDiscarded: number;
  destinationMessages: number;
}

export interface DestinationOptions extends Omit<FailureMessageContext, 'now'> {
  /** The on-failure topic; undefined = records given up on are only logged. */
  topic: string | undefined;
  /** Sends to the on-failure topic (a kafkajs producer's `send`, acks from all replicas). */
  send: (topic: string, messages: Message[]) => Promise<unknown>;
  /** Waits before the next attempt; rejects when the source stops. */
  retryWait: (attempt: number) => Promise<void>;
  log: (line: string) => void;
  counters: DestinationCounters;
}

export function createDiscarder(o: DestinationOptions): Discarder {
  return async (partitionId, d) => {
    o.counters.recordsDiscarded += d.records.length;
    const range = `${partitionId}@${d.records[0]?.offset}..${d.records.at(-1)?.offset}`;
    if (!o.topic) {
      o.log(`${d.condition}: discarded ${d.records.length} record(s) ${range} (no on-failure destination)`);
      return;
    }
    const now = Date.now();
    // The destination must receive the records before the offset moves past them: retried until stopped.
    for (let attempt = 1; ; attempt++) {
      try {
        await o.send(o.topic, failureMessages(d, { functionName: o.functionName, source: o.source, now }));
        break;
      } catch (error) {
        o.log(`on-failure destination ${o.topic}: ${String(error)}; retrying`);
        await o.retryWait(attempt);
      }
    }
    o.counters.destinationMessages += d.records.length;
    o.log(`${d.condition}: ${d.records.length} record(s) ${range} sent to ${o.topic}`);
  };
}
