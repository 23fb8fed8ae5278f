import { hostname } from 'node:os';

/**
 * What `serve` tells a first-time user once it listens: the URL clients use and the
 * dockerd line to paste. A wildcard listener is named by this machine's host name, the
 * name other machines most likely reach it by; a plain-http mirror is also listed as an
 * insecure registry, which dockerd requires for anything but localhost.
 */
export function startMessage(host: string, port: number, tls: boolean): { url: string; daemon_json: string } {
  const name = host === '' || host === '0.0.0.0' || host === '::' ? hostname() : host;
  const authority = `${name.includes(':') ? `[${name}]` : name}:${port}`;
  const url = `${tls ? 'https' : 'http'}://${authority}`;
  const daemon = { 'registry-mirrors': [url], ...(tls ? {} : { 'insecure-registries': [authority] }) };
  return { url, daemon_json: `/etc/docker/daemon.json: ${JSON.stringify(daemon)}` };
}
