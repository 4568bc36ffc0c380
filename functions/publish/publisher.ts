/**
 * Where outcomes and dead letters go. The service speaks only this interface, so a destination
 * other than Kafka (SQS, EventBridge…) implements it without touching the service.
 */
import type { OutcomeSignature } from '#core/signing.ts';

/** One message to deliver. `destination` is a Kafka topic for the Kafka publisher (a queue URL, a bus…). */
export interface OutgoingMessage {
  destination: string;
  /** Partitioning / grouping key (the group id for outcomes). */
  key: string | Uint8Array | null;
  value: Uint8Array;
  /** In order; a name may repeat. */
  headers?: readonly { name: string; value: Uint8Array | string }[];
  /**
   * Present on an outcome (docs/SECURITY.md, "Signed outcomes"). `signature`: the one its decision
   * stored, already in `headers`, so every copy carries the same; without it (decided while signing
   * was off) a signing publisher signs it with the key chosen by its decision's time. Dead letters
   * have none.
   */
  outcome?: { resolvedMs?: number; signature?: OutcomeSignature };
}

export interface Publisher {
  /** Delivers every message durably (acknowledged) or throws PublishError. */
  publish(messages: OutgoingMessage[]): Promise<void>;
  /** Whether the destination exists and is visible. Absent: assume it does. */
  destinationExists?(destination: string): Promise<boolean>;
  disconnect(): Promise<void>;
}

/** The destination refused or could not be reached: the invocation fails so that the mapping retries. */
export class PublishError extends Error {
  override name = 'PublishError';
}
