import { OciError } from './errors.js';
import { tryParseDigest, type Digest } from './digest.js';

/**
 * Repository names and references, per the distribution spec:
 *   name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 *   tag:  [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
 */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Distribution's limit; long names break some clients and file systems. */
const MAX_NAME_LENGTH = 255;

export function isValidName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function assertName(name: string): string {
  if (!isValidName(name)) throw new OciError('NAME_INVALID', { detail: { name } });
  return name;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export type Reference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: Digest };

/** A manifest reference is a tag or a digest; anything else is a 400. */
export function parseReference(ref: string): Reference {
  if (ref.includes(':')) {
    const digest = tryParseDigest(ref);
    if (!digest) throw new OciError('DIGEST_INVALID', { message: 'invalid digest reference', detail: { reference: ref } });
    return { kind: 'digest', digest };
  }
  if (!isValidTag(ref)) throw new OciError('MANIFEST_INVALID', { message: 'invalid tag', detail: { tag: ref } });
  return { kind: 'tag', tag: ref };
}
