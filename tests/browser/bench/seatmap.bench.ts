// How soon the seat map can be used, as a new shopper meets it: a new
// browser context (nothing in the browser cache), a new event (nothing in
// the edge, Redis or in-process caches), through the edge, the data
// download included. For the demo catalog's stadium (50,112 seats) and an
// arena (8,000), on the desktop profile and with the CPU throttled 4x
// through the DevTools protocol (a mid-range phone).
//
// Two figures per run, from the navigation's start (performance marks set
// by api/static/seatmap.js):
//   overview: the section overview is drawn and a click on it is handled
//             (the click is sent as soon as the overview is drawn; its
//             handler's first line marks when it ran);
//   section:  the clicked section's seats are drawn and can take a click.
// Prints one line per run and the medians; BENCH_RUNS (5) runs per case.
import { APIRequestContext, expect, test } from '@playwright/test';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';

async function json(request: APIRequestContext, url: string, data?: unknown): Promise<any> {
  const response = data === undefined
    ? await request.get(url, { headers: { Accept: 'application/json' } })
    : await request.post(url, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, Accept: 'application/json' }, data });
  expect(response.status(), `${url}: ${await response.text()}`).toBeLessThan(300);
  return response.json();
}

/** A venue of the catalog whose capacity is within [min, max]. */
async function venueOfSize(request: APIRequestContext, min: number, max: number): Promise<number> {
  let after: string | null = null;
  const seen = new Set<number>();
  do {
    const page: any = await json(request, `/v1/events?sort=upcoming&limit=100${after ? `&after=${after}` : ''}`);
    for (const e of page.events) {
      if (seen.has(e.venue.venue_id)) continue;
      seen.add(e.venue.venue_id);
      const venue = await json(request, `/v1/venues/${e.venue.venue_id}`);
      if (venue.capacity >= min && venue.capacity <= max) return venue.venue_id;
    }
    after = page.next_after;
  } while (after);
  throw new Error(`no venue of ${min} to ${max} seats`);
}

/** A new event on sale now at `venue`, every section priced. */
async function freshSale(request: APIRequestContext, venue: number): Promise<number> {
  const starts = new Date(Date.now() + 40 * 86_400_000);
  const event = await json(request, '/v1/events', {
    venue_id: venue, title: `Bench ${Date.now()}`, category: 'concert', genre: 'rock',
    starts_at: starts.toISOString(), ends_at: new Date(starts.getTime() + 3 * 3_600_000).toISOString(),
    sale_starts_at: new Date(Date.now() - 86_400_000).toISOString(), sale_ends_at: starts.toISOString(),
  });
  const sections = (await json(request, `/v1/venues/${venue}`)).sections.map((s: any) => s.section_id);
  await json(request, `/v1/events/${event.event_id}/ticket-types`, {
    name: 'Everywhere', kind: 'seated', price_cents: 5000, currency: 'USD', sections,
  });
  return event.event_id;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The reference the issue names, measured in the same run: the seat map as
// it was before (REFERENCE_APP_JS, the old app.js from git, which draws
// every seat of /v1/events/{id}/seats at once), served in place of today's
// scripts on the same page, data and edge. One figure: from navigation
// until a seat takes a click (the click is sent as soon as the first seat
// exists; the map is drawn in one task, so all are there by then).
const REFERENCE = process.env.REFERENCE_APP_JS ?? '';

for (const [venueName, min, max] of [['stadium', 40_000, 100_000], ['arena', 5_000, 12_000]] as const) {
  for (const [profile, throttle] of [['desktop', 1], ['4x CPU', 4]] as const) {
    test(`${venueName}, ${profile}`, async ({ browser, request }) => {
      expect(ADMIN_TOKEN, 'ADMIN_TOKEN (scripts/browser-test mints it)').not.toBe('');
      const venue = await venueOfSize(request, min, max);
      const overview: number[] = [];
      const section: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const eventId = await freshSale(request, venue);
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        const cdp = await context.newCDPSession(page);
        await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
        await page.goto(`/events/${eventId}`, { waitUntil: 'commit' });
        await page.waitForFunction(() => performance.getEntriesByName('seatmap-overview-ready').length > 0, null, { timeout: 60_000 });
        // Click a section at once: the handler runs when the page is free.
        await page.locator('#seat-map .section-button').first().dispatchEvent('click');
        await page.waitForFunction(() => performance.getEntriesByName('seatmap-section-ready').length > 0, null, { timeout: 60_000 });
        const marks = await page.evaluate(() => ({
          zoom: performance.getEntriesByName('seatmap-zoom-start')[0].startTime,
          section: performance.getEntriesByName('seatmap-section-ready')[0].startTime,
          seats: document.querySelectorAll('#seat-map .seat').length,
        }));
        overview.push(marks.zoom);
        section.push(marks.section);
        console.log(`${venueName} ${profile} run ${run + 1}: overview ${marks.zoom.toFixed(0)} ms, section ${marks.section.toFixed(0)} ms (${marks.seats} seats drawn)`);
        await context.close();
      }
      console.log(`RESULT ${venueName} ${profile}: median overview ${median(overview).toFixed(0)} ms, median section ${median(section).toFixed(0)} ms over ${RUNS} runs`);
      if (!REFERENCE) { console.log('reference skipped: REFERENCE_APP_JS is not set'); return; }
      const old: number[] = [];
      for (let run = 0; run < RUNS; run++) {
        const eventId = await freshSale(request, venue);
        const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
        const page = await context.newPage();
        await page.route('**/static/app.js*', (route) => route.fulfill({ path: REFERENCE, contentType: 'text/javascript' }));
        await page.route('**/static/seatmap.js*', (route) => route.fulfill({ body: '', contentType: 'text/javascript' }));
        const cdp = await context.newCDPSession(page);
        await cdp.send('Emulation.setCPUThrottlingRate', { rate: throttle });
        await page.goto(`/events/${eventId}`, { waitUntil: 'commit' });
        await page.waitForFunction(() => document.querySelector('#seat-map svg circle.seat[role="checkbox"]') !== null, null, { timeout: 120_000 });
        const at = await page.evaluate(() => {
          const seat = document.querySelector('#seat-map svg circle.seat[role="checkbox"]')!;
          seat.dispatchEvent(new MouseEvent('click', { bubbles: true }));
          return { at: performance.now(), checked: seat.getAttribute('aria-checked'), seats: document.querySelectorAll('#seat-map circle.seat').length };
        });
        expect(at.checked).toBe('true');
        old.push(at.at);
        console.log(`${venueName} ${profile} reference run ${run + 1}: a seat took a click at ${at.at.toFixed(0)} ms (${at.seats} seats drawn)`);
        await context.close();
      }
      console.log(`RESULT ${venueName} ${profile} reference (the map before): median ${median(old).toFixed(0)} ms over ${RUNS} runs; ratio reference/new (section) ${(median(old) / median(section)).toFixed(1)}x`);
    });
  }
}
