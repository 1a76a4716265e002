/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/tests', '<rootDir>/src'],
  testMatch: ['**/*.spec.ts', '**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 60_000,
  // End-to-end tests start bot processes and servers; the default of cores-1 workers keeps a 2-core machine responsive.
  collectCoverageFrom: ['src/**/*.ts', '!src/scripts/**'],
  setupFiles: ['reflect-metadata'],
  globalSetup: '<rootDir>/tests/globalSetup.js',
};
