import { describe, expect, it } from 'vitest';
import { parseV2Path } from './v2-path.js';

const DIGEST = `sha256:${'ab'.repeat(32)}`;

describe('parseV2Path', () => {
  it('reads the ping endpoint with and without the trailing slash', () => {
    expect(parseV2Path('/v2/')).toEqual({ kind: 'ping' });
    expect(parseV2Path('/v2')).toEqual({ kind: 'ping' });
  });

  it('reads the catalog', () => {
    expect(parseV2Path('/v2/_catalog')).toEqual({ kind: 'catalog' });
  });

  it('reads manifests by tag and by digest', () => {
    expect(parseV2Path('/v2/alpine/manifests/3.20')).toEqual({ kind: 'manifest', name: 'alpine', reference: '3.20' });
    expect(parseV2Path(`/v2/library/alpine/manifests/${DIGEST}`))
      .toEqual({ kind: 'manifest', name: 'library/alpine', reference: DIGEST });
  });

  it('keeps every component of a nested name', () => {
    expect(parseV2Path('/v2/a/b/c/d/manifests/latest')).toEqual({ kind: 'manifest', name: 'a/b/c/d', reference: 'latest' });
  });

  it.each([
    ['/v2/team/blobs/manifests/latest', { kind: 'manifest', name: 'team/blobs', reference: 'latest' }],
    ['/v2/team/manifests/manifests/latest', { kind: 'manifest', name: 'team/manifests', reference: 'latest' }],
    ['/v2/blobs/manifests/v1', { kind: 'manifest', name: 'blobs', reference: 'v1' }],
    [`/v2/team/manifests/blobs/${DIGEST}`, { kind: 'blob', name: 'team/manifests', digest: DIGEST }],
    [`/v2/a/blobs/b/blobs/${DIGEST}`, { kind: 'blob', name: 'a/blobs/b', digest: DIGEST }],
    ['/v2/x/tags/list/manifests/latest', { kind: 'manifest', name: 'x/tags/list', reference: 'latest' }],
    ['/v2/team/manifests/tags/list', { kind: 'tags', name: 'team/manifests' }],
    ['/v2/team/blobs/blobs/uploads/', { kind: 'upload-start', name: 'team/blobs' }],
    [`/v2/team/referrers/referrers/${DIGEST}`, { kind: 'referrers', name: 'team/referrers', digest: DIGEST }],
  ])('splits %s at the last API segment, so a name may contain one', (path, route) => {
    expect(parseV2Path(path)).toEqual(route);
  });

  it('reads a tag that is itself called "manifests" or "blobs"', () => {
    expect(parseV2Path('/v2/team/app/manifests/manifests')).toEqual({ kind: 'manifest', name: 'team/app', reference: 'manifests' });
    expect(parseV2Path('/v2/team/app/manifests/blobs')).toEqual({ kind: 'manifest', name: 'team/app', reference: 'blobs' });
  });

  it('reads blobs', () => {
    expect(parseV2Path(`/v2/library/alpine/blobs/${DIGEST}`)).toEqual({ kind: 'blob', name: 'library/alpine', digest: DIGEST });
  });

  it('reads the start of an upload with or without the trailing slash', () => {
    expect(parseV2Path('/v2/team/app/blobs/uploads/')).toEqual({ kind: 'upload-start', name: 'team/app' });
    expect(parseV2Path('/v2/team/app/blobs/uploads')).toEqual({ kind: 'upload-start', name: 'team/app' });
  });

  it('reads an upload session', () => {
    expect(parseV2Path('/v2/team/app/blobs/uploads/6f1c2a9e-5b7d-4c1e-9f00-2b3c4d5e6f70'))
      .toEqual({ kind: 'upload', name: 'team/app', id: '6f1c2a9e-5b7d-4c1e-9f00-2b3c4d5e6f70' });
  });

  it('reads the tags list', () => {
    expect(parseV2Path('/v2/library/alpine/tags/list')).toEqual({ kind: 'tags', name: 'library/alpine' });
  });

  it('reads referrers', () => {
    expect(parseV2Path(`/v2/team/app/referrers/${DIGEST}`)).toEqual({ kind: 'referrers', name: 'team/app', digest: DIGEST });
  });

  it.each([
    '/',
    '/v1/alpine/manifests/latest',
    '/v2/alpine',
    '/v2/alpine/',
    '/v2/alpine/manifests/',
    '/v2/alpine/manifests/a/b',
    '/v2/alpine/blobs/',
    '/v2/alpine/blobs/a/b',
    '/v2/alpine/blobs/uploads/id/extra',
    '/v2/alpine/tags/',
    '/v2/alpine/tags/other',
    '/v2/alpine/referrers/',
    '/v2/alpine/unknown/x',
    '/v2/manifests/latest',
    '/v2/_catalog/extra',
  ])('does not route %s', (path) => {
    expect(parseV2Path(path)).toEqual({ kind: 'unknown' });
  });
});
