import type { AuthConfig__Output } from '../../../cri/generated/runtime/v1/AuthConfig';
import { invalid } from '../../common/errors';
import type { ImageHandler } from '../handlers';
import type { ImageStoreView, RegistryAuth } from './store';

function toAuth(a: AuthConfig__Output | null): RegistryAuth | undefined {
  if (!a) return undefined;
  const out: RegistryAuth = {};
  if (a.username) out.username = a.username;
  if (a.password) out.password = a.password;
  if (a.auth) out.auth = a.auth;
  if (a.server_address) out.serverAddress = a.server_address;
  if (a.identity_token) out.identityToken = a.identity_token;
  if (a.registry_token) out.registryToken = a.registry_token;
  return Object.keys(out).length ? out : undefined;
}

/** `PullImage`: answers the image id (the config digest), as containerd does. */
export const pullImage =
  (store: ImageStoreView): ImageHandler<'PullImage'> =>
  async (req, ctx) => {
    const ref = req.image?.image ?? '';
    if (!ref) throw invalid('image.image must name an image');
    const img = await store.pull(ref, { auth: toAuth(req.auth) }, ctx);
    return { image_ref: img.id };
  };
