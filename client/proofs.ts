/**
 * The proofs of a protected group's records (docs/SECURITY.md, "Member capabilities"), made from the
 * owner's or a member's credentials: one place for the client's methods and `group-collector produce`.
 */
import {
  type GroupCredentials,
  isProtected,
  type MemberCredentials,
  memberCredentials,
  proveByGroup,
  proveReport,
} from '../functions/core/capabilities.ts';
import { DLQ_REASONS } from '../functions/core/errors.ts';
import { ValidationError } from './errors.ts';

/** What a record proves: a Create, Cancel or Extend of a group (by its owner), or one member's report. */
export type ProvenRecord =
  | { kind: 'create' | 'cancel' | 'extend'; group: string }
  | { kind: 'report'; group: string; member: string };

/** Whether credentials are a member's (a certificate and a member id) rather than the group's own. */
export const isMemberCredentials = (
  credentials: GroupCredentials | MemberCredentials,
): credentials is MemberCredentials => 'certificate' in credentials && 'member' in credentials;

/**
 * The headers that prove `value` (the record as sent) for a protected group; undefined for an
 * unprotected one. A Create, Cancel or Extend needs the group's credentials; a report, the member's
 * or the group's (from which the member's are derived).
 * @throws ValidationError (reason `unauthenticated`) when the credentials cannot prove the record.
 */
export function proofHeaders(
  record: ProvenRecord,
  value: Uint8Array,
  credentials: GroupCredentials | MemberCredentials | undefined,
): { name: string; value: string }[] | undefined {
  const { group } = record;
  if (!isProtected(group)) return undefined;
  if (!credentials || credentials.groupId !== group) {
    throw new ValidationError(
      'group',
      DLQ_REASONS.unauthenticated,
      `no credentials for protected group ${group}`,
    );
  }
  if (record.kind === 'report') {
    const own = isMemberCredentials(credentials)
      ? credentials
      : memberCredentials(credentials, record.member);
    if (own.member !== record.member) {
      throw new ValidationError(
        'id',
        DLQ_REASONS.unauthenticated,
        `credentials of ${own.member} cannot report ${record.member}`,
      );
    }
    return proveReport(own, value);
  }
  if (isMemberCredentials(credentials)) {
    throw new ValidationError(
      'group',
      DLQ_REASONS.unauthenticated,
      `a member's credentials (${credentials.member}) cannot ${record.kind} protected group ${group}: the group's own are needed`,
    );
  }
  return proveByGroup(credentials, record.kind, value);
}
