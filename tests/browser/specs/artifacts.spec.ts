// Screenshots for a human to look at: the event page with its seat map and
// a search page, under tests/browser/artifacts/.
import { expect, test } from '@playwright/test';
import { findBookableEvent, pickAvailableSeats, saveScreenshot } from '../lib/helpers';

test('screenshots: event page with its seat map, search page', async ({ page, request }, testInfo) => {
  const target = await findBookableEvent(request, { minSeats: 1 });

  await page.goto(`/events/${target.id}`);
  await expect(page.locator('h1#event-title')).toHaveText(target.title);
  await expect(page.locator('#seat-map g.section').first()).toBeVisible();
  await saveScreenshot(page, testInfo, 'event-page-overview');
  await pickAvailableSeats(page, 1, request);
  const seats = await page.locator('#seat-map .seat').count();
  expect(seats).toBeGreaterThan(0);
  console.log(`event ${target.id}: ${seats} seats drawn after zooming into a section`);
  await saveScreenshot(page, testInfo, 'event-page');

  const words = target.title.replace(/[^\p{L}\p{N}\s]/gu, ' ').split(/\s+/).filter(Boolean).slice(0, 2).join(' ');
  await page.goto(`/search?q=${encodeURIComponent(words)}`);
  await expect(page.locator('ol#results li.result').first()).toBeVisible();
  await expect(page.locator('aside#facets fieldset[data-facet]').first()).toBeVisible();
  console.log(`search "${words}": ${await page.locator('#total').textContent()}`);
  await saveScreenshot(page, testInfo, 'search-page');
});

test('screenshots: the account pages on a desktop and on a phone', async ({ page }, testInfo) => {
  for (const [device, size] of [['desktop', { width: 1280, height: 800 }], ['phone', { width: 390, height: 844 }]] as const) {
    await page.setViewportSize(size);
    await page.goto('/login');
    await expect(page.locator('h1')).toHaveText('Sign in');
    await expect(page.locator('#sign-in')).toHaveText('Sign in');
    await saveScreenshot(page, testInfo, `login-${device}`);

    await page.goto('/signup');
    await page.getByLabel('Your name').fill('Grace Hopper');
    await page.getByLabel('Email address').fill('grace@example.test');
    await page.getByLabel('Password').fill('password1234');
    await page.getByRole('button', { name: 'Create account' }).click();
    // A common password: refused, and said so next to the field.
    await expect(page.locator('#password-error')).toHaveText(/\S/);
    console.log(`signup (${device}): ${await page.locator('#password-error').textContent()}`);
    await saveScreenshot(page, testInfo, `signup-error-${device}`);

    await page.goto('/forgot-password');
    await expect(page.locator('h1')).toHaveText('Forgot your password?');
    await saveScreenshot(page, testInfo, `forgot-password-${device}`);
  }
});
