import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { startMessage } from './start-message.js';

describe('startMessage', () => {
  it('names a wildcard listener by the host name, and a plain-http mirror as insecure for dockerd', () => {
    const host = hostname();
    expect(startMessage('0.0.0.0', 5000, false)).toEqual({
      url: `http://${host}:5000`,
      daemon_json: `/etc/docker/daemon.json: {"registry-mirrors":["http://${host}:5000"],"insecure-registries":["${host}:5000"]}`,
    });
  });

  it('uses the configured address as is, https with TLS and no insecure entry', () => {
    expect(startMessage('mirror.internal', 443, true)).toEqual({
      url: 'https://mirror.internal:443',
      daemon_json: '/etc/docker/daemon.json: {"registry-mirrors":["https://mirror.internal:443"]}',
    });
    expect(startMessage('::1', 5000, false).url).toBe('http://[::1]:5000');
  });
});
