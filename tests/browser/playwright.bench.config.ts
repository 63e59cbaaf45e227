// The seat map benchmark (scripts/bench-seatmap): the same browser and edge
// as the browser tests, its own folder, no retries, one worker.
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

export default defineConfig({
  ...base,
  testDir: './bench',
  testMatch: '**/*.bench.ts',
  timeout: 600_000,
  reporter: [['list']],
  use: { ...base.use, trace: 'off', screenshot: 'off' },
});
