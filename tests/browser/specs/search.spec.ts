// Search box autocomplete.
import { expect, test } from '@playwright/test';
import { findBookableEvent, getJson } from '../lib/helpers';

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
