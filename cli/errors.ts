/** A mistake in the command line: exit code 2 and the message, no stack trace. */
export class UsageError extends Error {
  override name = 'UsageError';
}
