// The seat map, for any venue size. It opens on the section overview
// (GET /v1/events/{id}/sections: outlines, prices, seats left, the stage)
// and fetches a section's seats (GET /v1/events/{id}/seats?section=ID) only
// when the shopper zooms into it, so a stadium never downloads 50,000 seats
// up front. Drawn in SVG, one group per section, seats sized to their row's
// spacing so that no two overlap: every seat drawn can be hit where it is
// drawn, at every zoom.
//
// Keyboard: Tab moves between sections on the overview, Enter zooms in;
// inside a section the arrow keys move between seats (left, right) and rows
// (up, down), Enter or Space chooses, Escape goes back to the overview.
// Seat states differ by shape as well as colour: available seats are solid
// discs, chosen seats a disc with a ring and a tick, unavailable seats a
// small hollow ring, wheelchair spaces a square.
//
// Live updates: SeatMap#applyStatus(seatId, letter) changes one seat in
// place, without a redraw (the live seat map issue feeds it).
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const PALETTE = ["#1565c0", "#2e7d32", "#6a1b9a", "#c2410c", "#00796b", "#ad1457", "#4e342e", "#283593"];
  const STATUS_WORD = { a: "available", h: "held by another shopper", s: "sold", "-": "not for sale" };

  // "Section 105" for a numbered section, "Orchestra" for a named one.
  function sectionName(name) { return /^\d/.test(name) ? "Section " + name : name; }

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.append(node);
    return node;
  }

  function decode(deltas) {
    let acc = 0;
    return deltas.map((d) => { acc += d; return acc / 10; });
  }

  // One row of the compact seat format (api/src/events/seat_map.rs).
  function rowSeats(row) {
    const n = row.status.length;
    const ids = row.seat_ids || Array.from({ length: n }, (_, i) => row.first_seat_id + i);
    const numbers = row.numbers || Array.from({ length: n }, (_, i) => row.first_number + i);
    const xs = row.dxs ? decode(row.dxs) : Array.from({ length: n }, (_, i) => row.x0 + (row.dx || 0) * i);
    const ys = row.dys ? decode(row.dys) : Array(n).fill(row.y);
    const accessible = new Set(row.accessible || []);
    return ids.map((id, i) => ({
      id, number: numbers[i], x: xs[i], y: ys[i], status: row.status[i], accessible: accessible.has(i),
    }));
  }

  class SeatMap {
    constructor(holder, options) {
      this.holder = holder;
      this.eventId = holder.dataset.eventId;
      this.money = options.money;
      this.onChange = options.onChange || (() => {});
      this.selected = new Map(); // seat id -> seat
      this.seats = new Map(); // seat id -> seat (with its element)
      this.sections = new Map(); // section id -> section (overview + rows once loaded)
      this.zoomed = null;
      this.pointers = new Map();
    }

    async load() {
      const response = await fetch("/v1/events/" + this.eventId + "/sections", { headers: { Accept: "application/json" } });
      if (!response.ok) throw new Error("overview " + response.status);
      const overview = await response.json();
      this.tiers = new Map((overview.tiers || []).map((t, i) => [t.ticket_type_id, Object.assign({ colour: PALETTE[i % PALETTE.length] }, t)]));
      this.draw(overview);
      return overview;
    }

    price(section) {
      const tier = this.tiers.get(section.ticket_type_id);
      return tier ? this.money(tier.price_cents, tier.currency) : null;
    }

    draw(overview) {
      const b = overview.bounds;
      const pad = Math.max(b.max_x - b.min_x, b.max_y - b.min_y) * 0.04 + 10;
      this.home = { x: b.min_x - pad, y: b.min_y - pad, w: b.max_x - b.min_x + 2 * pad, h: b.max_y - b.min_y + 2 * pad };
      this.holder.textContent = "";
      const toolbar = document.createElement("div");
      toolbar.className = "map-toolbar";
      toolbar.innerHTML =
        '<button type="button" id="map-zoom-in" aria-label="Zoom in">+</button>' +
        '<button type="button" id="map-zoom-out" aria-label="Zoom out">−</button>' +
        '<button type="button" id="map-overview" class="secondary">All sections</button>' +
        '<label class="map-filter"><input type="checkbox" id="map-accessible"> Wheelchair spaces only</label>' +
        '<span id="map-where" aria-live="polite"></span>';
      this.holder.append(toolbar);
      const svg = el("svg", { id: "seat-map-svg", "aria-labelledby": "map-where" });
      this.svg = svg;
      this.holder.append(svg);
      const defs = el("defs", {}, svg);
      const hatch = el("pattern", { id: "sold-out-hatch", width: 8, height: 8, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" }, defs);
      el("rect", { width: 8, height: 8, fill: "#eef1f4" }, hatch);
      el("line", { x1: 0, y1: 0, x2: 0, y2: 8, stroke: "#6b7785", "stroke-width": 3 }, hatch);
      if (overview.stage && overview.stage.length >= 3) {
        const stage = el("g", { class: "stage", "aria-hidden": "true" }, svg);
        el("polygon", { points: overview.stage.map((p) => p.join(",")).join(" ") }, stage);
        const cx = overview.stage.reduce((a, p) => a + p[0], 0) / overview.stage.length;
        const cy = overview.stage.reduce((a, p) => a + p[1], 0) / overview.stage.length;
        const label = el("text", { x: cx, y: cy, "text-anchor": "middle", "dominant-baseline": "middle", "font-size": pad * 0.9 }, stage);
        label.textContent = "Stage";
      }
      this.layer = el("g", { class: "sections" }, svg);
      for (const s of overview.sections) this.drawSection(s, pad);
      this.tooltip = document.createElement("div");
      this.tooltip.id = "seat-tooltip";
      this.tooltip.setAttribute("role", "tooltip");
      this.tooltip.hidden = true;
      this.holder.append(this.tooltip);
      this.holder.append(this.legend());
      this.wire(toolbar);
      this.setView(this.home);
      this.where("Overview: choose a section to see its seats");
      // For scripts/bench-seatmap: when the overview can take a click.
      performance.mark("seatmap-overview-ready");
    }

    drawSection(s, pad) {
      const tier = this.tiers.get(s.ticket_type_id);
      const price = this.price(s);
      const forSale = Boolean(tier) && s.available > 0;
      // The section (its outline and label) is one button; its seats are
      // a sibling group, so no control nests inside another.
      const g = el("g", { class: "section" + (forSale ? "" : " unavailable"), "data-section-id": s.section_id }, this.layer);
      const button = el("g", {
        class: "section-button",
        tabindex: 0,
        role: "button",
        "aria-label": sectionName(s.name) + ": " + (tier
          ? (s.available > 0 ? price + ", " + s.available.toLocaleString("en") + " of " + s.seats.toLocaleString("en") + " seats left" : "sold out")
          : "not for sale") + (tier && s.accessible_available > 0
          ? ", " + s.accessible_available + (s.accessible_available === 1 ? " wheelchair space" : " wheelchair spaces") + " left"
          : ""),
      }, g);
      if (!(tier && s.accessible_available > 0)) g.classList.add("no-wheelchair");
      el("polygon", {
        class: "outline",
        points: s.outline.map((p) => p.join(",")).join(" "),
        fill: forSale ? tier.colour : "url(#sold-out-hatch)",
        "fill-opacity": forSale ? 0.35 : 1,
        stroke: forSale ? tier.colour : "#6b7785",
      }, button);
      const size = Math.max(6, Math.min(s.bounds.max_x - s.bounds.min_x, s.bounds.max_y - s.bounds.min_y) * 0.28);
      const label = el("text", { class: "section-label", x: s.label[0], y: s.label[1], "text-anchor": "middle", "dominant-baseline": "middle", "font-size": Math.min(size, pad * 1.2), "aria-hidden": "true" }, button);
      label.textContent = s.name;
      const seatsLayer = el("g", { class: "seats", role: "group", "aria-label": "Seats in section " + s.name }, g);
      const section = Object.assign({}, s, { g, button, seatsLayer, tier, rows: null });
      this.sections.set(s.section_id, section);
      button.addEventListener("click", () => { if (!this.dragged) this.zoomTo(s.section_id); });
      button.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.zoomTo(s.section_id, true); }
      });
    }

    legend() {
      const legend = document.createElement("ul");
      legend.className = "map-legend";
      legend.setAttribute("aria-label", "Legend");
      const item = (svgMarkup, text) => {
        const li = document.createElement("li");
        li.innerHTML = '<svg viewBox="0 0 20 20" width="20" height="20" aria-hidden="true">' + svgMarkup + "</svg>";
        li.append(" " + text);
        legend.append(li);
      };
      item('<circle cx="10" cy="10" r="8" fill="#1565c0"/>', "Available (colour: price)");
      item('<circle cx="10" cy="10" r="8" fill="#102a43" stroke="#f0b400" stroke-width="3"/><path d="M6 10l3 3 5-6" stroke="#fff" stroke-width="2" fill="none"/>', "Your choice");
      item('<circle cx="10" cy="10" r="5" fill="#fff" stroke="#6b7785" stroke-width="2"/>', "Taken");
      item('<rect x="3" y="3" width="14" height="14" rx="2" fill="#1565c0"/>', "Wheelchair space");
      for (const t of this.tiers.values()) {
        item('<circle cx="10" cy="10" r="8" fill="' + t.colour + '"/>', t.name + " · " + this.money(t.price_cents, t.currency));
      }
      return legend;
    }

    where(text) { document.getElementById("map-where").textContent = text; }

    // --- view: viewBox zoom and pan -----------------------------------
    setView(v) {
      const minW = 30 * (this.minPitch || 0.4);
      const w = Math.min(Math.max(v.w, minW), this.home.w * 1.5);
      const h = w * (v.h / v.w);
      this.view = { x: v.x + (v.w - w) / 2, y: v.y + (v.h - h) / 2, w, h };
      this.svg.setAttribute("viewBox", [this.view.x, this.view.y, this.view.w, this.view.h].map((n) => n.toFixed(2)).join(" "));
      this.holder.dataset.viewBox = this.svg.getAttribute("viewBox");
      clearTimeout(this.settle);
      this.settle = setTimeout(() => this.loadVisible(), 120);
    }

    zoomBy(factor, cx, cy) {
      const v = this.view;
      const x = cx === undefined ? v.x + v.w / 2 : cx;
      const y = cy === undefined ? v.y + v.h / 2 : cy;
      this.setView({ x: x - (x - v.x) / factor, y: y - (y - v.y) / factor, w: v.w / factor, h: v.h / factor });
    }

    toMap(clientX, clientY) {
      const p = this.svg.createSVGPoint();
      p.x = clientX;
      p.y = clientY;
      return p.matrixTransform(this.svg.getScreenCTM().inverse());
    }

    wire(toolbar) {
      toolbar.querySelector("#map-zoom-in").addEventListener("click", () => this.zoomBy(1.6));
      toolbar.querySelector("#map-zoom-out").addEventListener("click", () => this.zoomBy(1 / 1.6));
      toolbar.querySelector("#map-overview").addEventListener("click", () => this.overview());
      // The wheelchair filter: other seats and sections without a free
      // wheelchair space fade; a companion seat next to one stays choosable.
      toolbar.querySelector("#map-accessible").addEventListener("change", (e) => {
        this.holder.classList.toggle("wheelchair-only", e.target.checked);
        const sections = [...this.sections.values()].filter((s) => s.tier && s.accessible_available > 0);
        const spaces = sections.reduce((n, s) => n + s.accessible_available, 0);
        this.where(e.target.checked
          ? spaces + (spaces === 1 ? " wheelchair space" : " wheelchair spaces") + " left in " + sections.length + (sections.length === 1 ? " section" : " sections") + ". Companion seats are the seats next to them."
          : "Showing every seat.");
      });
      this.svg.addEventListener("wheel", (e) => {
        e.preventDefault();
        const p = this.toMap(e.clientX, e.clientY);
        this.zoomBy(e.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
      }, { passive: false });
      this.svg.addEventListener("pointerdown", (e) => {
        this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        this.dragged = false;
        this.start = { x: e.clientX, y: e.clientY, view: Object.assign({}, this.view), spread: this.spread() };
      });
      this.svg.addEventListener("pointermove", (e) => {
        if (!this.pointers.has(e.pointerId)) return;
        this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
        const ctm = this.svg.getScreenCTM();
        if (this.pointers.size === 2 && this.start.spread) {
          const ratio = this.spread() / this.start.spread;
          const v = this.start.view;
          this.setView({ x: v.x + (v.w - v.w / ratio) / 2, y: v.y + (v.h - v.h / ratio) / 2, w: v.w / ratio, h: v.h / ratio });
          this.dragged = true;
          return;
        }
        const dx = e.clientX - this.start.x, dy = e.clientY - this.start.y;
        if (!this.dragged && Math.hypot(dx, dy) < 6) return;
        this.dragged = true;
        this.svg.setPointerCapture(e.pointerId);
        const v = this.start.view;
        this.setView({ x: v.x - dx / ctm.a, y: v.y - dy / ctm.d, w: v.w, h: v.h });
      });
      const up = (e) => {
        this.pointers.delete(e.pointerId);
        // A drag's own click must not choose a seat; the next one may.
        setTimeout(() => { this.dragged = false; }, 0);
      };
      this.svg.addEventListener("pointerup", up);
      this.svg.addEventListener("pointercancel", up);
      this.svg.addEventListener("pointerover", (e) => { const s = this.seatOf(e.target); if (s) this.tip(s); });
      this.svg.addEventListener("pointerout", (e) => { if (this.seatOf(e.target)) this.tooltip.hidden = true; });
    }

    spread() {
      const p = [...this.pointers.values()];
      return p.length === 2 ? Math.hypot(p[0].x - p[1].x, p[0].y - p[1].y) : 0;
    }

    overview() {
      const from = this.zoomed;
      this.zoomed = null;
      this.holder.dataset.zoomed = "";
      for (const s of this.sections.values()) s.button.setAttribute("tabindex", "0");
      this.setView(this.home);
      this.where("Overview: choose a section to see its seats");
      if (from) this.sections.get(from).button.focus();
    }

    async zoomTo(sectionId, focusSeat) {
      const s = this.sections.get(sectionId);
      if (!s) return;
      performance.mark("seatmap-zoom-start");
      await this.ensureSeats(s);
      this.zoomed = sectionId;
      this.holder.dataset.zoomed = String(sectionId);
      for (const other of this.sections.values()) other.button.setAttribute("tabindex", "-1");
      const b = s.bounds;
      const pad = s.seat_pitch * 3;
      this.setView({ x: b.min_x - pad, y: b.min_y - pad, w: b.max_x - b.min_x + 2 * pad, h: b.max_y - b.min_y + 2 * pad });
      const price = this.price(s);
      this.where(sectionName(s.name) + (price ? ", " + price : "") + ": " + s.available + " seats left. Arrow keys move between seats, Escape returns to all sections.");
      const first = s.flat.find((seat) => seat.status === "a") || s.flat[0];
      this.rove(s, first, Boolean(focusSeat));
      // For scripts/bench-seatmap: the zoomed section's seats can take a click.
      performance.mark("seatmap-section-ready");
    }

    // Loads the seats of sections in view once the view is close enough.
    loadVisible() {
      const v = this.view;
      for (const s of this.sections.values()) {
        if (s.rows || s.loading) continue;
        const b = s.bounds;
        const inView = b.max_x >= v.x && b.min_x <= v.x + v.w && b.max_y >= v.y && b.min_y <= v.y + v.h;
        const close = v.w < 4 * Math.max(b.max_x - b.min_x, b.max_y - b.min_y, 1);
        if (inView && close) this.ensureSeats(s);
      }
    }

    async ensureSeats(s) {
      if (s.rows) return;
      if (!s.loading) {
        s.loading = fetch("/v1/events/" + this.eventId + "/seats?section=" + s.section_id, { headers: { Accept: "application/json" } })
          .then((r) => (r.ok ? r.json() : Promise.reject(new Error("seats " + r.status))))
          .then((map) => this.drawSeats(s, (map.sections || [])[0]))
          .catch(() => { s.loading = null; });
      }
      await s.loading;
    }

    drawSeats(s, data) {
      s.rows = [];
      s.flat = [];
      if (!data) return;
      const r = Math.max(0.05, s.seat_pitch * 0.42);
      this.minPitch = Math.min(this.minPitch || Infinity, s.seat_pitch);
      const price = this.price(s);
      const frag = document.createDocumentFragment();
      data.rows.forEach((row, ri) => {
        const seats = rowSeats(row).map((seat, i) => Object.assign(seat, { section: s, row: row.label, rowIndex: ri, index: i }));
        s.rows.push(seats);
        if (seats.length) {
          const first = seats[0], second = seats[1] || seats[0];
          const ux = first.x - second.x, uy = first.y - second.y;
          const len = Math.hypot(ux, uy) || 1;
          const label = el("text", {
            class: "row-label", x: first.x + (ux / len) * s.seat_pitch * 1.3, y: first.y + (uy / len) * s.seat_pitch * 1.3,
            "font-size": s.seat_pitch * 0.8, "text-anchor": "middle", "dominant-baseline": "middle", "aria-hidden": "true",
          });
          label.textContent = row.label;
          frag.append(label);
        }
        for (const seat of seats) {
          seat.price = price;
          seat.el = this.seatElement(seat, r);
          this.seats.set(seat.id, seat);
          s.flat.push(seat);
          frag.append(seat.el);
        }
      });
      s.seatsLayer.append(frag);
      s.g.classList.add("loaded");
    }

    seatElement(seat, r) {
      const shape = seat.accessible
        ? el("rect", { x: seat.x - r, y: seat.y - r, width: 2 * r, height: 2 * r, rx: r * 0.25 })
        : el("circle", { cx: seat.x, cy: seat.y, r });
      shape.setAttribute("class", seat.accessible ? "seat wheelchair" : "seat");
      shape.setAttribute("role", "checkbox");
      shape.setAttribute("tabindex", "-1");
      shape.dataset.seatId = seat.id;
      if (seat.section.ticket_type_id) shape.dataset.tier = seat.section.ticket_type_id;
      shape.addEventListener("click", (e) => { e.stopPropagation(); if (!this.dragged) this.toggle(seat); });
      shape.addEventListener("keydown", (e) => this.key(e, seat));
      shape.addEventListener("focus", () => this.tip(seat));
      shape.addEventListener("blur", () => { this.tooltip.hidden = true; });
      this.paint(seat, shape);
      return shape;
    }

    label(seat) {
      return sectionName(seat.section.name) + ", row " + seat.row + ", seat " + seat.number +
        (seat.accessible ? ", wheelchair space" : "") +
        (this.free(seat) ? ", " + (seat.price || "") : ", " + STATUS_WORD[seat.status]);
    }

    free(seat) { return seat.status === "a" && Boolean(seat.section.tier); }

    paint(seat, shape) {
      const node = shape || seat.el;
      const chosen = this.selected.has(seat.id);
      node.dataset.status = seat.status;
      node.classList.toggle("taken", !this.free(seat));
      node.classList.toggle("selected", chosen);
      node.setAttribute("aria-checked", chosen ? "true" : "false");
      node.setAttribute("aria-disabled", this.free(seat) || chosen ? "false" : "true");
      node.setAttribute("aria-label", this.label(seat));
      node.style.fill = chosen ? "" : (this.free(seat) ? seat.section.tier.colour : "");
    }

    toggle(seat) {
      if (this.selected.has(seat.id)) this.selected.delete(seat.id);
      else if (this.free(seat)) this.selected.set(seat.id, seat);
      else return;
      this.paint(seat);
      this.onChange([...this.selected.values()]);
    }

    select(ids) {
      for (const id of ids) {
        const seat = this.seats.get(id);
        if (seat && this.free(seat) && !this.selected.has(id)) { this.selected.set(id, seat); this.paint(seat); }
      }
      this.onChange([...this.selected.values()]);
    }

    clear(ids) {
      for (const id of ids) {
        const seat = this.selected.get(id);
        this.selected.delete(id);
        if (seat) this.paint(seat);
      }
      this.onChange([...this.selected.values()]);
    }

    // Live updates: one seat changes in place.
    applyStatus(seatId, letter) {
      const seat = this.seats.get(seatId);
      if (!seat || seat.status === letter) return;
      const was = this.free(seat);
      seat.status = letter;
      if (!this.free(seat) && this.selected.has(seatId)) { this.selected.delete(seatId); this.onChange([...this.selected.values()]); }
      if (was !== this.free(seat)) seat.section.available += this.free(seat) ? 1 : -1;
      this.paint(seat);
    }

    async refreshSection(sectionId) {
      const response = await fetch("/v1/events/" + this.eventId + "/seats?section=" + sectionId, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) return;
      const data = ((await response.json()).sections || [])[0];
      if (!data) return;
      for (const row of data.rows) for (const s of rowSeats(row)) this.applyStatus(s.id, s.status);
    }

    rove(section, seat, focus) {
      if (!seat) return;
      if (this.current && this.current.el) this.current.el.setAttribute("tabindex", "-1");
      this.current = seat;
      seat.el.setAttribute("tabindex", "0");
      if (focus) seat.el.focus();
    }

    key(e, seat) {
      const s = seat.section;
      let next = null;
      if (e.key === "ArrowRight") next = s.rows[seat.rowIndex][seat.index + 1];
      else if (e.key === "ArrowLeft") next = s.rows[seat.rowIndex][seat.index - 1];
      else if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        const row = s.rows[seat.rowIndex + (e.key === "ArrowDown" ? 1 : -1)];
        if (row && row.length) {
          next = row.reduce((best, c) => (Math.hypot(c.x - seat.x, c.y - seat.y) < Math.hypot(best.x - seat.x, best.y - seat.y) ? c : best), row[0]);
        }
      } else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.toggle(seat); return; }
      else if (e.key === "Escape") { e.preventDefault(); this.overview(); return; }
      else return;
      e.preventDefault();
      if (next) {
        this.rove(s, next, true);
        this.keepInView(next);
      }
    }

    keepInView(seat) {
      const v = this.view;
      const m = seat.section.seat_pitch * 2;
      if (seat.x < v.x + m || seat.x > v.x + v.w - m || seat.y < v.y + m || seat.y > v.y + v.h - m) {
        this.setView({ x: seat.x - v.w / 2, y: seat.y - v.h / 2, w: v.w, h: v.h });
      }
    }

    seatOf(target) {
      const id = target && target.dataset ? Number(target.dataset.seatId) : NaN;
      return Number.isNaN(id) ? null : this.seats.get(id);
    }

    tip(seat) {
      const box = seat.el.getBoundingClientRect();
      const host = this.holder.getBoundingClientRect();
      this.tooltip.textContent = sectionName(seat.section.name) + " · Row " + seat.row + " · Seat " + seat.number +
        " · " + (this.free(seat) ? seat.price : STATUS_WORD[seat.status]) + (seat.accessible ? " · Wheelchair space" : "");
      this.tooltip.style.left = Math.max(0, box.left - host.left + box.width / 2) + "px";
      this.tooltip.style.top = Math.max(0, box.top - host.top - 8) + "px";
      this.tooltip.hidden = false;
    }
  }

  window.SeatMap = SeatMap;
  // The pages name seats the same way (app.js: checkout, tickets).
  window.sectionName = sectionName;

})();
