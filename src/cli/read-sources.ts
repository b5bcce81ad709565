/**
 * @internal
 * Reads a sources file for `--sources <file|->`: one source key per line;
 * blank lines and lines starting with `#` are ignored; surrounding spaces
 * are trimmed. `-` reads standard input.
 */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { ErrorCodes, LineageError } from '../errors/lineage-error.js';

export async function readSourceKeys(file: string, stdin: Readable): Promise<string[]> {
  let text: string;
  if (file === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(Buffer.from(chunk as Buffer));
    text = Buffer.concat(chunks).toString('utf8');
  } else {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code ?? (err as Error).message})`;
      throw new LineageError(ErrorCodes.BAD_SOURCES, `sources file ${file} ${why}. Give a text file with one source key per line, or - for stdin.`, { cause: err });
    }
  }
  const keys = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
  if (keys.length === 0) {
    throw new LineageError(ErrorCodes.BAD_SOURCES, `sources file ${file === '-' ? '(stdin)' : file} lists no source keys. Give one key per line (# starts a comment).`);
  }
  return keys;
}
