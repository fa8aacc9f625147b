// `strata tag SOURCE TARGET` and `strata rmi [-f] IMAGE…` (docker's untag-versus-delete rules
// are in ImageStore.remove). rmi goes on after an image it cannot remove and fails at the end.

import { ContainerRecords } from '../../container/container-records.js';
import { BuilderError } from '../../errors.js';
import { parseReference } from '../../reference/reference.js';
import { shortId } from '../../store/image-store.js';
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
  const containers = await new ContainerRecords(store.root).list();
  for (const ref of ctx.args.positionals) {
    try {
      // An image a container was made from stays: docker refuses, or with -f only untags.
      const image = await store.images.get(ref);
      const users = containers.filter((c) => c.config.imageId === image.id);
      if (users.length > 0) {
        const user = users[0] as (typeof users)[number];
        const running = user.state.status === 'running';
        if (!force || running) {
          throw new BuilderError(
            'EPRECONDITION',
            `conflict: unable to remove repository reference "${ref}" (${running ? 'cannot be forced' : 'must force'}) - container ${user.config.id.slice(0, 12)} is using its referenced image ${shortId(image.id)}`,
            { hint: `Remove the container first: strata rm ${running ? '-f ' : ''}${user.config.name}` },
          );
        }
        const name = parseReference(ref).toString();
        if (await store.images.untag(name))
          ctx.stdout.write(`Untagged: ${parseReference(ref).familiarString()}\n`);
        continue;
      }
      const result = await store.images.remove(ref, { force });
      for (const line of result.lines) ctx.stdout.write(`${line}\n`);
    } catch (err) {
      ctx.stderr.write(renderError(err));
      status = 1;
    }
  }
  return status;
}
