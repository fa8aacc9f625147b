// `strata tag SOURCE TARGET` and `strata rmi [-f] IMAGE…` (docker's untag-versus-delete rules
// are in ImageStore.remove). rmi goes on after an image it cannot remove and fails at the end.

import { optBool } from '../args.js';
import type { CommandContext } from '../command.js';
import { renderError } from '../render/error.js';
import { openCliStore } from '../store-root.js';

export async function tag(ctx: CommandContext): Promise<number> {
  const [source, target] = ctx.args.positionals as [string, string];
  const store = await openCliStore(ctx.env);
  const image = await store.images.get(source);
  await store.images.tag(image, target);
  return 0;
}

export async function rmi(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const force = optBool(ctx.args, 'force');
  let status = 0;
  for (const ref of ctx.args.positionals) {
    try {
      const result = await store.images.remove(ref, { force });
      for (const line of result.lines) ctx.stdout.write(`${line}\n`);
    } catch (err) {
      ctx.stderr.write(renderError(err));
      status = 1;
    }
  }
  return status;
}
