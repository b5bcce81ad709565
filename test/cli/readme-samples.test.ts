import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, ensureBuilt } from '../helpers/cli.js';

beforeAll(ensureBuilt);

describe('README.md sample outputs', () => {
  it('are what the CLI and the example pipelines print today (docs/samples.js --check)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'docs', 'samples.js'), '--check'], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 180_000);
});
