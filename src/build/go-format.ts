// Go's fmt verbs as BuildKit's history lines use them (`CMD %q`, `VOLUME %v`,
// `HEALTHCHECK %+v`), so `strata history` reads exactly like docker's.

import { formatGoDuration } from '../dockerfile/instructions/duration.js';
import { goQuote } from '../dockerfile/parser/go-quote.js';
import type { HealthConfig } from '../oci/types.js';

/** `%v` of a []string: `[a b c]`. */
export function goSliceV(values: readonly string[]): string {
  return `[${values.join(' ')}]`;
}

/** `%q` of a []string: `["a" "b"]`. */
export function goSliceQ(values: readonly string[]): string {
  return `[${values.map(goQuote).join(' ')}]`;
}

/** `%+v` of docker's HealthcheckConfig. */
export function goHealthcheckV(h: HealthConfig): string {
  const d = (ns: number | undefined) => formatGoDuration(ns ?? 0);
  return (
    `{Test:${goSliceV(h.Test ?? [])} Interval:${d(h.Interval)} Timeout:${d(h.Timeout)} ` +
    `StartPeriod:${d(h.StartPeriod)} StartInterval:${d(h.StartInterval)} Retries:${h.Retries ?? 0}}`
  );
}
