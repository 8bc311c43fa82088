/**
 * A one-line progress bar redrawn in place (`\r`) on a stream, at most every `minIntervalMs`
 * (plus the final state), so a fast loop does not flood the terminal.
 */
export class ProgressBar {
  private lastDrawMs = 0;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly label: string,
    private readonly width = 30,
    private readonly minIntervalMs = 100,
  ) {}

  update(done: number, total: number, force = false): void {
    const now = Date.now();
    if (!force && this.drawn && now - this.lastDrawMs < this.minIntervalMs) return;
    this.lastDrawMs = now;
    this.drawn = true;
    this.stream.write(`\r${ProgressBar.render(this.label, done, total, this.width)}`);
  }

  /** Leaves the bar on its own line. */
  finish(done: number, total: number): void {
    this.update(done, total, true);
    this.stream.write('\n');
  }

  static render(label: string, done: number, total: number, width: number): string {
    const fraction = total > 0 ? Math.min(1, done / total) : 1;
    const filled = Math.round(fraction * width);
    const percent = String(Math.floor(fraction * 100)).padStart(3);
    return `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}% ${done}/${total}`;
  }
}
