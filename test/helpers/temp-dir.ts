import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect } from 'vitest';

const perTest: string[] = [];
const perFile: string[] = [];

/**
 * A fresh temp directory. Made inside a test, it is removed after that test;
 * made outside one (in `beforeAll`, for a fixture the whole file shares), it
 * lives until every test of the file has run.
 */
export function tempDir(prefix = 'lineage-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  (expect.getState().currentTestName === undefined ? perFile : perTest).push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of perTest.splice(0)) rmSync(dir, { recursive: true, force: true });
});

afterAll(() => {
  for (const dir of perFile.splice(0)) rmSync(dir, { recursive: true, force: true });
});
