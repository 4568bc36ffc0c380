import type { DeadLetterReason } from '../functions/core/errors.ts';

/** Base class of every error the client throws itself. */
export class GroupCollectorClientError extends Error {
  override name = 'GroupCollectorClientError';
}

/**
 * A group or report the collector would dead-letter: refused before anything is published.
 * `field` names the offending field of the event (`expected`, `ttl`, `payload`, `id`, `group`,
 * `result`, `error`, `replyTo`…); `reason` is the dead-letter reason the collector would give.
 */
export class ValidationError extends GroupCollectorClientError {
  override name = 'ValidationError';
  constructor(
    readonly field: string,
    readonly reason: DeadLetterReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No outcome arrived for the group within the wait's `timeoutMs`. */
export class OutcomeTimeoutError extends GroupCollectorClientError {
  override name = 'OutcomeTimeoutError';
  constructor(
    readonly groupId: string,
    readonly timeoutMs: number,
  ) {
    super(`no outcome for group ${groupId} within ${timeoutMs} ms`);
  }
}

/** The wait's AbortSignal fired; `cause` is the signal's reason. */
export class WaitAbortedError extends GroupCollectorClientError {
  override name = 'WaitAbortedError';
  constructor(
    readonly groupId: string,
    options?: { cause?: unknown },
  ) {
    super(`wait for group ${groupId} was aborted`, options);
  }
}

/** The client was closed: pending waits are rejected with it, and later calls too. */
export class ClientClosedError extends GroupCollectorClientError {
  override name = 'ClientClosedError';
  constructor(what = 'the client') {
    super(`${what}: the client is closed`);
  }
}
