/**
 * @internal
 * The `--sources <file|->` list of `lineage run`: one source key per line,
 * surrounding spaces trimmed, blank lines and lines starting with `#` ignored
 * (the same rules as `lineage plan --sources`, so both see the same keys).
 * Anything readable but a directory is a list: a file, a FIFO, `<(...)`,
 * /dev/null (an empty list). Read as a stream, so a list of millions of keys costs no memory; the first
 * key is read before the run starts, so a missing or empty list fails before
 * the checkpoint is touched.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export interface SourceKey {
  readonly key: string;
  /** 1-based line number in the list, for messages. */
  readonly line: number;
}

/**
 * Opens the list and reads up to its first key. Resolves to a stream of every
 * key (the first included); throws LINEAGE_BAD_SOURCES when the list cannot be
 * read or holds no key.
 */
export async function openSourceList(file: string, stdin: Readable): Promise<{ name: string; keys: AsyncGenerator<SourceKey> }> {
  const name = file === '-' ? 'standard input' : resolve(file);
  const bad = (what: string, cause?: unknown) =>
    new LineageError(ErrorCodes.BAD_SOURCES, `the source list ${name} ${what}`, cause === undefined ? undefined : { cause });
  let handle: FileHandle | null = null;
  let input: Readable = stdin;
  if (file !== '-') {
    try {
      handle = await open(name, 'r');
      // A FIFO, a process substitution (/dev/fd/N), /dev/null or a socket is read as a stream like a file.
      if ((await handle.stat()).isDirectory()) throw Object.assign(new Error('a directory'), { code: 'EISDIR' });
    } catch (err) {
      await handle?.close();
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw bad('does not exist. Give a file with one source key per line, or - to read them from standard input.', err);
      if (code === 'EISDIR') throw bad('is a directory, not a file. Give a file with one source key per line.', err);
      throw bad(`cannot be read (${(err as Error).message}). Check its permissions.`, err);
    }
    input = handle.createReadStream({ encoding: 'utf8' });
  }
  const keys = readKeys(input, () => handle?.close());
  let first: IteratorResult<SourceKey>;
  try {
    first = await keys.next();
  } catch (err) {
    await keys.return(undefined);
    throw bad(`could not be read: ${(err as Error).message}`, err);
  }
  if (first.done) {
    throw bad('holds no source keys (only blank lines and # comments, or nothing). Put one source key per line.');
  }
  return { name, keys: prepend(first.value, keys) };
}

async function* readKeys(input: Readable, close: () => Promise<void> | undefined): AsyncGenerator<SourceKey> {
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const raw of lines) {
      n++;
      const key = raw.trim();
      if (key === '' || key.startsWith('#')) continue;
      yield { key, line: n };
    }
  } finally {
    lines.close();
    await close();
  }
}

async function* prepend<T>(first: T, rest: AsyncGenerator<T>): AsyncGenerator<T> {
  yield first;
  yield* rest;
}
