/**
 * @internal
 * Where the `lineage` command writes. Machine output (JSON, NDJSON, DOT) goes
 * to stdout only; errors, warnings and progress go to stderr, and progress only
 * when stderr is a terminal. Output is buffered and written in chunks that
 * respect backpressure, so streaming millions of tasks runs in constant memory,
 * and a closed pipe (`| head`) ends the stream quietly instead of crashing.
 */
import type { Readable, Writable } from 'node:stream';

export interface CliIo {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: Readable;
  /** Show progress on stderr. Default: stderr is a TTY. */
  readonly progress: boolean;
  /** Milliseconds of work before progress shows (quick commands show none). Default 1000. */
  readonly progressDelayMs: number;
  /** Environment variables (LINEAGE_DEBUG prints stack traces of internal errors). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function defaultIo(partial: Partial<CliIo> = {}): CliIo {
  const stderr = partial.stderr ?? process.stderr;
  return {
    stdout: partial.stdout ?? process.stdout,
    stderr,
    stdin: partial.stdin ?? process.stdin,
    progress: partial.progress ?? (stderr as { isTTY?: boolean }).isTTY === true,
    progressDelayMs: partial.progressDelayMs ?? 1000,
    env: partial.env ?? process.env,
  };
}

const CHUNK = 1 << 16;

/** Buffered writer over a stream; `closed` turns true when the reader went away (EPIPE). */
export class Output {
  private parts: string[] = [];
  private size = 0;
  private failure: Error | null = null;
  closed = false;

  constructor(private readonly stream: Writable) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED') this.closed = true;
      else this.failure ??= err;
    });
  }

  /** Queues text; call `flush()` (or `maybeFlush()` in loops) to write it. */
  write(text: string): void {
    if (this.closed) return;
    this.parts.push(text);
    this.size += text.length;
  }

  /** Writes the buffer once it holds a chunk's worth; yields to the event loop then. */
  async maybeFlush(): Promise<void> {
    if (this.size >= CHUNK) await this.flush();
  }

  /** Writes bytes (after the text queued before them) and waits while the stream is full; `chunk` must not be reused. */
  async writeChunk(chunk: Buffer): Promise<void> {
    if (this.size > 0) await this.flush();
    if (this.failure) throw this.failure;
    if (this.closed) return;
    if (!this.stream.write(chunk)) await waitForDrain(this.stream);
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure;
  }

  /** Writes everything queued and waits while the stream is full. */
  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.size === 0 || this.closed) {
      this.parts = [];
      this.size = 0;
      return;
    }
    const text = this.parts.join('');
    this.parts = [];
    this.size = 0;
    const ok = this.stream.write(text);
    if (!ok) await waitForDrain(this.stream);
    // Let stream errors (EPIPE) and timers (progress) run between chunks.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failure) throw this.failure;
  }
}

function waitForDrain(stream: Writable): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      stream.off('error', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
    stream.on('error', done);
  });
}

/**
 * A one-line progress display on stderr, shown only on a terminal and only
 * once the work has taken a while (a second by default), redrawn at most ten
 * times a second.
 */
export class Progress {
  private readonly started = Date.now();
  private lastDraw = 0;
  private shown = false;

  constructor(
    private readonly stream: Writable,
    private readonly enabled: boolean,
    private readonly delayMs = 1000,
  ) {}

  /** Cheap to call often: the text is built only when it will be drawn. */
  update(text: () => string): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < this.delayMs || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.shown = true;
    this.stream.write(`\r\x1b[K${text()}`);
  }

  /** Clears the progress line. */
  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
    this.shown = false;
  }
}
