// The shopper's flows: sign in, search, choose seats, hold, pay.
import { expect, test } from '@playwright/test';
import {
  demoUser,
  findBookableEvent,
  holdSelected,
  pay,
  pickAvailableSeats,
  seatStatuses,
  selectSeats,
  signIn,
  ticketCount,
} from '../lib/helpers';

const SUCCESS_CARD = '4242 4242 4242 4242';
const DECLINED_CARD = '4000 0000 0000 0002';

test('whole flow: sign in, search, pick two seats, hold, pay, see the tickets', async ({ page, request }) => {
  const email = demoUser(1);
  const target = await test.step('find a searchable event with available seats (JSON through the edge)', () =>
    findBookableEvent(request, { minSeats: 2, searchable: true }),
  );
  console.log(`event ${target.id} "${target.title}" (${target.availableSeats.length} seats available)`);

  const before = await test.step(`sign in as ${email} via /login`, async () => {
    await signIn(page, email, '/me/tickets');
    return ticketCount(page);
  });

  await test.step('search from the home page', async () => {
    await page.goto('/');
    await page.locator('#q').fill(target.title);
    await Promise.all([page.waitForURL(/\/search\?/), page.locator('#q').press('Enter')]);
    await expect(page.locator('#total')).toHaveText(/\d+ events?/);
    await expect(page.locator('ol#results li.result').first()).toBeVisible();
  });

  await test.step('open the event from the results', async () => {
    const link = page.locator(`ol#results li.result a.event-link[href="/events/${target.id}"]`);
    await expect(link).toBeVisible();
    await Promise.all([page.waitForURL(new RegExp(`/events/${target.id}$`)), link.click()]);
    await expect(page.locator('h1#event-title')).toHaveText(target.title);
  });

  const seats = await test.step('click two available seats', async () => {
    const ids = await pickAvailableSeats(page, 2);
    await selectSeats(page, ids);
    return ids;
  });

  const bookingId = await test.step('hold them: checkout with a countdown', () => holdSelected(page));
  console.log(`booking ${bookingId}: seats ${seats.join(', ')}`);

  await test.step(`pay with ${SUCCESS_CARD}`, async () => {
    await pay(page, SUCCESS_CARD);
    await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
    await expect(page.locator('#confirmation')).toContainText(/confirmed/i);
  });

  await test.step('my tickets: two more than before, named by section, row and seat', async () => {
    await Promise.all([page.waitForURL(/\/me\/tickets$/), page.locator('a#my-tickets-link').click()]);
    await expect(page.locator('#tickets li.ticket')).toHaveCount(before + 2);
    const card = page.locator(`#tickets article.booking[data-booking-id="${bookingId}"]`);
    await expect(card.locator('h2')).toHaveText(target.title);
    await expect(card.locator('li.ticket')).toHaveCount(2);
    for (const line of await card.locator('li.ticket').allTextContents()) {
      expect(line).toMatch(/^.+, row .+, seat \d+ · \D*[\d,.]+$/);
      expect(line).not.toContain('undefined');
    }
  });

  await test.step('the seats are sold in the seat map JSON', async () => {
    await expect
      .poll(async () => {
        const map = await seatStatuses(request, target.id);
        return seats.map((id) => map.get(Number(id))?.status).join('');
      }, { timeout: 20_000 })
      .toBe('ss');
  });
});

test('a declined card keeps the hold: it says so once, and another card pays', async ({ page, request }) => {
  const target = await test.step('find an event with available seats', () =>
    findBookableEvent(request, { minSeats: 2 }),
  );
  await test.step('sign in and open the event', async () => {
    await signIn(page, demoUser(2), `/events/${target.id}`);
    await expect(page.locator('h1#event-title')).toHaveText(target.title);
  });
  const seats = await test.step('select two seats', async () => {
    const ids = await pickAvailableSeats(page, 2);
    await selectSeats(page, ids);
    return ids;
  });
  const statuses = async () => {
    const map = await seatStatuses(request, target.id);
    return seats.map((id) => map.get(Number(id))?.status).join('');
  };
  const bookingId = await test.step('hold them: the seat map JSON shows them held', async () => {
    const id = await holdSelected(page);
    await expect.poll(statuses, { timeout: 20_000 }).toBe('hh');
    return id;
  });

  await test.step(`pay with ${DECLINED_CARD}: declined, in words, once; the seats stay held`, async () => {
    await pay(page, DECLINED_CARD);
    await expect(page.locator('#pay-error')).toHaveText(
      'Your card was declined, so nothing was charged. Your seats are still held: try another card.',
    );
    await expect(page.locator('#hold-state')).toHaveText('Your seats are held. Pay before the time runs out.');
    await expect(page.locator('#pay')).toBeEnabled();
    await expect(page.locator('#card-number')).toHaveValue('');
    await expect(page).toHaveURL(/\/checkout\//);
    await expect.poll(statuses, { timeout: 20_000 }).toBe('hh');
  });

  await test.step(`another card, ${SUCCESS_CARD}, pays`, async () => {
    await pay(page, SUCCESS_CARD);
    await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
    await expect(page.locator('#confirmation-title')).toHaveText('Thank you: you are going!');
    await expect(page.locator('#booking-state')).toHaveText('Paid: this booking is confirmed.');
    await expect.poll(statuses, { timeout: 20_000 }).toBe('ss');
  });
});
