import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect } from 'vitest';

const perTest: string[] = [];
const perFile: string[] = [];

function make(prefix: string, into: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  into.push(dir);
  return dir;
}

/**
 * A fresh temp directory, removed after the current test. Called from a
 * `beforeAll` it would be gone before the second test runs, so it refuses:
 * use `fileTempDir` there.
 */
export function tempDir(prefix = 'lineage-'): string {
  if (expect.getState().currentTestName === undefined) {
    throw new Error('tempDir() is removed after each test; outside a test (in beforeAll) use fileTempDir()');
  }
  return make(prefix, perTest);
}

/** A fresh temp directory that lives until every test of the file has run: for fixtures built once in `beforeAll`. */
export function fileTempDir(prefix = 'lineage-'): string {
  return make(prefix, perFile);
}

afterEach(() => {
  for (const dir of perTest.splice(0)) rmSync(dir, { recursive: true, force: true });
});

afterAll(() => {
  for (const dir of perFile.splice(0)) rmSync(dir, { recursive: true, force: true });
});
