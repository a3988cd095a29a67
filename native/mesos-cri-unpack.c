/*
 * mesos-cri-unpack: extracts one image layer (an uncompressed tar on stdin)
 * under ROOT, with overlay-form whiteouts. libarchive reads the tar (ustar,
 * v7, GNU long names and sparse files, PAX with binary xattrs, sparse 0.x/1.0,
 * large ids and fractional times, archives without end blocks); this file
 * decides where every byte and every piece of metadata lands.
 *
 *   mesos-cri-unpack [--no-devices] ROOT        extract stdin under ROOT
 *   mesos-cri-unpack --ops ROOT                 apply NUL-separated ops (copy backend)
 *
 * Security (DESIGN.md "Trust boundaries"): every parent directory is opened
 * with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)
 * relative to ROOT, so a symlink in the layer (even one swapped in later in
 * the same archive) resolves as if ROOT were `/`. The entry itself is then
 * one path component handled with *at calls relative to that directory fd
 * and without following it (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW, O_EXCL), and
 * xattrs go through /proc/self/fd/<dirfd>/<name> with lsetxattr. Nothing is
 * deferred by path except directory times, which are re-resolved inside ROOT
 * and applied only if the directory is still the inode we created.
 *
 * Output on stdout: one record per whiteout ("w<path>\0") and per opaque
 * directory ("o<path>\0"), relative to ROOT. Errors: one line on stderr
 * naming the entry and the reason; exit status 1 for bad input, 2 for
 * usage or system errors.
 */
#define _GNU_SOURCE
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#define RESOLVE_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV)

static int rootfd = -1;
static int devices = 1;
static uid_t myuid;
static gid_t mygid;
static const char *current = ""; /* the entry being extracted, for messages */

/* Prints a name for a message: printable ASCII kept, the rest escaped, long names cut. */
static void print_name(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++) {
    if (n >= 200) {
      fputs("...", stderr);
      break;
    }
    if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\') fputc(*p, stderr);
    else fprintf(stderr, "\\x%02x", *p);
  }
}

static void __attribute__((noreturn, format(printf, 2, 3))) die(int status, const char *fmt, ...) {
  fflush(stdout);
  if (current[0] != '\0') {
    fputs("entry \"", stderr);
    print_name(current);
    fputs("\": ", stderr);
  }
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(status);
}

#define bad(...) die(1, __VA_ARGS__)

static int openat2_in_root(const char *path, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_FLAGS};
  long fd;
  do fd = syscall(SYS_openat2, rootfd, path[0] ? path : ".", &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return (int)fd;
}

/*
 * Cleans a member name into `out` (components joined by '/', no leading
 * '/', no '.' or empty components). `..` is refused: no real image needs it,
 * and a name that climbs is the first sign of a hostile layer.
 */
static void clean_name(const char *name, char *out, size_t cap, const char *what) {
  size_t o = 0;
  const char *p = name;
  while (*p) {
    while (*p == '/') p++;
    const char *s = p;
    while (*p && *p != '/') p++;
    size_t len = (size_t)(p - s);
    if (len == 0 || (len == 1 && s[0] == '.')) continue;
    if (len == 2 && s[0] == '.' && s[1] == '.') bad("%s contains \"..\"", what);
    if (len > 255) bad("%s has a component longer than 255 bytes", what);
    if (o + len + 2 > cap) bad("%s is longer than %zu bytes", what, cap - 1);
    if (o > 0) out[o++] = '/';
    memcpy(out + o, s, len);
    o += len;
  }
  out[o] = '\0';
}

/* Splits a cleaned name into parent (left in `rel`) and base (copied to `base`). */
static void split_base(char *rel, char base[256]) {
  char *slash = strrchr(rel, '/');
  const char *b = slash ? slash + 1 : rel;
  size_t n = strlen(b);
  memcpy(base, b, n + 1);
  if (slash) *slash = '\0';
  else rel[0] = '\0';
}

/* One cached parent directory: consecutive entries mostly share one. */
static char cached_path[4096];
static int cached_fd = -1;

/* Forgets the cached path; the fd stays valid for the entry using it and is closed by the next lookup. */
static int cache_valid;
static void invalidate_cache(void) {
  cache_valid = 0;
}

/*
 * Creates the missing directories of `parent`: walks it component by
 * component, each prefix resolved inside ROOT, creating what does not exist
 * in the directory resolved so far. A dangling symlink on the way is
 * replaced by its target (as containerd's MkdirAll on `fs.RootPath` does),
 * which is resolved inside ROOT again.
 */
static int create_parent(const char *parent) {
  char path[8192], prefix[8192];
  if (strlen(parent) >= sizeof path) bad("parent path too long");
  strcpy(path, parent);
  int links = 0;
restart:;
  int cur = openat2_in_root("", O_PATH | O_DIRECTORY);
  if (cur < 0) die(2, "cannot open root: %s", strerror(errno));
  size_t n = strlen(path), i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && path[j] != '/') j++;
    memcpy(prefix, path, j);
    prefix[j] = '\0';
    int next = openat2_in_root(prefix, O_PATH | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      char comp[256];
      if (j - i > 255) bad("a path component is longer than 255 bytes");
      memcpy(comp, path + i, j - i);
      comp[j - i] = '\0';
      if (mkdirat(cur, comp, 0755) < 0) {
        if (errno != EEXIST) bad("cannot create parent directory \"%s\": %s", prefix, strerror(errno));
        char target[4096];
        ssize_t tl = readlinkat(cur, comp, target, sizeof target - 1);
        if (tl < 0) bad("parent \"%s\" is not a directory", prefix);
        target[tl] = '\0';
        if (++links > 40) bad("too many levels of symbolic links in the parent path");
        /* path := dir(prefix) + target + rest; `..` and absolute targets stay clamped by RESOLVE_IN_ROOT. */
        char rewritten[8192];
        int w;
        const char *rest = path + j;
        if (target[0] == '/') w = snprintf(rewritten, sizeof rewritten, "%s%s", target + 1, rest);
        else w = snprintf(rewritten, sizeof rewritten, "%.*s%s%s", (int)i, path, target, rest);
        if (w < 0 || (size_t)w >= sizeof rewritten) bad("parent path too long");
        strcpy(path, rewritten);
        close(cur);
        goto restart;
      }
      next = openat(cur, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (next < 0) {
      if (errno == ENOTDIR) bad("parent \"%s\" is not a directory", prefix);
      bad("cannot open parent directory \"%s\": %s", prefix, strerror(errno));
    }
    close(cur);
    cur = next;
    i = j + 1;
  }
  return cur;
}

/*
 * An O_PATH fd of directory `parent` (relative to ROOT), resolved inside
 * ROOT; missing directories are created (0755, as tar and containerd do).
 */
static int open_parent(const char *parent, int create) {
  if (cache_valid && strcmp(parent, cached_path) == 0) return cached_fd;
  if (cached_fd >= 0) close(cached_fd);
  cached_fd = -1;
  cache_valid = 0;
  int fd = openat2_in_root(parent, O_PATH | O_DIRECTORY);
  if (fd < 0 && errno == ENOENT && create) fd = create_parent(parent);
  if (fd < 0) {
    if (errno == ENOTDIR) bad("a parent is not a directory");
    if (errno == ELOOP) bad("too many levels of symbolic links in the parent path");
    bad("cannot open parent directory \"%s\": %s", parent, strerror(errno));
  }
  cached_fd = fd;
  if (strlen(parent) < sizeof cached_path) {
    strcpy(cached_path, parent);
    cache_valid = 1;
  }
  return fd;
}

/* Removes `name` in `dirfd` and everything below it, never following symlinks. */
static int remove_all(int dirfd, const char *name) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT) return 0;
  if (errno != EISDIR && errno != EPERM) return -1;
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -1;
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (remove_all(fd, e->d_name) < 0) rc = -1;
  }
  closedir(d);
  if (rc < 0) return -1;
  return unlinkat(dirfd, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/*
 * Makes room for a new entry `name` in `dirfd`: whatever is there goes,
 * unless both are directories (containerd's rule). Returns whether a
 * directory stays.
 */
static int clear(int dirfd, const char *name, int want_dir) {
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return 0;
    bad("cannot stat existing entry: %s", strerror(errno));
  }
  if (want_dir && S_ISDIR(st.st_mode)) return 1;
  if (remove_all(dirfd, name) < 0) bad("cannot replace existing entry: %s", strerror(errno));
  if (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode)) invalidate_cache();
  return 0;
}

static void proc_path(char *buf, size_t cap, int dirfd, const char *name) {
  snprintf(buf, cap, "/proc/self/fd/%d/%s", dirfd, name);
}

/*
 * Image xattrs: `trusted.*` are dropped (overlayfs keeps its own state
 * there; an image must not forge it), everything else is applied.
 * Filesystems that do not support a namespace are tolerated, as containerd does.
 */
static void apply_xattrs(struct archive_entry *e, int fd, int dirfd, const char *name) {
  if (archive_entry_xattr_reset(e) == 0) return;
  const char *key;
  const void *value;
  size_t size;
  char path[4400];
  int have_path = 0;
  while (archive_entry_xattr_next(e, &key, &value, &size) == ARCHIVE_OK) {
    if (strncmp(key, "trusted.", 8) == 0) continue;
    int rc;
    if (fd >= 0) rc = fsetxattr(fd, key, value, size, 0);
    else {
      if (!have_path) proc_path(path, sizeof path, dirfd, name), have_path = 1;
      rc = lsetxattr(path, key, value, size, 0);
    }
    if (rc < 0 && errno != ENOTSUP && !(errno == EPERM && fd < 0))
      bad("cannot set xattr \"%s\": %s", key, strerror(errno));
  }
}

static void times_of(struct archive_entry *e, struct timespec ts[2]) {
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (archive_entry_atime_is_set(e)) {
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_nsec(e);
  } else ts[0] = ts[1];
}

/* Directory times are set last (children change them): by in-root path, checked by inode. */
struct dirtime {
  char *path;
  dev_t dev;
  ino_t ino;
  struct timespec ts[2];
};
static struct dirtime *dirs;
static size_t ndirs, capdirs;

static void remember_dir(const char *rel, int fd, const struct timespec ts[2]) {
  struct stat st;
  if (fstat(fd, &st) < 0) bad("cannot stat directory: %s", strerror(errno));
  if (ndirs == capdirs) {
    capdirs = capdirs ? capdirs * 2 : 256;
    dirs = realloc(dirs, capdirs * sizeof *dirs);
    if (!dirs) die(2, "out of memory");
  }
  dirs[ndirs].path = strdup(rel);
  if (!dirs[ndirs].path) die(2, "out of memory");
  dirs[ndirs].dev = st.st_dev;
  dirs[ndirs].ino = st.st_ino;
  dirs[ndirs].ts[0] = ts[0];
  dirs[ndirs].ts[1] = ts[1];
  ndirs++;
}

static void finish_dirs(void) {
  current = "";
  for (size_t i = ndirs; i-- > 0;) {
    int fd = openat2_in_root(dirs[i].path, O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) continue; /* replaced or removed by a later entry */
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_dev == dirs[i].dev && st.st_ino == dirs[i].ino) {
      char path[64];
      snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
      if (utimensat(AT_FDCWD, path, dirs[i].ts, 0) < 0) die(2, "cannot set times of a directory: %s", strerror(errno));
    }
    close(fd);
  }
}

static void emit(char kind, const char *parent, const char *name) {
  putchar(kind);
  if (parent[0]) {
    fputs(parent, stdout);
    if (name[0]) putchar('/');
  }
  fputs(name, stdout);
  putchar('\0');
}

static void write_file(struct archive *a, struct archive_entry *e, int dirfd, const char *name) {
  mode_t perm = archive_entry_perm(e);
  int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, perm & 0777);
  if (fd < 0) bad("cannot create file: %s", strerror(errno));
  const void *buf;
  size_t size;
  la_int64_t offset;
  int r;
  int64_t end = 0;
  while ((r = archive_read_data_block(a, &buf, &size, &offset)) == ARCHIVE_OK) {
    const char *p = buf;
    while (size > 0) {
      ssize_t w = pwrite(fd, p, size, offset);
      if (w < 0) {
        if (errno == EINTR) continue;
        bad("cannot write file: %s", strerror(errno));
      }
      p += w, size -= (size_t)w, offset += w;
    }
    if (offset > end) end = offset;
  }
  if (r != ARCHIVE_EOF) bad("cannot read file data: %s", archive_error_string(a));
  /* Sparse files end in a hole: the size says where the file ends. */
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > end && ftruncate(fd, archive_entry_size(e)) < 0)
    bad("cannot size file: %s", strerror(errno));
  uid_t uid = (uid_t)archive_entry_uid(e);
  gid_t gid = (gid_t)archive_entry_gid(e);
  int owned = uid != myuid || gid != mygid;
  if (owned && fchown(fd, uid, gid) < 0) bad("cannot chown file: %s", strerror(errno));
  /* chown clears setuid/setgid; the creation mode lacked them. */
  if ((owned || (perm & 07000)) && fchmod(fd, perm) < 0) bad("cannot chmod file: %s", strerror(errno));
  apply_xattrs(e, fd, dirfd, name); /* after chown, which clears security.capability */
  struct timespec ts[2];
  times_of(e, ts);
  if (futimens(fd, ts) < 0) bad("cannot set file times: %s", strerror(errno));
  if (close(fd) < 0) bad("cannot write file: %s", strerror(errno));
}

/* Owner, mode, xattrs and times of a node just created in `dirfd`, never following it. */
static void finish_node(struct archive_entry *e, int dirfd, const char *name, int is_link) {
  uid_t uid = (uid_t)archive_entry_uid(e);
  gid_t gid = (gid_t)archive_entry_gid(e);
  int owned = uid != myuid || gid != mygid;
  if (owned && fchownat(dirfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) bad("cannot chown: %s", strerror(errno));
  if (!is_link && (owned || (archive_entry_perm(e) & 07000))) {
    int fd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) bad("cannot open node: %s", strerror(errno));
    if (S_ISLNK(st.st_mode)) bad("node was replaced");
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if (chmod(path, archive_entry_perm(e)) < 0) bad("cannot chmod: %s", strerror(errno));
    close(fd);
  }
  apply_xattrs(e, -1, dirfd, name);
  struct timespec ts[2];
  times_of(e, ts);
  if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) bad("cannot set times: %s", strerror(errno));
}

static void hardlink(struct archive_entry *e, int dirfd, const char *name, const char *parent) {
  char target[4096];
  clean_name(archive_entry_hardlink(e), target, sizeof target, "hardlink target");
  if (target[0] == '\0') bad("hardlink to the root");
  char tbase_copy[256];
  split_base(target, tbase_copy);
  int tdir = openat2_in_root(target, O_PATH | O_DIRECTORY);
  if (tdir < 0) bad("hardlink target \"%s/%s\" is not in the layer: %s", target, tbase_copy, strerror(errno));
  struct stat tst, dst;
  if (fstatat(tdir, tbase_copy, &tst, AT_SYMLINK_NOFOLLOW) < 0) bad("hardlink target \"%s\" is not in the layer", tbase_copy);
  if (S_ISDIR(tst.st_mode)) bad("hardlink to a directory");
  if (fstatat(dirfd, name, &dst, AT_SYMLINK_NOFOLLOW) == 0 && dst.st_dev == tst.st_dev && dst.st_ino == tst.st_ino) {
    close(tdir);
    return; /* already that file */
  }
  (void)parent;
  clear(dirfd, name, 0);
  /* No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself, as tar does. */
  if (linkat(tdir, tbase_copy, dirfd, name, 0) < 0) bad("cannot create hardlink: %s", strerror(errno));
  close(tdir);
}

static void extract_entry(struct archive *a, struct archive_entry *e) {
  const char *raw = archive_entry_pathname(e);
  if (!raw) bad("entry without a name");
  current = raw;
  static char rel[4096];
  clean_name(raw, rel, sizeof rel, "name");
  if (rel[0] == '\0') return; /* the root itself: its metadata is ours (containerd skips it too) */
  char full[4096];
  strcpy(full, rel);
  char base[256];
  split_base(rel, base);
  const char *parent = rel;
  mode_t type = archive_entry_filetype(e);
  int dirfd = open_parent(parent, 1);

  if (strncmp(base, ".wh.", 4) == 0) {
    if (strcmp(base, ".wh..wh..opq") == 0) {
      int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0 || fsetxattr(fd, "trusted.overlay.opaque", "y", 1, 0) < 0) bad("cannot mark directory opaque: %s", strerror(errno));
      close(fd);
      emit('o', parent, "");
      return;
    }
    if (strncmp(base, ".wh..wh.", 8) == 0) return; /* aufs metadata (.wh..wh.plnk, ...): not content */
    const char *hidden = base + 4;
    if (hidden[0] == '\0' || strcmp(hidden, ".") == 0 || strcmp(hidden, "..") == 0) bad("bad whiteout name");
    clear(dirfd, hidden, 0);
    if (devices) {
      if (mknodat(dirfd, hidden, S_IFCHR | 0, makedev(0, 0)) < 0) bad("cannot create whiteout: %s", strerror(errno));
      struct timespec ts[2];
      times_of(e, ts);
      utimensat(dirfd, hidden, ts, AT_SYMLINK_NOFOLLOW);
    }
    emit('w', parent, hidden);
    return;
  }

  if (archive_entry_hardlink(e)) {
    hardlink(e, dirfd, base, parent);
    return;
  }
  struct timespec ts[2];
  switch (type) {
  case AE_IFREG:
    clear(dirfd, base, 0);
    write_file(a, e, dirfd, base);
    break;
  case AE_IFDIR: {
    if (!clear(dirfd, base, 1) && mkdirat(dirfd, base, 0700) < 0) bad("cannot create directory: %s", strerror(errno));
    int fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) bad("cannot open directory: %s", strerror(errno));
    uid_t uid = (uid_t)archive_entry_uid(e);
    gid_t gid = (gid_t)archive_entry_gid(e);
    if ((uid != myuid || gid != mygid) && fchown(fd, uid, gid) < 0) bad("cannot chown directory: %s", strerror(errno));
    if (fchmod(fd, archive_entry_perm(e)) < 0) bad("cannot chmod directory: %s", strerror(errno));
    apply_xattrs(e, fd, dirfd, base);
    times_of(e, ts);
    remember_dir(full, fd, ts);
    close(fd);
    break;
  }
  case AE_IFLNK: {
    const char *target = archive_entry_symlink(e);
    if (!target) bad("symlink without a target");
    clear(dirfd, base, 0);
    if (symlinkat(target, dirfd, base) < 0) bad("cannot create symlink: %s", strerror(errno));
    finish_node(e, dirfd, base, 1);
    break;
  }
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    if (type != AE_IFIFO && !devices) return;
    clear(dirfd, base, 0);
    if (mknodat(dirfd, base, type | archive_entry_perm(e), archive_entry_rdev(e)) < 0) bad("cannot create node: %s", strerror(errno));
    finish_node(e, dirfd, base, 0);
    break;
  default:
    bad("unsupported entry type 0%o", (unsigned)type);
  }
}

/*
 * The layer stream. Writers such as umoci end a layer right after the last
 * file's data: no padding to 512 bytes, no end blocks. GNU tar and Go's
 * archive/tar accept that; libarchive accepts missing end blocks but not a
 * short last block. So at EOF a partial block is completed with zeros, and
 * the extraction is accepted only if the stream ended exactly where the
 * last entry's data did (checked with `last_residue`), so a layer cut
 * inside a file's data still fails.
 */
struct input {
  int64_t total;
  size_t synthetic;
  char buf[1 << 20];
};
static struct input in;
static long last_residue;

static la_ssize_t read_input(struct archive *a, void *data, const void **out) {
  (void)data;
  for (;;) {
    ssize_t n = read(0, in.buf, sizeof in.buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      archive_set_error(a, errno, "read: %s", strerror(errno));
      return -1;
    }
    *out = in.buf;
    if (n > 0) {
      in.total += n;
      return n;
    }
    if (in.synthetic == 0 && in.total % 512 != 0) {
      in.synthetic = 512 - (size_t)(in.total % 512);
      memset(in.buf, 0, in.synthetic);
      return (la_ssize_t)in.synthetic;
    }
    return 0;
  }
}

static int extract(void) {
  struct archive *a = archive_read_new();
  if (!a) die(2, "out of memory");
  archive_read_support_format_tar(a);
  archive_read_support_filter_none(a);
  if (archive_read_open(a, NULL, NULL, read_input, NULL) != ARCHIVE_OK) bad("cannot read layer: %s", archive_error_string(a));
  struct archive_entry *e;
  int r;
  while ((r = archive_read_next_header(a, &e)) != ARCHIVE_EOF) {
    if (r == ARCHIVE_WARN) {
      /* Name conversion warnings keep the raw bytes; anything else is a damaged layer. */
      const char *msg = archive_error_string(a);
      if (!msg || !strstr(msg, "can't be converted")) bad("bad tar header: %s", msg ? msg : "warning");
    } else if (r != ARCHIVE_OK) {
      current = "";
      bad("bad tar header: %s", archive_error_string(a));
    }
    int plain = archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e) && archive_entry_sparse_count(e) == 0;
    last_residue = plain ? (long)(archive_entry_size(e) % 512) : 0;
    extract_entry(a, e);
  }
  current = "";
  if (in.synthetic != 0 && (long)(512 - in.synthetic) != last_residue) bad("truncated layer: the stream ends inside an entry");
  finish_dirs();
  archive_read_free(a);
  /* Consume what follows the end blocks, so the writer's digest sees every byte. */
  static char sink[1 << 16];
  while (read(0, sink, sizeof sink) > 0) {
  }
  if (syncfs(rootfd) < 0) die(2, "cannot flush layer: %s", strerror(errno));
  return 0;
}

/*
 * --ops: the copy backend's special files. Records on stdin, NUL-separated:
 *   "n", path, mode, rdev, uid, gid, mtime_sec, mtime_nsec   (mknod/mkfifo)
 * Paths are relative to ROOT and resolved inside it like layer entries.
 */
static char *next_field(char **p, char *end) {
  if (*p >= end) bad("truncated op");
  char *s = *p;
  char *z = memchr(s, '\0', (size_t)(end - s));
  if (!z) bad("truncated op");
  *p = z + 1;
  return s;
}

static int ops(void) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  ssize_t n;
  while (buf && (n = read(0, buf + len, cap - len)) > 0) {
    len += (size_t)n;
    if (len == cap) buf = realloc(buf, cap *= 2);
  }
  if (!buf) die(2, "out of memory");
  char *p = buf, *end = buf + len;
  while (p < end) {
    char *op = next_field(&p, end);
    if (strcmp(op, "n") != 0) bad("unknown op \"%s\"", op);
    char *path = next_field(&p, end);
    current = path;
    mode_t mode = (mode_t)strtoul(next_field(&p, end), NULL, 10);
    dev_t rdev = (dev_t)strtoull(next_field(&p, end), NULL, 10);
    uid_t uid = (uid_t)strtoul(next_field(&p, end), NULL, 10);
    gid_t gid = (gid_t)strtoul(next_field(&p, end), NULL, 10);
    struct timespec ts[2];
    ts[1].tv_sec = (time_t)strtoll(next_field(&p, end), NULL, 10);
    ts[1].tv_nsec = strtol(next_field(&p, end), NULL, 10);
    ts[0] = ts[1];
    static char rel[4096];
    clean_name(path, rel, sizeof rel, "path");
    if (rel[0] == '\0') bad("op on the root");
    char base[256];
    split_base(rel, base);
    int dirfd = open_parent(rel, 1);
    if (!S_ISFIFO(mode) && !devices) continue;
    clear(dirfd, base, 0);
    if (mknodat(dirfd, base, mode, rdev) < 0) bad("cannot create node: %s", strerror(errno));
    if (fchownat(dirfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) bad("cannot chown: %s", strerror(errno));
    int fd = openat(dirfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    char pp[64];
    snprintf(pp, sizeof pp, "/proc/self/fd/%d", fd);
    if (fd < 0 || chmod(pp, mode & 07777) < 0) bad("cannot chmod: %s", strerror(errno));
    close(fd);
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) bad("cannot set times: %s", strerror(errno));
  }
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  int mode_ops = 0, i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--no-devices") == 0) devices = 0;
    else if (strcmp(argv[i], "--ops") == 0) mode_ops = 1;
    else die(2, "unknown option %s", argv[i]);
  }
  if (i + 1 != argc) die(2, "usage: mesos-cri-unpack [--no-devices] [--ops] ROOT");
  umask(0);
  myuid = geteuid();
  mygid = getegid();
  rootfd = open(argv[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) die(2, "cannot open %s: %s", argv[i], strerror(errno));
  int rc = mode_ops ? ops() : extract();
  if (fflush(stdout) != 0) die(2, "cannot write output: %s", strerror(errno));
  return rc;
}
