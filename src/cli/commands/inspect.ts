// `strata inspect` / `strata image inspect`: a JSON array with the fields of docker's image
// inspect (Engine API 1.50, docker 28: Config has the OCI image-config fields only), indented
// with four spaces and Go's escaping, or one --format template per image. `History` (the config's
// history) is added because issue 3 asks for it; docker has no such field. GraphDriver is
// omitted: there is no graph driver.

import { formatGoTime, goJsonStringify } from '../../oci/go-json.js';
import type { ContainerConfig, HealthConfig } from '../../oci/types.js';
import { parseReference } from '../../reference/reference.js';
import type { ImageStore, StoredImage } from '../../store/image-store.js';
import { optString } from '../args.js';
import type { CommandContext } from '../command.js';
import { renderError } from '../render/error.js';
import { parseTemplate } from '../render/go-template.js';
import { openCliStore } from '../store-root.js';

const ZERO_TIME = '0001-01-01T00:00:00Z';

/** moby's DockerOCIImageConfig, in its field order, empty fields left out. */
function inspectConfig(config: ContainerConfig | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (config === undefined) return out;
  const set = (key: string, value: unknown) => {
    if (value === undefined || value === null || value === '' || value === false) return;
    if (Array.isArray(value) && value.length === 0) return;
    if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) return;
    out[key] = value;
  };
  const sorted = (m: Record<string, unknown> | null | undefined) =>
    m === null || m === undefined
      ? undefined
      : Object.fromEntries(
          Object.keys(m)
            .sort()
            .map((k) => [k, m[k]]),
        );
  set('User', config.User);
  set('ExposedPorts', sorted(config.ExposedPorts));
  set('Env', config.Env);
  set('Entrypoint', config.Entrypoint);
  set('Cmd', config.Cmd);
  set('Volumes', sorted(config.Volumes));
  set('WorkingDir', config.WorkingDir);
  set('Labels', sorted(config.Labels));
  set('StopSignal', config.StopSignal);
  set('ArgsEscaped', config.ArgsEscaped);
  if (config.Healthcheck !== undefined && config.Healthcheck !== null) {
    const h: HealthConfig = config.Healthcheck;
    const health: Record<string, unknown> = {};
    for (const k of ['Test', 'Interval', 'Timeout', 'StartPeriod', 'StartInterval', 'Retries'] as const) {
      if (h[k] !== undefined && h[k] !== null && h[k] !== 0) health[k] = h[k];
    }
    set('Healthcheck', health);
  }
  set('OnBuild', config.OnBuild);
  set('Shell', config.Shell);
  return out;
}

function familiar(name: string): string {
  try {
    return parseReference(name).familiarString();
  } catch {
    return name;
  }
}

/** The object docker prints for one image. */
export async function inspectImage(images: ImageStore, image: StoredImage): Promise<Record<string, unknown>> {
  const { config } = image;
  const history = config.history ?? [];
  const comment = config.comment ?? history[history.length - 1]?.comment ?? '';
  const out: Record<string, unknown> = {
    Id: image.id,
    RepoTags: image.names.map(familiar),
    RepoDigests: image.repoDigests.map(familiar),
    Parent: '',
    Comment: comment,
  };
  if (config.created !== undefined) out.Created = config.created;
  out.DockerVersion = config.docker_version ?? '';
  out.Author = config.author ?? '';
  out.Config = inspectConfig(config.config);
  out.Architecture = config.architecture;
  if (config.variant !== undefined && config.variant !== '') out.Variant = config.variant;
  out.Os = config.os;
  if (config['os.version'] !== undefined && config['os.version'] !== '') out.OsVersion = config['os.version'];
  out.Size = await images.imageSize(image);
  const rootfs: Record<string, unknown> = { Type: config.rootfs.type };
  if (config.rootfs.diff_ids.length > 0) rootfs.Layers = config.rootfs.diff_ids;
  out.RootFS = rootfs;
  out.Metadata = {
    LastTagTime: image.lastTagTime === undefined ? ZERO_TIME : formatGoTime(new Date(image.lastTagTime)),
  };
  out.Descriptor = {
    mediaType: image.manifestDescriptor.mediaType,
    digest: image.manifestDescriptor.digest,
    size: image.manifestDescriptor.size,
  };
  out.History = history.map((h) => ({ ...h }));
  return out;
}

export async function inspect(ctx: CommandContext): Promise<number> {
  const store = await openCliStore(ctx.env);
  const format = optString(ctx.args, 'format');
  const template =
    format === undefined || format === '' || format === 'json' ? undefined : parseTemplate(format);
  const found: Record<string, unknown>[] = [];
  let status = 0;
  for (const ref of ctx.args.positionals) {
    try {
      found.push(await inspectImage(store.images, await store.images.get(ref)));
    } catch (err) {
      ctx.stderr.write(renderError(err));
      status = 1;
    }
  }
  if (template === undefined) {
    ctx.stdout.write(`${found.length === 0 ? '[]' : goJsonStringify(found, { indent: '    ' })}\n`);
  } else {
    for (const item of found) ctx.stdout.write(`${template.execute(item)}\n`);
  }
  return status;
}
