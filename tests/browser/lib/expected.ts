// What a page should say, computed independently of the app: Node's own ICU
// (Intl) and tz database, from the JSON API's instants and minor units.

/** Minor units as Node's ICU writes them in English: "$115.99". */
export function expectedMoney(minor: number, currency: string): string {
  const format = new Intl.NumberFormat('en', { style: 'currency', currency });
  return format.format(minor / 10 ** format.resolvedOptions().maximumFractionDigits);
}

/**
 * The zone's abbreviation at that instant, as the tz database names it:
 * ICU's English names where one English locale has letters for it ("PST",
 * "CET", "AEDT", "IST" in Dublin), else the database's numeric form ("-03"
 * in São Paulo, "+0530").
 */
export function zoneAbbreviation(at: Date, zone: string): string {
  let offset = '';
  for (const locale of ['en-US', 'en-GB', 'en-AU', 'en-IE', 'en-IN']) {
    const name = new Intl.DateTimeFormat(locale, { timeZone: zone, timeZoneName: 'short' })
      .formatToParts(at).find((p) => p.type === 'timeZoneName')!.value;
    if (!/^GMT[+-]/.test(name)) return name;
    offset = name;
  }
  const [, sign, hours, minutes] = /^GMT([+-])(\d{1,2})(?::(\d{2}))?$/.exec(offset)!;
  return `${sign}${hours.padStart(2, '0')}${minutes ?? ''}`;
}

/** "Sun 27 Dec 2026, 19:30 PST": the venue's wall clock. */
export function expectedLocal(iso: string, zone: string): string {
  const at = new Date(iso);
  const parts = new Intl.DateTimeFormat('en-GB', {
    timeZone: zone, weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
    hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
  }).formatToParts(at);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get('weekday')} ${get('day')} ${get('month')} ${get('year')}, ${get('hour')}:${get('minute')} ${zoneAbbreviation(at, zone)}`;
}
