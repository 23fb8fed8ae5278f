import { tryParseDigest } from './digest.js';
import { isValidTag, type Reference } from './names.js';

/**
 * An image as people write it: `alpine`, `alpine:3.20`, `docker.io/library/alpine:3.20`,
 * `ghcr.io/owner/app@sha256:…` (Docker's reference grammar: the tag is after the last
 * `:` that follows the last `/`; a digest wins over a tag; no tag means `latest`).
 * `name` is what a client would put in /v2/<name>/ (a registry host first, if any); the
 * resolver decides which upstream or local namespace it is.
 */
export interface ImageRef {
  name: string;
  reference: Reference;
  /** As written, for messages. */
  text: string;
}

/** Throws Error with a plain message for anything that is not an image reference. */
export function parseImageRef(text: string): ImageRef {
  const ref = text.trim();
  if (ref === '' || /\s/.test(ref)) throw new Error(`"${text}" is not an image reference`);
  let rest = ref;
  let reference: Reference | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digest = tryParseDigest(rest.slice(at + 1));
    if (!digest) throw new Error(`"${text}": invalid digest`);
    reference = { kind: 'digest', digest };
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    const tag = rest.slice(colon + 1);
    if (!isValidTag(tag)) throw new Error(`"${text}": invalid tag "${tag}"`);
    reference ??= { kind: 'tag', tag };
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw new Error(`"${text}" names no repository`);
  return { name: rest, reference: reference ?? { kind: 'tag', tag: 'latest' }, text: ref };
}

/** The reference as a path would carry it: a tag or a digest. */
export function referenceText(r: Reference): string {
  return r.kind === 'tag' ? r.tag : r.digest.value;
}
