import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const boundary = (files, allowed, message) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: [{ group: allowed, message }] }],
  },
});

export default tseslint.config(
  { ignores: ['node_modules/**', '.runtime/**', '.cache/**', 'dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'off',
    },
  },
  // Folder boundaries from ARCHITECTURE.md.
  boundary(['src/api/**'], ['../*', '!../api/*'], 'src/api imports nothing of ours'),
  boundary(['src/format/**'], ['**/sources/**', '**/controller/**', '**/apiserver/**', '**/node/**', '**/cli/**', 'pino', 'prom-client', '@kubernetes/*', 'undici', 'fastify'], 'the format engine is pure: src/api only'),
  boundary(['src/sources/**'], ['**/controller/**', '**/apiserver/**', '**/node/**', '**/cli/**'], 'sources import src/format and src/api only'),
  boundary(['src/controller/**'], ['**/format/**', '**/sources/**', '**/apiserver/**', '**/node/**', '**/cli/**'], 'the controller speaks only the Kubernetes API'),
);
