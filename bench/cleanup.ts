/**
 * Everything the bench starts registers its stop here, and `run()` stops it all in
 * reverse order (from a finally block, or on Ctrl-C), each step on its own so one
 * failure does not leave the rest running.
 */
export class Cleanup {
  private readonly steps: Array<{ name: string; stop: () => Promise<void> | void }> = [];
  private running: Promise<void> | undefined;

  add(name: string, stop: () => Promise<void> | void): void {
    this.steps.push({ name, stop });
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      for (const step of this.steps.reverse()) {
        try {
          await step.stop();
        } catch (err) {
          process.stderr.write(`cleanup: ${step.name}: ${(err as Error).message}\n`);
        }
      }
    })();
    return this.running;
  }
}
