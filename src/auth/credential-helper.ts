// Docker's credential helper protocol: a program `docker-credential-<name>` on PATH, run with one
// action word, reading its input on stdin and answering on stdout:
//
//   get     stdin: the server URL          stdout: {"ServerURL","Username","Secret"}
//   store   stdin: {"ServerURL","Username","Secret"}
//   erase   stdin: the server URL
//
// A helper that has nothing for a URL exits non-zero printing "credentials not found in native
// keychain". Username `<token>` marks the Secret as an identity (refresh) token. The secret goes
// only to the helper's stdin: never into arguments, error messages or logs.

import { spawn } from 'node:child_process';
import { BuilderError } from '../errors.js';

export type HelperAction = 'get' | 'store' | 'erase';

/** Runs `program action` with `input` on stdin; resolves to stdout, rejects on a non-zero exit. */
export type HelperRunner = (program: string, action: HelperAction, input: string) => Promise<string>;

export interface HelperCredential {
  username: string;
  /** A password, or an identity token when username is `<token>`. */
  secret: string;
}

/** The Username a helper stores for an identity token. */
export const TOKEN_USERNAME = '<token>';
const NOT_FOUND = 'credentials not found in native keychain';
const OUTPUT_MAX = 64 * 1024;

export class HelperExitError extends Error {
  readonly output: string;
  constructor(program: string, action: string, detail: string, output: string) {
    super(`${program} ${action}: ${detail}`);
    this.output = output;
  }
}

export interface SpawnHelperOptions {
  /** Environment of the helper (its PATH finds it); default: this process's. */
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

/** A HelperRunner that spawns the program (found through PATH). */
export function spawnHelper(options: SpawnHelperOptions = {}): HelperRunner {
  const timeoutMs = options.timeoutMs ?? 60_000;
  return (program, action, input) =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(program, [action], {
        env: options.env ?? process.env,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      // Our own timer (spawn's `timeout` keeps running when the program does not exist).
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      timer.unref();
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        if (stdout.length < OUTPUT_MAX) stdout += d;
      });
      child.stderr.on('data', (d: string) => {
        if (stderr.length < OUTPUT_MAX) stderr += d;
      });
      child.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          err.code === 'ENOENT'
            ? new BuilderError('EPRECONDITION', `credential helper ${program} not found on PATH`, {
                hint: 'Install it, or remove credsStore/credHelpers from the docker config.',
              })
            : new HelperExitError(program, action, err.message, ''),
        );
      });
      child.stdin.on('error', () => {}); // a helper that exits early closes its stdin
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve(stdout);
        else {
          const output = (stdout.trim() || stderr.trim()).slice(0, 500);
          reject(
            new HelperExitError(
              program,
              action,
              signal ? `killed by ${signal}` : `exit status ${code}: ${output}`,
              output,
            ),
          );
        }
      });
      child.stdin.end(input);
    });
}

function isNotFound(err: unknown): boolean {
  return err instanceof HelperExitError && err.output.includes(NOT_FOUND);
}

/** One credential helper, by its name (`desktop`, `pass`, `ecr-login`). */
export class CredentialHelper {
  readonly name: string;
  readonly program: string;
  readonly #run: HelperRunner;

  constructor(name: string, run: HelperRunner) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
      throw new BuilderError('EINVAL', `invalid credential helper name ${JSON.stringify(name)}`);
    this.name = name;
    this.program = `docker-credential-${name}`;
    this.#run = run;
  }

  /** The credential for `serverUrl`, or undefined when the helper has none. */
  async get(serverUrl: string): Promise<HelperCredential | undefined> {
    let out: string;
    try {
      out = await this.#run(this.program, 'get', serverUrl);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw this.#wrap(err, 'get', serverUrl);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(out);
    } catch {
      throw new BuilderError('EINVAL', `${this.program} get ${serverUrl}: the answer is not JSON`);
    }
    const v = parsed as { Username?: unknown; Secret?: unknown };
    if (typeof v !== 'object' || v === null || typeof v.Secret !== 'string')
      throw new BuilderError('EINVAL', `${this.program} get ${serverUrl}: the answer has no Secret`);
    if (v.Secret === '') return undefined;
    return { username: typeof v.Username === 'string' ? v.Username : '', secret: v.Secret };
  }

  async store(serverUrl: string, credential: HelperCredential): Promise<void> {
    const input = JSON.stringify({
      ServerURL: serverUrl,
      Username: credential.username,
      Secret: credential.secret,
    });
    try {
      await this.#run(this.program, 'store', input);
    } catch (err) {
      throw this.#wrap(err, 'store', serverUrl, credential.secret);
    }
  }

  /** Removes the credential; true when there was one. */
  async erase(serverUrl: string): Promise<boolean> {
    try {
      await this.#run(this.program, 'erase', serverUrl);
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw this.#wrap(err, 'erase', serverUrl);
    }
  }

  #wrap(err: unknown, action: string, serverUrl: string, secret?: string): unknown {
    if (err instanceof BuilderError) return err;
    // Only the first line of the helper's words, and never the secret we sent on its stdin
    // (a broken helper might echo its input).
    let detail = err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err);
    if (secret !== undefined && secret !== '') detail = detail.split(secret).join('<redacted>');
    return new BuilderError(
      'EUNAUTHORIZED',
      `credential helper ${this.program} failed to ${action} credentials for ${serverUrl}: ${detail}`,
    );
  }
}
