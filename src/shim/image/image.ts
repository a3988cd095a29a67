import type { Image } from '../../../cri/generated/runtime/v1/Image';
import type { ImageView } from './store';

/**
 * CRI `Image` from a stored image. A numeric image user becomes `uid`, a name
 * becomes `username` (kubelet's runAsNonRoot check reads both).
 */
export function toCriImage(img: ImageView): Image {
  const user = img.config.user.split(':')[0] ?? '';
  const numeric = /^\d+$/.test(user);
  return {
    id: img.id,
    repo_tags: [...img.repoTags],
    repo_digests: [...img.repoDigests],
    size: img.size.toString(),
    uid: numeric ? { value: user } : null,
    username: numeric ? '' : user,
    spec: { image: img.id, annotations: {} },
    pinned: img.pinned,
  };
}
