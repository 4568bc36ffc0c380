import { EVENT_TYPES } from '#shared/config.ts';
import { utf8Bytes } from './canonical.ts';

export type OutcomeKind = 'success' | 'member-failure' | 'timeout';

export interface OutcomeInput {
  kind: OutcomeKind;
  groupId: string;
  createdMs: number;
  resolvedMs: number;
  /** Members' results in `expected` order, each as stored JSON text (`null` for a failed member). */
  results: [member: string, resultJson: string][];
  /** The group's payload as stored JSON text, or undefined when it has none. */
  payload: string | undefined;
  /** member-failure: the failing member and its error. */
  entity?: string;
  error?: string;
  /** timeout: who never reported; ttl for the message. */
  missing?: string[];
  ttlSeconds?: number;
}

export const timeoutMessage = (ttlSeconds: number) => `Operation timed out after ${ttlSeconds} seconds`;

export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The outcome event's exact text. Built as a string, in a fixed key order, with
 * results spliced in as stored JSON text: the same input always gives the
 * same bytes, and no member id (even `__proto__`) ever touches an object prototype.
 */
export function buildOutcome(input: OutcomeInput): string {
  const parts: string[] = [];
  const field = (name: string, json: string) => parts.push(`${JSON.stringify(name)}:${json}`);
  field('type', JSON.stringify(input.kind === 'success' ? EVENT_TYPES.success : EVENT_TYPES.failure));
  field('id', JSON.stringify(input.groupId));
  if (input.kind === 'member-failure') {
    field('entity', JSON.stringify(input.entity ?? ''));
    field('error', JSON.stringify(input.error ?? ''));
  } else if (input.kind === 'timeout') {
    field('entity', JSON.stringify(input.groupId));
    field('error', JSON.stringify(timeoutMessage(input.ttlSeconds ?? 0)));
  }
  field('created', JSON.stringify(iso(input.createdMs)));
  field('resolved', JSON.stringify(iso(input.resolvedMs)));
  field('results', `{${input.results.map(([m, r]) => `${JSON.stringify(m)}:${r}`).join(',')}}`);
  if (input.kind === 'timeout') field('missing', JSON.stringify(input.missing ?? []));
  if (input.payload !== undefined) field('payload', input.payload);
  return `{${parts.join(',')}}`;
}

/**
 * Builds the outcome and, when it would exceed the largest message the topic
 * accepts, replaces it with a failure that says so (CONTRACT.md "Limits"):
 * never publish something the broker will reject.
 */
export function buildBoundedOutcome(
  input: OutcomeInput,
  maxBytes: number,
  /**
   * Bytes of results the caller did not load (they stand as `null` in `input`): counted in the
   * size, so that a group far over the limit is decided "too large" without holding its results.
   */
  unloadedBytes = 0,
): { text: string; kind: OutcomeKind } {
  const text = buildOutcome(input);
  const size = utf8Bytes(text) + unloadedBytes;
  if (size <= maxBytes && unloadedBytes === 0) return { text, kind: input.kind };
  const tooLarge = buildOutcome({
    ...input,
    kind: 'member-failure',
    entity: input.groupId,
    error: `Outcome too large: ${size} bytes exceed the limit of ${maxBytes} bytes`,
    results: [],
  });
  return { text: tooLarge, kind: 'member-failure' };
}
