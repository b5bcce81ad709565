// The hint an OS error gets on its way to the CLI user (issue 19, case 11):
// each errno its own words, not "check that you may read it" for a full disk.
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { asLineageError } from '../../src/cli/cli-errors.js';
import { ErrorCodes } from '../../src/index.js';
import { tempDir } from '../helpers/temp-dir.js';

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

const sysError = (code: string, message: string) => Object.assign(new Error(`${code}: ${message}`), { code });

describe('hints for system errors', () => {
  it.each([
    ['ENOSPC (a write to /dev/full)', () => thrown(() => writeFileSync('/dev/full', 'x')), /disk is full/i, /may read/],
    ['ENOENT', () => thrown(() => readFileSync('/no/such/file')), /does not exist/i, /may read/],
    ['EISDIR', () => thrown(() => readFileSync(tempDir())), /directory/i, /may read/],
    ['EROFS', () => sysError('EROFS', "read-only file system, open '/mnt/x'"), /read-only filesystem/i, /may read/],
    ['EACCES', () => sysError('EACCES', "permission denied, open '/x'"), /permission/i, /disk is full/],
    ['EDQUOT', () => sysError('EDQUOT', "disk quota exceeded, write"), /quota/i, /may read/],
    ['EIO', () => sysError('EIO', 'i/o error, read'), /I\/O error/i, /may read/],
  ])('%s', (_name, make, says, notSays) => {
    const err = asLineageError(make());
    expect(err.code).toBe(ErrorCodes.IO);
    expect(err.message).toMatch(says);
    expect(err.message).not.toMatch(notSays);
  });
});
