/**
 * The test lanes: every *.test.ts file belongs to exactly one (test/lanes.test.ts checks it).
 * vitest.config.ts turns each into a vitest project; `npm run test:<lane>` runs one lane and
 * `vitest run` (scripts/test) runs them all.
 */
export interface Lane {
  readonly include: readonly string[];
  readonly exclude: readonly string[];
}

const fuzz = 'test/**/fuzz.test.ts';

export const lanes = {
  unit: { include: ['src/**/*.test.ts'], exclude: [] },
  integration: { include: ['test/**/*.test.ts'], exclude: ['test/e2e/**', fuzz] },
  e2e: { include: ['test/e2e/**/*.test.ts'], exclude: [] },
  fuzz: { include: [fuzz], exclude: [] },
} satisfies Record<string, Lane>;

export type LaneName = keyof typeof lanes;
