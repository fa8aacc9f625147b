// Types for the parts of `unbzip2-stream` (plain JavaScript, no types of its own) that
// bzip2-codec.ts uses: a classic `through` stream that decodes synchronously in write().

declare module 'unbzip2-stream' {
  interface ThroughStream {
    write(data: Uint8Array): boolean;
    end(): void;
    destroy(): void;
    on(event: 'data', listener: (data: Buffer) => void): this;
    on(event: 'error', listener: (err: Error) => void): this;
    on(event: 'end', listener: () => void): this;
  }
  function unbzip2Stream(): ThroughStream;
  export = unbzip2Stream;
}
