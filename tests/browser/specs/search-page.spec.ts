// The search page (/search): facets marked when selected, a removable chip
// per active filter, "Clear all filters", a date range, help when nothing
// matches, zero-count facets that are not links, and the filters drawer on
// a phone. Every check reads what the page says, against what the JSON API
// says for the same search.
import { Page, expect, test } from '@playwright/test';
import { EDGE_URL, getJson, saveScreenshot } from '../lib/helpers';
import { expectedMoney } from '../lib/expected';

const PHONE = { width: 390, height: 844 };

type Facet = { value: string; count: number };
type Bucket = { from: number; to: number | null; count: number };

/** A whole amount as Node's ICU writes it: "$25", "¥5,000". */
const whole = (major: number, currency: string) =>
  new Intl.NumberFormat('en', { style: 'currency', currency, minimumFractionDigits: 0, maximumFractionDigits: 0 }).format(major);
const priceLabel = (b: Bucket, currency = 'USD') =>
  (b.to === null ? `${whole(b.from, currency)} and up` : `${whole(b.from, currency)} to ${whole(b.to, currency)}`);
const facetLink = (page: Page, facet: string, value: string) =>
  page.locator(`aside#facets fieldset[data-facet="${facet}"] a.facet[data-value="${value}"]`);
const summary = (page: Page) => page.locator('#filters-drawer > summary');

/** The page's word for a date: "5 Dec 2026". */
function dateLabel(iso: string): string {
  const [y, m, d] = iso.split('-').map(Number);
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${d} ${months[m - 1]} ${y}`;
}

test('a picked filter is a chip and a selected facet; its chip removes it; "Clear all filters" keeps the query and the order', async ({ page, request }, testInfo) => {
  const all = await getJson(request, '/v1/events/search?sort=date&size=1');
  const city: Facet = all.facets.city[0];
  expect(city, 'the catalog has a city facet').toBeTruthy();
  console.log(`catalog: ${all.total} events; picking city "${city.value}" (${city.count})`);

  await page.goto('/search?sort=date');
  await expect(page.locator('#total')).toHaveText(`${all.total} events`);
  await expect(summary(page)).toHaveText('Filters (0 active)');
  await expect(page.locator('#active-filters')).toHaveCount(0);

  // Pick the city: the facet says it is selected (a tick and aria-current),
  // a chip names it, the total is the facet's count.
  const cityLink = facetLink(page, 'city', city.value);
  await expect(cityLink).toHaveText(`${city.value} (${city.count})`);
  await expect(cityLink).not.toHaveAttribute('aria-current', 'true');
  await cityLink.click();
  await expect(page).toHaveURL(/[?&]city=/);
  await expect(page.locator('#total')).toHaveText(`${city.count} events`);
  await expect(cityLink).toHaveAttribute('aria-current', 'true');
  await expect(cityLink).toHaveText(`✓ ${city.value} (${city.count})`);
  const cityChip = page.getByRole('link', { name: `Remove filter: City ${city.value}`, exact: true });
  await expect(cityChip).toBeVisible();
  await expect(cityChip.locator('.chip-kind')).toHaveText('City');
  await expect(cityChip.locator('.chip-value')).toHaveText(city.value);
  await expect(summary(page)).toHaveText('Filters (1 active)');

  // A second filter, a category within that city: two chips.
  const inCity = await getJson(request, `/v1/events/search?sort=date&size=1&city=${encodeURIComponent(city.value)}`);
  const category: Facet = inCity.facets.category.find((c: Facet) => c.count > 0);
  await facetLink(page, 'category', category.value).click();
  await expect(page).toHaveURL(/[?&]category=/);
  const both = await getJson(request, `/v1/events/search?city=${encodeURIComponent(city.value)}&category=${category.value}`);
  await expect(page.locator('#total')).toHaveText(`${both.total} events`);
  const categoryChip = page.getByRole('link', { name: `Remove filter: Category ${category.value}`, exact: true });
  await expect(categoryChip).toBeVisible();
  await expect(cityChip).toBeVisible();
  await expect(summary(page)).toHaveText('Filters (2 active)');
  const chipNames = await page.locator('#active-filters a.chip').evaluateAll((els) => els.map((e) => e.textContent));
  console.log(`chips: ${chipNames.join(' | ')}`);
  await saveScreenshot(page, testInfo, 'search-page-chips');

  // Remove the city by its chip: the category stays.
  await cityChip.click();
  await expect(page).not.toHaveURL(/[?&]city=/);
  const onlyCategory = await getJson(request, `/v1/events/search?category=${category.value}`);
  await expect(page.locator('#total')).toHaveText(`${onlyCategory.total} events`);
  await expect(page.getByRole('link', { name: `Remove filter: City ${city.value}`, exact: true })).toHaveCount(0);
  await expect(categoryChip).toBeVisible();
  await expect(facetLink(page, 'category', category.value)).toHaveAttribute('aria-current', 'true');
  await expect(facetLink(page, 'city', city.value)).not.toHaveAttribute('aria-current', 'true');
  await expect(summary(page)).toHaveText('Filters (1 active)');

  // A month facet: a chip names the month, the facet is marked.
  const month: Facet = onlyCategory.facets.month[0];
  await facetLink(page, 'month', month.value).click();
  await expect(page).toHaveURL(/[?&]start=/);
  await expect(page.getByRole('link', { name: `Remove filter: Month ${month.value}`, exact: true })).toBeVisible();
  await expect(facetLink(page, 'month', month.value)).toHaveAttribute('aria-current', 'true');
  await expect(page.locator('#date-from')).toHaveValue(`${month.value}-01`);

  // "Clear all filters" keeps only the order (there is no query here).
  await page.getByRole('link', { name: 'Clear all filters', exact: true }).click();
  await expect(page).toHaveURL(/\/search\?sort=date$/);
  await expect(page.locator('#total')).toHaveText(`${all.total} events`);
  await expect(page.locator('#active-filters')).toHaveCount(0);
  await expect(summary(page)).toHaveText('Filters (0 active)');
  await expect(page.locator('#sort')).toHaveValue('date');
});

test('the date range: From and To set start and end, each shows as a chip, and the query stays', async ({ page, request }) => {
  const all = await getJson(request, '/v1/events/search?size=1');
  const month: Facet = all.facets.month.find((m: Facet) => m.count > 0);
  const from = `${month.value}-05`;
  const to = `${month.value}-20`;
  const word = (await getJson(request, '/v1/events/search?size=1&sort=popularity')).hits[0].venue.city as string;

  await page.goto(`/search?q=${encodeURIComponent(word)}&sort=date`);
  await page.getByLabel('From', { exact: true }).fill(from);
  await page.getByLabel('To', { exact: true }).fill(to);
  await page.getByRole('button', { name: 'Apply dates' }).click();
  await expect(page).toHaveURL(new RegExp(`start=${from}.*end=${to}|end=${to}.*start=${from}`));
  const expected = await getJson(request, `/v1/events/search?q=${encodeURIComponent(word)}&start=${from}&end=${to}`);
  await expect(page.locator('#total')).toHaveText(`${expected.total} events`);
  await expect(page.getByRole('link', { name: `Remove filter: From ${dateLabel(from)}`, exact: true })).toBeVisible();
  await expect(page.getByRole('link', { name: `Remove filter: To ${dateLabel(to)}`, exact: true })).toBeVisible();
  await expect(page.locator('#date-from')).toHaveValue(from);
  await expect(page.locator('#date-to')).toHaveValue(to);
  await expect(page.locator('#q')).toHaveValue(word);

  // Remove the end: the start stays.
  await page.getByRole('link', { name: `Remove filter: To ${dateLabel(to)}`, exact: true }).click();
  await expect(page.getByRole('link', { name: `Remove filter: From ${dateLabel(from)}`, exact: true })).toBeVisible();
  await expect(page.locator('#date-to')).toHaveValue('');

  await page.getByRole('link', { name: 'Clear all filters', exact: true }).click();
  await page.waitForURL((url) => url.search === `?q=${encodeURIComponent(word)}&sort=date`);
  await expect(page.locator('#date-from')).toHaveValue('');
});

test('a search that finds nothing says so, offers to clear the filters, and shows popular events on sale now', async ({ page, request }) => {
  const popular = await getJson(request, '/v1/events?sort=popular&limit=12&on_sale=true');
  const titles: string[] = popular.events.slice(0, 6).map((e: any) => e.title);
  expect(titles.length, 'popular events on sale').toBeGreaterThan(0);
  const city: Facet = (await getJson(request, '/v1/events/search?size=1')).facets.city[0];

  // With a filter: the words, the way out, the popular events.
  await page.goto(`/search?q=zzzzqqqqxxxx&city=${encodeURIComponent(city.value)}`);
  await expect(page.locator('#total')).toHaveText('0 events');
  await expect(page.locator('#no-results h2')).toHaveText(`No events match “zzzzqqqqxxxx” with these filters`);
  const clear = page.getByRole('link', { name: 'clear the filters and search again' });
  await expect(clear).toHaveAttribute('href', '/search?q=zzzzqqqqxxxx');
  await expect(page.getByRole('heading', { name: 'Popular, on sale now' })).toBeVisible();
  const cards = page.locator('#popular li.card');
  await expect(cards.locator('a.event-link')).toHaveText(titles);
  await expect(cards.locator('.badge').first()).toHaveText('On sale now');
  console.log(`no results: ${titles.length} popular events offered: ${titles.join(' | ')}`);

  // The link clears the filter and keeps the words: still nothing, and no
  // filters to clear any more.
  await clear.click();
  await expect(page).toHaveURL(/\/search\?q=zzzzqqqqxxxx$/);
  await expect(page.locator('#no-results h2')).toHaveText('No events match “zzzzqqqqxxxx”');
  await expect(page.locator('#no-results')).toContainText('Check the spelling');
  await expect(page.getByRole('link', { name: 'clear the filters and search again' })).toHaveCount(0);
  await expect(page.locator('#popular li.card a.event-link')).toHaveText(titles);
});

test('facet values with no events are not links, unless selected', async ({ page, request }) => {
  // A search whose price facet has an empty bucket: each city in turn.
  const cities: Facet[] = (await getJson(request, '/v1/events/search?size=1')).facets.city;
  let found: { city: string; bucket: Bucket; total: number } | undefined;
  for (const c of cities) {
    const r = await getJson(request, `/v1/events/search?size=1&city=${encodeURIComponent(c.value)}`);
    const bucket = (r.facets.price as Bucket[]).find((b) => b.count === 0);
    if (bucket) { found = { city: c.value, bucket, total: r.total }; break; }
  }
  if (!found) {
    console.log(`no city of ${cities.length} has an empty price bucket: no zero-count facet to check`);
    return;
  }
  const label = priceLabel(found.bucket);
  console.log(`city "${found.city}" (${found.total} events) has no event priced ${label}`);
  await page.goto(`/search?city=${encodeURIComponent(found.city)}`);
  const price = page.locator('aside#facets fieldset[data-facet="price"]');
  const empty = price.locator(`span.facet[data-value="${label}"]`);
  await expect(empty).toHaveText(`${label} (0)`);
  await expect(empty).toHaveAttribute('aria-disabled', 'true');
  await expect(price.locator(`a.facet[data-value="${label}"]`)).toHaveCount(0);
  await expect(price.getByRole('link', { name: new RegExp(`^${label} `) })).toHaveCount(0);

  // Selected, an empty value stays a link that removes it: a city with no
  // event in this price range, with the range set.
  const to = found.bucket.to === null ? '' : `&max_price=${found.bucket.to}`;
  const narrowed = `city=${encodeURIComponent(found.city)}&min_price=${found.bucket.from}${to}`;
  await page.goto(`/search?${narrowed}`);
  // (A price filter's upper end is inclusive, a bucket's is not: the API says how many.)
  const inRange = await getJson(request, `/v1/events/search?size=1&${narrowed}`);
  await expect(page.locator('#total')).toHaveText(`${inRange.total} events`);
  const selected = price.locator(`a.facet[data-value="${label}"]`);
  await expect(selected).toHaveAttribute('aria-current', 'true');
  await expect(selected).toHaveText(`✓ ${label} (0)`);
  const city = page.locator(`aside#facets fieldset[data-facet="city"] a.facet[data-value="${found.city}"]`);
  await expect(city).toHaveAttribute('aria-current', 'true');
  await selected.click();
  await expect(page.locator('#total')).toHaveText(`${found.total} events`);
});

test('on a phone the results come first; the filters drawer opens on a click; without JavaScript it is open', async ({ page, request, browser }, testInfo) => {
  const all = await getJson(request, '/v1/events/search?size=1');
  const city: Facet = all.facets.city[0];
  await page.setViewportSize(PHONE);
  await page.goto('/search?sort=date');
  const drawer = page.locator('#filters-drawer');
  const firstResult = page.locator('ol#results li.result').first();
  await expect(summary(page)).toHaveText('Filters (0 active)');
  await expect(drawer).not.toHaveAttribute('open', /.*/);
  await expect(page.locator('aside#facets')).toBeHidden();
  await expect(firstResult).toBeInViewport();
  const summaryBox = (await summary(page).boundingBox())!;
  const resultBox = (await firstResult.boundingBox())!;
  expect(resultBox.y + resultBox.height, 'the first result fits on the first screen').toBeLessThan(PHONE.height);
  expect(summaryBox.height, 'the closed drawer is one line').toBeLessThan(60);

  // Open it: the facets are there; pick one and the page comes back with
  // the drawer closed, the chip above the results.
  await summary(page).click();
  await expect(drawer).toHaveAttribute('open', '');
  await expect(page.locator('aside#facets fieldset[data-facet="city"]')).toBeVisible();
  await saveScreenshot(page, testInfo, 'search-page-phone-drawer');
  await facetLink(page, 'city', city.value).click();
  await expect(page).toHaveURL(/[?&]city=/);
  await expect(summary(page)).toHaveText('Filters (1 active)');
  await expect(drawer).not.toHaveAttribute('open', /.*/);
  const chip = page.getByRole('link', { name: `Remove filter: City ${city.value}`, exact: true });
  await expect(chip).toBeInViewport();
  expect((await chip.boundingBox())!.y).toBeLessThan((await firstResult.boundingBox())!.y);
  await saveScreenshot(page, testInfo, 'search-page-phone-chip');

  // On a wide screen the same page is a sidebar, open, left of the results.
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.goto('/search?sort=date');
  await expect(drawer).toHaveAttribute('open', '');
  const aside = (await page.locator('aside#facets').boundingBox())!;
  const results = (await page.locator('ol#results').boundingBox())!;
  expect(aside.x + aside.width, 'the sidebar is left of the results').toBeLessThanOrEqual(results.x);

  // Without JavaScript, on a phone: the drawer is open, the filters work.
  const context = await browser.newContext({ baseURL: EDGE_URL, javaScriptEnabled: false, viewport: PHONE });
  const plain = await context.newPage();
  await plain.goto('/search?sort=date');
  await expect(plain.locator('#filters-drawer')).toHaveAttribute('open', '');
  await expect(plain.locator('aside#facets fieldset[data-facet="city"]')).toBeVisible();
  await facetLink(plain, 'city', city.value).click();
  await expect(plain.getByRole('link', { name: `Remove filter: City ${city.value}`, exact: true })).toBeVisible();
  await context.close();
});

test('prices in a chosen display currency: mixed currencies sort and filter by their converted price, and the choice is remembered', async ({ page, request }, testInfo) => {
  await page.goto('/search?sort=price_desc');
  const select = page.getByLabel('Prices in');
  await expect(select).toHaveValue('USD');
  await select.selectOption('GBP');
  await expect(page).toHaveURL(/[?&]currency=GBP/);
  await expect(page).toHaveURL(/[?&]sort=price_desc/);
  await expect(select).toHaveValue('GBP');

  // What the page says for each result: its own price, and the converted
  // one where the currency differs, both as the API's minor units format.
  const api = await getJson(request, '/v1/events/search?sort=price_desc&currency=GBP');
  expect(api.display_currency).toBe('GBP');
  const currencies = new Set(api.hits.map((h: any) => h.currency));
  expect(currencies.size, `the first page mixes currencies: ${[...currencies]}`).toBeGreaterThan(1);
  const results = page.locator('#results li.result');
  await expect(results).toHaveCount(api.hits.length);
  const shown: number[] = [];
  for (const [i, hit] of api.hits.entries()) {
    const row = results.nth(i);
    await expect(row.locator('a.event-link')).toHaveText(hit.title);
    await expect(row.locator('.price')).toHaveText(expectedMoney(hit.min_price_cents, hit.currency));
    if (hit.currency === 'GBP') {
      await expect(row.locator('.converted')).toHaveCount(0);
    } else {
      await expect(row.locator('.converted')).toHaveText(`(about ${expectedMoney(hit.display_min_price_cents, 'GBP')})`);
    }
    // The pounds the shopper reads, parsed back from the page.
    const text = (await row.locator(hit.currency === 'GBP' ? '.price' : '.converted').innerText());
    shown.push(Number(/£([\d,]+\.\d\d)/.exec(text)![1].replace(/,/g, '')));
  }
  console.log(`price high to low in GBP, as read: ${shown.slice(0, 6).join(', ')} …`);
  for (let i = 1; i < shown.length; i++) expect(shown[i], `result ${i + 1} after ${shown[i - 1]}`).toBeLessThanOrEqual(shown[i - 1]);

  // The price facet is in pounds; picking a bucket keeps only results
  // whose converted price the page shows inside it.
  const bucket: Bucket = api.facets.price.find((b: Bucket) => b.count > 0 && b.to !== null);
  const label = priceLabel(bucket, 'GBP');
  await page.locator(`aside#facets fieldset[data-facet="price"] a.facet[data-value="${label}"]`).click();
  await expect(page.getByRole('link', { name: `Remove filter: Price ${label}`, exact: true })).toBeVisible();
  // (The filter's upper end is inclusive, the bucket's is not: the API says how many.)
  const inRange = await getJson(request, `/v1/events/search?size=1&currency=GBP&min_price=${bucket.from}&max_price=${bucket.to}`);
  await expect(page.locator('#total')).toHaveText(`${inRange.total} events`);
  for (const row of await results.all()) {
    const text = (await row.locator('.converted').count()) ? await row.locator('.converted').innerText() : await row.locator('.price').innerText();
    const pounds = Number(/£([\d,]+\.\d\d)/.exec(text)![1].replace(/,/g, ''));
    expect(pounds).toBeGreaterThanOrEqual(bucket.from);
    expect(pounds).toBeLessThanOrEqual(bucket.to!);
  }
  await saveScreenshot(page, testInfo, 'search-prices-in-gbp');

  // Remembered: a new search without a currency switches to pounds.
  await page.goto('/search?q=');
  await expect(page).toHaveURL(/[?&]currency=GBP/);
  await expect(page.getByLabel('Prices in')).toHaveValue('GBP');
});

test.describe('a shopper whose browser is set to Britain', () => {
  test.use({ locale: 'en-GB' });
  test('sees pounds by default', async ({ page }) => {
    await page.goto('/search?sort=price_asc');
    await expect(page).toHaveURL(/[?&]currency=GBP/);
    await expect(page.getByLabel('Prices in')).toHaveValue('GBP');
    await expect(page.locator('aside#facets fieldset[data-facet="price"] .facet').first()).toContainText('£0 to £');
  });
});
