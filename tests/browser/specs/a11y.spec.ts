// Accessibility: axe-core (the Deque engine, not our own checks) on every
// page, on a desktop and on a phone-sized screen, with no critical or
// serious finding; and a screenshot of each page at both sizes, kept under
// artifacts/ for a person to look at.
import AxeBuilder from '@axe-core/playwright';
import { Page, TestInfo, expect, test } from '@playwright/test';
import { demoUser, findBookableEvent, getJson, pickAvailableSeats, saveScreenshot, signIn } from '../lib/helpers';

const SIZES = [
  ['desktop', { width: 1280, height: 900 }],
  ['phone', { width: 390, height: 844 }],
] as const;

async function audit(page: Page, testInfo: TestInfo, name: string, ready: () => Promise<void>) {
  for (const [device, size] of SIZES) {
    await page.setViewportSize(size);
    await ready();
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const bad = results.violations
      .filter((v) => v.impact === 'critical' || v.impact === 'serious')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    const minor = results.violations.filter((v) => v.impact !== 'critical' && v.impact !== 'serious').map((v) => v.id);
    console.log(`${name} (${device}): ${results.passes.length} rules pass; serious or critical: ${bad.length}; minor: ${minor.join(', ') || 'none'}`);
    expect(bad, `${name} on a ${device}`).toEqual([]);
    await saveScreenshot(page, testInfo, `${name}-${device}`);
  }
}

test('axe-core finds nothing critical or serious on any page, desktop and phone', async ({ page, request }, testInfo) => {
  test.setTimeout(240_000);
  const target = await findBookableEvent(request, { minSeats: 2 });
  const list: any = await getJson(request, '/v1/events?sort=upcoming&limit=100');
  const presale = list.events.find((e: any) => Date.parse(e.sale_starts_at) > Date.now() + 3_600_000);

  await audit(page, testInfo, 'home', async () => {
    await page.goto('/');
    await expect(page.locator('#popular li.card').first()).toBeVisible();
  });
  await audit(page, testInfo, 'search', async () => {
    await page.goto(`/search?q=${encodeURIComponent(target.title.split(' ')[0])}`);
    await expect(page.locator('#total')).toHaveText(/\d+ events?/);
  });
  await audit(page, testInfo, 'search-empty', async () => {
    await page.goto('/search?q=zzzzqqqqxxxx');
    await expect(page.locator('#total')).toHaveText('0 events');
  });
  await audit(page, testInfo, 'event-overview', async () => {
    await page.goto(`/events/${target.id}`);
    await expect(page.locator('#seat-map g.section').first()).toBeVisible();
  });
  await audit(page, testInfo, 'event-section', async () => {
    await page.goto(`/events/${target.id}`);
    await pickAvailableSeats(page, 2, request);
  });
  if (presale) {
    await audit(page, testInfo, 'event-presale', async () => {
      await page.goto(`/events/${presale.event_id}`);
      await expect(page.locator('#sale-state')).toHaveText(/^On sale /);
    });
  }
  for (const path of ['/login', '/signup', '/forgot-password', '/reset-password', '/verify-email', '/no-such-page']) {
    await audit(page, testInfo, path.slice(1), async () => {
      await page.goto(path);
      await expect(page.locator('h1')).toBeVisible();
    });
  }

  await signIn(page, demoUser(6), `/events/${target.id}`);
  await page.locator('#hold-best').click();
  await page.waitForURL(/\/checkout\//);
  const checkout = page.url();
  await audit(page, testInfo, 'checkout', async () => {
    await page.goto(checkout);
    await expect(page.locator('#hold-state')).toHaveText(/held/);
  });
  await page.locator('#card-number').fill('4242 4242 4242 4242');
  await page.locator('#pay').click();
  await page.waitForURL(/\/confirmation\//);
  const confirmation = page.url();
  await audit(page, testInfo, 'confirmation', async () => {
    await page.goto(confirmation);
    await expect(page.locator('#booking-state')).toHaveText('Paid: this booking is confirmed.');
  });
  await audit(page, testInfo, 'my-tickets', async () => {
    await page.goto('/me/tickets');
    await expect(page.locator('#tickets article.booking').first()).toBeVisible();
  });
});
