// The public pages' main script. Pages are cached by the edge and carry no
// user data; everything about the signed-in shopper is fetched here. The
// session is an HttpOnly cookie the browser sends by itself: this script
// never sees it, and keeps nothing about the shopper in storage. (A seat
// selection made before signing in survives the sign-in in the address the
// sign-in returns to, never in storage.)
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);

async function api(path, options = {}) {
  const headers = Object.assign({ "Accept": "application/json" }, options.headers || {});
  if (options.body && typeof options.body !== "string") {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(options.body);
  }
  let response;
  try {
    response = await fetch(path, Object.assign({ credentials: "same-origin" }, options, { headers }));
  } catch (_) {
    return { ok: false, status: 0, body: { detail: "The network is unreachable. Check your connection and try again." }, headers: new Headers() };
  }
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  return { ok: response.ok, status: response.status, body, headers: response.headers };
}

function problemText(result) {
  const b = result.body || {};
  if (result.status === 429) {
    const wait = Number(result.headers.get("Retry-After")) || 0;
    return "Too many attempts. Try again in " + (wait > 1 ? wait + " seconds." : "a moment.");
  }
  const text = b.detail || b.title || ("Request failed (" + result.status + ")");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// Who is signed in: asked once per page, after load.
let accountAnswer = null;
function account() {
  if (!accountAnswer) {
    accountAnswer = api("/v1/account").then((r) => (r.ok ? r.body : null));
  }
  return accountAnswer;
}

function signInAddress(back) {
  return "/login?next=" + encodeURIComponent(back || (location.pathname + location.search));
}

async function requireSignIn(back) {
  if (await account()) return true;
  location.href = signInAddress(back);
  return false;
}

// --- money and time -------------------------------------------------------
// Prices are integers in the currency's minor unit; the number of digits
// and the symbol come from the browser's CLDR data (Intl), never from
// string concatenation: "$115.99", "£82.99", "¥1,500".
const moneyFormats = new Map();
function money(minor, currency) {
  if (!moneyFormats.has(currency)) {
    let format = null;
    try { format = new Intl.NumberFormat("en", { style: "currency", currency }); } catch (_) { format = null; }
    moneyFormats.set(currency, format);
  }
  const format = moneyFormats.get(currency);
  if (!format) return (minor / 100).toFixed(2) + " " + currency;
  return format.format(minor / Math.pow(10, format.resolvedOptions().maximumFractionDigits));
}

// The zone's short name at that moment, as the tz database (and the
// server's chrono-tz) writes it: "EST", "BST", "CEST", "AEDT", and where the
// zone has no letters its offset, "-03". CLDR knows the letters under
// different English locales, so several are asked.
const ZONE_LOCALES = ["en-US", "en-GB", "en-AU", "en-IE", "en-IN"];
function zoneName(date, zone) {
  let offset = "";
  for (const locale of ZONE_LOCALES) {
    const part = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: "short" })
      .formatToParts(date).find((p) => p.type === "timeZoneName");
    if (!part) continue;
    if (!/^(GMT|UTC)[+-]/.test(part.value)) return part.value;
    offset = offset || part.value;
  }
  // "GMT-3" -> "-03", "GMT+5:30" -> "+0530".
  const m = /^(?:GMT|UTC)([+-])(\d{1,2})(?::(\d\d))?$/.exec(offset);
  return m ? m[1] + m[2].padStart(2, "0") + (m[3] || "") : offset;
}

// An instant in the venue's zone, as the server writes it:
// "Sat 12 Dec 2026, 19:15 EST"; `timeOnly` gives "19:15".
function localTime(iso, zone, timeOnly) {
  const date = new Date(iso);
  const timeZone = zone || "UTC";
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone, weekday: "short", day: "numeric", month: "short", year: "numeric",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(date);
  const get = (type) => (parts.find((p) => p.type === type) || {}).value || "";
  const time = get("hour") + ":" + get("minute");
  if (timeOnly) return time;
  return get("weekday") + " " + get("day") + " " + get("month") + " " + get("year") + ", " + time + " " + zoneName(date, timeZone);
}

function node(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") n.className = v; else if (k === "text") n.textContent = v; else n.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) n.append(c);
  return n;
}

// --- header -----------------------------------------------------------
async function signinState() {
  const slot = $("#signin");
  if (!slot) return;
  const me = await account();
  slot.textContent = "";
  if (me) {
    slot.append("Signed in as " + me.email + " ");
    const out = document.createElement("button");
    out.id = "sign-out";
    out.type = "button";
    out.textContent = "Sign out";
    out.addEventListener("click", async () => {
      out.disabled = true;
      // Nothing of the shopper's stays on screen, not even while signing out.
      const main = $("main");
      if (main) main.textContent = "";
      slot.textContent = "Signing out…";
      await api("/v1/sessions/current", { method: "DELETE" });
      // A fresh page: nothing of the shopper's stays on screen.
      location.replace("/");
    });
    slot.append(out);
  } else {
    const a = document.createElement("a");
    a.id = "sign-in";
    a.href = signInAddress();
    a.textContent = "Sign in";
    slot.append(a);
  }
}

// --- autocomplete: the ARIA combobox pattern ---------------------------------
function autocomplete() {
  const input = $("#q");
  const list = $("#suggestions");
  if (!input || !list) return;
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-expanded", "false");
  let timer = null;
  let seq = 0;
  let active = -1;
  let items = [];
  const close = () => {
    list.textContent = "";
    items = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  };
  const highlight = (i) => {
    active = i;
    items.forEach((li, j) => li.setAttribute("aria-selected", j === i ? "true" : "false"));
    if (i >= 0) input.setAttribute("aria-activedescendant", items[i].id);
    else input.removeAttribute("aria-activedescendant");
  };
  const choose = (s) => {
    if (s.kind === "event" && s.id) { location.href = "/events/" + s.id; return; }
    input.value = s.text;
    close();
    $("#search-form").submit();
  };
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typed = input.value.trim();
      const mine = ++seq;
      if (typed.length < 2) { close(); return; }
      const result = await api("/v1/events/suggest?q=" + encodeURIComponent(typed));
      if (mine !== seq || !result.ok) return;
      close();
      (result.body.suggestions || []).forEach((s, i) => {
        const kind = { event: "Event", performer: "Artist", venue: "Venue", city: "City" }[s.kind] || s.kind;
        const li = node("li", { class: "suggestion", role: "option", id: "suggestion-" + i, "aria-selected": "false" },
          node("span", { class: "suggestion-text", text: s.text }),
          node("span", { class: "suggestion-kind", text: kind + (s.country ? " · " + s.country : "") }));
        // An event says when (the venue's local date and time) and where,
        // so look-alike titles can be told apart.
        if (s.kind === "event" && s.starts_at) {
          li.append(node("span", { class: "suggestion-when", text: localTime(s.starts_at, s.timezone) + (s.city ? " · " + s.city : "") }));
        }
        li.dataset.kind = s.kind;
        li.addEventListener("mousedown", (e) => { e.preventDefault(); choose(s); });
        li.suggestion = s;
        items.push(li);
        list.append(li);
      });
      input.setAttribute("aria-expanded", items.length ? "true" : "false");
    }, 120);
  });
  input.addEventListener("keydown", (e) => {
    if (!items.length) return;
    if (e.key === "ArrowDown") { e.preventDefault(); highlight((active + 1) % items.length); }
    else if (e.key === "ArrowUp") { e.preventDefault(); highlight(active <= 0 ? items.length - 1 : active - 1); }
    else if (e.key === "Enter" && active >= 0) { e.preventDefault(); choose(items[active].suggestion); }
    else if (e.key === "Escape") { e.preventDefault(); close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  const sort = $("#sort");
  if (sort) sort.addEventListener("change", () => sort.form.submit());
}

// --- the search page's display currency -----------------------------------
// "Prices in" submits on change and is remembered. A search that names no
// currency and no price range switches once to the remembered currency, or
// else to the one of the browser's region (each option lists the countries
// using it), when that differs from the server's default.
function currencyChoice() {
  const select = $("#currency");
  if (!select) return;
  const remember = (code) => { try { localStorage.setItem("currency", code); } catch { /* private mode */ } };
  select.addEventListener("change", () => { remember(select.value); select.form.submit(); });
  const url = new URL(location.href);
  if (["currency", "min_price", "max_price"].some((k) => url.searchParams.has(k))) return;
  let wanted = null;
  try { wanted = localStorage.getItem("currency"); } catch { /* private mode */ }
  if (!wanted) {
    let region = null;
    try { region = new Intl.Locale(navigator.language).maximize().region; } catch { /* no Intl.Locale */ }
    const match = region && [...select.options].find((o) => (o.dataset.regions || "").split(" ").includes(region));
    wanted = match ? match.value : null;
  }
  if (!wanted || wanted === select.value || ![...select.options].some((o) => o.value === wanted)) return;
  url.searchParams.set("currency", wanted);
  location.replace(url);
}

// --- the event page: seat map, best available, general admission ------------
let seatMap = null;

function chosenList(seats) {
  const list = $("#chosen");
  const total = $("#chosen-total");
  const button = $("#hold-selected");
  if (!list) return;
  list.textContent = "";
  let sum = 0;
  let currency = null;
  for (const seat of seats) {
    const tier = seat.section.tier;
    sum += tier ? tier.price_cents : 0;
    currency = tier ? tier.currency : currency;
    list.append(node("li", { class: "chosen-seat", "data-seat-id": String(seat.id) },
      sectionName(seat.section.name) + ", row " + seat.row + ", seat " + seat.number + " · " + (seat.price || "")));
  }
  $("#selection").textContent = seats.length + (seats.length === 1 ? " seat" : " seats") + " selected";
  total.textContent = seats.length && currency ? "Total " + money(sum, currency) : "";
  button.disabled = seats.length === 0;
}

async function eventPage() {
  const holder = $("#seat-map");
  if (holder) {
    seatMap = new SeatMap(holder, { money, onChange: chosenList });
    try {
      await seatMap.load();
      // The ticket list's swatches take the map's colours.
      document.querySelectorAll(".tier-swatch[data-tier]").forEach((swatch) => {
        const tier = seatMap.tiers.get(Number(swatch.dataset.tier));
        if (tier) swatch.style.background = tier.colour;
      });
    } catch (_) {
      holder.textContent = "The seat map is unavailable right now. You can still let us pick the best available seats.";
    }
    await restoreSelection();
    $("#hold-selected").addEventListener("click", () => {
      const seats = [...seatMap.selected.values()];
      const section = seats.length ? seats[0].section.section_id : "";
      hold({ event_id: Number(holder.dataset.eventId), seat_ids: seats.map((s) => s.id) },
        "?section=" + section + "&seats=" + seats.map((s) => s.id).join(","));
    });
  }
  bestAvailable();
  generalAdmission();
}

// A selection made before signing in comes back in the address.
async function restoreSelection() {
  const params = new URLSearchParams(location.search);
  const section = Number(params.get("section"));
  const ids = (params.get("seats") || "").split(",").map(Number).filter((n) => n > 0);
  if (!section || !ids.length || !seatMap.sections.has(section)) return;
  await seatMap.zoomTo(section);
  seatMap.select(ids);
  const kept = seatMap.selected.size;
  $("#hold-error").textContent = kept === ids.length
    ? "We kept your selection. Hold the seats when you are ready."
    : "Some of the seats you chose were taken meanwhile; " + kept + " of " + ids.length + " are still yours to hold.";
  history.replaceState(null, "", location.pathname);
}

async function hold(body, keep) {
  const back = location.pathname + (keep || "");
  if (!(await requireSignIn(back))) return;
  const error = $("#hold-error");
  error.textContent = "";
  const result = await api("/v1/bookings", {
    method: "POST",
    headers: { "Idempotency-Key": crypto.randomUUID() },
    body,
  });
  if (result.ok) { location.href = "/checkout/" + result.body.booking_id; return; }
  if (result.status === 401) { location.href = signInAddress(back); return; }
  error.textContent = problemText(result);
  const taken = (result.body && result.body.unavailable_seat_ids) || [];
  if (seatMap && taken.length) {
    // The seats went to someone else: drop them from the choice and show
    // the section as it is now.
    seatMap.clear(taken);
    for (const id of taken) seatMap.applyStatus(id, "h");
    const sections = new Set(taken.map((id) => seatMap.seats.get(id)).filter(Boolean).map((s) => s.section.section_id));
    for (const id of sections) seatMap.refreshSection(id);
  }
}

function bestAvailable() {
  const button = $("#hold-best");
  if (!button) return;
  const eventId = Number($("#event").dataset.eventId);
  button.addEventListener("click", () => {
    const quantity = Number($("#best-quantity").value) || 1;
    const accessible = Boolean(($("#best-accessible") || {}).checked);
    hold({ event_id: eventId, best_available: { ticket_type_id: Number($("#best-tier").value), quantity, accessible } });
  });
}

function generalAdmission() {
  const eventId = Number(($("#event") || { dataset: {} }).dataset.eventId);
  const params = new URLSearchParams(location.search);
  document.querySelectorAll("form.ga-form").forEach((form) => {
    const type = Number(form.dataset.ticketTypeId);
    const select = form.querySelector("select");
    if (Number(params.get("ga")) === type && select) {
      select.value = params.get("quantity") || select.value;
      $("#hold-error").textContent = "We kept your choice. Press Get tickets when you are ready.";
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const quantity = Number(select.value) || 1;
      hold({ event_id: eventId, ticket_type_id: type, quantity }, "?ga=" + type + "&quantity=" + quantity);
    });
  });
}

// --- checkout, confirmation, tickets -----------------------------------------
// Seats are named as the seat map names them (`sectionName`, seatmap.js:
// "Section 105" for a numbered section, "Orchestra" for a named one).

// One line of a booking as a shopper reads it: "Section 101, row C, seat 12"
// or "3 × Floor Standing".
function itemText(item) {
  return item.seat
    ? sectionName(item.seat.section) + ", row " + item.seat.row + ", seat " + item.seat.number
    : item.quantity + " × " + item.ticket_type;
}

function itemPrice(item, currency) {
  return item.quantity > 1
    ? money(item.unit_price_cents * item.quantity, currency) + " (" + money(item.unit_price_cents, currency) + " each)"
    : money(item.unit_price_cents, currency);
}

// A booking's event, local time, venue, lines and total.
function bookingCard(b, opts = {}) {
  const card = node("article", { class: "booking", "data-booking-id": b.booking_id, "data-status": b.status });
  const title = opts.link
    ? node("a", { href: "/events/" + b.event_id, class: "event-link", text: b.event_title })
    : b.event_title;
  card.append(
    node("h2", { class: "booking-event" }, title),
    node("p", { class: "booking-when" }, node("time", { datetime: b.event_starts_at, text: localTime(b.event_starts_at, b.venue_timezone) })),
    node("p", { class: "booking-venue", text: b.venue + ", " + b.city }),
  );
  const list = node("ul", { class: "booking-items" });
  for (const item of b.items || []) {
    list.append(node("li", { class: "ticket" }, node("span", { class: "what", text: itemText(item) }), " · ", node("span", { class: "price", text: itemPrice(item, b.currency) })));
  }
  const count = (b.items || []).reduce((n, i) => n + i.quantity, 0);
  card.append(list, node("p", { class: "booking-total", text: count + (count === 1 ? " ticket" : " tickets") + " · Total " + money(b.total_cents, b.currency) }));
  return card;
}

// What each state of a booking says, and whether it can still be paid.
const BOOKING_STATES = {
  in_process: { text: "Your seats are held. Pay before the time runs out.", pay: true },
  payment_pending: { text: "Your seats are held. Pay before the time runs out.", pay: true },
  confirmed: { text: "Paid: this booking is confirmed.", pay: false },
  rejected: { text: "This booking was not paid: the card was declined and the seats were released.", pay: false },
  cancelled: { text: "This booking was cancelled and its seats released.", pay: false },
  expired: { text: "The hold ran out before payment, so the seats were released.", pay: false },
};

// The sandbox's and every card network's check digit (ISO/IEC 7812), so
// a mistyped number is caught here, before anything is sent.
function cardProblem(value) {
  if (/[^\d\s-]/.test(value)) return "Use digits only (spaces are fine).";
  const digits = value.replace(/\D/g, "");
  if (digits.length < 12 || digits.length > 19) return "A card number has 12 to 19 digits.";
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = Number(digits[digits.length - 1 - i]);
    if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
    sum += d;
  }
  return sum % 10 === 0 ? null : "That card number is not valid: a digit may be mistyped.";
}

// How long before the hold runs out the shopper is warned.
const EXPIRY_WARNING_SECONDS = 120;

async function checkout() {
  const section = $("#checkout");
  if (!section || !(await requireSignIn())) return;
  const id = section.dataset.bookingId;
  const result = await api("/v1/bookings/" + id);
  if (!result.ok) { $("#booking-summary").textContent = problemText(result); return; }
  let booking = result.body;
  const form = $("#pay-form");
  const card = $("#card-number");
  const cardError = $("#card-number-error");
  const payError = $("#pay-error");
  const other = $("#other-seats");
  const challenge = $("#challenge");
  other.href = "/events/" + booking.event_id;
  let timer = null;

  const show = (b, message) => {
    booking = b;
    $("#booking-summary").textContent = "";
    $("#booking-summary").append(bookingCard(b));
    const state = BOOKING_STATES[b.status] || { text: "This booking is " + b.status + ".", pay: false };
    $("#hold-state").textContent = message || state.text;
    $("#hold-state").dataset.status = b.status;
    form.hidden = !state.pay;
    $("#hold-timer").hidden = !state.pay;
    $("#cancel-hold").hidden = !state.pay;
    $("#test-cards").hidden = !state.pay;
    other.hidden = state.pay || b.status === "confirmed";
    if (b.status === "confirmed") {
      $("#checkout-title").textContent = "Paid";
      const tickets = node("a", { id: "see-tickets", href: "/confirmation/" + b.booking_id, text: "See your confirmation" });
      $("#hold-state").append(" ", tickets);
    }
    if (!state.pay) {
      clearInterval(timer);
      $("#expiry-warning").hidden = true;
      if (challenge.open) challenge.close();
    }
  };

  const expires = () => new Date(booking.expires_at).getTime();
  const tick = () => {
    const left = Math.max(0, Math.round((expires() - Date.now()) / 1000));
    $("#countdown").textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    const warning = $("#expiry-warning");
    if (left > 0 && left <= EXPIRY_WARNING_SECONDS && warning.hidden) {
      warning.textContent = "Hurry: your seats are held for less than " + Math.ceil(left / 60) + (left > 60 ? " minutes" : " minute") + " more.";
      warning.hidden = false;
    }
    if (left === 0) {
      warning.hidden = true;
      show(Object.assign({}, booking, { status: "expired" }));
    }
  };
  show(booking);
  if (BOOKING_STATES[booking.status] && BOOKING_STATES[booking.status].pay) {
    tick();
    timer = setInterval(tick, 1000);
  }

  card.addEventListener("input", () => {
    if (card.getAttribute("aria-invalid")) { card.removeAttribute("aria-invalid"); cardError.textContent = ""; }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    payError.textContent = "";
    const problem = cardProblem(card.value);
    if (problem) {
      card.setAttribute("aria-invalid", "true");
      cardError.textContent = problem;
      card.focus();
      return;
    }
    const pay = $("#pay");
    pay.disabled = true;
    pay.textContent = "Paying…";
    const paid = await api("/v1/bookings/" + id + "/confirm", {
      method: "POST",
      body: { payment: { card_number: card.value } },
    });
    pay.disabled = false;
    pay.textContent = "Pay";
    if (paid.status === 400 && paid.body && paid.body.field === "payment.card_number") {
      card.setAttribute("aria-invalid", "true");
      cardError.textContent = problemText(paid);
      card.focus();
      return;
    }
    await settled(paid, false);
  });

  // What a payment (or the answer to the bank's challenge) led to: paid,
  // the bank's challenge (202), or a decline, said once in words.
  const settled = async (result, byBank) => {
    if (result.ok && result.body.status === "confirmed") { location.href = "/confirmation/" + id; return; }
    if (result.status === 202 && result.body && result.body.challenge) {
      askBank(result.body.challenge, result.body.booking);
      return;
    }
    const code = result.body && result.body.code;
    // Whatever happened, show the booking as it now is.
    const now = await api("/v1/bookings/" + id);
    const current = now.ok ? now.body : booking;
    const why = byBank ? "Your bank did not confirm the payment" : "Your card was declined";
    if (code === "payment_declined" && BOOKING_STATES[current.status] && BOOKING_STATES[current.status].pay) {
      card.value = "";
      payError.textContent = why + ", so nothing was charged. Your seats are still held: try another card.";
      card.focus();
      return;
    }
    show(current, code === "payment_declined"
      ? (byBank ? why + " and that was the last attempt" : why + " again") + ", so nothing was charged and the seats were released. You can choose seats again."
      : problemText(result));
  };

  // Strong customer authentication (3-D Secure): the bank's challenge in a
  // modal dialog, as a gateway shows it. The sandbox's bank asks to
  // approve or deny; closing it (Escape) leaves the challenge waiting, and
  // Pay opens it again (the booking service answers with the same one).
  const askBank = (ch, b) => {
    if (b) booking = b;
    challenge.dataset.challengeId = ch.challenge_id;
    $("#challenge-text").textContent = "Approve a payment of " + money(booking.total_cents, booking.currency) +
      " to Ticketing for " + booking.event_title + "?";
    $("#challenge-error").textContent = "";
    if (!challenge.open) challenge.showModal();
    $("#challenge-approve").focus();
  };
  const answerBank = async (response) => {
    const buttons = [$("#challenge-approve"), $("#challenge-deny")];
    for (const b of buttons) b.disabled = true;
    const answered = await api("/v1/bookings/" + id + "/challenge", {
      method: "POST",
      body: { challenge_id: challenge.dataset.challengeId, response },
    });
    for (const b of buttons) b.disabled = false;
    if (answered.status === 0 || answered.status === 429 || answered.status >= 500) {
      $("#challenge-error").textContent = problemText(answered);
      return;
    }
    challenge.close();
    await settled(answered, true);
  };
  $("#challenge-approve").addEventListener("click", () => answerBank("approve"));
  $("#challenge-deny").addEventListener("click", () => answerBank("deny"));
  challenge.addEventListener("cancel", () => {
    payError.textContent = "You closed your bank's check, so nothing was charged yet. Press Pay to open it again.";
  });
  if (booking.payment_challenge && BOOKING_STATES[booking.status] && BOOKING_STATES[booking.status].pay) {
    askBank(booking.payment_challenge);
  }

  $("#cancel-hold").addEventListener("click", async () => {
    const button = $("#cancel-hold");
    button.disabled = true;
    const cancelled = await api("/v1/bookings/" + id + "/cancel", { method: "POST", body: {} });
    button.disabled = false;
    if (cancelled.ok) { show(cancelled.body, "You cancelled this hold; the seats are released for others."); return; }
    payError.textContent = problemText(cancelled);
  });
}

async function confirmation() {
  const section = $("#confirmation");
  if (!section || !(await requireSignIn())) return;
  const result = await api("/v1/bookings/" + section.dataset.bookingId);
  section.textContent = "";
  if (!result.ok) { section.textContent = problemText(result); return; }
  const b = result.body;
  const state = BOOKING_STATES[b.status] || { text: "This booking is " + b.status + "." };
  $("#confirmation-title").textContent = b.status === "confirmed" ? "Thank you: you are going!" : "Booking not completed";
  section.append(node("p", { id: "booking-state", "data-status": b.status, text: state.text }), bookingCard(b, { link: true }));
  if (state.pay) section.append(node("p", {}, node("a", { href: "/checkout/" + b.booking_id, text: "Go back to the payment" })));
}

async function tickets() {
  const list = $("#tickets");
  if (!list || !(await requireSignIn())) return;
  const result = await api("/v1/me/tickets");
  if (!result.ok) { list.textContent = problemText(result); return; }
  const all = Array.isArray(result.body) ? result.body : [];
  $("#no-tickets").hidden = all.length > 0;
  // One card per booking, in the order the service lists them (by date).
  const bookings = new Map();
  for (const t of all) {
    if (!bookings.has(t.booking_id)) {
      bookings.set(t.booking_id, {
        booking_id: t.booking_id, status: "confirmed", event_id: t.event_id, event_title: t.event_title,
        event_starts_at: t.event_starts_at, venue: t.venue, city: t.city, venue_timezone: t.venue_timezone,
        currency: t.currency, items: [], total_cents: 0,
      });
    }
    const b = bookings.get(t.booking_id);
    b.items.push(t);
    b.total_cents += t.unit_price_cents * t.quantity;
  }
  for (const b of bookings.values()) list.append(bookingCard(b, { link: true }));
}

// --- accounts -----------------------------------------------------------
function nextPage() {
  const next = new URLSearchParams(location.search).get("next");
  // Only a path on this site: never an address elsewhere ("//host" included).
  return next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

// Shows a problem on the form: under the field it names, or for the form.
function showProblem(form, result) {
  form.querySelectorAll(".field-error, .form-error").forEach((el) => { el.textContent = ""; });
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  const field = result.body && result.body.field;
  const input = field && form.querySelector("#" + CSS.escape(field));
  const slot = input ? form.querySelector("#" + CSS.escape(field) + "-error") : null;
  if (slot) {
    input.setAttribute("aria-invalid", "true");
    slot.textContent = problemText(result);
    input.focus();
  } else {
    form.querySelector(".form-error").textContent = problemText(result);
  }
}

function accountForm(id, send) {
  const form = $(id);
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    try {
      const values = Object.fromEntries(new FormData(form));
      await send(form, values);
    } finally {
      submit.disabled = false;
    }
  });
}

// Takes the one-time token of a mail's link out of the address bar.
function linkToken() {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  if (token) history.replaceState(null, "", location.pathname);
  return token;
}

function accounts() {
  accountForm("#signin-form", async (form, values) => {
    if (!values.totp_code) delete values.totp_code;
    const result = await api("/v1/web/sessions", { method: "POST", body: values });
    if (result.ok) { location.href = nextPage(); return; }
    if (result.body && result.body.code === "totp_required") {
      // The password was right; the account has a second factor.
      $("#totp-field").hidden = false;
      showProblem(form, { status: 401, body: { field: "totp_code", detail: "Enter the code from your authenticator app." }, headers: result.headers });
      return;
    }
    if (result.body && result.body.code === "email_not_verified") {
      form.querySelector(".form-error").textContent =
        "Confirm your address first: follow the link in the mail we sent you.";
      return;
    }
    showProblem(form, result);
  });
  accountForm("#signup-form", async (form, values) => {
    const result = await api("/v1/accounts", { method: "POST", body: values });
    if (!result.ok) { showProblem(form, result); return; }
    form.hidden = true;
    const done = $("#signup-done");
    done.textContent = "Check your inbox at " + values.email +
      ": we sent a link to confirm your address. Then sign in.";
    done.hidden = false;
  });
  accountForm("#forgot-form", async (form, values) => {
    const result = await api("/v1/password-resets", { method: "POST", body: values });
    if (!result.ok) { showProblem(form, result); return; }
    form.hidden = true;
    const done = $("#forgot-done");
    done.textContent = "If " + values.email + " has an account, a link to choose a new password is on its way. It works once.";
    done.hidden = false;
  });
  const resetForm = $("#reset-form");
  if (resetForm) {
    const token = linkToken();
    accountForm("#reset-form", async (form, values) => {
      const result = await api("/v1/password-resets/complete", {
        method: "POST",
        body: { token: token || "", password: values.password },
      });
      if (!result.ok) { showProblem(form, result); return; }
      form.hidden = true;
      $("#reset-done").hidden = false;
    });
  }
  const verify = $("#verify-status");
  if (verify) {
    const token = linkToken();
    (async () => {
      if (!token) { verify.textContent = "This link has no token: open the link from the mail again."; return; }
      const result = await api("/v1/accounts/verify", { method: "POST", body: { token } });
      verify.textContent = result.ok
        ? "Your address is confirmed. You can sign in now."
        : problemText(result);
      $("#verify-next").hidden = !result.ok;
    })();
  }
  document.querySelectorAll("button.demo-user").forEach((button) => {
    button.addEventListener("click", async () => {
      const result = await api("/v1/demo/login", { method: "POST", body: { email: button.dataset.email } });
      if (!result.ok) { $("#form-error").textContent = problemText(result); return; }
      location.href = nextPage();
    });
  });
}

// The search page's filters drawer: rendered open (the sidebar on a wide
// screen, and what works without JavaScript); closed on a phone at load so
// the results come first, and opened again if the screen becomes wide.
function filtersDrawer() {
  const drawer = document.getElementById("filters-drawer");
  if (!drawer) return;
  const narrow = window.matchMedia("(max-width: 47.99rem)");
  if (narrow.matches) drawer.open = false;
  narrow.addEventListener("change", (e) => {
    if (!e.matches) drawer.open = true;
  });
}

// The home page's "This weekend": the shopper's own coming Friday 00:00 to
// Sunday 23:59:59 in the browser's zone (this weekend from Friday to
// Sunday), as instants with their offset. The server's link says the same
// days in UTC for when this script does not run.
function weekendRange(now) {
  const day = now.getDay(); // 0 Sunday ... 6 Saturday
  const toFriday = day === 0 ? -2 : day === 6 ? -1 : 5 - day;
  const friday = new Date(now.getFullYear(), now.getMonth(), now.getDate() + toFriday, 0, 0, 0);
  const sunday = new Date(friday.getFullYear(), friday.getMonth(), friday.getDate() + 2, 23, 59, 59);
  return [friday, sunday];
}

// An instant as RFC 3339 with the browser's offset: "2026-12-11T00:00:00+01:00".
function withOffset(d) {
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const offset = -d.getTimezoneOffset();
  const sign = offset >= 0 ? "+" : "-";
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
    `${sign}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
}

function thisWeekend() {
  const link = document.getElementById("this-weekend");
  if (!link) return;
  const [friday, sunday] = weekendRange(new Date());
  const params = new URLSearchParams({ start: withOffset(friday), end: withOffset(sunday), when: "weekend", sort: "date" });
  link.href = `/search?${params}`;
}

// "Events near me": the browser's location (asked only on a click) to the
// search page ordered by distance, within 100 km. A refusal or a failure
// is said in words next to the button.
function nearMe() {
  const button = document.getElementById("near-me");
  const status = document.getElementById("near-me-status");
  if (!button || !status || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", () => {
    status.textContent = "";
    button.disabled = true;
    button.textContent = "Finding your location…";
    const done = () => { button.disabled = false; button.textContent = "Events near me"; };
    navigator.geolocation.getCurrentPosition((position) => {
      const { latitude, longitude } = position.coords;
      const params = new URLSearchParams({ lat: latitude.toFixed(4), lon: longitude.toFixed(4), radius_km: "100", sort: "distance" });
      location.href = `/search?${params}`;
    }, (error) => {
      done();
      status.textContent = error.code === error.PERMISSION_DENIED
        ? "We could not use your location: permission was denied. Allow location for this site, or search by city instead."
        : "We could not find your location right now. Try again, or search by city instead.";
    }, { timeout: 15000, maximumAge: 600000 });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  thisWeekend();
  nearMe();
  filtersDrawer();
  signinState();
  autocomplete();
  currencyChoice();
  eventPage();
  checkout();
  confirmation();
  tickets();
  accounts();
});
