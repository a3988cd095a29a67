/*
 * mesos-cri-spawn: runs short commands (runc start/kill/delete, mount,
 * umount...) for the daemon. Forking the daemon itself costs 3-4 ms of its
 * event loop per command (the kernel copies and then tears down the page
 * tables of a ~100 MB process, and libuv waits for the exec); forking this
 * small process costs a tenth of that and does not block the daemon.
 *
 * The daemon writes requests on our stdin and reads replies on our stdout,
 * each a frame: u32 length (of what follows), u32 id, then the body; all
 * integers little-endian, strings as u32 length + bytes.
 *
 *   run  (op 1): u32 argc, argv strings; u32 envc (0xffffffff: inherit
 *                ours), env strings; cwd string (empty: ours); input
 *                string (given to the command as stdin from a memfd;
 *                empty with no stdin: /dev/null)
 *   kill (op 2): u32 id of a running command: SIGKILL it
 *
 * Reply to a run, once the command exited and closed its output:
 *   i32 kind (0 exited, 1 killed by a signal, 2 could not be started),
 *   i32 code (exit code, signal number or errno), stdout string, stderr
 *   string (each capped at 16 MiB).
 *
 * On EOF on stdin (the daemon is gone) it stops taking requests, lets the
 * running commands finish, and exits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_CAP (16u << 20)
#define MAX_CHILDREN 1024

struct buf { char *p; size_t n, cap; };

struct child {
  uint32_t id;
  pid_t pid;
  int out, err;           /* -1 once closed */
  int exited, status;
  struct buf o, e;
};

static struct child kids[MAX_CHILDREN];
static int nkids;
extern char **environ;

static void buf_add(struct buf *b, const void *p, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->n + n) cap *= 2;
    char *q = realloc(b->p, cap);
    if (!q) { perror("mesos-cri-spawn: realloc"); exit(1); }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
}

static void put32(struct buf *b, uint32_t v) { buf_add(b, &v, 4); }
static void putstr(struct buf *b, const char *p, size_t n) { put32(b, (uint32_t)n); buf_add(b, p, n); }

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { struct pollfd pf = {fd, POLLOUT, 0}; poll(&pf, 1, -1); continue; }
      exit(0); /* the daemon is gone */
    }
    p += w;
    n -= (size_t)w;
  }
}

static void reply(uint32_t id, int32_t kind, int32_t code, const struct buf *o, const struct buf *e) {
  struct buf r = {0};
  put32(&r, 0);
  put32(&r, id);
  put32(&r, (uint32_t)kind);
  put32(&r, (uint32_t)code);
  putstr(&r, o ? o->p : "", o ? o->n : 0);
  putstr(&r, e ? e->p : "", e ? e->n : 0);
  uint32_t len = (uint32_t)(r.n - 4);
  memcpy(r.p, &len, 4);
  write_all(1, r.p, r.n);
  free(r.p);
}

/* ---- request parsing ---- */

struct reader { const char *p; size_t n; int bad; };

static uint32_t get32(struct reader *r) {
  uint32_t v = 0;
  if (r->n < 4) { r->bad = 1; return 0; }
  memcpy(&v, r->p, 4);
  r->p += 4;
  r->n -= 4;
  return v;
}

/* A NUL-terminated copy of the next string. */
static char *getstr(struct reader *r, size_t *len) {
  uint32_t n = get32(r);
  if (r->bad || r->n < n) { r->bad = 1; return NULL; }
  char *s = malloc(n + 1);
  if (!s) exit(1);
  memcpy(s, r->p, n);
  s[n] = 0;
  r->p += n;
  r->n -= n;
  if (len) *len = n;
  return s;
}

static void run(uint32_t id, struct reader *r) {
  uint32_t argc = get32(r);
  if (r->bad || argc == 0 || argc > 65536) { reply(id, 2, EINVAL, NULL, NULL); return; }
  char **argv = calloc(argc + 1, sizeof *argv);
  for (uint32_t i = 0; i < argc; i++) argv[i] = getstr(r, NULL);
  uint32_t envc = get32(r);
  char **envp = environ;
  if (envc != 0xffffffffu) {
    if (envc > 65536) r->bad = 1;
    envp = calloc((size_t)envc + 1, sizeof *envp);
    for (uint32_t i = 0; i < envc && !r->bad; i++) envp[i] = getstr(r, NULL);
  }
  size_t cwdlen = 0, inlen = 0;
  char *cwd = getstr(r, &cwdlen);
  char *input = getstr(r, &inlen);
  if (r->bad || nkids >= MAX_CHILDREN) { reply(id, 2, r->bad ? EINVAL : EAGAIN, NULL, NULL); goto out; }

  int in = -1, out[2], err[2], ep[2];
  if (inlen > 0) {
    in = memfd_create("stdin", MFD_CLOEXEC);
    if (in < 0 || write(in, input, inlen) != (ssize_t)inlen || lseek(in, 0, SEEK_SET) < 0) { reply(id, 2, errno, NULL, NULL); goto out; }
  } else {
    in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0) { reply(id, 2, errno, NULL, NULL); goto out; }
  pid_t pid = fork();
  if (pid < 0) { int e = errno; close(out[0]); close(out[1]); close(err[0]); close(err[1]); close(ep[0]); close(ep[1]); close(in); reply(id, 2, e, NULL, NULL); goto out; }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    dup2(in, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (cwdlen > 0 && chdir(cwd) < 0) { int e = errno; if (write(ep[1], &e, sizeof e) < 0) {} _exit(127); }
    environ = envp;
    execvp(argv[0], argv);
    int e = errno;
    if (write(ep[1], &e, sizeof e) < 0) { /* nothing more to do */ }
    _exit(127);
  }
  close(in);
  close(out[1]);
  close(err[1]);
  close(ep[1]);
  int e = 0;
  ssize_t got = read(ep[0], &e, sizeof e);
  close(ep[0]);
  if (got == sizeof e) {
    close(out[0]);
    close(err[0]);
    waitpid(pid, NULL, 0);
    reply(id, 2, e, NULL, NULL);
    goto out;
  }
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  kids[nkids++] = (struct child){.id = id, .pid = pid, .out = out[0], .err = err[0]};
out:
  for (uint32_t i = 0; i < argc; i++) free(argv[i]);
  free(argv);
  if (envp != environ) {
    for (uint32_t i = 0; envp[i]; i++) free(envp[i]);
    free(envp);
  }
  free(cwd);
  free(input);
}

static void finish_if_done(int i) {
  struct child *c = &kids[i];
  if (!c->exited || c->out >= 0 || c->err >= 0) return;
  int kind = WIFSIGNALED(c->status) ? 1 : 0;
  int code = WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status);
  reply(c->id, kind, code, &c->o, &c->e);
  free(c->o.p);
  free(c->e.p);
  kids[i] = kids[--nkids];
}

static void drain(int *fd, struct buf *b) {
  char tmp[65536];
  for (;;) {
    ssize_t n = read(*fd, tmp, sizeof tmp);
    if (n > 0) {
      if (b->n < OUT_CAP) buf_add(b, tmp, (size_t)n > OUT_CAP - b->n ? OUT_CAP - b->n : (size_t)n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close(*fd);
    *fd = -1;
    return;
  }
}

int main(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) { perror("mesos-cri-spawn: signalfd"); return 1; }
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  struct buf in = {0};
  int open_in = 1;
  while (open_in || nkids > 0) {
    struct pollfd pf[2 + 2 * MAX_CHILDREN];
    int map[2 + 2 * MAX_CHILDREN];
    int n = 0;
    pf[n] = (struct pollfd){sfd, POLLIN, 0}; map[n++] = -1;
    if (open_in) { pf[n] = (struct pollfd){0, POLLIN, 0}; map[n++] = -2; }
    for (int i = 0; i < nkids; i++) {
      if (kids[i].out >= 0) { pf[n] = (struct pollfd){kids[i].out, POLLIN, 0}; map[n++] = 2 * i; }
      if (kids[i].err >= 0) { pf[n] = (struct pollfd){kids[i].err, POLLIN, 0}; map[n++] = 2 * i + 1; }
    }
    if (poll(pf, n, -1) < 0) {
      if (errno == EINTR) continue;
      perror("mesos-cri-spawn: poll");
      return 1;
    }
    /* output first, then exits, then new requests: indexes stay valid within a pass */
    for (int k = 0; k < n; k++) {
      if (map[k] < 0 || !pf[k].revents) continue;
      struct child *c = &kids[map[k] / 2];
      if (map[k] % 2 == 0) drain(&c->out, &c->o);
      else drain(&c->err, &c->e);
    }
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) { /* drained; reap below */ }
      for (int i = 0; i < nkids; i++) {
        if (kids[i].exited) continue;
        int st;
        if (waitpid(kids[i].pid, &st, WNOHANG) == kids[i].pid) {
          kids[i].exited = 1;
          kids[i].status = st;
        }
      }
    }
    for (int i = nkids - 1; i >= 0; i--) finish_if_done(i);
    if (open_in && pf[1].revents) {
      char tmp[65536];
      ssize_t got = read(0, tmp, sizeof tmp);
      if (got <= 0) {
        if (got < 0 && errno == EINTR) continue;
        open_in = 0;
        continue;
      }
      buf_add(&in, tmp, (size_t)got);
      size_t off = 0;
      while (in.n - off >= 4) {
        uint32_t len;
        memcpy(&len, in.p + off, 4);
        if (in.n - off - 4 < len) break;
        struct reader r = {in.p + off + 4, len, 0};
        uint32_t id = get32(&r);
        uint32_t op = r.n > 0 ? (uint8_t)*r.p : 0;
        r.p++;
        r.n--;
        if (op == 1) {
          run(id, &r);
        } else if (op == 2) {
          uint32_t target = get32(&r);
          for (int i = 0; i < nkids; i++) if (kids[i].id == target && !kids[i].exited) kill(kids[i].pid, SIGKILL);
        }
        off += 4 + len;
      }
      memmove(in.p, in.p + off, in.n - off);
      in.n -= off;
    }
  }
  return 0;
}
