import { defineConfig } from 'vitest/config';
import { lanes } from './test/lanes.ts';

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
    reporters: ['default', './test/support/totals-reporter.ts'],
    projects: Object.entries(lanes).map(([name, lane]) => ({
      extends: true,
      test: { name, include: [...lane.include], exclude: [...lane.exclude] },
    })),
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts', 'importer/**/*.ts', 'uploadproxy/**/*.ts', 'uploadserver/**/*.ts', 'virtlauncher/**/*.ts'],
      exclude: ['**/*.test.ts'],
      // test/support/totals-reporter.ts prints the totals, before the final pass/fail line.
      reporter: [],
    },
  },
});
