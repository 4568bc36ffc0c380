/**
 * Outcome signatures on the functions' side (docs/SECURITY.md, "Signed outcomes"). The signature is
 * made when an outcome is decided and stored with the decision (OutcomeSigner), so that every copy
 * carries the stored headers; the SigningPublisher signs at publish time only an outcome whose
 * decision stored none (decided while signing was off). Dead letters pass through unsigned. The key
 * set is loaded once per execution environment and kept for `maxAgeMs`.
 */
import { type OutcomeSignature, outcomeSignature, type SigningKeySet, signOutcome } from '#core/signing.ts';
import type { OutgoingMessage, Publisher } from './publisher.ts';

/** Where the key set comes from (the settings' JSON, or Secrets Manager). */
export type SigningKeySource = () => Promise<SigningKeySet>;

/** What an outcome signature is made over: the record as published, and its decision's time. */
export interface OutcomeToSign {
  topic: string;
  key: string | Uint8Array | null;
  value: Uint8Array;
  resolvedMs: number;
}

/** Signs outcomes with the key set from `source`, loaded at the first signature and kept `maxAgeMs`. */
export class OutcomeSigner {
  private cached: { set: SigningKeySet; atMs: number } | undefined;
  private loading: Promise<SigningKeySet> | undefined;

  constructor(
    private readonly source: SigningKeySource,
    /** How long a loaded key set is kept (a rotation's new key must be added at least this long before its nbf). */
    private readonly maxAgeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The signature of an outcome (deterministic: the same outcome and key set give the same signature). */
  async sign(message: OutcomeToSign): Promise<OutcomeSignature> {
    return outcomeSignature(await this.keySet(), message);
  }

  /** The key set in force (loaded, or kept from an earlier load). */
  keySet(): Promise<SigningKeySet> {
    const cached = this.cached;
    if (cached && this.now() - cached.atMs < this.maxAgeMs) return Promise.resolve(cached.set);
    this.loading ??= this.source()
      .then((set) => {
        this.cached = { set, atMs: this.now() };
        return set;
      })
      .finally(() => {
        this.loading = undefined;
      });
    // A refresh that fails keeps signing with the set already loaded (a throttled Secrets Manager
    // must not stop outcomes); the first load failing fails the decision or publish, which is retried.
    return cached ? this.loading.catch(() => cached.set) : this.loading;
  }
}

export class SigningPublisher implements Publisher {
  constructor(
    private readonly inner: Publisher,
    private readonly signer: OutcomeSigner,
  ) {}

  async publish(messages: OutgoingMessage[]): Promise<void> {
    // An outcome whose decision stored its signature carries it already (outcomeMessage): never signed again.
    const unsigned = (m: OutgoingMessage) => m.outcome !== undefined && m.outcome.signature === undefined;
    if (!messages.some(unsigned)) return this.inner.publish(messages);
    const set = await this.signer.keySet();
    return this.inner.publish(
      messages.map((m) =>
        m.outcome && unsigned(m)
          ? {
              ...m,
              headers: signOutcome(set, {
                topic: m.destination,
                key: m.key,
                value: m.value,
                resolvedMs: m.outcome.resolvedMs ?? resolvedOf(m.value),
              }),
            }
          : m,
      ),
    );
  }

  destinationExists(destination: string): Promise<boolean> {
    return this.inner.destinationExists?.(destination) ?? Promise.resolve(true);
  }

  disconnect(): Promise<void> {
    return this.inner.disconnect();
  }
}

/** An outcome's `resolved` time, read from its bytes (for a stored decision that did not keep it apart). */
function resolvedOf(value: Uint8Array): number {
  const resolved = (JSON.parse(Buffer.from(value).toString('utf8')) as { resolved?: unknown }).resolved;
  const ms = typeof resolved === 'string' ? Date.parse(resolved) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error('an outcome without a resolved time cannot be signed');
  return ms;
}
