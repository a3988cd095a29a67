/** Paths inside a rootfs: the rules live in `common/in-root.ts`, shared with the image store. */
export { readRegularFileInRoot, resolveInRoot } from '../../common/in-root';
