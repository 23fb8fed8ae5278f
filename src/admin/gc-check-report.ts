import type { GcCheckSummary, GcFinding } from './gc-check.js';

/**
 * Progress and findings of `gc --check` / `--repair`, on stderr. On a terminal a progress
 * line is rewritten in place ("checked 1200 rows, 800 files") and each finding gets a line
 * of its own above it; in a pipe only findings and the summary, as plain `key=value` lines.
 */
export function gcCheckReporter(write: (text: string) => void, tty: boolean) {
  let shown = false;
  const clear = () => {
    if (shown) write('\r\x1b[K');
    shown = false;
  };
  return {
    progress(p: { rows: number; files: number }): void {
      if (!tty) return;
      write(`\r\x1b[Kchecked ${p.rows} index rows, ${p.files} files`);
      shown = true;
    },
    finding(f: GcFinding): void {
      clear();
      const origin = f.origin ? ` origin=${f.origin}` : '';
      write(`${f.kind} digest=${f.digest} size=${f.size}${origin} action=${f.action}\n`);
    },
    summary(s: GcCheckSummary): void {
      clear();
      const what = s.repair ? `repaired: ${s.rowsDropped} row(s) dropped, ${s.filesRemoved} file(s) removed` : 'nothing changed (--repair fixes)';
      write(`gc --${s.repair ? 'repair' : 'check'}: ${s.rowsChecked} rows, ${s.filesChecked} files; ${s.missingFiles} missing file(s)`
        + ` (${s.missingPushed} pushed), ${s.strayFiles} stray file(s), ${s.youngStrays} young stray(s) left, ${s.unknownFiles} unknown file(s); `
        + `${s.clean ? 'clean' : what}\n`);
    },
  };
}
