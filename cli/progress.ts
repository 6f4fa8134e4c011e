/**
 * One status line on a terminal, rewritten in place. Updates are throttled (rendering a line per
 * batch would cost more than small batches do), and nothing is written when the stream is not a
 * terminal, so logs and pipes get only the summary.
 */

/** What a status line is written to: a terminal, usually process.stderr. */
export interface StatusStream {
  readonly isTTY?: boolean;
  /** Terminal width; lines are cut to it so that `\r` can rewrite them. */
  readonly columns?: number;
  write(text: string): boolean;
}

/** At most ten updates a second: fast enough to look live, cheap next to a batch. */
const MIN_INTERVAL_MS = 100;
const CLEAR_LINE = '\x1b[K';

export class StatusLine {
  private last = Number.NEGATIVE_INFINITY;
  private shown = false;

  constructor(
    private readonly stream: StatusStream | undefined,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  /** True when updates are shown. */
  get enabled(): boolean {
    return this.stream?.isTTY === true;
  }

  /** Shows `render()` unless the last update was under 100 ms ago (`force` shows it anyway). */
  update(render: () => string, force = false): void {
    if (!this.enabled) return;
    const now = this.clock();
    if (!force && now - this.last < MIN_INTERVAL_MS) return;
    this.last = now;
    // Some terminals report no width (0); then the line is left whole.
    const columns = this.stream!.columns ?? 0;
    const width = columns > 20 ? columns - 1 : Number.POSITIVE_INFINITY;
    const text = render();
    this.stream!.write(`\r${text.length > width ? `${text.slice(0, width - 1)}…` : text}${CLEAR_LINE}`);
    this.shown = true;
  }

  /** Removes the line, so that what follows starts on a clean line. */
  clear(): void {
    if (!this.shown) return;
    this.stream!.write(`\r${CLEAR_LINE}`);
    this.shown = false;
  }
}
