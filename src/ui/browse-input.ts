import { tryParseDigest } from '../oci/digest.js';
import { OciError } from '../oci/errors.js';
import { isValidTag } from '../oci/names.js';

/**
 * The browsing pages' inputs (query parameters, repository paths, references), checked
 * before anything reaches the index: bounded lengths, no control characters, the shapes
 * names and references have. Anything else is a 400 page naming the parameter.
 */

const CONTROL = /[\u0000-\u001f\u007f]/;
/** Index names: a local name, or "<upstream host[:port]>/<repo>" (lower case, as both are). */
const INDEX_NAME = /^[a-z0-9][a-z0-9._:-]*(?:\/[a-z0-9][a-z0-9._-]*)*$/;
/** Longer than any index name (255 for the repository, a host before it). */
export const MAX_INDEX_NAME = 512;

const bad = (message: string) => new OciError('UNSUPPORTED', { status: 400, message });

/** A free-text query parameter: '' when absent; 400 when longer than `max` or with control characters. */
export function textParam(value: string | undefined, name: string, max: number): string {
  if (value === undefined) return '';
  if (value.length > max) throw bad(`${name}: at most ${max} characters`);
  if (CONTROL.test(value)) throw bad(`${name}: control characters are not allowed`);
  return value;
}

/** A parameter that is one of `choices` ('' when absent). */
export function choiceParam<T extends string>(value: string | undefined, name: string, choices: readonly T[]): T | '' {
  if (value === undefined || value === '') return '';
  if (!(choices as readonly string[]).includes(value)) throw bad(`${name}: not one of ${choices.join(', ')}`);
  return value as T;
}

/** A keyset cursor that must be a tag ('' when absent). */
export function tagParam(value: string | undefined, name: string): string {
  if (value === undefined || value === '') return '';
  if (!isValidTag(value)) throw bad(`${name}: not a tag`);
  return value;
}

/** A keyset cursor that must be a digest ('' when absent). */
export function digestParam(value: string | undefined, name: string): string {
  if (value === undefined || value === '') return '';
  if (value.length > 200 || !tryParseDigest(value)) throw bad(`${name}: not a digest`);
  return value;
}

/** A repository's index name from its URL path segments (each percent-decoded); 400 when no name can look like it. */
export function indexNameOf(encoded: string): string {
  if (encoded.length > MAX_INDEX_NAME * 3) throw new OciError('NAME_INVALID');
  let name: string;
  try {
    name = encoded.split('/').map(decodeURIComponent).join('/');
  } catch {
    throw new OciError('NAME_INVALID');
  }
  if (name.length > MAX_INDEX_NAME || !INDEX_NAME.test(name)) throw new OciError('NAME_INVALID');
  return name;
}

export type PageReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: string };

/** A manifest page's reference: a tag or a digest, percent-decoded; 400 otherwise. */
export function referenceOf(encoded: string): PageReference {
  let ref: string;
  try {
    ref = decodeURIComponent(encoded);
  } catch {
    throw new OciError('MANIFEST_INVALID', { message: 'invalid reference' });
  }
  if (ref.length > 200) throw new OciError('MANIFEST_INVALID', { message: 'invalid reference' });
  if (ref.includes(':')) {
    if (!tryParseDigest(ref)) throw new OciError('DIGEST_INVALID', { message: 'invalid digest' });
    return { kind: 'digest', digest: ref };
  }
  if (!isValidTag(ref)) throw new OciError('MANIFEST_INVALID', { message: 'invalid tag' });
  return { kind: 'tag', tag: ref };
}
