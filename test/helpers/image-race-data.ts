// Shared by test/unit/store/image-concurrency.test.ts and its worker (which must not be
// imported: it runs on load).

export interface WorkerReport {
  names: string[];
  retries: number;
  collected: number;
}

/** The layer content old images used (the test writes these, then ages them). */
export function oldLayerFiles(k: number): Array<{ path: string; body: string }> {
  return [{ path: `old-${k}.txt`, body: `old layer ${k}\n`.repeat(200) }];
}
