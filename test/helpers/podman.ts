/**
 * podman (Debian's) as root, isolated from this machine's config and storage: its
 * registries.conf, containers.conf, storage.conf (vfs), trust policy, storage and
 * tmp dirs all live in `dir`, and the proxy env points at a dead port.
 *
 * ```ts
 * const podman = podmanSandbox(dir, registriesConf);
 * await podman.pull('docker.io/library/alpine:3.20');
 * ```
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OFFLINE_ENV } from './distribution.js';
import { run, type CommandResult } from './dockerd.js';

export const PODMAN_BIN = '/usr/bin/podman';

export interface PodmanSandbox {
  /** `podman ARGS...`; rejects with its output when it exits non-zero. */
  podman(args: readonly string[]): Promise<CommandResult>;
  /** `podman pull REF` with an accept-anything trust policy; stdout is the image ID. */
  pull(ref: string): Promise<CommandResult>;
  /** `podman image inspect REF`, parsed. */
  inspect(ref: string): Promise<{ Id: string; Digest: string; RepoDigests: string[]; RepoTags: string[] }>;
}

/** `registriesConf` is the whole registries.conf (e.g. a `[[registry.mirror]]`). */
export function podmanSandbox(dir: string, registriesConf: string): PodmanSandbox {
  mkdirSync(dir, { recursive: true });
  const file = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    ...OFFLINE_ENV,
    CONTAINERS_REGISTRIES_CONF: file('registries.conf', registriesConf),
    // No systemd here: events to a file, cgroupfs. Network configs (netavark or CNI) in dir too.
    CONTAINERS_CONF: file('containers.conf', '[engine]\nevents_logger = "file"\ncgroup_manager = "cgroupfs"\n'
      + `[network]\nnetwork_config_dir = "${join(dir, 'networks')}"\n`),
    CONTAINERS_STORAGE_CONF: file('storage.conf',
      `[storage]\ndriver = "vfs"\ngraphroot = "${join(dir, 'root')}"\nrunroot = "${join(dir, 'run')}"\n`),
  };
  const policy = file('policy.json', JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  const podman = (args: readonly string[]) => run(PODMAN_BIN, ['--tmpdir', join(dir, 'tmp'), ...args], env);
  return {
    podman,
    pull: (ref) => podman(['pull', '--signature-policy', policy, ref]),
    inspect: async (ref) => JSON.parse((await podman(['image', 'inspect', ref])).stdout)[0],
  };
}
