import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { layerProblems } from '../helpers/import-graph.js';
import { tempDir } from '../helpers/temp-dir.js';

const src = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

describe('the layers of src/', () => {
  it('import only downwards (errors → identity → model → store → completion → maintenance/planner → runner → cli), with no cycle', () => {
    expect(layerProblems(src).map((p) => `${p.kind}: ${p.text}`)).toEqual([]);
  });

  it('the check finds an upward import, a sideways one, a cycle and a stray folder', () => {
    const root = tempDir('layers-');
    const file = (path: string, text: string) => {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    };
    file('identity/a.ts', "import { b } from './b.js';\nexport const a = b;\n");
    file('identity/b.ts', "import type { A } from './a.js';\nexport const b = 1 as unknown as A;\n");
    file('store/c.ts', "import { d } from '../runner/d.js';\nexport { d };\n");
    file('runner/d.ts', "export const d = await import('../store/c.js');\n");
    file('planner/e.ts', "export * from '../maintenance/f.js';\n");
    file('maintenance/f.ts', 'export const f = 1;\n');
    file('misc/g.ts', 'export const g = 1;\n');
    const found = layerProblems(root).map((p) => `${p.kind}: ${p.text}`);
    expect(found).toEqual(
      expect.arrayContaining([
        'cycle: identity/a.ts -> identity/b.ts -> identity/a.ts',
        'upward: store/c.ts imports runner/d.ts, a higher layer',
        'cycle: runner/d.ts -> store/c.ts -> runner/d.ts',
        'sideways: planner/e.ts imports maintenance/f.ts, a folder of the same rank',
        'unknown-folder: misc/g.ts is in a folder that is not a layer (errors, identity, model, store, completion, maintenance, planner, runner, cli)',
      ]),
    );
    expect(found).toHaveLength(5);
  });
});
