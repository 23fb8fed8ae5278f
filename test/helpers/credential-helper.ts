/**
 * A fake docker credential helper: a tiny sh script `docker-credential-<name>` in a temp
 * dir, found through the `env` (PATH) handed to the mirror — never through process.env.
 * It appends each host it is asked about to a file (so tests count runs), and behaves as
 * the test sets: answer JSON, fail with a message on stderr, hang, or flood stdout.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export type HelperMode = 'answer' | 'fail' | 'hang' | 'huge';

export interface FakeCredentialHelper {
  /** The name to configure: `docker-credential-<name>`. */
  readonly name: string;
  /** Environment to run helpers with: PATH has the script's dir first. */
  readonly env: NodeJS.ProcessEnv;
  /** What the next runs answer (Username "<token>" makes Secret an identity token). */
  answer(username: string, secret: string): void;
  mode(mode: HelperMode): void;
  /** The hosts (ServerURLs) asked about, one per run, in order. */
  runs(): string[];
  /** What a failing run prints on stderr (a test asserts clients never see it). */
  readonly stderrMarker: string;
  close(): void;
}

/** Writes the script; `name` must be a valid helper name. */
export function createFakeCredentialHelper(name = 'fake'): FakeCredentialHelper {
  const dir = mkdtempSync(join(tmpdir(), 'cred-helper-'));
  const stderrMarker = 'helper-stderr-do-not-leak';
  const script = `#!/bin/sh
host=$(cat)
printf '%s\\n' "$host" >> '${dir}/runs'
case "$(cat '${dir}/mode')" in
  answer) cat '${dir}/answer.json' ;;
  fail) echo '${stderrMarker} Secret=hunter2' >&2; exit 3 ;;
  hang) sleep 30 ;;
  huge) head -c 300000 /dev/zero | tr '\\000' a ;;
esac
`;
  const path = join(dir, `docker-credential-${name}`);
  writeFileSync(path, script);
  chmodSync(path, 0o755);
  writeFileSync(join(dir, 'runs'), '');
  const set = {
    answer(username: string, secret: string) {
      writeFileSync(join(dir, 'answer.json'), JSON.stringify({ ServerURL: 'ignored', Username: username, Secret: secret }));
    },
    mode(mode: HelperMode) {
      writeFileSync(join(dir, 'mode'), mode);
    },
  };
  set.mode('answer');
  set.answer('helper-user', 'helper-secret');
  return {
    name,
    env: { PATH: `${dir}${delimiter}${process.env['PATH'] ?? '/usr/bin:/bin'}` },
    ...set,
    runs: () => readFileSync(join(dir, 'runs'), 'utf8').split('\n').filter((l) => l !== ''),
    stderrMarker,
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
