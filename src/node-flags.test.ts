import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NODE_FLAGS } from './node-flags.js';

const ROOT = join(import.meta.dirname, '..');

describe('node flags', () => {
  it('npm start runs node with NODE_FLAGS', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts['start']).toBe(['node', ...NODE_FLAGS, 'dist/main.js', 'serve'].join(' '));
  });

  it('the Docker image runs node with NODE_FLAGS', () => {
    const entrypoint = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
    expect(entrypoint).not.toBeNull();
    expect(JSON.parse(entrypoint![1]!)).toEqual(['node', ...NODE_FLAGS, 'dist/main.js']);
  });
});
