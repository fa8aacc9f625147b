// What one piece of work read from and wrote to the metadata store, file by file: the
// dependencies of a result. The CLI records a build's (src/cli/build-memo.ts): if none of
// these files changed, the same build gives the same result. Journaling only ever adds
// entries; work sharing a store object with another adds the other's too, which makes the
// record stricter, never wrong.

export class ReadJournal {
  /** Path → the text read (undefined: the file did not exist), first read wins. */
  readonly read = new Map<string, string | undefined>();
  /** Paths this process wrote, appended to or removed. */
  readonly written = new Set<string>();
  /** Set when a result depended on something no file list captures (a directory listing). */
  unreplayable: string | undefined;

  noteRead(path: string, text: string | undefined): void {
    if (!this.read.has(path)) this.read.set(path, text);
  }

  noteWrite(path: string): void {
    this.written.add(path);
  }

  noteListing(what: string): void {
    this.unreplayable ??= `it listed ${what}`;
  }
}

/** How a store part reaches the journal its meta store has now (none most of the time). */
export type JournalOf = () => ReadJournal | undefined;
