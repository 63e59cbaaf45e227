// The edge: anonymous pages come from its cache, and nothing personal is
// ever in a page or in the cache.
import { APIRequestContext, APIResponse, expect, test } from '@playwright/test';
import { demoUser, findBookableEvent, signIn } from '../lib/helpers';

const cacheStatus = (r: APIResponse) => r.headers()['x-cache-status'];

/** GETs `url` twice in a row until the second answer is a cache HIT. */
async function secondIsHit(request: APIRequestContext, url: string, attempts = 5): Promise<string[]> {
  const seen: string[] = [];
  for (let i = 0; i < attempts; i++) {
    const first = await request.get(url);
    expect(first.status(), `GET ${url}`).toBe(200);
    const second = await request.get(url);
    expect(second.status(), `GET ${url}`).toBe(200);
    seen.push(`${cacheStatus(first)}->${cacheStatus(second)}`);
    if (cacheStatus(second) === 'HIT') return seen;
  }
  throw new Error(`GET ${url} twice never gave a HIT: ${seen.join(', ')}`);
}

test('anonymous pages are served from the edge cache (X-Cache-Status: HIT)', async ({ request }) => {
  const target = await findBookableEvent(request, { minSeats: 1 });

  // A URL nobody asked for yet: MISS, then HIT (search pages: max-age=15).
  const fresh = `/search?q=${encodeURIComponent(target.title)}&edge-probe=${Date.now()}`;
  const first = await request.get(fresh);
  expect(first.status()).toBe(200);
  expect(first.headers()['content-type']).toContain('text/html');
  expect(cacheStatus(first)).toBe('MISS');
  const second = await request.get(fresh);
  expect(cacheStatus(second)).toBe('HIT');
  expect(await second.text()).toBe(await first.text());

  // The event page (max-age=1): two requests in quick succession.
  const eventPage = await secondIsHit(request, `/events/${target.id}`);
  console.log(`/events/${target.id}: ${eventPage.join(', ')}`);
  const event = await request.get(`/events/${target.id}`);
  expect(event.headers()['cache-control']).toContain('s-maxage=1');
  expect(cacheStatus(event)).toMatch(/^(HIT|STALE|UPDATING|EXPIRED|MISS|REVALIDATED)$/);

  // The home page (max-age=5).
  const home = await secondIsHit(request, '/');
  console.log(`/: ${home.join(', ')}`);
});

test('a signed-in view puts no user data in page HTML, and credentials bypass the cache', async ({ page, request }) => {
  const email = demoUser(3);
  const session = await signIn(page, email, '/');

  const target = await findBookableEvent(request, { minSeats: 1 });
  for (const url of ['/', `/events/${target.id}`, `/search?q=${encodeURIComponent(target.title)}`, '/me/tickets']) {
    // What the server sent for the signed-in browser's navigation...
    const response = await page.goto(url);
    expect(response, url).not.toBeNull();
    expect(response!.status(), url).toBe(200);
    const html = await response!.text();
    expect(html, `server HTML of ${url}`).not.toContain(email);
    expect(html, `server HTML of ${url}`).not.toContain(session);
    // ...while the page's script does know who is signed in.
    await expect(page.locator('#signin')).toContainText(email);
    expect(await page.content(), `DOM of ${url}`).not.toContain(session);
  }

  // The raw response to a request carrying the session cookie or a bearer
  // token: no user data either, answered by the upstream (BYPASS), and not
  // stored for others.
  const credentials: Record<string, Record<string, string>> = {
    cookie: { Cookie: `session=${session}` },
    bearer: { Authorization: `Bearer ${session}` },
  };
  for (const [kind, headers] of Object.entries(credentials)) {
    const withCredential = await request.get(`/events/${target.id}`, { headers });
    expect(withCredential.status(), kind).toBe(200);
    const body = await withCredential.text();
    expect(body, kind).not.toContain(email);
    expect(body, kind).not.toContain(session);
    expect(cacheStatus(withCredential), kind).toBe('BYPASS');

    const probe = `/search?q=${encodeURIComponent(target.title)}&${kind}-probe=${Date.now()}`;
    const signedIn = await request.get(probe, { headers });
    expect(signedIn.status(), kind).toBe(200);
    expect(cacheStatus(signedIn), kind).toBe('BYPASS');
    const anonymous = await request.get(probe);
    expect(cacheStatus(anonymous), `a response to a request with a ${kind} credential is never stored`).toBe('MISS');

    // The personal JSON behind the credential is never cached either.
    for (const personal of ['/v1/me/tickets', '/v1/account']) {
      const answer = await request.get(personal, { headers });
      expect(answer.status(), `${kind} ${personal}`).toBe(200);
      expect(cacheStatus(answer), `${kind} ${personal}`).toBe('BYPASS');
      expect(answer.headers()['cache-control'], `${kind} ${personal}`).toContain('no-store');
    }
    const me = await (await request.get('/v1/account', { headers })).json();
    expect(me.email, kind).toBe(email);
  }
});
