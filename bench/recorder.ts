/**
 * Samples as they are measured, one series per (figure, system), plus free-text notes
 * (anything odd seen during the run: errors, unexpected upstream requests).
 */
export interface Series {
  figure: string;
  system: string;
  unit: string;
  samples: number[];
}

export class Recorder {
  readonly series: Series[] = [];
  readonly notes: string[] = [];

  add(figure: string, system: string, unit: string, value: number): void {
    let s = this.get(figure, system);
    if (!s) {
      s = { figure, system, unit, samples: [] };
      this.series.push(s);
    }
    s.samples.push(value);
  }

  get(figure: string, system: string): Series | undefined {
    return this.series.find((s) => s.figure === figure && s.system === system);
  }

  note(line: string): void {
    this.notes.push(line);
    process.stdout.write(`  note: ${line}\n`);
  }
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Round r leads with a different system each time: A B, B A, A B... */
export function rotate<T>(items: readonly T[], round: number): T[] {
  const k = round % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}
