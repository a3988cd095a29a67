import { rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { checkpoint, checkpointFault, moveAside, readCheckpoint } from '../../common/checkpoint';
import { log } from '../../common/log';
import { isErrno } from '../../common/fsutil';
import { imagePath, imagesDir, storeDir } from '../paths';
import { join } from 'node:path';
import { formatReference, isImageId, parseReference, repository } from '../reference';
import type { ImageConfig, ImageRecord, LayerDescriptor } from '../types';

/**
 * Image metadata: one record per image id (config digest), holding its
 * repo tags and repo digests, kept in memory and checkpointed per image.
 * A tag names one image: tagging another image moves it (containerd).
 */
export interface StoredImage {
  readonly id: string;
  repoTags: string[];
  repoDigests: string[];
  readonly manifestDigests: string[];
  readonly configDigest: string;
  readonly layers: LayerDescriptor[];
  readonly config: ImageConfig;
  pinned: boolean;
}

export const toRecord = (s: StoredImage): ImageRecord => ({
  id: s.id,
  repoTags: [...s.repoTags],
  repoDigests: [...s.repoDigests],
  size: s.layers.reduce((n, l) => n + BigInt(l.size), 0n),
  config: s.config,
  pinned: s.pinned,
});

export class ImageIndex {
  #images = new Map<string, StoredImage>();
  /** Image records that exist but could not be read (EIO, a newer version): their layers' users are unknown. */
  #unreadable = new Set<string>();

  constructor(private readonly workDir: string) {}

  async load(): Promise<void> {
    let names: string[] = [];
    try {
      names = await readdir(imagesDir(this.workDir));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
    for (const n of names) {
      if (!/^[a-f0-9]{64}\.json$/.test(n)) continue;
      const path = imagePath(this.workDir, `sha256:${n.slice(0, 64)}`);
      try {
        const s = await readCheckpoint<StoredImage>(path);
        if (s) this.#images.set(s.id, s);
      } catch (err) {
        // Fail safe: an unparseable record is moved aside (its content goes
        // with the next GC); an unreadable one keeps every layer and blob.
        if (checkpointFault(err) === 'corrupt') {
          const aside = await moveAside(path, join(storeDir(this.workDir), 'quarantine'), n).catch(() => null);
          log.warn({ err, movedTo: aside }, 'moved an unparseable image record aside');
          if (aside !== null) continue;
        }
        log.error({ err, path }, 'an image record cannot be read: no image content is garbage-collected until it can');
        this.#unreadable.add(n);
      }
    }
  }

  /** Whether some image record could not be read at load: GC then removes nothing. */
  hasUnreadable(): boolean {
    return this.#unreadable.size > 0;
  }

  all(): StoredImage[] {
    return [...this.#images.values()];
  }

  get(id: string): StoredImage | undefined {
    return this.#images.get(id);
  }

  /** By id, `sha256:`-less id, tag or digest reference, or a unique id prefix. */
  find(refOrId: string): StoredImage | undefined {
    if (isImageId(refOrId)) {
      const hit = this.#images.get(refOrId.startsWith('sha256:') ? refOrId : `sha256:${refOrId}`);
      if (hit) return hit;
    }
    let canonical: string | undefined;
    try {
      canonical = formatReference(parseReference(refOrId));
    } catch {
      canonical = undefined;
    }
    if (canonical !== undefined) {
      for (const s of this.#images.values()) if (s.repoTags.includes(canonical) || s.repoDigests.includes(canonical)) return s;
    }
    const prefix = refOrId.replace(/^sha256:/, '');
    if (/^[a-f0-9]{3,63}$/.test(prefix)) {
      const hits = this.all().filter((s) => s.id.slice(7).startsWith(prefix));
      if (hits.length === 1) return hits[0];
    }
    return undefined;
  }

  /** Stores `image` and moves `tag` (a canonical `repo:tag`) to it; persists every changed record. */
  async put(image: StoredImage, tag: string | undefined): Promise<StoredImage> {
    const existing = this.#images.get(image.id);
    const merged: StoredImage = existing ?? image;
    const changed = new Set<StoredImage>([merged]);
    for (const d of image.repoDigests) if (!merged.repoDigests.includes(d)) merged.repoDigests.push(d);
    if (tag !== undefined) {
      for (const other of this.#images.values()) {
        if (other !== merged && other.repoTags.includes(tag)) {
          other.repoTags = other.repoTags.filter((t) => t !== tag);
          changed.add(other);
        }
      }
      if (!merged.repoTags.includes(tag)) merged.repoTags.push(tag);
    }
    this.#images.set(merged.id, merged);
    for (const s of changed) await this.#save(s);
    return merged;
  }

  async untag(image: StoredImage, ref: string): Promise<void> {
    image.repoTags = image.repoTags.filter((t) => t !== ref);
    // A repo with no tag left keeps no digest either (containerd drops both with the name).
    const repo = repository(parseReference(ref));
    if (!image.repoTags.some((t) => t.startsWith(`${repo}:`))) image.repoDigests = image.repoDigests.filter((d) => !d.startsWith(`${repo}@`));
    await this.#save(image);
  }

  async delete(id: string): Promise<void> {
    this.#images.delete(id);
    rmSync(imagePath(this.workDir, id), { force: true });
  }

  async #save(s: StoredImage): Promise<void> {
    await checkpoint(imagePath(this.workDir, s.id), s);
  }
}
