import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ADDRESS_REFUSED, createAddressPolicy, createGuardedConnector, guardedLookup, isSpecialAddress } from './address-policy.js';

describe('isSpecialAddress', () => {
  it.each([
    '127.0.0.1', '127.0.0.2', '127.255.255.254', '10.0.0.9', '172.16.0.1', '172.31.255.255', '192.168.1.1',
    '169.254.169.254', '100.64.0.1', '100.127.255.255', '0.0.0.0', '0.1.2.3', '192.0.2.1', '198.18.0.1',
    '224.0.0.1', '255.255.255.255',
    '::', '::1', '[::1]', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '2001:db8::1',
    '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.9', '::ffff:169.254.169.254', '[::ffff:192.168.0.1]',
    '64:ff9b::10.0.0.1', '2002:7f00:1::', '::127.0.0.1',
    'not-an-ip', '',
  ])('refuses %s', (address) => {
    expect(isSpecialAddress(address)).toBe(true);
  });

  it.each([
    '1.1.1.1', '8.8.8.8', '172.32.0.1', '172.15.255.255', '100.128.0.1', '192.169.0.1', '11.0.0.1', '169.255.0.1',
    '2606:4700::1111', '2a00:1450:4001::200e', '::ffff:8.8.8.8', '64:ff9b::808:808', '2600::1',
  ])('allows %s', (address) => {
    expect(isSpecialAddress(address)).toBe(false);
  });
});

describe('createAddressPolicy', () => {
  it('lets a registry on 10.0.0.5 be dialled, but not 10.0.0.9 that it names', () => {
    const policy = createAddressPolicy('http://10.0.0.5:5000');
    expect(policy.allows('10.0.0.5', '10.0.0.5')).toBe(true);
    expect(policy.allows('10.0.0.9', '10.0.0.9')).toBe(false);
    expect(policy.allows('cdn.example', '10.0.0.9')).toBe(false);
    expect(policy.allows('cdn.example', '93.184.216.34')).toBe(true);
  });

  it('judges by host identity: 127.0.0.2 and localhost are not 127.0.0.1', () => {
    const policy = createAddressPolicy('http://127.0.0.1:5000');
    expect(policy.allows('127.0.0.1', '127.0.0.1')).toBe(true);
    expect(policy.allows('127.0.0.2', '127.0.0.2')).toBe(false);
    expect(policy.allows('localhost', '127.0.0.1')).toBe(false);
  });

  it('trusts the upstream host by name at any address, and the hosts the operator allows', () => {
    const policy = createAddressPolicy('https://Registry.Internal', ['blobs.internal', '10.0.0.9', 'fd00::1']);
    expect(policy.allows('registry.internal', '10.0.0.5')).toBe(true);
    expect(policy.allows('BLOBS.internal', '10.1.1.1')).toBe(true);
    expect(policy.allows('10.0.0.9', '10.0.0.9')).toBe(true);
    expect(policy.allows('[fd00::1]', 'fd00::1')).toBe(true);
    expect(policy.allows('other.internal', '10.0.0.5')).toBe(false);
  });
});

describe('guardedLookup', () => {
  const lookup = (host: string, all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
      guardedLookup(createAddressPolicy('http://127.0.0.1:5000'))(host, { all }, (err, address) => resolve({ err, address }));
    });

  it('refuses a name that resolves to loopback, in both lookup forms', async () => {
    for (const all of [false, true]) {
      const { err } = await lookup('localhost', all);
      expect(err?.code).toBe(ADDRESS_REFUSED);
    }
  });

  it('resolves a trusted name as usual', async () => {
    const trusted = new Promise<unknown>((resolve) => {
      guardedLookup(createAddressPolicy('http://localhost:5000'))('localhost', {}, (err, address) => resolve(err ?? address));
    });
    expect(await trusted).toMatch(/^(127\.0\.0\.1|::1)$/);
  });
});

describe('createGuardedConnector', () => {
  it('refuses a literal address the policy refuses before connecting, and connects to the upstream host', async () => {
    let accepted = 0;
    const server = createServer((socket) => {
      accepted++;
      socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const dial = (upstream: string) =>
        new Promise<Error | null>((resolve) => {
          createGuardedConnector(createAddressPolicy(upstream), 1000)(
            { hostname: '127.0.0.2', host: `127.0.0.2:${port}`, protocol: 'http:', port: String(port) },
            (err, socket) => {
              socket?.destroy();
              resolve(err);
            },
          );
        });
      expect(((await dial('http://127.0.0.1:5000')) as NodeJS.ErrnoException | null)?.code).toBe(ADDRESS_REFUSED);
      expect(accepted).toBe(0);
      expect(await dial('http://127.0.0.2:5000')).toBeNull();
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
