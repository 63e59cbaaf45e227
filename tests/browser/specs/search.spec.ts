// Search box autocomplete.
import { expect, test } from '@playwright/test';
import { findBookableEvent, getJson } from '../lib/helpers';
import { expectedLocal } from '../lib/expected';

/** Prefixes of `name` to try, shortest first (at least 3 characters). */
function prefixes(name: string): string[] {
  const out = new Set<string>();
  for (const fraction of [0.5, 0.75]) out.add(name.slice(0, Math.max(3, Math.ceil(name.length * fraction))).trimEnd());
  out.add(name.slice(0, -1).trimEnd());
  out.add(name);
  return [...out].filter((p) => p.length >= 3);
}

test('autocomplete: part of a performer name suggests the performer', async ({ page, request }) => {
  const target = await findBookableEvent(request, { minSeats: 1 });
  const name: string | undefined = target.event.performers?.[0]?.name;
  expect(name, `event ${target.id} has a performer`).toBeTruthy();

  // The shortest prefix the suggester answers with the name: the test is
  // about the page showing suggestions, not about the ranking.
  let typed: string | undefined;
  for (const prefix of prefixes(name!)) {
    const body = await getJson(request, `/v1/events/suggest?q=${encodeURIComponent(prefix)}`);
    if (body.suggestions.some((s: any) => s.text === name)) { typed = prefix; break; }
  }
  expect(typed, `the suggester offers "${name}" for one of ${JSON.stringify(prefixes(name!))}`).toBeTruthy();
  console.log(`performer "${name}": typing "${typed}"`);

  await page.goto('/');
  const q = page.getByLabel('Search events');
  await expect(q).toHaveAttribute('id', 'q');
  await q.pressSequentially(typed!, { delay: 40 });
  const suggestion = page.locator('#suggestions li.suggestion').filter({ hasText: name! });
  await expect(suggestion.first()).toBeVisible();
  await expect(page.locator('#suggestions')).toHaveAttribute('role', 'listbox');
  const kinds = await page.locator('#suggestions li.suggestion').evaluateAll((els) =>
    els.map((e) => `${e.getAttribute('data-kind')}:${e.textContent}`),
  );
  console.log(`suggestions: ${kinds.join(' | ')}`);
});

test('autocomplete: an event suggestion says its local date and time and its city', async ({ page, request }) => {
  const target = await findBookableEvent(request, { minSeats: 1 });
  const title: string = target.event.title;
  let typed: string | undefined;
  let suggestion: any;
  for (const prefix of prefixes(title)) {
    const body = await getJson(request, `/v1/events/suggest?q=${encodeURIComponent(prefix)}`);
    suggestion = body.suggestions.find((s: any) => s.kind === 'event' && s.text === title);
    if (suggestion) { typed = prefix; break; }
  }
  expect(typed, `the suggester offers the event "${title}"`).toBeTruthy();
  expect(suggestion.timezone, 'the suggestion carries the venue zone').toBeTruthy();
  // Independently of the app: Node's ICU in the venue's zone, the API's city.
  const when = `${expectedLocal(suggestion.starts_at, suggestion.timezone)} · ${suggestion.city}`;
  console.log(`event "${title}" (typing "${typed}"): ${when}`);

  await page.goto('/');
  await page.getByLabel('Search events').pressSequentially(typed!, { delay: 40 });
  const option = page.locator('#suggestions li.suggestion[data-kind="event"]').filter({ hasText: title });
  await expect(option.first().locator('.suggestion-when')).toHaveText(when);
  await expect(option.first().locator('.suggestion-kind')).toHaveText('Event');
});
