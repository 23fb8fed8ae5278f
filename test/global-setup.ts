import { execFileSync } from 'node:child_process';

/**
 * End-to-end tests run the mirror as users do, from dist/: compile it once per run.
 */
export default function setup(): void {
  execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
