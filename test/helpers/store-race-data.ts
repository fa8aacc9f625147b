// Data shared by the store worker processes and the test that checks their work.

export interface RaceReport {
  created: number;
  written: number;
  worker: number;
}

/** Blob i of the shared set: sizes from 0 to ~600 KiB, content derived from i. */
export function sharedBlob(i: number): Buffer {
  const size = (i * 37_813) % 600_000;
  const buf = Buffer.alloc(size);
  for (let o = 0; o < size; o += 4096) buf.writeUInt32LE((i * 2654435761 + o) >>> 0, o);
  return buf;
}
