import { execFileSync } from 'node:child_process';

/**
 * End-to-end tests run the mirror as users do, from dist/: compiled once per run by the
 * same build script `npm install` runs (its `prepare`), which also marks the package's bin
 * (dist/main.js, for `npx registry-mirror`) executable: tsc writes new files 0644, and npm
 * marks a bin only if it exists when npm gets there, which on a fresh `npm ci` it may not.
 */
export default function setup(): void {
  execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
}
