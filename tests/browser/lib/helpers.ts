// Shared helpers: the catalog as the JSON API shows it through the edge, the
// compact seat map format, and the demo sign-in.
import { APIRequestContext, Page, TestInfo, expect } from '@playwright/test';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const EDGE_URL = process.env.EDGE_URL ?? 'http://127.0.0.1:8000';
export const ARTIFACTS = path.resolve(__dirname, '..', 'artifacts');

export const demoUser = (n: number) => `user${String(n).padStart(2, '0')}@demo.ticketing.test`;

export async function getJson<T = any>(request: APIRequestContext, url: string): Promise<T> {
  const response = await request.get(url, { headers: { Accept: 'application/json' } });
  expect(response.status(), `GET ${url}`).toBe(200);
  return (await response.json()) as T;
}

// --- the seat map JSON (api/src/events/seat_map.rs) ----------------------------

export type SeatState = { status: string; tier: number | null; section: string; row: string };

/**
 * Seat id -> status ('a' available, 'h' held, 's' sold, '-' not for sale)
 * from `GET /v1/events/{id}/seats`: per row, ids are `first_seat_id` + i when
 * consecutive, else `seat_ids`; `status` has one letter per seat in the same
 * order.
 */
export function decodeSeatMap(map: any): Map<number, SeatState> {
  const seats = new Map<number, SeatState>();
  for (const section of map.sections ?? []) {
    for (const row of section.rows ?? []) {
      const status: string = row.status;
      for (let i = 0; i < status.length; i++) {
        const id: number = row.seat_ids ? row.seat_ids[i] : row.first_seat_id + i;
        seats.set(id, { status: status[i], tier: section.ticket_type_id ?? null, section: section.name, row: row.label });
      }
    }
  }
  return seats;
}

export async function seatStatuses(request: APIRequestContext, eventId: number): Promise<Map<number, SeatState>> {
  return decodeSeatMap(await getJson(request, `/v1/events/${eventId}/seats`));
}

// --- finding a suitable event -----------------------------------------------

export type BookableEvent = {
  id: number;
  title: string;
  event: any;
  availableSeats: number[];
};

function onSale(event: any, now = Date.now()): boolean {
  if (event.status !== 'scheduled') return false;
  const starts = event.sale_starts_at ? Date.parse(event.sale_starts_at) : -Infinity;
  const ends = event.sale_ends_at ? Date.parse(event.sale_ends_at) : Infinity;
  return starts <= now && now < ends;
}

/**
 * A popular event on sale whose seat map has at least `minSeats` available
 * seats (the demo catalog materializes seats for the most popular on-sale
 * events). With `searchable`, also one that a search for its title lists on
 * the first page, and `skip` leaves out events other tests use.
 */
export async function findBookableEvent(
  request: APIRequestContext,
  opts: { minSeats: number; searchable?: boolean; skip?: number[] },
): Promise<BookableEvent> {
  const list = await getJson(request, '/v1/events?sort=popular&limit=60');
  const tried: string[] = [];
  for (const summary of list.events) {
    const id: number = summary.event_id;
    if (opts.skip?.includes(id)) continue;
    const event = await getJson(request, `/v1/events/${id}`);
    if (!onSale(event)) { tried.push(`${id}: not on sale`); continue; }
    if (!event.ticket_types.some((t: any) => t.kind === 'seated' && t.available >= opts.minSeats)) {
      tried.push(`${id}: no seated tier with ${opts.minSeats} available`);
      continue;
    }
    const seats = await seatStatuses(request, id);
    const availableSeats = [...seats].filter(([, s]) => s.status === 'a' && s.tier !== null).map(([seat]) => seat);
    if (availableSeats.length < opts.minSeats) { tried.push(`${id}: ${availableSeats.length} seats available`); continue; }
    if (opts.searchable) {
      const found = await getJson(request, `/v1/events/search?q=${encodeURIComponent(event.title)}`);
      if (!found.hits.some((h: any) => h.event_id === id)) { tried.push(`${id}: not on page 1 of its title's search`); continue; }
    }
    return { id, title: event.title, event, availableSeats };
  }
  throw new Error(`no popular on-sale event with ${opts.minSeats} available seats; tried:\n${tried.join('\n')}`);
}

// --- the browser ----------------------------------------------------------

/**
 * Demo sign-in through /login; returns the session cookie's value. The
 * session is an HttpOnly, SameSite=Strict cookie: no script on the page can
 * read it, and nothing about the shopper is kept in web storage.
 */
export async function signIn(page: Page, email: string, next = '/'): Promise<string> {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  const button = page.locator(`#demo-users button.demo-user[data-email="${email}"]`);
  await expect(button).toBeVisible();
  await button.click();
  await page.waitForURL((url) => url.pathname + url.search === next);
  await expect(page.locator('#signin')).toContainText(`Signed in as ${email}`);
  return sessionCookie(page);
}

/** The session cookie's value, after checking its flags and that scripts cannot see it. */
export async function sessionCookie(page: Page): Promise<string> {
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'session' || c.name === '__Host-session');
  expect(session, `a session cookie among ${cookies.map((c) => c.name).join(', ')}`).toBeTruthy();
  expect(session!.httpOnly, 'the session cookie is HttpOnly').toBe(true);
  expect(session!.sameSite).toBe('Strict');
  expect(session!.path).toBe('/');
  const visible = await page.evaluate(() => ({
    cookie: document.cookie,
    local: JSON.stringify(localStorage),
    session: JSON.stringify(sessionStorage),
  }));
  expect(visible.cookie, 'document.cookie').not.toContain(session!.value);
  expect(visible.local, 'localStorage').toBe('{}');
  expect(visible.session, 'sessionStorage').toBe('{}');
  return session!.value;
}

/** On /me/tickets: the number of ticket lines, once the script has filled the page. */
export async function ticketCount(page: Page): Promise<number> {
  await expect(page).toHaveURL(/\/me\/tickets$/);
  await expect(page.locator('#tickets article.booking, #no-tickets:visible').first()).toBeVisible();
  return page.locator('#tickets li.ticket').count();
}

// --- the seat map (api/static/seatmap.js) ---------------------------------

export type SectionOverview = {
  section_id: number; name: string; ticket_type_id: number | null; seats: number; available: number;
  label: [number, number]; bounds: { min_x: number; min_y: number; max_x: number; max_y: number }; seat_pitch: number;
};

export async function sectionsOf(request: APIRequestContext, eventId: number): Promise<SectionOverview[]> {
  return (await getJson(request, `/v1/events/${eventId}/sections`)).sections;
}

export type ApiSeat = { id: number; number: number; x: number; y: number; status: string; row: string; accessible: boolean };

/** A section's seats as the JSON API gives them (x/y decoded from the compact format). */
export async function seatsOf(request: APIRequestContext, eventId: number, sectionId: number): Promise<ApiSeat[]> {
  const map = await getJson(request, `/v1/events/${eventId}/seats?section=${sectionId}`);
  const out: ApiSeat[] = [];
  const decode = (d: number[]) => { let acc = 0; return d.map((v) => (acc += v) / 10); };
  for (const row of map.sections[0].rows) {
    const n = row.status.length;
    const xs = row.dxs ? decode(row.dxs) : Array.from({ length: n }, (_, i) => row.x0 + (row.dx ?? 0) * i);
    const ys = row.dys ? decode(row.dys) : Array(n).fill(row.y);
    const accessible = new Set<number>(row.accessible ?? []);
    for (let i = 0; i < n; i++) {
      out.push({
        id: row.seat_ids ? row.seat_ids[i] : row.first_seat_id + i,
        number: row.numbers ? row.numbers[i] : row.first_number + i,
        x: xs[i], y: ys[i], status: row.status[i], row: row.label, accessible: accessible.has(i),
      });
    }
  }
  return out;
}

/**
 * Where a point of the seat map's drawing is on the screen: the API's x/y
 * through the SVG's own transform (getScreenCTM), never through the app's
 * hit testing.
 */
export async function screenPoint(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  return page.evaluate(([px, py]) => {
    const svg = document.querySelector('#seat-map-svg') as SVGSVGElement;
    const m = svg.getScreenCTM()!;
    return { x: m.a * px + m.c * py + m.e, y: m.b * px + m.d * py + m.f };
  }, [x, y]);
}

/**
 * On an event page: clicks a section on the overview (at its label point,
 * from the API) and waits until its seats are drawn. Takes the first
 * section with `minSeats` available unless one is named.
 */
export async function zoomIntoSection(page: Page, request: APIRequestContext, eventId: number, opts: { minSeats?: number; sectionId?: number } = {}): Promise<SectionOverview> {
  const sections = await sectionsOf(request, eventId);
  const section = opts.sectionId !== undefined
    ? sections.find((s) => s.section_id === opts.sectionId)
    : sections.find((s) => s.ticket_type_id !== null && s.available >= (opts.minSeats ?? 1));
  expect(section, `a section with ${opts.minSeats ?? 1} seats available`).toBeTruthy();
  await expect(page.locator(`#seat-map g.section[data-section-id="${section!.section_id}"]`)).toBeVisible();
  // The whole map on screen (it is shorter than the window), so every
  // point of it can be clicked.
  await page.locator('#seat-map-svg').evaluate((el) => el.scrollIntoView({ block: 'center' }));
  const at = await screenPoint(page, section!.label[0], section!.label[1]);
  await page.mouse.click(at.x, at.y);
  await expect(page.locator('#seat-map')).toHaveAttribute('data-zoomed', String(section!.section_id));
  await expect(page.locator(`#seat-map g.section[data-section-id="${section!.section_id}"] .seat`).first()).toBeVisible();
  // "Section 105" for a numbered section, the name alone otherwise.
  await expect(page.locator('#map-where')).toContainText(/^\d/.test(section!.name) ? `Section ${section!.name}, ` : `${section!.name}, `);
  return section!;
}

/**
 * On an event page: zooms into a section with `n` available seats and
 * returns the ids of `n` of them (as the page draws them).
 */
export async function pickAvailableSeats(page: Page, n: number, request?: APIRequestContext): Promise<string[]> {
  const eventId = Number(await page.locator('#event').getAttribute('data-event-id'));
  const section = await zoomIntoSection(page, request ?? page.request, eventId, { minSeats: n });
  const available = page.locator(`#seat-map g.section[data-section-id="${section.section_id}"] .seat[data-status="a"][data-tier]`);
  const ids = await available.evaluateAll((els) => els.map((e) => e.getAttribute('data-seat-id')!));
  expect(ids.length, `${n} available seats drawn in section ${section.name}`).toBeGreaterThanOrEqual(n);
  return ids.slice(0, n);
}

/** Clicks the seats (by id) and checks the page lists them as chosen. */
export async function selectSeats(page: Page, ids: string[]): Promise<void> {
  for (const id of ids) {
    const seat = page.locator(`#seat-map .seat[data-seat-id="${id}"]`);
    await seat.click();
    await expect(seat).toHaveAttribute('aria-checked', 'true');
  }
  await expect(page.locator('#selection')).toHaveText(`${ids.length} ${ids.length === 1 ? 'seat' : 'seats'} selected`);
  await expect(page.locator('#chosen li.chosen-seat')).toHaveCount(ids.length);
}

/** Holds the selected seats; returns the booking id from /checkout/ID. */
export async function holdSelected(page: Page): Promise<string> {
  const hold = page.locator('#hold-selected');
  await expect(hold).toBeEnabled();
  await hold.click();
  await page.waitForURL(/\/checkout\/[^/?#]+$/);
  const bookingId = new URL(page.url()).pathname.split('/').pop()!;
  await expect(page.locator('#countdown')).toHaveText(/^\d+:\d\d$/);
  return bookingId;
}

export async function pay(page: Page, card: string): Promise<void> {
  await page.locator('#card-number').fill(card);
  await page.locator('#pay').click();
}

/** Saves a screenshot under artifacts/, attaches it and says where it is. */
export async function saveScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  await testInfo.attach(name, { path: file, contentType: 'image/png' });
  console.log(`artifact: ${path.relative(process.cwd(), file)} (${fs.statSync(file).size} bytes)`);
  return file;
}

const ADMIN_TOKEN = process.env.ADMIN_TOKEN ?? '';

/** POST to the admin API as the demo admin (scripts/browser-test mints ADMIN_TOKEN); the body of a 2xx. */
export async function adminPost(request: APIRequestContext, url: string, data: unknown): Promise<any> {
  expect(ADMIN_TOKEN, 'ADMIN_TOKEN (scripts/browser-test mints it)').not.toBe('');
  const response = await request.post(url, {
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, Accept: 'application/json' },
    data,
  });
  expect(response.status(), `POST ${url}: ${await response.text()}`).toBeLessThan(300);
  return response.json();
}
