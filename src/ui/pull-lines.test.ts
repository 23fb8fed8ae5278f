import { describe, expect, it } from 'vitest';
import { pullLines, pullReference } from './pull-lines.js';

describe('pullReference', () => {
  const D = `sha256:${'a'.repeat(64)}`;
  it('drops the default upstream’s host, as docker pull <mirror>/library/alpine routes it', () => {
    expect(pullReference('https://mirror.internal', { name: 'docker.io/library/alpine', kind: 'mirror', upstream: 'docker.io' }, 'docker.io', '3.20'))
      .toBe('mirror.internal/library/alpine:3.20');
  });
  it('keeps another upstream’s host as the first path component, and the port of the origin', () => {
    expect(pullReference('http://127.0.0.1:5000', { name: 'ghcr.io/owner/app', kind: 'mirror', upstream: 'ghcr.io' }, 'docker.io', D))
      .toBe(`127.0.0.1:5000/ghcr.io/owner/app@${D}`);
  });
  it('a local repository pulls by its name', () => {
    expect(pullReference('https://m.example:8443', { name: 'team/app', kind: 'local', upstream: null }, 'docker.io', 'v1')).toBe('m.example:8443/team/app:v1');
  });
});

describe('pullLines', () => {
  it('crane needs --insecure over plain http only, and a tarball named after the repository', () => {
    expect(pullLines('http://127.0.0.1:5000', '127.0.0.1:5000/library/alpine:3.20')).toEqual({
      docker: 'docker pull 127.0.0.1:5000/library/alpine:3.20',
      crane: 'crane pull --insecure 127.0.0.1:5000/library/alpine:3.20 alpine.tar',
    });
    expect(pullLines('https://m', `m/team/app@sha256:${'b'.repeat(64)}`).crane).toBe(`crane pull m/team/app@sha256:${'b'.repeat(64)} app.tar`);
  });
});
