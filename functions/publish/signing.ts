/**
 * Signs outcomes on their way out (docs/SECURITY.md, "Signed outcomes"): a Publisher around
 * another that appends the signature headers to every message marked as an outcome, and passes
 * the rest (dead letters) through unsigned. The key set is loaded once per execution environment
 * and kept for `maxAgeMs`.
 */
import { type SigningKeySet, signOutcome } from '#core/signing.ts';
import type { OutgoingMessage, Publisher } from './publisher.ts';

/** Where the key set comes from (the settings' JSON, or Secrets Manager); undefined: sign nothing. */
export type SigningKeySource = () => Promise<SigningKeySet>;

export class SigningPublisher implements Publisher {
  private cached: { set: SigningKeySet; atMs: number } | undefined;
  private loading: Promise<SigningKeySet> | undefined;

  constructor(
    private readonly inner: Publisher,
    private readonly source: SigningKeySource,
    /** How long a loaded key set is kept (a rotation's new key must be added at least this long before its nbf). */
    private readonly maxAgeMs = 5 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  async publish(messages: OutgoingMessage[]): Promise<void> {
    if (!messages.some((m) => m.outcome)) return this.inner.publish(messages);
    const set = await this.keySet();
    return this.inner.publish(
      messages.map((m) =>
        m.outcome
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

  private keySet(): Promise<SigningKeySet> {
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
    // must not stop outcomes); the first load failing fails the publish, which is retried.
    return cached ? this.loading.catch(() => cached.set) : this.loading;
  }
}

/** An outcome's `resolved` time, read from its bytes (for a stored decision that did not keep it apart). */
function resolvedOf(value: Uint8Array): number {
  const resolved = (JSON.parse(Buffer.from(value).toString('utf8')) as { resolved?: unknown }).resolved;
  const ms = typeof resolved === 'string' ? Date.parse(resolved) : Number.NaN;
  if (Number.isNaN(ms)) throw new Error('an outcome without a resolved time cannot be signed');
  return ms;
}
