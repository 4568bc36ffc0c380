/** Stable dead-letter reason codes (header `collector-dlq-reason`). README "Dead letters". */
export const DLQ_REASONS = {
  malformedJson: 'malformed-json',
  notAnObject: 'not-an-object',
  unknownType: 'unknown-type',
  invalidField: 'invalid-field',
  emptyExpected: 'empty-expected',
  duplicateExpected: 'duplicate-expected',
  tooManyMembers: 'too-many-members',
  idTooLong: 'id-too-long',
  ttlOutOfRange: 'ttl-out-of-range',
  valueTooLarge: 'value-too-large',
  resultTooLarge: 'result-too-large',
  payloadTooLarge: 'payload-too-large',
  memberNotExpected: 'member-not-expected',
  createConflict: 'create-conflict',
  groupNeverCreated: 'group-never-created',
  tooManyEarlyReports: 'too-many-early-reports',
  replyTopicUnknown: 'reply-topic-unknown',
  emptyValue: 'empty-value',
  /** `tolerate` above the members, or above members − `quorum`. */
  tolerateOutOfRange: 'tolerate-out-of-range',
  /** `quorum` above the members. */
  quorumOutOfRange: 'quorum-out-of-range',
  /** A Cancel's `message` over the limit of a member's `error`. */
  messageTooLarge: 'message-too-large',
  /** A protected group's record without a valid proof (docs/SECURITY.md): it changes nothing. */
  unauthenticated: 'unauthenticated',
} as const;
export type DeadLetterReason = (typeof DLQ_REASONS)[keyof typeof DLQ_REASONS];

/** A permanent fault of one input record: it goes to the dead-letter topic with this reason. */
export class DeadLetterError extends Error {
  override name = 'DeadLetterError';
  constructor(
    readonly reason: DeadLetterReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The state in DynamoDB is not what the rules allow; retried, and logged loudly. */
export class InconsistentStateError extends Error {
  override name = 'InconsistentStateError';
}

/**
 * A report of a larger group that had events kept before its Create, while those are still being
 * adopted (by the Create, or by an actor that took over its lapsed claim): transient, so the event
 * source mapping retries the record once the adoption is done, and the early reports stay first.
 */
export class EarlyAdoptionPendingError extends Error {
  override name = 'EarlyAdoptionPendingError';
  constructor(readonly groupId: string) {
    super(`group "${groupId}": reports kept before its Create are being adopted; retried`);
  }
}

/**
 * A definition cached by this execution environment belongs to an earlier group of the same id (the
 * id was created again after the first group's retention): forgotten, and the record is retried
 * (transient) against the group that exists now.
 */
export class StaleDefinitionError extends Error {
  override name = 'StaleDefinitionError';
  constructor(readonly groupId: string) {
    super(`group "${groupId}": the cached definition belongs to an earlier group of this id; retried`);
  }
}
