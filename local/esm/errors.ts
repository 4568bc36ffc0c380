/** Errors of the local event source mapping emulators. */

/** A filter pattern that Lambda would reject when the mapping is created. */
export class FilterPatternError extends Error {
  override name = 'FilterPatternError';
}

/** The function ran longer than its configured timeout (Lambda stops it and reports `Task timed out`). */
export class InvocationTimeoutError extends Error {
  override name = 'InvocationTimeoutError';
}

/** The emulator is stopping or lost its partition or shard: no further progress is made on this batch. */
export class EventSourceStoppedError extends Error {
  override name = 'EventSourceStoppedError';
}

/** Invalid emulator options (values Lambda's CreateEventSourceMapping would refuse). */
export class EventSourceConfigurationError extends Error {
  override name = 'EventSourceConfigurationError';
}
