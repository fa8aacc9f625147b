// Sizes and durations as docker prints them (github.com/docker/go-units): decimal units,
// Go's %g formatting, and HumanDuration's wording.

const DECIMAL_UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** Go's fmt `%.{precision}g`: shortest of %e / %f with that many significant digits, no trailing zeros. */
export function goFormatG(value: number, precision: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '+Inf' : '-Inf';
  if (value === 0) return '0';
  const p = Math.max(1, precision);
  const [mantissa, expText] = value.toExponential(p - 1).split('e') as [string, string];
  const exp = Number(expText);
  const trim = (s: string) => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= p) {
    const abs = Math.abs(exp);
    return `${trim(mantissa)}e${exp < 0 ? '-' : '+'}${abs < 10 ? `0${abs}` : abs}`;
  }
  return trim(value.toFixed(Math.max(0, p - 1 - exp)));
}

/** go-units HumanSizeWithPrecision: `72.8MB` for precision 3. */
export function humanSizeWithPrecision(size: number, precision: number): string {
  let value = size;
  let i = 0;
  while (value >= 1000 && i < DECIMAL_UNITS.length - 1) {
    value /= 1000;
    i++;
  }
  return `${goFormatG(value, precision)}${DECIMAL_UNITS[i]}`;
}

/** go-units HumanSize (4 significant digits), used by prune and df. */
export function humanSize(size: number): string {
  return humanSizeWithPrecision(size, 4);
}

/** go-units HumanDuration: `Less than a second`, `About a minute`, `3 hours`, `2 weeks`… */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.trunc(ms / 60_000);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(ms / 3_600_000); // time.Duration.Round(time.Hour): half away from zero
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.trunc(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.trunc(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24 / 30)} months`;
  return `${Math.trunc(ms / 3_600_000 / 24 / 365)} years`;
}

/**
 * `2 weeks ago`. A missing or invalid time counts as the Unix epoch, as docker's API reports it
 * (Created: 0), so it prints `56 years ago` as docker does.
 */
export function createdSince(created: string | undefined, now = Date.now()): string {
  const t = created === undefined ? Number.NaN : Date.parse(created);
  return `${humanDuration(now - (Number.isNaN(t) ? 0 : Math.floor(t / 1000) * 1000))} ago`;
}

/** Go's time.Time.String() in UTC for a whole-second time: `2024-05-22 18:18:12 +0000 UTC`. */
export function goTimeString(created: string | undefined): string {
  const t = created === undefined ? Number.NaN : Date.parse(created);
  const date = new Date(Number.isNaN(t) ? 0 : Math.floor(t / 1000) * 1000);
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}

/** RFC 3339 in UTC, whole seconds (Go's time.RFC3339 of a Unix time). */
export function rfc3339Seconds(created: string | undefined): string {
  const t = created === undefined ? Number.NaN : Date.parse(created);
  const date = new Date(Number.isNaN(t) ? 0 : Math.floor(t / 1000) * 1000);
  return `${date.toISOString().slice(0, 19)}Z`;
}
