/**
 * `fileFingerprint`: the fingerprint of an input file, for a source's
 * `fingerprint` (docs/design.md §6). `stat` (the default) is its size and
 * modification time, which a touch changes too; `content` is the SHA-256 of
 * its bytes, streamed, which only an edit changes, at the cost of reading the
 * file.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export interface FileFingerprintOptions {
  /** `stat`: size and modification time (default); `content`: SHA-256 of the bytes. */
  readonly mode?: 'stat' | 'content';
}

/** `stat:<bytes>:<mtime ns>` or `sha256:<hex>`; throws LINEAGE_IO naming the path when the file cannot be read. */
export async function fileFingerprint(path: string, options: FileFingerprintOptions = {}): Promise<string> {
  const mode = options.mode ?? 'stat';
  if (mode !== 'stat' && mode !== 'content') {
    throw new LineageError(ErrorCodes.INVALID_ARGUMENT, `fileFingerprint(${JSON.stringify(path)}): mode must be "stat" or "content", got ${JSON.stringify(mode)}.`);
  }
  const fail = (err: unknown) =>
    new LineageError(ErrorCodes.IO, `fileFingerprint: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)}); give the path of the source's input file.`, { cause: err });
  let info;
  try {
    info = await stat(path, { bigint: true });
  } catch (err) {
    throw fail(err);
  }
  if (!info.isFile()) throw new LineageError(ErrorCodes.IO, `fileFingerprint: ${path} is not a file; give the path of the source's input file.`);
  if (mode === 'stat') return `stat:${info.size}:${info.mtimeNs}`;
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw fail(err);
  }
  return `sha256:${hash.digest('hex')}`;
}
