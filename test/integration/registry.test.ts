// Push and pull against the real registry (Debian's docker-registry) in its three set-ups: no
// auth, htpasswd (Basic) and token auth (a token server here issuing RS256 JWTs). In each:
// push an image, skopeo sees exactly what we pushed, a second push skips every blob, a push to
// another repository mounts every blob, and the same digest pulls back into an empty store
// that `checkStore` finds clean.

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { staticKeychain } from '../../src/auth/keychain.js';
import { parseManifest } from '../../src/oci/parse.js';
import { verifyLogin } from '../../src/registry/login.js';
import { pullImage } from '../../src/registry/pull.js';
import { pushImage } from '../../src/registry/push.js';
import { Registries } from '../../src/registry/registries.js';
import { checkStore } from '../../src/store/check.js';
import type { StoredImage } from '../../src/store/image-store.js';
import { randomImage, type TempStore, tmpStore, toolMissing } from '../helpers/image-fixtures.js';
import {
  type RegistryAuth,
  registryMissing,
  startRegistry,
  type TestRegistry,
} from '../helpers/registry-server.js';
import { skipIf } from './prereqs.js';

const exec = promisify(execFile);
const missing = registryMissing();

async function skopeoInspect(reg: TestRegistry, ref: string): Promise<{ Digest: string; Layers: string[] }> {
  const args = ['inspect', '--tls-verify=false'];
  if (reg.auth !== 'none') args.push('--creds', `${reg.user.username}:${reg.user.password}`);
  args.push(`docker://${ref}`);
  const { stdout } = await exec('skopeo', args, { timeout: 60_000 });
  return JSON.parse(stdout);
}

for (const auth of ['none', 'htpasswd', 'token'] as RegistryAuth[]) {
  describe(`registry with ${auth === 'none' ? 'no' : auth} auth`, { concurrency: false }, () => {
    let reg: TestRegistry;
    let source: TempStore;
    let image: StoredImage;
    let registries: Registries;
    let pushedDigest: string;
    const stores: TempStore[] = [];

    before(async () => {
      if (missing) return;
      reg = await startRegistry(auth);
      source = await tmpStore('strata-reg-src-');
      // Docker media types in the htpasswd set-up, OCI elsewhere: both must round-trip.
      image = await randomImage(source.store, {
        layers: 3,
        ...(auth === 'htpasswd' ? { mediaTypes: 'docker' as const } : {}),
      });
      registries = new Registries({ keychain: staticKeychain({ [reg.host]: reg.user }) });
    });
    after(async () => {
      registries?.close();
      for (const s of stores) await s.cleanup();
      await source?.cleanup();
      await reg?.stop();
    });

    test('push uploads every blob, then the manifest; skopeo sees that digest and those layers', async (t) => {
      if (skipIf(t, missing)) return;
      const name = `${reg.host}/user/app:1.0`;
      await source.store.images.tag(image, name);
      const result = await pushImage(source.store, name, registries);
      assert.deepEqual(
        result.blobs.map((b) => b.status),
        result.blobs.map(() => 'pushed'),
      );
      assert.equal(result.blobs.length, 4); // config + 3 layers
      assert.equal(result.digest, image.manifestDescriptor.digest);
      assert.equal(result.size, image.manifestDescriptor.size);
      assert.equal(result.mediaType, image.manifestDescriptor.mediaType);
      pushedDigest = result.digest;
      const reason = toolMissing('skopeo');
      if (reason) {
        console.warn(`SKIP skopeo check: ${reason}`);
        return;
      }
      const seen = await skopeoInspect(reg, name);
      assert.equal(seen.Digest, result.digest);
      assert.deepEqual(
        seen.Layers,
        image.manifest.layers.map((l) => l.digest),
      );
    });

    test('a second push skips every blob (HEAD finds them)', async (t) => {
      if (skipIf(t, missing)) return;
      const before = registries.stats().requests;
      const result = await pushImage(source.store, `${reg.host}/user/app:1.0`, registries);
      assert.deepEqual(
        result.blobs.map((b) => b.status),
        ['exists', 'exists', 'exists', 'exists'],
      );
      assert.equal(result.digest, pushedDigest);
      // 4 HEADs and the manifest PUT: no upload session was opened.
      assert.ok(
        registries.stats().requests - before <= 6,
        `${registries.stats().requests - before} requests`,
      );
    });

    test('pushing to another repository mounts every blob across repositories', async (t) => {
      if (skipIf(t, missing)) return;
      const other = `${reg.host}/team/copy:2`;
      await source.store.images.tag(image, other);
      const result = await pushImage(source.store, other, registries);
      assert.deepEqual(
        result.blobs.map((b) => b.status),
        ['mounted', 'mounted', 'mounted', 'mounted'],
      );
      assert.ok(result.blobs.every((b) => b.from === 'user/app'));
      const reason = toolMissing('skopeo');
      if (!reason) assert.equal((await skopeoInspect(reg, other)).Digest, pushedDigest);
    });

    test('the same digest pulls back into an empty store, which checks clean', async (t) => {
      if (skipIf(t, missing)) return;
      const target = await tmpStore('strata-reg-dst-');
      stores.push(target);
      // A fresh client: nothing cached from the pushes.
      const fresh = new Registries({ keychain: staticKeychain({ [reg.host]: reg.user }) });
      try {
        const byDigest = await pullImage(target.store, `${reg.host}/user/app@${pushedDigest}`, fresh);
        assert.equal(byDigest.image.id, image.id);
        assert.equal(byDigest.target.digest, pushedDigest);
        assert.deepEqual(
          byDigest.layers.map((l) => l.status),
          ['downloaded', 'downloaded', 'downloaded'],
        );
        const byTag = await pullImage(target.store, `${reg.host}/user/app:1.0`, fresh);
        assert.equal(byTag.image.id, image.id);
        assert.equal(byTag.status, 'downloaded'); // a new name, though every blob was there
        assert.deepEqual(
          byTag.layers.map((l) => l.status),
          ['exists', 'exists', 'exists'],
        );
        const again = await pullImage(target.store, `${reg.host}/user/app:1.0`, fresh);
        assert.equal(again.status, 'up-to-date');
        const stored = await target.store.images.get(`${reg.host}/user/app:1.0`);
        assert.deepEqual(stored.repoDigests, [`${reg.host}/user/app@${pushedDigest}`]);
        assert.deepEqual(stored.names, [`${reg.host}/user/app:1.0`]);
        const manifestBytes = await target.store.content.readBytes(stored.manifestDescriptor.digest);
        assert.deepEqual(parseManifest(manifestBytes), image.manifest);
        const check = await checkStore(target.store);
        assert.deepEqual(check.problems, []);
        assert.equal(check.abandonedIngests, 0);
      } finally {
        fresh.close();
      }
    });

    if (auth !== 'none') {
      test('without credentials the registry refuses, with a hint to log in', async (t) => {
        if (skipIf(t, missing)) return;
        const anonymous = new Registries();
        try {
          await assert.rejects(
            pushImage(source.store, `${reg.host}/user/app:1.0`, anonymous),
            (err: Error & { code?: string; hint?: string }) => {
              assert.equal(err.code, 'EUNAUTHORIZED');
              assert.match(err.message, /^pushing 127\.0\.0\.1:\d+\/user\/app:1\.0/);
              assert.match(err.hint ?? '', /strata login 127\.0\.0\.1:\d+/);
              return true;
            },
          );
          const empty = await tmpStore('strata-reg-anon-');
          stores.push(empty);
          await assert.rejects(
            pullImage(empty.store, `${reg.host}/user/app:1.0`, anonymous),
            /pull access denied/,
          );
        } finally {
          anonymous.close();
        }
      });

      test('login checks the password and never puts it in an error', async (t) => {
        if (skipIf(t, missing)) return;
        const ok = await verifyLogin(reg.host, reg.user);
        if (auth === 'token') assert.ok(ok.identityToken, 'the token server gave a refresh token');
        else assert.equal(ok.identityToken, undefined);
        const wrong = 'not-the-password-1234';
        await assert.rejects(
          verifyLogin(reg.host, { username: reg.user.username, password: wrong }),
          (err: Error) => {
            assert.equal((err as { code?: string }).code, 'EUNAUTHORIZED');
            let text = '';
            for (let e: unknown = err; e instanceof Error; e = e.cause) text += `${e.message}\n${e.stack}\n`;
            assert.ok(!text.includes(wrong), 'the password appears in the error');
            assert.ok(!text.includes(Buffer.from(`${reg.user.username}:${wrong}`).toString('base64')));
            return true;
          },
        );
      });
    }

    if (auth === 'token') {
      test('tokens are reused across requests, and an identity token is exchanged by POST', async (t) => {
        if (skipIf(t, missing)) return;
        const token = reg.token!;
        const fresh = new Registries({ keychain: staticKeychain({ [reg.host]: reg.user }) });
        const target = await tmpStore('strata-reg-tok-');
        stores.push(target);
        try {
          const beforeGets = token.counts.get;
          await pullImage(target.store, `${reg.host}/user/app:1.0`, fresh);
          // One token (scope user/app:pull) for the manifest and every blob.
          assert.equal(token.counts.get - beforeGets, 1);
          assert.equal(fresh.stats().tokenFetches, 1);
        } finally {
          fresh.close();
        }
        const { identityToken } = await verifyLogin(reg.host, reg.user);
        const withRefresh = new Registries({
          keychain: staticKeychain({ [reg.host]: { identityToken: identityToken! } }),
        });
        const other = await tmpStore('strata-reg-ref-');
        stores.push(other);
        try {
          const refreshes = token.counts.refresh;
          const pulled = await pullImage(other.store, `${reg.host}/team/copy:2`, withRefresh);
          assert.equal(pulled.image.id, image.id);
          assert.equal(token.counts.refresh - refreshes, 1);
        } finally {
          withRefresh.close();
        }
      });
    }
  });
}
