// Strong customer authentication at checkout: the sandbox's challenge card
// (4000 0027 6000 3184) makes the "bank" ask before it decides (3-D Secure
// style). The checkout shows the bank's challenge as a modal dialog; the
// sandbox's bank is answered with Approve or Deny. Every expectation reads
// what the page says; the amount is formatted here, independently, with
// Node's own Intl from the booking's minor units. Screenshots of the
// challenge at desktop and phone size are kept under artifacts/.
import AxeBuilder from '@axe-core/playwright';
import { Page, TestInfo, expect, test } from '@playwright/test';
import {
  demoUser,
  findBookableEvent,
  holdSelected,
  pay,
  pickAvailableSeats,
  saveScreenshot,
  seatStatuses,
  selectSeats,
  signIn,
} from '../lib/helpers';
import { expectedMoney } from '../lib/expected';

const CHALLENGE_CARD = '4000 0027 6000 3184';
const SIZES = {
  desktop: { width: 1280, height: 900 },
  phone: { width: 390, height: 844 },
} as const;

/** Holds two seats of a bookable event as `user`; the booking as JSON. */
async function holdTwo(page: Page, request: Parameters<typeof findBookableEvent>[0], user: number) {
  const target = await findBookableEvent(request, { minSeats: 2 });
  await signIn(page, demoUser(user), `/events/${target.id}`);
  await expect(page.locator('h1#event-title')).toHaveText(target.title);
  const seats = await pickAvailableSeats(page, 2);
  await selectSeats(page, seats);
  const bookingId = await holdSelected(page);
  const booking = await page.evaluate(
    async (id) => (await fetch(`/v1/bookings/${id}`, { headers: { Accept: 'application/json' } })).json(),
    bookingId,
  );
  const statuses = async () => {
    const map = await seatStatuses(request, target.id);
    return seats.map((id) => map.get(Number(id))?.status).join('');
  };
  return { target, seats, bookingId, booking, statuses };
}

/** Pays with the challenge card; checks what the bank's dialog says. */
async function meetTheChallenge(page: Page, testInfo: TestInfo, booking: any, shot: string) {
  await pay(page, CHALLENGE_CARD);
  const dialog = page.getByRole('dialog', { name: 'Your bank wants to confirm this payment' });
  await expect(dialog).toBeVisible();
  await expect(dialog.locator('#challenge-text')).toHaveText(
    `Approve a payment of ${expectedMoney(booking.total_cents, booking.currency)} to Ticketing for ${booking.event_title}?`,
  );
  await expect(dialog.getByRole('button', { name: 'Approve' })).toBeFocused();
  await expect(page.locator('#hold-state')).toHaveText('Your seats are held. Pay before the time runs out.');
  const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = results.violations.filter((v) => v.impact === 'critical' || v.impact === 'serious').map((v) => `${v.id}: ${v.help}`);
  expect(bad, 'axe on the challenge dialog').toEqual([]);
  await saveScreenshot(page, testInfo, shot);
  return dialog;
}

test('the challenge card: the bank asks, the shopper approves, the booking is paid', async ({ page, request }, testInfo) => {
  await page.setViewportSize(SIZES.desktop);
  const { bookingId, booking, statuses } = await holdTwo(page, request, 3);

  const dialog = await test.step(`pay with ${CHALLENGE_CARD}: the bank's challenge`, () =>
    meetTheChallenge(page, testInfo, booking, 'checkout-challenge-desktop'),
  );
  await test.step('closed with Escape, nothing is charged and Pay opens the same challenge again', async () => {
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(page.locator('#pay-error')).toHaveText(
      "You closed your bank's check, so nothing was charged yet. Press Pay to open it again.",
    );
    await expect.poll(statuses, { timeout: 20_000 }).toBe('hh');
    await page.locator('#pay').click();
    await expect(dialog).toBeVisible();
  });
  await test.step('approve: paid and confirmed', async () => {
    await dialog.getByRole('button', { name: 'Approve' }).click();
    await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
    await expect(page.locator('#confirmation-title')).toHaveText('Thank you: you are going!');
    await expect(page.locator('#booking-state')).toHaveText('Paid: this booking is confirmed.');
    await expect.poll(statuses, { timeout: 20_000 }).toBe('ss');
  });
});

test('the challenge card: the shopper denies, it is a decline, and the seats stay held for another card', async ({ page, request }, testInfo) => {
  await page.setViewportSize(SIZES.phone);
  const { booking, statuses } = await holdTwo(page, request, 4);

  const dialog = await test.step(`pay with ${CHALLENGE_CARD}: the bank's challenge`, () =>
    meetTheChallenge(page, testInfo, booking, 'checkout-challenge-phone'),
  );
  await test.step('a reload mid-challenge shows the same challenge', async () => {
    await page.reload();
    await expect(dialog).toBeVisible();
  });
  await test.step('deny: declined, in words, once; the seats stay held', async () => {
    await dialog.getByRole('button', { name: 'Deny' }).click();
    await expect(dialog).toBeHidden();
    await expect(page.locator('#pay-error')).toHaveText(
      'Your bank did not confirm the payment, so nothing was charged. Your seats are still held: try another card.',
    );
    await expect(page.locator('#hold-state')).toHaveText('Your seats are held. Pay before the time runs out.');
    await expect(page.locator('#pay')).toBeEnabled();
    await expect(page.locator('#card-number')).toHaveValue('');
    await expect(page.locator('#card-number')).toBeFocused();
    await expect.poll(statuses, { timeout: 20_000 }).toBe('hh');
    await saveScreenshot(page, testInfo, 'checkout-challenge-denied-phone');
  });
});
