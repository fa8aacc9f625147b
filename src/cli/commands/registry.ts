// `strata pull`, `push`, `login` and `logout`: docker's flags and output over src/registry.
// Credentials never reach the output: only "Login Succeeded" and where they were stored.

import { hostOfKey } from '../../auth/docker-config.js';
import { removeLogin, saveLogin } from '../../auth/keychain.js';
import { BuilderError } from '../../errors.js';
import { parseReference, type Reference } from '../../reference/reference.js';
import { verifyLogin } from '../../registry/login.js';
import { listRemoteTags, parsePlatform, pullImage } from '../../registry/pull.js';
import { localTags, type PushResult, pushImage } from '../../registry/push.js';
import type { Registries } from '../../registry/registries.js';
import type { Store } from '../../store/store.js';
import { optBool, optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { readAll } from '../input.js';
import {
  dockerConfigOptions,
  registriesFromEnv,
  registryOptionsFromEnv,
  tlsVerifyOption,
} from '../registry-env.js';
import { createTransferRenderer } from '../render/transfer-progress.js';
import { openCliStore } from '../store-root.js';

function tlsVerify(ctx: CommandContext): { tlsVerify?: boolean } {
  const v = tlsVerifyOption(ctx.args.options['tls-verify']);
  return v === undefined ? {} : { tlsVerify: v };
}

// ---------------------------------------------------------------------------------------------
// pull

export async function pull(ctx: CommandContext): Promise<number> {
  const input = ctx.args.positionals[0] as string;
  const quiet = optBool(ctx.args, 'quiet');
  const allTags = optBool(ctx.args, 'all-tags');
  const platformText = optString(ctx.args, 'platform');
  const platform =
    platformText === undefined || platformText === '' ? undefined : parsePlatform(platformText);
  const ref = parseReference(input, { defaultTag: false });
  if (allTags && (ref.tag !== undefined || ref.digest !== undefined))
    throw new BuilderError('EINVAL', "tag can't be used with --all-tags/-a");
  const store = await openCliStore(ctx.env);
  const registries = registriesFromEnv(ctx.env, tlsVerify(ctx));
  try {
    if (allTags) {
      const tags = await listRemoteTags(ref, registries, ctx.signal);
      if (tags.length === 0) throw new BuilderError('ENOTFOUND', `${ref.familiarName()} has no tags`);
      let newer = false;
      for (const tag of tags) {
        const status = await pullOne(ctx, store, registries, ref.withTag(tag), {
          quiet,
          platform,
          footer: false,
        });
        newer ||= status === 'downloaded';
      }
      if (!quiet)
        ctx.stdout.write(
          `Status: ${newer ? 'Downloaded newer image for' : 'Image is up to date for'} ${ref.familiarName()}\n`,
        );
      ctx.stdout.write(`${ref.name}\n`);
      return 0;
    }
    let target = ref;
    if (ref.tag === undefined && ref.digest === undefined) {
      if (!quiet) ctx.stdout.write('Using default tag: latest\n');
      target = ref.withTag('latest');
    }
    await pullOne(ctx, store, registries, target, { quiet, platform, footer: true });
    return 0;
  } finally {
    registries.close();
  }
}

async function pullOne(
  ctx: CommandContext,
  store: Store,
  registries: Registries,
  ref: Reference,
  o: { quiet: boolean; platform: ReturnType<typeof parsePlatform> | undefined; footer: boolean },
): Promise<'downloaded' | 'up-to-date'> {
  const renderer = createTransferRenderer(ctx.stdout, 'pull', o.quiet ? 'quiet' : undefined);
  renderer.line(`${ref.digest ?? ref.tag}: Pulling from ${ref.path}`);
  let result: Awaited<ReturnType<typeof pullImage>>;
  try {
    result = await pullImage(store, ref, registries, {
      onEvent: (e) => renderer.onEvent(e),
      signal: ctx.signal,
      ...(o.platform === undefined ? {} : { platform: o.platform }),
    });
  } finally {
    renderer.close();
  }
  if (!o.quiet) {
    ctx.stdout.write(`Digest: ${result.target.digest}\n`);
    if (o.footer)
      ctx.stdout.write(
        `Status: ${result.status === 'downloaded' ? 'Downloaded newer image for' : 'Image is up to date for'} ${ref.familiarString()}\n`,
      );
  }
  if (o.footer) ctx.stdout.write(`${ref.toString()}\n`);
  return result.status;
}

// ---------------------------------------------------------------------------------------------
// push

export async function push(ctx: CommandContext): Promise<number> {
  const input = ctx.args.positionals[0] as string;
  const quiet = optBool(ctx.args, 'quiet');
  const allTags = optBool(ctx.args, 'all-tags');
  const ref = parseReference(input, { defaultTag: false });
  if (allTags && (ref.tag !== undefined || ref.digest !== undefined))
    throw new BuilderError('EINVAL', "tag can't be used with --all-tags/-a");
  const store = await openCliStore(ctx.env);
  const registries = registriesFromEnv(ctx.env, tlsVerify(ctx));
  try {
    let refs: Reference[];
    if (allTags) {
      refs = await localTags(store, ref);
      if (refs.length === 0)
        throw new BuilderError(
          'ENOTFOUND',
          `An image does not exist locally with the tag: ${ref.familiarName()}`,
        );
    } else if (ref.tag === undefined && ref.digest === undefined) {
      if (!quiet) ctx.stdout.write('Using default tag: latest\n');
      refs = [ref.withTag('latest')];
    } else refs = [ref];
    if (!quiet) ctx.stdout.write(`The push refers to repository [${ref.name}]\n`);
    for (const r of refs) {
      const result = await pushWithProgress(ctx, store, registries, r, quiet);
      ctx.stdout.write(quiet ? `${r.toString()}\n` : `${pushLine(result)}\n`);
    }
    return 0;
  } finally {
    registries.close();
  }
}

/** docker's last line of a push: `1.0: digest: sha256:… size: 528`. */
export function pushLine(result: PushResult): string {
  return `${result.tag ?? result.digest}: digest: ${result.digest} size: ${result.size}`;
}

export async function pushWithProgress(
  ctx: Pick<CommandContext, 'stdout' | 'signal'>,
  store: Store,
  registries: Registries,
  ref: Reference,
  quiet: boolean,
): Promise<PushResult> {
  const renderer = createTransferRenderer(ctx.stdout, 'push', quiet ? 'quiet' : undefined);
  try {
    return await pushImage(store, ref, registries, {
      onEvent: (e) => renderer.onEvent(e),
      signal: ctx.signal,
    });
  } finally {
    renderer.close();
  }
}

// ---------------------------------------------------------------------------------------------
// login / logout

async function prompt(ctx: CommandContext, question: string, secret: boolean): Promise<string> {
  const stdin = ctx.stdin as NodeJS.ReadStream;
  ctx.stderr.write(question);
  const raw = secret && typeof stdin.setRawMode === 'function';
  if (raw) stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = '';
      const done = (value: string) => {
        stdin.off('data', onData);
        stdin.pause();
        if (secret) ctx.stderr.write('\n');
        resolve(value);
      };
      const onData = (chunk: Buffer | string) => {
        for (const ch of chunk.toString()) {
          if (ch === '\r' || ch === '\n') return done(text);
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new BuilderError('ECANCELED', 'login canceled'));
          }
          if (ch === '\u007f') text = text.slice(0, -1);
          else text += ch;
        }
      };
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    if (raw) stdin.setRawMode(false);
  }
}

export async function login(ctx: CommandContext): Promise<number> {
  const registry = hostOfKey(ctx.args.positionals[0] ?? 'docker.io');
  let username = optString(ctx.args, 'username');
  let password = optString(ctx.args, 'password');
  const passwordStdin = optBool(ctx.args, 'password-stdin');
  if (password !== undefined && passwordStdin)
    throw new BuilderError('EINVAL', '--password and --password-stdin are mutually exclusive');
  if (password !== undefined)
    ctx.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  if (passwordStdin) {
    if (username === undefined || username === '')
      throw new BuilderError('EINVAL', 'Must provide --username with --password-stdin');
    password = (await readAll(ctx.stdin)).toString('utf8').replace(/\r?\n$/, '');
  }
  const interactive = (ctx.stdin as NodeJS.ReadStream).isTTY === true;
  if (username === undefined || username === '') {
    if (!interactive)
      throw new BuilderError('EINVAL', 'Cannot perform an interactive login from a non TTY device', {
        hint: 'Give -u USER and --password-stdin.',
      });
    username = (await prompt(ctx, 'Username: ', false)).trim();
  }
  if (password === undefined) {
    if (!interactive)
      throw new BuilderError('EINVAL', 'Cannot perform an interactive login from a non TTY device', {
        hint: 'Give the password on stdin with --password-stdin.',
      });
    password = await prompt(ctx, 'Password: ', true);
  }
  if (username === '') throw new BuilderError('EINVAL', 'Error: Non-null Username Required');
  if (password === '') throw new BuilderError('EINVAL', 'Error: Non-null Password Required');
  const options = registryOptionsFromEnv(ctx.env, tlsVerify(ctx));
  const { keychain: _unused, ...withoutKeychain } = options;
  const verified = await verifyLogin(registry, { username, password }, withoutKeychain, ctx.signal);
  const configOptions = dockerConfigOptions(ctx.env);
  const saved = await saveLogin(configOptions, registry, {
    username,
    ...(verified.identityToken === undefined ? { password } : { identityToken: verified.identityToken }),
  });
  if (saved.helper === undefined)
    ctx.stderr.write(
      `WARNING! Your credentials are stored unencrypted in '${configOptions.configPath}'.\n` +
        'Configure a credential helper (credsStore in that file) to remove this warning.\n\n',
    );
  ctx.stdout.write('Login Succeeded\n');
  return 0;
}

export async function logout(ctx: CommandContext): Promise<number> {
  const registry = hostOfKey(ctx.args.positionals[0] ?? 'docker.io');
  const { key, removed } = await removeLogin(dockerConfigOptions(ctx.env), registry);
  ctx.stdout.write(removed ? `Removing login credentials for ${key}\n` : `Not logged in to ${key}\n`);
  return 0;
}
