/**
 * Generates docs/asyncapi.json (AsyncAPI 3.0) from the same zod definitions the
 * collector validates with. `npm run asyncapi` rewrites it; a test checks it is current.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CAPABILITY_HEADERS } from '#core/capabilities.ts';
import {
  CancelEventSchema,
  COMMAND_TYPES,
  CreateEventSchema,
  EntityDoneEventSchema,
  ExtendEventSchema,
  FailureOutcomeSchema,
  SuccessOutcomeSchema,
} from '#core/events.ts';
import { SIGNATURE_HEADERS } from '#core/signing.ts';
import { DLQ_HEADERS, EVENT_TYPES, TOPICS } from '#shared/config.ts';
import { projectRoot } from './services/process.ts';

const schema = (s: z.ZodType) => {
  const { $schema: _, ...rest } = z.toJSONSchema(s, { target: 'draft-7', io: 'input' }) as Record<
    string,
    unknown
  >;
  return rest;
};

const message = (name: string, summary: string, payload: z.ZodType, key: string) => ({
  name,
  title: name,
  summary,
  contentType: 'application/json',
  payload: schema(payload),
  bindings: { kafka: { key: { type: 'string', description: key } } },
});

/** Headers of a signed outcome (docs/SECURITY.md): present when the collector has a signing key (always on AWS). */
const outcomeHeaders = {
  type: 'object',
  description:
    'The collector\u2019s signature, its only headers. A verifier takes the last header of each name. Signed: length-prefixed "eventbus-group-collector/outcome/v1", topic, key, value (docs/SECURITY.md).',
  properties: {
    [SIGNATURE_HEADERS.keyId]: {
      type: 'string',
      description: 'id of the Ed25519 key that signed the outcome',
    },
    [SIGNATURE_HEADERS.signature]: {
      type: 'string',
      pattern: '^[A-Za-z0-9_-]{86}$',
      description: 'Ed25519 signature (RFC 8032), base64url',
    },
  },
};

/** Proof headers of a protected group's records (docs/SECURITY.md, "Member capabilities"). */
const proofHeaders = {
  type: 'object',
  description:
    'Required on every record of a protected group (id beginning gk1.); without a valid proof it is dead-lettered `unauthenticated`. The last header of each name counts.',
  properties: {
    [CAPABILITY_HEADERS.groupKey]: {
      type: 'string',
      description: 'the group\u2019s Ed25519 public key, base64url',
    },
    [CAPABILITY_HEADERS.proof]: {
      type: 'string',
      description: 'Ed25519 signature (base64url) over purpose, group id, member id and the value',
    },
    [CAPABILITY_HEADERS.memberKey]: { type: 'string', description: 'reports: the member\u2019s public key' },
    [CAPABILITY_HEADERS.memberCertificate]: {
      type: 'string',
      description: 'reports: the group key\u2019s signature over the member id and its key',
    },
  },
};

export function asyncApiDocument(version: string): Record<string, unknown> {
  const ref = (m: string) => ({ $ref: `#/components/messages/${m}` });
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Group collector',
      version,
      description:
        'The message-bus form of Promise.all: a group names the members it expects, each member reports done, the collector publishes exactly one outcome.',
    },
    defaultContentType: 'application/json',
    channels: {
      input: {
        address: TOPICS.input,
        description:
          'Groups and member reports; outcomes too, by default (the collector ignores outcome types).',
        messages: {
          [EVENT_TYPES.create]: ref(EVENT_TYPES.create),
          [EVENT_TYPES.done]: ref(EVENT_TYPES.done),
          [COMMAND_TYPES.cancel]: ref(COMMAND_TYPES.cancel),
          [COMMAND_TYPES.extend]: ref(COMMAND_TYPES.extend),
          [EVENT_TYPES.success]: ref(EVENT_TYPES.success),
          [EVENT_TYPES.failure]: ref(EVENT_TYPES.failure),
        },
      },
      deadLetters: {
        address: TOPICS.deadLetter,
        description: 'Every input the collector could not accept, with its original key, value and headers.',
        messages: { DeadLetter: ref('DeadLetter') },
      },
    },
    operations: {
      receiveGroupsAndReports: {
        action: 'receive',
        channel: { $ref: '#/channels/input' },
        messages: [
          { $ref: `#/channels/input/messages/${EVENT_TYPES.create}` },
          { $ref: `#/channels/input/messages/${EVENT_TYPES.done}` },
          { $ref: `#/channels/input/messages/${COMMAND_TYPES.cancel}` },
          { $ref: `#/channels/input/messages/${COMMAND_TYPES.extend}` },
        ],
      },
      sendOutcomes: {
        action: 'send',
        channel: { $ref: '#/channels/input' },
        summary:
          'Exactly one outcome per group, keyed by the group id (to the group\u2019s replyTo topic when set).',
        messages: [
          { $ref: `#/channels/input/messages/${EVENT_TYPES.success}` },
          { $ref: `#/channels/input/messages/${EVENT_TYPES.failure}` },
        ],
      },
      sendDeadLetters: {
        action: 'send',
        channel: { $ref: '#/channels/deadLetters' },
        messages: [{ $ref: '#/channels/deadLetters/messages/DeadLetter' }],
      },
    },
    components: {
      messages: {
        [EVENT_TYPES.create]: {
          ...message(
            EVENT_TYPES.create,
            'Announces a group and its expected members; `tolerate` and `quorum` say how many errors it survives and how many successes decide it (acted on end to end).',
            CreateEventSchema,
            'the group id (recommended)',
          ),
          headers: proofHeaders,
        },
        [EVENT_TYPES.done]: {
          ...message(
            EVENT_TYPES.done,
            'A member is done, with a result or an error.',
            EntityDoneEventSchema,
            'the group id (recommended)',
          ),
          headers: proofHeaders,
        },
        [COMMAND_TYPES.cancel]: {
          ...message(
            COMMAND_TYPES.cancel,
            'Fails an open group at once (reason `cancelled`); kept when it comes before the Create (acted on end to end).',
            CancelEventSchema,
            'the group id (recommended)',
          ),
          headers: proofHeaders,
        },
        [COMMAND_TYPES.extend]: {
          ...message(
            COMMAND_TYPES.extend,
            'Moves an open group\u2019s deadline to the later of its current one and the time the collector stores it + ttl, within the maximum ttl from its creation. One sent before the Create is kept and applied by it; with no Create within the early-report wait it is dead-lettered `group-never-created` (CONTRACT.md).',
            ExtendEventSchema,
            'the group id (recommended)',
          ),
          headers: proofHeaders,
        },
        [EVENT_TYPES.success]: {
          ...message(
            EVENT_TYPES.success,
            'Every expected member reported, at most `tolerate` of them with an error; or `quorum` members succeeded.',
            SuccessOutcomeSchema,
            'the group id',
          ),
          headers: outcomeHeaders,
        },
        [EVENT_TYPES.failure]: {
          ...message(
            EVENT_TYPES.failure,
            'More members failed than tolerated, the group timed out, was cancelled, or its outcome was too large; `reason` says which.',
            FailureOutcomeSchema,
            'the group id',
          ),
          headers: outcomeHeaders,
        },
        DeadLetter: {
          name: 'DeadLetter',
          summary:
            'The original record, unchanged, with headers saying why it was refused: the original headers first, the collector\u2019s last (take the last of each name). Not signed.',
          payload: {},
          headers: {
            type: 'object',
            properties: Object.fromEntries(Object.values(DLQ_HEADERS).map((h) => [h, { type: 'string' }])),
            required: Object.values(DLQ_HEADERS),
          },
        },
      },
    },
  };
}

export const asyncApiPath = join(projectRoot, 'docs', 'asyncapi.json');

if (import.meta.url === `file://${process.argv[1]}`) {
  const { version } = (await import('../package.json', { with: { type: 'json' } })).default as {
    version: string;
  };
  writeFileSync(asyncApiPath, `${JSON.stringify(asyncApiDocument(version), null, 2)}\n`);
  console.log(`wrote ${asyncApiPath}`);
}
