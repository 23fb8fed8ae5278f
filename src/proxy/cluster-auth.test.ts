import { describe, expect, it } from 'vitest';
import { fillPath, signPeerRequest, SIGNATURE_TTL_MS, verifyPeerRequest } from './cluster-auth.js';

const SECRET = 's'.repeat(32);
const PATH = fillPath(`sha256:${'a'.repeat(64)}`);
const NOW = 1_700_000_000_000;

describe('the internal endpoint\'s signature', () => {
  it('verifies what was signed for the same method and path, until it expires', () => {
    const auth = signPeerRequest(SECRET, 'GET', PATH, NOW);
    expect(auth).toMatch(/^Cluster \d+\.[0-9a-f]{64}$/);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, auth, NOW)).toBe(true);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, auth, NOW + SIGNATURE_TTL_MS - 1)).toBe(true);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, auth, NOW + SIGNATURE_TTL_MS)).toBe(false);
  });

  it('refuses another secret, method or path, a missing or malformed header, and an expiry pushed far ahead', () => {
    const auth = signPeerRequest(SECRET, 'GET', PATH, NOW);
    expect(verifyPeerRequest('t'.repeat(32), 'GET', PATH, auth, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'HEAD', PATH, auth, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', fillPath(`sha256:${'b'.repeat(64)}`), auth, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', `${PATH}?x=1`, auth, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, undefined, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, auth.replace('Cluster', 'Bearer'), NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, `${auth}0`, NOW)).toBe(false);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, auth.toUpperCase(), NOW)).toBe(false);
    // Signed (with the secret) to last a day: still refused.
    const long = signPeerRequest(SECRET, 'GET', PATH, NOW + 86_400_000);
    expect(verifyPeerRequest(SECRET, 'GET', PATH, long, NOW)).toBe(false);
  });
});
