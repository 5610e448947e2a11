import { glob } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { lanes, type Lane, type LaneName } from './lanes.ts';

const root = path.resolve(import.meta.dirname, '..');
const inLane = (file: string, lane: Lane): boolean =>
  lane.include.some((g) => path.matchesGlob(file, g)) && !lane.exclude.some((g) => path.matchesGlob(file, g));

describe('test lanes', () => {
  it('put every test file of the project in exactly one lane', async () => {
    const files: string[] = [];
    for await (const file of glob('**/*.test.ts', { cwd: root, exclude: (p) => /^(node_modules|\.runtime|\.cache|\.git)$/.test(p) })) files.push(file);
    expect(files.length).toBeGreaterThan(100);

    const misplaced = files
      .map((file) => ({ file, lanes: (Object.keys(lanes) as LaneName[]).filter((name) => inLane(file, lanes[name])) }))
      .filter((f) => f.lanes.length !== 1);
    expect(misplaced).toEqual([]);
  });
});
