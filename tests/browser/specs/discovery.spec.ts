// Discovery: from an event page to its performer's page and its venue's
// page, through the edge. Each page names who or where it is about and
// lists upcoming events whose dates are the venue's wall clock and whose
// prices are the cheapest ticket type's; both are computed here
// independently, with Node's own ICU (Intl), from the JSON API's instants
// and minor units.
import AxeBuilder from '@axe-core/playwright';
import { APIRequestContext, Locator, Page, TestInfo, expect, test } from '@playwright/test';
import { expectedLocal, expectedMoney, zoneAbbreviation } from '../lib/expected';
import { getJson, saveScreenshot } from '../lib/helpers';


// --- the catalog, as the JSON API shows it ---------------------------------

/** An upcoming scheduled event with a performer, at a venue not in UTC. */
async function findEvent(request: APIRequestContext): Promise<any> {
  const list = await getJson(request, '/v1/events?sort=upcoming&limit=50');
  for (const summary of list.events) {
    if (summary.venue.timezone === 'UTC') continue;
    const event = await getJson(request, `/v1/events/${summary.event_id}`);
    if (event.status === 'scheduled' && event.performers.length > 0) return event;
  }
  throw new Error('no upcoming event with a performer at a venue outside UTC');
}

/**
 * The upcoming-event cards on the page, each checked against
 * `GET /v1/events/{id}`: its title, its date in its venue's zone, its venue
 * and city, and the cheapest ticket type's price. Returns the event ids in
 * page order.
 */
async function checkCards(page: Page, request: APIRequestContext, max = 8): Promise<number[]> {
  const cards = page.locator('#upcoming li.card');
  const count = await cards.count();
  expect(count, 'upcoming events are listed').toBeGreaterThan(0);
  expect(count).toBeLessThanOrEqual(50);
  const ids: number[] = [];
  const instants: number[] = [];
  for (let i = 0; i < count; i++) {
    const card: Locator = cards.nth(i);
    ids.push(Number(await card.getAttribute('data-event-id')));
    instants.push(Date.parse((await card.locator('time.when').getAttribute('datetime'))!));
  }
  expect(instants, 'soonest first').toEqual([...instants].sort((a, b) => a - b));
  expect(Math.min(...instants), 'all upcoming').toBeGreaterThan(Date.now() - 60_000);
  for (let i = 0; i < Math.min(count, max); i++) {
    const card = cards.nth(i);
    const e = await getJson(request, `/v1/events/${ids[i]}`);
    expect(e.status).toBe('scheduled');
    await expect(card.locator('a.event-link')).toHaveText(e.title);
    await expect(card.locator('a.event-link')).toHaveAttribute('href', `/events/${ids[i]}`);
    await expect(card.locator('time.when')).toHaveText(expectedLocal(e.starts_at, e.venue.timezone));
    await expect(card.locator('.where')).toHaveText(`${e.venue.name}, ${e.venue.city}`);
    if (e.ticket_types.length > 0) {
      const cheapest = [...e.ticket_types].sort((a: any, b: any) => a.price_cents - b.price_cents || a.ticket_type_id - b.ticket_type_id)[0];
      await expect(card.locator('.from')).toHaveText(`From ${expectedMoney(cheapest.price_cents, cheapest.currency)}`);
    }
    await expect(card.locator('.badge')).not.toHaveText('');
  }
  return ids;
}

/**
 * axe-core (wcag2a/aa, wcag21a/aa) finds nothing critical or serious, and a
 * full-page screenshot for a person to look at, on a desktop (1280x900) and
 * on a phone (390x844).
 */
async function auditAndShoot(page: Page, testInfo: TestInfo, name: string): Promise<void> {
  for (const [device, size] of [['desktop', { width: 1280, height: 900 }], ['phone', { width: 390, height: 844 }]] as const) {
    await page.setViewportSize(size);
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const bad = results.violations
      .filter((v) => v.impact === 'critical' || v.impact === 'serious')
      .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | ')}`);
    expect(bad, `${name} on a ${device}`).toEqual([]);
    await saveScreenshot(page, testInfo, `${name}-${device}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

test('from an event to its performer and its venue, with upcoming events in local time', async ({ page, request }, testInfo) => {
  const event = await findEvent(request);
  const performer = event.performers[0];
  const venue = event.venue;

  await test.step('the event page links its performers and its venue', async () => {
    const response = await page.goto(`/events/${event.event_id}`);
    expect(response!.status()).toBe(200);
    expect(response!.headers()['x-cache-status'], 'served through the edge').toBeTruthy();
    await expect(page.locator('#performers li a')).toHaveText(event.performers.map((p: any) => p.name));
    await expect(page.locator('#event-venue #venue-link')).toHaveText(venue.name);
    await expect(page.locator('#map-link')).toBeVisible();
  });

  await test.step('the performer link opens the performer page', async () => {
    await page.locator('#performers li a').first().click();
    await page.waitForURL(new RegExp(`/performers/${performer.performer_id}$`));
    const json = await getJson(request, `/v1/performers/${performer.performer_id}`);
    await expect(page).toHaveTitle(`${json.name} · Ticketing`);
    await expect(page.locator('h1#performer-name')).toHaveText(json.name);
    await expect(page.locator('#performer-genre')).toHaveText(`Genre: ${json.genre}`);
    const ids = await checkCards(page, request);
    expect(ids, 'the event we came from is listed').toContain(event.event_id);
    await auditAndShoot(page, testInfo, 'performer-page');
  });

  await test.step('back, and the venue link opens the venue page', async () => {
    await page.goBack();
    await page.waitForURL(new RegExp(`/events/${event.event_id}$`));
    await page.locator('#venue-link').click();
    await page.waitForURL(new RegExp(`/venues/${venue.venue_id}$`));
    const json = await getJson(request, `/v1/venues/${venue.venue_id}`);
    await expect(page.locator('h1#venue-name')).toHaveText(json.name);
    await expect(page.locator('#venue-address')).toHaveText(`${json.address}, ${json.city} · Map`);
    await expect(page.locator('#map-link')).toHaveAttribute('href', new RegExp(`mlat=${json.lat}&mlon=${json.lon}`));
    if (json.capacity > 0) {
      await expect(page.locator('#venue-capacity')).toHaveText(`Capacity ${json.capacity.toLocaleString('en')} seats`);
    }
    const ids = await checkCards(page, request);
    expect(ids).toContain(event.event_id);
    // Every card is at this venue, so every date is in its zone.
    for (const card of await page.locator('#upcoming li.card').all()) {
      await expect(card.locator('.where')).toHaveText(`${json.name}, ${json.city}`);
      await expect(card.locator('time.when')).toHaveText(new RegExp(` ${zoneAbbreviation(new Date(Date.parse((await card.locator('time.when').getAttribute('datetime'))!)), json.timezone)}$`));
    }
    await auditAndShoot(page, testInfo, 'venue-page');
  });

  await test.step('unknown and malformed addresses answer the HTML error pages', async () => {
    for (const [url, status] of [['/performers/99999999', 404], ['/venues/99999999', 404], ['/performers/abc', 400], ['/venues/abc', 400]] as const) {
      const response = await page.goto(url);
      expect(response!.status(), url).toBe(status);
      expect(response!.headers()['content-type'], url).toContain('text/html');
      await expect(page.locator('h1')).not.toHaveText('');
    }
  });
});
