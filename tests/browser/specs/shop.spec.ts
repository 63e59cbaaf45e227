// The shop as a shopper meets it: the stadium seat map (zoom, hit testing,
// keyboard), honest sale states, checkout without dead ends, local times
// and prices. Every expectation reads what the page says; times and prices
// are computed independently here, with Node's own ICU (Intl), from the
// JSON API's instants and minor units.
//
// The events these tests buy from are set up through the admin API, as a
// promoter would (ADMIN_TOKEN, minted by scripts/browser-test): a sale at
// the demo catalog's stadium, and a small general-admission sale.
import { APIRequestContext, Page, expect, test } from '@playwright/test';
import {
  adminPost,
  demoUser,
  getJson,
  holdSelected,
  pay,
  screenPoint,
  sectionsOf,
  seatsOf,
  signIn,
  zoomIntoSection,
} from '../lib/helpers';
import { expectedLocal, expectedMoney } from '../lib/expected';

const SUCCESS_CARD = '4242 4242 4242 4242';

// --- set-up through the admin API -------------------------------------------

type Stadium = { venue_id: number; name: string; timezone: string };

/** The demo catalog's stadium (a venue of about 50,000 seats). */
async function findStadium(request: APIRequestContext): Promise<Stadium> {
  const seen = new Set<number>();
  let after: string | null = null;
  do {
    const page: any = await getJson(request, `/v1/events?sort=upcoming&limit=100${after ? `&after=${after}` : ''}`);
    for (const e of page.events) {
      if (seen.has(e.venue.venue_id) || !/Stadium/.test(e.venue.name)) continue;
      seen.add(e.venue.venue_id);
      const venue = await getJson(request, `/v1/venues/${e.venue.venue_id}`);
      if (venue.capacity >= 40_000) return { venue_id: venue.venue_id, name: venue.name, timezone: venue.timezone };
    }
    after = page.next_after;
  } while (after);
  throw new Error('no stadium of 40,000 seats or more in the catalog');
}

const days = (n: number) => new Date(Date.now() + n * 86_400_000);

/** A new event at the stadium, on sale now, priced by two tiers. */
async function stadiumSale(request: APIRequestContext, label: string): Promise<{ id: number; title: string; stadium: Stadium; event: any }> {
  const stadium = await findStadium(request);
  const starts = days(20 + Math.floor(Math.random() * 100));
  starts.setUTCMinutes(30, 0, 0);
  const title = `${label} ${Date.now()}`;
  const created = await adminPost(request, '/v1/events', {
    venue_id: stadium.venue_id,
    title,
    description: 'A browser test sale.',
    category: 'sports',
    genre: 'football',
    starts_at: starts.toISOString(),
    ends_at: new Date(starts.getTime() + 3 * 3_600_000).toISOString(),
    doors_at: new Date(starts.getTime() - 90 * 60_000).toISOString(),
    sale_starts_at: days(-1).toISOString(),
    sale_ends_at: starts.toISOString(),
  });
  // A query of its own: the address the page will use is not cached yet.
  const sections: any[] = (await getJson(request, `/v1/events/${created.event_id}/sections?setup=1`)).sections;
  const lower = sections.filter((s) => s.name.startsWith('1')).map((s) => s.section_id);
  const upper = sections.filter((s) => !s.name.startsWith('1')).map((s) => s.section_id);
  await adminPost(request, `/v1/events/${created.event_id}/ticket-types`, {
    name: 'Lower bowl', kind: 'seated', price_cents: 8550, currency: 'USD', sections: lower,
  });
  await adminPost(request, `/v1/events/${created.event_id}/ticket-types`, {
    name: 'Upper bowl', kind: 'seated', price_cents: 4500, currency: 'USD', sections: upper,
  });
  // Public pages are cached for a second (and the edge may serve a copy
  // while it revalidates): wait until the overview prices every section.
  await expect.poll(async () => {
    const sections = await getJson(request, `/v1/events/${created.event_id}/sections?fresh=${Date.now()}`);
    return sections.sections.every((s: any) => s.ticket_type_id !== null && s.available > 0);
  }, { timeout: 30_000 }).toBe(true);
  const event = await getJson(request, `/v1/events/${created.event_id}`);
  return { id: created.event_id, title, stadium, event };
}

async function openEvent(page: Page, id: number, title: string) {
  await page.goto(`/events/${id}`);
  await expect(page.locator('h1#event-title')).toHaveText(title);
  await expect(page.locator('#seat-map g.section').first()).toBeVisible();
}

// --- the stadium ---------------------------------------------------------------

test('the whole purchase at the stadium: zoom in, click two seats, hold exactly those, pay, read them back', async ({ page, request }) => {
  const sale = await stadiumSale(request, 'Stadium final');
  await signIn(page, demoUser(4), `/events/${sale.id}`);
  await expect(page.locator('h1#event-title')).toHaveText(sale.title);

  await test.step('times in the venue\'s zone, the sale state and prices', async () => {
    const zone = sale.stadium.timezone;
    await expect(page.locator('#event-when')).toHaveText(
      `${expectedLocal(sale.event.starts_at, zone)} · Doors ${expectedLocal(sale.event.doors_at, zone).split(', ')[1].split(' ')[0]}` +
      ` · Ends ${expectedLocal(sale.event.ends_at, zone).split(', ')[1].split(' ')[0]}`,
    );
    await expect(page.locator('#sale-state')).toHaveText('On sale now');
    await expect(page.locator('#ticket-types li .price')).toHaveText([expectedMoney(8550, 'USD'), expectedMoney(4500, 'USD')]);
  });

  const section = await test.step('zoom into a lower-bowl section by clicking it on the overview', () =>
    zoomIntoSection(page, request, sale.id, { minSeats: 2 }),
  );

  const chosen = await test.step('click two neighbouring seats where the API says they are', async () => {
    const seats = (await seatsOf(request, sale.id, section.section_id)).filter((s) => s.status === 'a' && !s.accessible);
    const row = seats.filter((s) => s.row === seats[Math.floor(seats.length / 2)].row);
    const pair = row.slice(10, 12);
    for (const seat of pair) {
      const at = await screenPoint(page, seat.x, seat.y);
      await page.mouse.click(at.x, at.y);
      await expect(page.locator(`#seat-map .seat[data-seat-id="${seat.id}"]`)).toHaveAttribute('aria-checked', 'true');
    }
    const names = pair.map((s) => `Section ${section.name}, row ${s.row}, seat ${s.number}`);
    await expect(page.locator('#chosen li')).toHaveText(names.map((n) => `${n} · ${expectedMoney(8550, 'USD')}`));
    await expect(page.locator('#chosen-total')).toHaveText(`Total ${expectedMoney(17100, 'USD')}`);
    return { pair, names };
  });

  const bookingId = await test.step('hold them: checkout names the same seats', async () => {
    const id = await holdSelected(page);
    await expect(page.locator('#booking-summary li.ticket .what')).toHaveText(chosen.names);
    await expect(page.locator('#booking-summary .booking-total')).toHaveText(`2 tickets · Total ${expectedMoney(17100, 'USD')}`);
    await expect(page.locator('#booking-summary .booking-when')).toHaveText(expectedLocal(sale.event.starts_at, sale.stadium.timezone));
    await expect.poll(async () => {
      const now = new Map((await seatsOf(request, sale.id, section.section_id)).map((s) => [s.id, s.status]));
      return chosen.pair.map((s) => now.get(s.id)).join('');
    }, { timeout: 20_000 }).toBe('hh');
    return id;
  });

  await test.step('pay, and read them back on My tickets', async () => {
    await pay(page, SUCCESS_CARD);
    await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
    await expect(page.locator('#confirmation-title')).toHaveText('Thank you: you are going!');
    await page.goto('/me/tickets');
    const card = page.locator(`#tickets article.booking[data-booking-id="${bookingId}"]`);
    await expect(card.locator('h2')).toHaveText(sale.title);
    await expect(card.locator('.booking-when')).toHaveText(expectedLocal(sale.event.starts_at, sale.stadium.timezone));
    await expect(card.locator('.booking-venue')).toHaveText(`${sale.event.venue.name}, ${sale.event.venue.city}`);
    await expect(card.locator('li.ticket')).toHaveText(chosen.names.map((n) => `${n} · ${expectedMoney(8550, 'USD')}`));
  });
});

test('hit testing: at the deepest zoom, clicking the centre of 50 random drawn seats selects exactly those', async ({ page, request }) => {
  const sale = await stadiumSale(request, 'Stadium hit test');
  await openEvent(page, sale.id, sale.title);
  const section = await zoomIntoSection(page, request, sale.id, { minSeats: 100 });

  await test.step('zoom in until the map zooms no further', async () => {
    let before = '';
    for (let i = 0; i < 20; i++) {
      const now = await page.locator('#seat-map').getAttribute('data-view-box');
      if (now === before) break;
      before = now!;
      await page.locator('#map-zoom-in').click();
    }
  });

  const seats = await seatsOf(request, sale.id, section.section_id);
  await page.locator('#seat-map-svg').evaluate((el) => el.scrollIntoView({ block: 'center' }));
  const [vx, vy, vw, vh] = (await page.locator('#seat-map').getAttribute('data-view-box'))!.split(' ').map(Number);
  const margin = section.seat_pitch;
  const visible = seats.filter((s) => s.status === 'a' && s.x > vx + margin && s.x < vx + vw - margin && s.y > vy + margin && s.y < vy + vh - margin);
  console.log(`deepest zoom: view ${vw.toFixed(1)} x ${vh.toFixed(1)}, ${visible.length} available seats in view, pitch ${section.seat_pitch}`);
  expect(visible.length).toBeGreaterThanOrEqual(50);
  const picked = [...visible].sort(() => Math.random() - 0.5).slice(0, 50);
  const radius = await page.locator(`#seat-map .seat[data-seat-id="${picked[0].id}"]`).evaluate((el) => el.getBoundingClientRect().width / 2);
  console.log(`a seat is drawn ${radius.toFixed(1)} px in radius`);
  expect(radius).toBeGreaterThanOrEqual(8);

  for (const seat of picked) {
    const at = await screenPoint(page, seat.x, seat.y);
    await page.mouse.click(at.x, at.y);
  }
  const selected = await page.locator('#chosen li').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-seat-id'))));
  expect(new Set(selected)).toEqual(new Set(picked.map((s) => s.id)));
  await expect(page.locator('#selection')).toHaveText('50 seats selected');
});

test('keyboard only: reach best available, then choose and hold two seats with the arrow keys', async ({ page, request }) => {
  const sale = await stadiumSale(request, 'Stadium keyboard');
  await signIn(page, demoUser(5), `/events/${sale.id}`);
  await expect(page.locator('#seat-map g.section').first()).toBeVisible();

  await test.step('the skip link reaches best available in a few key presses', async () => {
    let presses = 0;
    for (; presses < 30; presses++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.classList.contains('skip-link'))) break;
    }
    await expect(page.locator(':focus')).toHaveText('Skip the seat map: let us pick the best available seats');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    await expect(page.locator(':focus')).toHaveAttribute('id', 'best-tier');
    console.log(`best available reached with ${presses + 3} key presses`);
    expect(presses + 3).toBeLessThan(20);
  });

  const names = await test.step('Tab to a section, Enter, arrow keys and Enter to choose two seats', async () => {
    await page.goto(`/events/${sale.id}`);
    await expect(page.locator('#seat-map g.section').first()).toBeVisible();
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(() => document.activeElement?.classList.contains('section-button'))) break;
    }
    const label = await page.locator(':focus').getAttribute('aria-label');
    expect(label).toMatch(/^Section \S+: \$[\d.]+, [\d,]+ of [\d,]+ seats left(, \d+ wheelchair spaces? left)?$/);
    await page.keyboard.press('Enter');
    await expect(page.locator('#seat-map')).toHaveAttribute('data-zoomed', /^\d+$/);
    await expect(page.locator(':focus')).toHaveAttribute('role', 'checkbox');
    const first = await page.locator(':focus').getAttribute('aria-label');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowRight');
    const a = await page.locator(':focus').getAttribute('aria-label');
    expect(a).not.toBe(first);
    await page.keyboard.press('Enter');
    await page.keyboard.press('ArrowRight');
    const b = await page.locator(':focus').getAttribute('aria-label');
    await page.keyboard.press(' ');
    for (const seat of [a, b]) expect(seat).toMatch(/^Section \S+, row \S+, seat \d+, \$[\d.]+$/);
    const chosen = [a!, b!].map((l) => l.replace(/, \$[\d.]+$/, ''));
    await expect(page.locator('#chosen li')).toHaveText(chosen.map((n) => `${n} · ${expectedMoney(8550, 'USD')}`));
    return chosen;
  });

  await test.step('Tab to "Hold selected seats" and press Enter: checkout holds those two', async () => {
    await page.keyboard.press('Tab');
    await expect(page.locator(':focus')).toHaveText('Hold selected seats');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/checkout\//);
    await expect(page.locator('#booking-summary li.ticket .what')).toHaveText(names);
  });
});

test('wheelchair spaces: a filter that counts them, and a companion seat held next to one', async ({ page, request }) => {
  const sale = await stadiumSale(request, 'Stadium access');
  await signIn(page, demoUser(1), `/events/${sale.id}`);
  await expect(page.locator('#seat-map g.section').first()).toBeVisible();
  const sections: any[] = (await getJson(request, `/v1/events/${sale.id}/sections`)).sections;
  const withSpaces = sections.filter((s) => s.accessible_available > 0);
  const spaces = withSpaces.reduce((n, s) => n + s.accessible_available, 0);
  expect(spaces).toBeGreaterThan(0);
  await page.getByLabel('Wheelchair spaces only').check();
  await expect(page.locator('#map-where')).toHaveText(
    `${spaces} wheelchair spaces left in ${withSpaces.length} sections. Companion seats are the seats next to them.`,
  );
  const section = await zoomIntoSection(page, request, sale.id, { sectionId: withSpaces[0].section_id });
  const seats = await seatsOf(request, sale.id, section.section_id);
  const space = seats.find((s) => s.accessible && s.status === 'a')!;
  const companion = seats.find((s) => s.row === space.row && Math.abs(s.number - space.number) === 1 && s.status === 'a')!;
  const spaceSeat = page.locator(`#seat-map .seat[data-seat-id="${space.id}"]`);
  await expect(spaceSeat).toHaveAttribute('aria-label', new RegExp(`, seat ${space.number}, wheelchair space, `));
  for (const seat of [space, companion]) {
    const at = await screenPoint(page, seat.x, seat.y);
    await page.mouse.click(at.x, at.y);
  }
  await holdSelected(page);
  const name = (n: number) => `Section ${section.name}, row ${space.row}, seat ${n}`;
  await expect(page.locator('#booking-summary li.ticket .what')).toHaveText(
    [space, companion].sort((a, b) => a.id - b.id).map((s) => name(s.number)),
  );
});

test('best available with a wheelchair space: two seats, one of them a wheelchair space, side by side', async ({ page, request }) => {
  const sale = await stadiumSale(request, 'Stadium access best');
  await signIn(page, demoUser(2), `/events/${sale.id}`);
  await expect(page.locator('#seat-map g.section').first()).toBeVisible();
  await page.getByLabel('Include a wheelchair space (the other seats beside it)').check();
  await page.locator('#best-quantity').fill('2');
  await page.getByRole('button', { name: 'Hold best available' }).click();
  await page.waitForURL(/\/checkout\//);
  const names = await page.locator('#booking-summary li.ticket .what').allInnerTexts();
  expect(names).toHaveLength(2);
  // Read back what the page names against the API's seats of that section.
  const parsed = names.map((n) => /^Section (.+), row (\S+), seat (\d+)$/.exec(n)!);
  expect(parsed.every(Boolean), names.join(' | ')).toBe(true);
  const sectionName = parsed[0][1];
  expect(parsed[1][1]).toBe(sectionName);
  expect(parsed[1][2]).toBe(parsed[0][2]);
  const section = (await sectionsOf(request, sale.id)).find((s) => s.name === sectionName)!;
  const seats = await seatsOf(request, sale.id, section.section_id);
  const held = parsed.map((m) => seats.find((s) => s.row === m[2] && s.number === Number(m[3]))!);
  console.log(`held ${names.join(' and ')}; wheelchair space: ${held.map((s) => s.accessible).join(', ')}`);
  expect(held.some((s) => s.accessible), 'one of them is a wheelchair space').toBe(true);
  expect(Math.abs(held[0].number - held[1].number)).toBe(1);
});

// --- sale states ------------------------------------------------------------------

test('sale states: a presale says when it opens, in the venue\'s time, and offers nothing to buy', async ({ page, request }) => {
  const list: any = await getJson(request, '/v1/events?sort=upcoming&limit=100');
  const presale = list.events.find((e: any) => Date.parse(e.sale_starts_at) > Date.now() + 3_600_000);
  expect(presale, 'an upcoming event whose sale opens later').toBeTruthy();
  await page.goto(`/events/${presale.event_id}`);
  await expect(page.locator('#sale-state')).toHaveText(`On sale ${expectedLocal(presale.sale_starts_at, presale.venue.timezone)}`);
  await expect(page.locator('#booking, #general-admission, #hold-best, button.get-tickets, #seat-map')).toHaveCount(0);

  // The home page's cards say the same.
  await page.goto('/');
  const card = page.locator(`#upcoming li.card[data-event-id="${presale.event_id}"]`);
  if (await card.count()) {
    await expect(card.locator('.badge')).toHaveText(`On sale ${expectedLocal(presale.sale_starts_at, presale.venue.timezone)}`);
  }
  // Popular lists only what can be bought now.
  const popular = await page.locator('#popular .badge').allTextContents();
  expect(popular.length).toBeGreaterThan(0);
  expect(new Set(popular)).toEqual(new Set(['On sale now']));
});

test('general admission: a quantity and "Get tickets", "3 × Standing" on the tickets, then the type says sold out', async ({ page, request }) => {
  const stadium = await findStadium(request);
  const starts = days(30);
  const title = `Standing test ${Date.now()}`;
  const created = await adminPost(request, '/v1/events', {
    venue_id: stadium.venue_id, title, description: 'A standing-only browser test sale.', category: 'concert', genre: 'rock',
    starts_at: starts.toISOString(), ends_at: new Date(starts.getTime() + 3 * 3_600_000).toISOString(),
    sale_starts_at: days(-1).toISOString(), sale_ends_at: starts.toISOString(),
  });
  await adminPost(request, `/v1/events/${created.event_id}/ticket-types`, {
    name: 'Pitch Standing', kind: 'general_admission', price_cents: 4250, currency: 'GBP', capacity: 3,
  });
  await signIn(page, demoUser(6), `/events/${created.event_id}`);
  await expect(page.locator('#seat-map, #booking')).toHaveCount(0);
  const form = page.locator('#general-admission form.ga-form');
  await expect(form.locator('h3')).toHaveText(`Pitch Standing · ${expectedMoney(4250, 'GBP')}`);
  await form.getByLabel('Tickets').selectOption('3');
  await form.getByRole('button', { name: 'Get tickets' }).click();
  await page.waitForURL(/\/checkout\//);
  await expect(page.locator('#booking-summary li.ticket')).toHaveText(`3 × Pitch Standing · ${expectedMoney(12750, 'GBP')} (${expectedMoney(4250, 'GBP')} each)`);
  await pay(page, SUCCESS_CARD);
  await page.waitForURL(/\/confirmation\//);
  await page.goto('/me/tickets');
  await expect(page.locator('#tickets article.booking', { hasText: title }).locator('li.ticket'))
    .toHaveText(`3 × Pitch Standing · ${expectedMoney(12750, 'GBP')} (${expectedMoney(4250, 'GBP')} each)`);
  await expect(async () => {
    await page.goto(`/events/${created.event_id}`);
    await expect(page.locator('#ticket-types li')).toContainText('Sold out', { timeout: 1_000 });
    await expect(page.locator('#sale-state')).toHaveText('Sold out', { timeout: 1_000 });
  }).toPass({ timeout: 20_000 });
  await expect(page.locator('button.get-tickets')).toHaveCount(0);
});

// --- checkout -------------------------------------------------------------------------

async function holdOneSeat(page: Page, request: APIRequestContext, user: number, label: string) {
  const sale = await stadiumSale(request, label);
  await signIn(page, demoUser(user), `/events/${sale.id}`);
  const section = await zoomIntoSection(page, request, sale.id);
  const seat = (await seatsOf(request, sale.id, section.section_id)).find((s) => s.status === 'a')!;
  await page.locator(`#seat-map .seat[data-seat-id="${seat.id}"]`).click();
  const bookingId = await holdSelected(page);
  return { sale, seat, section, bookingId };
}

test('checkout: a mistyped card is corrected in place, with nothing sent, then payment succeeds', async ({ page, request }) => {
  const { bookingId } = await holdOneSeat(page, request, 1, 'Checkout typo');
  const confirms: string[] = [];
  page.on('request', (r) => { if (r.url().includes('/confirm')) confirms.push(r.url()); });
  await pay(page, '4242 4242 4242 4241');
  await expect(page.locator('#card-number-error')).toHaveText('That card number is not valid: a digit may be mistyped.');
  await expect(page.locator('#card-number')).toHaveAttribute('aria-invalid', 'true');
  await expect(page.locator('#pay')).toBeEnabled();
  expect(confirms, 'no payment request for a mistyped number').toEqual([]);
  await page.locator('#card-number').fill(SUCCESS_CARD);
  await expect(page.locator('#card-number-error')).toHaveText('');
  await page.locator('#pay').click();
  await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
  await expect(page.locator('#booking-state')).toHaveText('Paid: this booking is confirmed.');
});

test('checkout: cancelling the hold releases the seat and leaves no Pay button', async ({ page, request }) => {
  const { sale, seat, section } = await holdOneSeat(page, request, 2, 'Checkout cancel');
  await page.getByRole('button', { name: 'Cancel and release my seats' }).click();
  await expect(page.locator('#hold-state')).toHaveText('You cancelled this hold; the seats are released for others.');
  await expect(page.locator('#pay')).toBeHidden();
  await expect(page.locator('#other-seats')).toHaveAttribute('href', `/events/${sale.id}`);
  await expect.poll(async () => (await seatsOf(request, sale.id, section.section_id)).find((s) => s.id === seat.id)?.status, { timeout: 20_000 }).toBe('a');
});

test('checkout: a warning before the hold runs out, then the expired state (the page clock, not sleeps)', async ({ page, request }) => {
  await page.clock.install();
  const { bookingId } = await holdOneSeat(page, request, 3, 'Checkout clock');
  const booking = await page.evaluate(async (id) => (await fetch(`/v1/bookings/${id}`, { headers: { Accept: 'application/json' } })).json(), bookingId);
  const left = Date.parse(booking.expires_at) - (await page.evaluate(() => Date.now()));
  await expect(page.locator('#expiry-warning')).toBeHidden();
  await page.clock.fastForward(left - 100_000);
  await expect(page.locator('#expiry-warning')).toHaveText('Hurry: your seats are held for less than 2 minutes more.');
  await page.clock.fastForward(101_000);
  await expect(page.locator('#hold-state')).toHaveText('The hold ran out before payment, so the seats were released.');
  await expect(page.locator('#pay')).toBeHidden();
  await expect(page.locator('#other-seats')).toBeVisible();
});

// --- money -------------------------------------------------------------------------------

test('prices in three currencies read as each currency is written', async ({ page, request }) => {
  const list: any = await getJson(request, '/v1/events?sort=upcoming&limit=100');
  const byCurrency = new Map<string, any>();
  for (const e of list.events) if (e.currency && !byCurrency.has(e.currency)) byCurrency.set(e.currency, e);
  const three = [...byCurrency.values()].slice(0, 3);
  expect(three.length, `three currencies among ${[...byCurrency.keys()].join(', ')}`).toBe(3);
  for (const summary of three) {
    const event = await getJson(request, `/v1/events/${summary.event_id}`);
    await page.goto(`/events/${summary.event_id}`);
    const expected = event.ticket_types.map((t: any) => expectedMoney(t.price_cents, t.currency));
    await expect(page.locator('#ticket-types li .price')).toHaveText(expected);
    await expect(page.locator('#event-when time').first()).toHaveText(expectedLocal(event.starts_at, event.venue.timezone));
    console.log(`${summary.currency}: ${expected.join(', ')}`);
  }
});
