/*
 * A hostile pod's tool, built static by the security e2e tests and bind-mounted
 * into containers read-only:
 *   probe walk CANARY      try to create CANARY/<what> through every
 *                          /proc/N/{root,cwd,fd/*} of every visible N,
 *                          with `..` enough to leave any root; print what worked
 *   probe ptrace PID       PTRACE_SEIZE PID; prints "ok" or the errno name
 *   probe addkey           adds a user key to the session keyring; prints its id
 *   probe readkey ID       reads key ID; prints its payload or the errno name
 *   probe swap A B         exchanges A and B (renameat2 RENAME_EXCHANGE, both
 *                          there at every instant) every 100 us, forever;
 *                          prints the errno name if it cannot
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *up = "/../../../../../../../../../../../../../../..";

static int try_create(const char *base, const char *canary, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s%s%s/%s", base, up, canary, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return 0;
  if (write(fd, "x", 1) < 0) { /* created is enough */ }
  close(fd);
  printf("ESCAPED %s\n", path);
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "walk") && argc == 3) {
    int escaped = 0, tried = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
      char base[256], name[128];
      for (int k = 0; k < 2; k++) {
        const char *what = k ? "cwd" : "root";
        snprintf(base, sizeof base, "/proc/%s/%s", e->d_name, what);
        snprintf(name, sizeof name, "%s-%s", e->d_name, what);
        escaped += try_create(base, argv[2], name);
        tried++;
      }
      char fddir[64];
      snprintf(fddir, sizeof fddir, "/proc/%s/fd", e->d_name);
      DIR *fds = opendir(fddir);
      struct dirent *f;
      while (fds && (f = readdir(fds))) {
        if (f->d_name[0] == '.') continue;
        snprintf(base, sizeof base, "%s/%s", fddir, f->d_name);
        snprintf(name, sizeof name, "%s-fd-%s", e->d_name, f->d_name);
        escaped += try_create(base, argv[2], name);
        tried++;
      }
      if (fds) closedir(fds);
    }
    printf("tried %d escaped %d\n", tried, escaped);
    return 0;
  }
  if (!strcmp(argv[1], "ptrace") && argc == 3) {
    if (ptrace(PTRACE_SEIZE, atoi(argv[2]), 0, 0) == 0) printf("ok\n");
    else printf("%s\n", strerrorname_np(errno));
    return 0;
  }
  if (!strcmp(argv[1], "addkey")) {
    long id = syscall(SYS_add_key, "user", "mcri-secret", "s3cr3t", 6, -3 /* KEY_SPEC_SESSION_KEYRING */);
    if (id < 0) printf("%s\n", strerrorname_np(errno));
    else printf("%ld\n", id);
    return 0;
  }
  if (!strcmp(argv[1], "readkey") && argc == 3) {
    char buf[64] = "";
    long n = syscall(SYS_keyctl, 11 /* KEYCTL_READ */, atol(argv[2]), buf, sizeof buf - 1);
    if (n < 0) printf("%s\n", strerrorname_np(errno));
    else printf("%.*s\n", (int)n, buf);
    return 0;
  }
  if (!strcmp(argv[1], "swap") && argc == 4) {
    for (;;) {
      if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], 2 /* RENAME_EXCHANGE */) < 0) {
        printf("%s\n", strerrorname_np(errno));
        return 1;
      }
      usleep(100);
    }
  }
  return 2;
}
