// Browser tests of the public pages, always through the edge (nginx), with
// the Debian `chromium` package headless: Playwright's own browser builds
// are never downloaded. scripts/browser-test starts a throwaway stack and
// runs these; against a running `scripts/run`, `npx playwright test` here
// works too (EDGE_URL defaults to http://127.0.0.1:8000).
import { defineConfig } from '@playwright/test';

const edgeUrl = process.env.EDGE_URL ?? 'http://127.0.0.1:8000';
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export default defineConfig({
  testDir: './specs',
  outputDir: './artifacts/test-results',
  // One worker: the machine is small and the flows share one catalog.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 15_000 },
  reporter: [['list'], ['json', { outputFile: 'artifacts/results.json' }]],
  use: {
    baseURL: edgeUrl,
    headless: true,
    viewport: { width: 1280, height: 900 },
    actionTimeout: 15_000,
    navigationTimeout: 30_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        browserName: 'chromium',
        // No `channel`: the executable is the distribution's chromium.
        launchOptions: {
          executablePath: chromium,
          args: ['--disable-dev-shm-usage'],
        },
      },
    },
  ],
});
