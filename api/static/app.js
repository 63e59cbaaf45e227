// The public pages' only script. Pages are cached by the edge and carry no
// user data; everything about the signed-in shopper is fetched here. The
// session is an HttpOnly cookie the browser sends by itself: this script
// never sees it, and keeps nothing about the shopper in storage.
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

function signInAddress() {
  return "/login?next=" + encodeURIComponent(location.pathname + location.search);
}

async function requireSignIn() {
  if (await account()) return true;
  location.href = signInAddress();
  return false;
}

function money(cents, currency) {
  return (cents / 100).toFixed(2) + " " + currency;
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

// --- autocomplete -----------------------------------------------------
function autocomplete() {
  const input = $("#q");
  const list = $("#suggestions");
  if (!input || !list) return;
  let timer = null;
  let seq = 0;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const typed = input.value.trim();
      const mine = ++seq;
      if (typed.length < 2) { list.textContent = ""; return; }
      const result = await api("/v1/events/suggest?q=" + encodeURIComponent(typed));
      if (mine !== seq || !result.ok) return;
      list.textContent = "";
      for (const s of result.body.suggestions || []) {
        const li = document.createElement("li");
        li.className = "suggestion";
        li.setAttribute("role", "option");
        li.tabIndex = -1;
        li.dataset.kind = s.kind;
        li.textContent = s.text;
        li.addEventListener("mousedown", (e) => {
          e.preventDefault();
          if (s.kind === "event" && s.id) { location.href = "/events/" + s.id; return; }
          input.value = s.text;
          $("#search-form").submit();
        });
        list.append(li);
      }
    }, 120);
  });
  input.addEventListener("blur", () => setTimeout(() => { list.textContent = ""; }, 200));
  const sort = $("#sort");
  if (sort) sort.addEventListener("change", () => sort.form.submit());
}

// --- seat map ---------------------------------------------------------
function decode(first, deltas, even0, evenStep, n) {
  if (deltas) {
    let acc = 0;
    return deltas.map((d) => { acc += d; return acc / 10; });
  }
  return Array.from({ length: n }, (_, i) => even0 + evenStep * i);
}

function rowSeats(row) {
  const n = row.status.length;
  const ids = row.seat_ids || Array.from({ length: n }, (_, i) => row.first_seat_id + i);
  const numbers = row.numbers || Array.from({ length: n }, (_, i) => row.first_number + i);
  const xs = decode(null, row.dxs, row.x0, row.dx || 0, n);
  const ys = row.dys ? decode(null, row.dys, 0, 0, n) : Array(n).fill(row.y);
  return ids.map((id, i) => ({ id, number: numbers[i], x: xs[i], y: ys[i], status: row.status[i] }));
}

const PALETTE = ["#1565c0", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e", "#283593"];

async function seatMap() {
  const holder = $("#seat-map");
  if (!holder) return;
  const eventId = holder.dataset.eventId;
  const selected = new Set();
  const result = await api("/v1/events/" + eventId + "/seats");
  if (!result.ok) { holder.textContent = "The seat map is unavailable right now."; return; }
  const map = result.body;
  const tierColour = {};
  (map.tiers || []).forEach((t, i) => { tierColour[t.ticket_type_id] = PALETTE[i % PALETTE.length]; });
  document.querySelectorAll(".tier-swatch").forEach((el) => {
    el.style.background = tierColour[el.dataset.tier] || "#9e9e9e";
  });
  const seats = [];
  for (const section of map.sections || []) {
    for (const row of section.rows || []) {
      for (const seat of rowSeats(row)) {
        seats.push(Object.assign(seat, { section: section.name, row: row.label, tier: section.ticket_type_id }));
      }
    }
  }
  if (seats.length === 0) { holder.textContent = "General admission: no seat map."; return; }
  const xs = seats.map((s) => s.x), ys = seats.map((s) => s.y);
  const minX = Math.min(...xs) - 10, maxX = Math.max(...xs) + 10;
  const minY = Math.min(...ys) - 10, maxY = Math.max(...ys) + 10;
  const svgNS = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNS, "svg");
  svg.setAttribute("viewBox", [minX, minY, maxX - minX, maxY - minY].join(" "));
  svg.setAttribute("role", "presentation");
  const r = Math.max(1.5, Math.min(6, (maxX - minX) / 120));
  const price = {};
  (map.tiers || []).forEach((t) => { price[t.ticket_type_id] = money(t.price_cents, t.currency); });
  const update = () => {
    $("#selection").textContent = selected.size + (selected.size === 1 ? " seat" : " seats") + " selected";
    $("#hold-selected").disabled = selected.size === 0;
  };
  for (const seat of seats) {
    const c = document.createElementNS(svgNS, "circle");
    c.setAttribute("cx", seat.x);
    c.setAttribute("cy", seat.y);
    c.setAttribute("r", r);
    c.setAttribute("class", "seat");
    c.dataset.seatId = seat.id;
    c.dataset.status = seat.status;
    if (seat.tier) c.dataset.tier = seat.tier;
    const free = seat.status === "a" && seat.tier;
    c.setAttribute("fill", free ? (tierColour[seat.tier] || "#1565c0") : "#cfd8dc");
    const label = seat.section + " row " + seat.row + " seat " + seat.number +
      (free ? ", " + (price[seat.tier] || "") : ", unavailable");
    c.setAttribute("aria-label", label);
    if (free) {
      c.setAttribute("role", "checkbox");
      c.setAttribute("aria-checked", "false");
      c.setAttribute("tabindex", "0");
      const toggle = () => {
        if (selected.has(seat.id)) selected.delete(seat.id); else selected.add(seat.id);
        const on = selected.has(seat.id);
        c.setAttribute("aria-checked", on ? "true" : "false");
        c.classList.toggle("selected", on);
        update();
      };
      c.addEventListener("click", toggle);
      c.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); toggle(); }
      });
    }
    svg.append(c);
  }
  holder.textContent = "";
  holder.append(svg);
  update();
  $("#hold-selected").addEventListener("click", () => {
    hold({ event_id: Number(eventId), seat_ids: Array.from(selected) });
  });
}

async function hold(body) {
  if (!(await requireSignIn())) return;
  const error = $("#hold-error");
  error.textContent = "";
  const result = await api("/v1/bookings", {
    method: "POST",
    headers: { "Idempotency-Key": crypto.randomUUID() },
    body,
  });
  if (result.ok) { location.href = "/checkout/" + result.body.booking_id; return; }
  if (result.status === 401) { location.href = signInAddress(); return; }
  error.textContent = problemText(result);
}

function bestAvailable() {
  const button = $("#hold-best");
  if (!button) return;
  const eventId = Number($("#event").dataset.eventId);
  button.addEventListener("click", () => {
    const tier = $("#best-tier");
    const option = tier.options[tier.selectedIndex];
    const quantity = Number($("#best-quantity").value) || 1;
    const ticketType = Number(tier.value);
    if (option && option.dataset.kind === "general_admission") {
      hold({ event_id: eventId, ticket_type_id: ticketType, quantity });
    } else {
      hold({ event_id: eventId, best_available: { ticket_type_id: ticketType, quantity } });
    }
  });
}

// --- checkout, confirmation, tickets -----------------------------------
function describe(booking) {
  const items = (booking.items || []).map((i) =>
    i.seat ? (i.seat.section + " row " + i.seat.row + " seat " + i.seat.number) : (i.quantity + " × " + i.ticket_type));
  return items.length + " ticket" + (items.length === 1 ? "" : "s") +
    (items.length ? " (" + items.join(", ") + ")" : "") + ", " + money(booking.total_cents, booking.currency);
}

async function checkout() {
  const section = $("#checkout");
  if (!section || !(await requireSignIn())) return;
  const id = section.dataset.bookingId;
  const result = await api("/v1/bookings/" + id);
  if (!result.ok) { $("#booking-summary").textContent = problemText(result); return; }
  const booking = result.body;
  $("#booking-summary").textContent = describe(booking);
  const expires = new Date(booking.expires_at).getTime();
  const countdown = $("#countdown");
  const tick = () => {
    const left = Math.max(0, Math.round((expires - Date.now()) / 1000));
    countdown.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    if (left === 0) { $("#pay").disabled = true; $("#pay-error").textContent = "Your hold has expired."; }
  };
  tick();
  setInterval(tick, 1000);
  $("#pay-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#pay").disabled = true;
    $("#pay-error").textContent = "";
    const paid = await api("/v1/bookings/" + id + "/confirm", {
      method: "POST",
      body: { payment: { card_number: $("#card-number").value } },
    });
    if (paid.ok && paid.body.status === "confirmed") { location.href = "/confirmation/" + id; return; }
    $("#pay-error").textContent = problemText(paid) + " Your seats have been released.";
  });
}

async function confirmation() {
  const section = $("#confirmation");
  if (!section || !(await requireSignIn())) return;
  const result = await api("/v1/bookings/" + section.dataset.bookingId);
  section.textContent = result.ok
    ? "Booking " + result.body.status + ": " + describe(result.body)
    : problemText(result);
}

async function tickets() {
  const list = $("#tickets");
  if (!list || !(await requireSignIn())) return;
  const result = await api("/v1/me/tickets");
  if (!result.ok) { list.textContent = problemText(result); return; }
  const all = Array.isArray(result.body) ? result.body : [];
  $("#no-tickets").hidden = all.length > 0;
  for (const t of all) {
    const li = document.createElement("li");
    li.className = "ticket";
    const item = t.item || {};
    const seat = item.seat
      ? (item.seat.section + " row " + item.seat.row + " seat " + item.seat.number)
      : (item.quantity + " × " + (item.ticket_type || "General admission"));
    li.textContent = (t.event_title || ("Event " + t.event_id)) + " · " + seat;
    list.append(li);
  }
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

document.addEventListener("DOMContentLoaded", () => {
  signinState();
  autocomplete();
  seatMap();
  bestAvailable();
  checkout();
  confirmation();
  tickets();
  accounts();
});
