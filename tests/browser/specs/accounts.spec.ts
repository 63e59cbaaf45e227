// Accounts as a shopper meets them: sign up and read the mail from the
// real SMTP server's inbox (aiosmtpd's Maildir, $MAILDIR), verify, sign in,
// buy, sign out; reset the password by mail and see the old sessions
// refused; a cross-site form post refused; and no page raising a CSP
// violation on the way.
import { BrowserContext, Page, expect, test } from '@playwright/test';
import { simpleParser } from 'mailparser';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EDGE_URL, findBookableEvent, holdSelected, pay, pickAvailableSeats, selectSeats } from '../lib/helpers';

const MAILDIR = process.env.MAILDIR;
const PASSWORD = 'cobalt-orchard-whistle-2031';
const NEW_PASSWORD = 'saffron-glacier-lantern-4417';

/** The newest mail to `to` whose subject matches, parsed by mailparser. */
async function mailTo(to: string, subject: RegExp) {
  let found: Awaited<ReturnType<typeof simpleParser>> | undefined;
  await expect
    .poll(async () => {
      for (const dir of ['new', 'cur']) {
        const folder = path.join(MAILDIR!, dir);
        if (!fs.existsSync(folder)) continue;
        for (const file of fs.readdirSync(folder).sort().reverse()) {
          const mail = await simpleParser(fs.readFileSync(path.join(folder, file)));
          const rcpt = String(mail.headers.get('x-rcptto') ?? mail.to?.toString() ?? '');
          if (rcpt.toLowerCase().includes(to.toLowerCase()) && subject.test(mail.subject ?? '')) {
            found = mail;
            return true;
          }
        }
      }
      return false;
    }, { message: `a mail to ${to} with subject ${subject}`, timeout: 20_000 })
    .toBe(true);
  return found!;
}

/** The link to `pathname` in both parts of a mail: the same in each. */
function linkIn(mail: Awaited<ReturnType<typeof simpleParser>>, pathname: string): string {
  const pattern = new RegExp(`${EDGE_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${pathname}\\?token=[A-Za-z0-9_-]+`);
  const inText = (mail.text ?? '').match(pattern)?.[0];
  const inHtml = String(mail.html ?? '').match(pattern)?.[0];
  expect(inText, `a ${pathname} link in the text part`).toBeTruthy();
  expect(inHtml, 'the same link in the HTML part').toBe(inText);
  return inText!;
}

/** Collects CSP violations (and CSP console errors) of every page of `context`. */
async function watchCsp(context: BrowserContext): Promise<string[]> {
  const violations: string[] = [];
  await context.exposeBinding('reportCspViolation', (_source, text: string) => { violations.push(text); });
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as any).reportCspViolation(`${location.pathname}: ${e.violatedDirective} blocked ${e.blockedURI}`);
    });
  });
  context.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/i.test(message.text())) {
      violations.push(message.text());
    }
  });
  return violations;
}

async function signInWithPassword(page: Page, email: string, password: string, next = '/') {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email address').fill(email);
  await page.getByLabel('Password').fill(password);
  await Promise.all([
    page.waitForURL((url) => url.pathname + url.search === next),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
  await expect(page.locator('#signin')).toContainText(`Signed in as ${email}`);
}

test.beforeAll(() => {
  test.skip(!MAILDIR, 'MAILDIR is not set: scripts/browser-test starts the SMTP server these specs read');
});

test('sign up, read the mail, verify, sign in, buy a ticket, sign out', async ({ page, context, request }) => {
  const violations = await watchCsp(context);
  const email = `shopper.${Date.now()}@example.test`;

  await test.step('sign up', async () => {
    await page.goto('/signup');
    await expect(page.locator('h1')).toHaveText('Create an account');
    await page.getByLabel('Your name').fill('Grace Hopper');
    await page.getByLabel('Email address').fill(email);
    // Too short first: the page says what is wrong, next to the field.
    await page.getByLabel('Password').fill('short');
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.locator('#password-error')).toContainText(/12/);
    await expect(page.getByLabel('Password')).toHaveAttribute('aria-invalid', 'true');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Create account' }).click();
    await expect(page.locator('#signup-done')).toHaveText(`Check your inbox at ${email}: we sent a link to confirm your address. Then sign in.`);
  });

  await test.step('signing in before verifying says to confirm the address', async () => {
    await page.goto('/login');
    await page.getByLabel('Email address').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.locator('#form-error')).toHaveText('Confirm your address first: follow the link in the mail we sent you.');
  });

  const link = await test.step('the verification mail, from the SMTP server', async () => {
    const mail = await mailTo(email, /Confirm your email address/);
    expect(mail.text).toContain('Hello Grace Hopper,');
    return linkIn(mail, '/verify-email');
  });

  await test.step('open the link: confirmed, and the token leaves the address bar', async () => {
    await page.goto(link);
    await expect(page.locator('#verify-status')).toHaveText('Your address is confirmed. You can sign in now.');
    expect(page.url()).not.toContain('token=');
    // The link works once.
    await page.goto(link);
    await expect(page.locator('#verify-status')).not.toHaveText(/confirmed/);
  });

  const target = await findBookableEvent(request, { minSeats: 1, skip: [] });
  await test.step('sign in with the password', () => signInWithPassword(page, email, PASSWORD, `/events/${target.id}`));

  await test.step('buy a seat', async () => {
    await expect(page.locator('h1#event-title')).toHaveText(target.title);
    await selectSeats(page, await pickAvailableSeats(page, 1));
    const bookingId = await holdSelected(page);
    await pay(page, '4242 4242 4242 4242');
    await page.waitForURL(new RegExp(`/confirmation/${bookingId}$`));
    await expect(page.locator('#confirmation')).toContainText(/confirmed/i);
    await page.goto('/me/tickets');
    await expect(page.locator('#tickets li.ticket')).toHaveCount(1);
    await expect(page.locator('#tickets article.booking h2')).toHaveText(target.title);
    await expect(page.locator('#tickets li.ticket')).toContainText(/^.+, row .+, seat \d+ · \D*[\d,.]+/);
  });

  await test.step('sign out: nothing personal stays on the page or in the browser', async () => {
    await page.locator('#sign-out').click();
    await page.waitForURL((url) => url.pathname === '/');
    await expect(page.locator('#sign-in')).toHaveText('Sign in');
    const html = await page.content();
    expect(html).not.toContain(email);
    expect(html).not.toContain('Grace Hopper');
    const cookies = await context.cookies();
    expect(cookies.filter((c) => /session/.test(c.name))).toEqual([]);
    expect(await page.evaluate(() => localStorage.length + sessionStorage.length)).toBe(0);
    // A personal page now asks to sign in.
    await page.goto('/me/tickets');
    await page.waitForURL(/\/login\?next=%2Fme%2Ftickets/);
  });

  expect(violations, 'CSP violations').toEqual([]);
});

test('a password reset by mail ends the sessions from before', async ({ browser, page, context, request }) => {
  const violations = await watchCsp(context);
  const email = `resetter.${Date.now()}@example.test`;
  // An account, verified through its link.
  const signup = await request.post('/v1/accounts', { data: { email, password: PASSWORD, display_name: 'Ada Reset' } });
  expect(signup.status()).toBe(202);
  await page.goto(linkIn(await mailTo(email, /Confirm your email address/), '/verify-email'));
  await expect(page.locator('#verify-status')).toHaveText(/confirmed/);

  // Signed in on another device.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await signInWithPassword(otherPage, email, PASSWORD, '/me/tickets');
  const oldCookie = (await other.cookies()).find((c) => c.name === 'session')!;
  expect((await request.get('/v1/account', { headers: { Cookie: `session=${oldCookie.value}` } })).status()).toBe(200);

  await test.step('ask for a link on the forgotten-password page', async () => {
    await page.goto('/login');
    await page.getByRole('link', { name: 'Forgot your password?' }).click();
    await page.getByLabel('Email address').fill(email);
    await page.getByRole('button', { name: 'Send the link' }).click();
    await expect(page.locator('#forgot-done')).toContainText(`If ${email} has an account`);
  });

  await test.step('follow the link and choose a new password', async () => {
    const link = linkIn(await mailTo(email, /Reset your password/), '/reset-password');
    await page.goto(link);
    expect(page.url()).not.toContain('token=');
    await page.getByLabel('New password').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await expect(page.locator('#reset-done')).toContainText('every device that was signed in is signed out');
  });

  await test.step('the other device is signed out, and only the new password works', async () => {
    await expect
      .poll(async () => (await request.get('/v1/account', { headers: { Cookie: `session=${oldCookie.value}` } })).status(), { timeout: 10_000 })
      .toBe(401);
    await otherPage.goto('/me/tickets');
    await otherPage.waitForURL(/\/login\?next=/);
    const old = await request.post('/v1/web/sessions', { data: { email, password: PASSWORD } });
    expect(old.status()).toBe(401);
    await signInWithPassword(page, email, NEW_PASSWORD, '/');
  });
  await other.close();
  expect(violations, 'CSP violations').toEqual([]);
});

test('a cross-site form post with the session is refused', async ({ page, context }) => {
  // Signed in as a demo shopper on the site...
  await page.goto('/login');
  await page.locator('#demo-users button.demo-user').first().click();
  await page.waitForURL((url) => url.pathname === '/');
  const before = await page.evaluate(async () => ((await (await fetch("/v1/me/bookings")).json()) as unknown[]).length);
  expect(before).toBeGreaterThanOrEqual(0);

  // ...then on another site, whose page posts a form to ours.
  const attacker = 'http://attacker.test';
  await context.route(`${attacker}/**`, (route) => route.fulfill({
    contentType: 'text/html',
    body: `<!doctype html><title>Win a prize</title>
      <form method="post" action="${EDGE_URL}/v1/sessions/revoke-all" enctype="text/plain">
        <input name='{"x":"' value='"}'><button id="go">Claim</button>
      </form>
      <form method="post" action="${EDGE_URL}/v1/bookings" enctype="text/plain">
        <input name='{"event_id":1,"quantity":1,"ticket_type_id":1,"x":"' value='"}'><button id="book">Book</button>
      </form>`,
  }));
  for (const button of ['#go', '#book']) {
    await page.goto(`${attacker}/`);
    const [response] = await Promise.all([page.waitForNavigation(), page.locator(button).click()]);
    expect(response, button).not.toBeNull();
    // Refused: without the session (SameSite=Strict keeps it home), and a
    // cookie-signed write from another site would be 403 anyway.
    expect([401, 403, 415], `${button}: ${response!.status()} ${await page.locator('body').innerText()}`).toContain(response!.status());
    expect(response!.headers()['content-type']).toContain('application/problem+json');
  }
  // Still signed in, and nothing was booked.
  await page.goto('/');
  await expect(page.locator('#signin')).toContainText('Signed in as');
  const after = await page.evaluate(async () => ((await (await fetch("/v1/me/bookings")).json()) as unknown[]).length);
  expect(after).toBe(before);
});
