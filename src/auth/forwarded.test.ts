import { describe, expect, it } from 'vitest';
import { callerOrigin, createTrustedProxies, type HeaderReader } from './forwarded.js';

type Given = Partial<Record<'host' | 'forwardedHost' | 'forwardedProto' | 'forwardedFor', string>>;
const headers = (h: Given): HeaderReader => (name) =>
  ({ host: h.host, 'x-forwarded-host': h.forwardedHost, 'x-forwarded-proto': h.forwardedProto, 'x-forwarded-for': h.forwardedFor })[name];

describe('trusted proxies', () => {
  it('matches addresses and CIDRs, IPv4 (also IPv4-mapped) and IPv6', () => {
    const p = createTrustedProxies(['10.0.0.5', '192.168.0.0/16', 'fd00::/8']);
    expect(p.trusts('10.0.0.5')).toBe(true);
    expect(p.trusts('::ffff:10.0.0.5')).toBe(true);
    expect(p.trusts('10.0.0.6')).toBe(false);
    expect(p.trusts('192.168.44.1')).toBe(true);
    expect(p.trusts('fd12::1')).toBe(true);
    expect(p.trusts('fe80::1')).toBe(false);
    expect(p.trusts('not an ip')).toBe(false);
  });

  it('refuses an entry that is not an address or CIDR', () => {
    expect(() => createTrustedProxies(['10.0.0.0/33'])).toThrow(/10.0.0.0\/33/);
    expect(() => createTrustedProxies(['proxy.internal'])).toThrow(/proxy.internal/);
  });
});

describe('callerOrigin', () => {
  const proxies = createTrustedProxies(['10.0.0.5']);
  const evil = headers({ host: 'mirror:5000', forwardedHost: 'evil.example', forwardedProto: 'https', forwardedFor: '127.0.0.1' });

  it('ignores X-Forwarded-* from an untrusted peer: Host, the socket address, our own scheme', () => {
    expect(callerOrigin('203.0.113.9', evil, proxies, false)).toEqual({ origin: 'http://mirror:5000', client: '203.0.113.9', loopback: false });
  });

  it('believes X-Forwarded-* from a trusted proxy: the last values, the rightmost untrusted address', () => {
    const h = headers({ host: 'backend:5000', forwardedHost: 'spoof, mirror.example', forwardedProto: 'https', forwardedFor: '1.2.3.4, ::ffff:198.51.100.7, 10.0.0.5' });
    expect(callerOrigin('::ffff:10.0.0.5', h, proxies, false)).toEqual({ origin: 'https://mirror.example', client: '198.51.100.7', loopback: false });
  });

  it('drops a malformed forwarded host or proto, and keeps https when the mirror serves TLS itself', () => {
    const h = headers({ host: 'mirror', forwardedHost: 'a b"c', forwardedProto: 'gopher', forwardedFor: 'junk' });
    expect(callerOrigin('10.0.0.5', h, proxies, false)).toEqual({ origin: 'http://mirror', client: '10.0.0.5', loopback: false });
    expect(callerOrigin('10.0.0.5', headers({ forwardedProto: 'http' }), proxies, true).origin).toBe('https://localhost');
  });

  it('calls a loopback peer local, unless it forwards for someone else without being trusted', () => {
    expect(callerOrigin('127.0.0.1', headers({}), proxies, false).loopback).toBe(true);
    expect(callerOrigin('::1', headers({}), proxies, false).loopback).toBe(true);
    expect(callerOrigin('127.0.0.1', headers({ forwardedFor: '127.0.0.1' }), proxies, false).loopback).toBe(false);
    const local = createTrustedProxies(['127.0.0.1']);
    expect(callerOrigin('127.0.0.1', headers({ forwardedFor: '203.0.113.9' }), local, false)).toMatchObject({ client: '203.0.113.9', loopback: false });
    expect(callerOrigin('127.0.0.1', headers({ forwardedFor: '127.0.0.1' }), local, false).loopback).toBe(true);
  });
});
