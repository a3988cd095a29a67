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
 *   kill (op 2): u32 id of a running command: SIGKILL it (and, for a
 *                monitor, stop waiting on its sync pipe)
 *   mount (op 3): source, target, fstype strings, u32 flags, data string:
 *                mount(2) itself, without forking mount(8)
 *   umount (op 4): target string, u32 flags: umount2(2)
 *   warm (op 5): path string (a cgroup.procs file), u32 ms: keep the
 *                kernel's cgroup migration lock warm for that long (below);
 *                no reply
 *   monitor (op 6): a run (same body, no stdin) of a container monitor
 *                that takes conmon's two extra pipes: fd 3, on which it
 *                reports (one line), and fd 4, on which it waits for a
 *                byte before it starts; it runs in a session of its own.
 *                The reply's stdout string is what came on fd 3.
 *   go (op 7):   u32 id of a monitor: write its start byte
 *   piped (op 8): a run (same body, empty input) followed by u32 mask: the
 *                command gets a pipe on each fd i (0-4) whose bit i is
 *                set (it reads fds 0 and 3, writes 1, 2 and 4), /dev/null
 *                on fds 0-2 that are not; it runs in a session of its own.
 *                Once it exec'd, a first reply of kind 4, code its pid,
 *                stdout "a b c d e": the fds here that hold the other end
 *                of each pipe (-1 for none). The daemon opens them through
 *                /proc/<our pid>/fd/<n> (a pipe opened there is the same
 *                pipe) and then sends release; the reply to the run comes
 *                once the command exited and was released.
 *   release (op 9): u32 id of a piped command: close our ends of its pipes
 *   nice run (op 10): i32 niceness, then a run's body: the command runs
 *                at that niceness (setpriority(2) before the exec; one the
 *                kernel refuses is left as ours). For work nobody waits on
 *                (removed containers' runtime state), so that it never
 *                takes a CPU from the requests the daemon is answering.
 *
 * Reply to a run, once the command exited and closed its output, and to a
 * mount or umount once done:
 *   i32 kind (0 exited, 1 killed by a signal, 2 could not be started,
 *   3 the system call failed), i32 code (exit code, signal number or
 *   errno), stdout string, stderr string (each capped at 16 MiB).
 *
 * Warm: every move of a process into a cgroup (runc's, our infra and exec
 * helpers') takes a global percpu rwsem for writing, and the first writer
 * after a quiet spell waits a whole RCU grace period (7-12 ms here). Once
 * a writer went through, the next ones within about a grace period pass at
 * once. While a launch is under way, a thread here moves this process into
 * the cgroup it is already in every 3 ms, which keeps the lock in that
 * state; the migrations that matter then take 0.2 ms instead of 8.
 *
 * On EOF on stdin, or when the daemon dies (PR_SET_PDEATHSIG, SIGHUP), it
 * stops taking requests: monitors still waiting for their start byte are
 * SIGKILLed (they have run nothing yet, and nobody is left to start them;
 * closing their start pipe instead would let them run `runtime create` for
 * a container no checkpoint knows); the other running commands finish,
 * and it exits.
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
#include <pthread.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
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
  int monitor, sync, start; /* monitors only: their fd 3 and fd 4, -1 once closed */
  int ep, spawn_errno;      /* exec's outcome: EOF once it exec'd, else the errno */
  int exited, status;
  int piped, held[5];       /* piped only: our ends of its pipes until released, -1 once closed */
  struct buf o, e, s;
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

static void abandon_unstarted(void);

static void write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) { struct pollfd pf = {fd, POLLOUT, 0}; poll(&pf, 1, -1); continue; }
      abandon_unstarted(); /* the daemon is gone */
      exit(0);
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

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void release(struct child *c) {
  if (c->piped)
    for (int i = 0; i < 5; i++) close_fd(&c->held[i]);
}

static int holding(const struct child *c) {
  if (c->piped)
    for (int i = 0; i < 5; i++)
      if (c->held[i] >= 0) return 1;
  return 0;
}

/* A piped command's pipes: theirs at 0-4 (or /dev/null on 0-2), ours in held. */
static int make_pipes(uint32_t mask, int theirs[5], int held[5]) {
  for (int i = 0; i < 5; i++) theirs[i] = held[i] = -1;
  for (int i = 0; i < 5; i++) {
    int p[2];
    if (mask & (1u << i)) {
      if (pipe2(p, O_CLOEXEC) < 0) return -1;
      int reads = i == 0 || i == 3;
      theirs[i] = reads ? p[0] : p[1];
      held[i] = reads ? p[1] : p[0];
    } else if (i < 3 && (theirs[i] = open("/dev/null", (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC)) < 0) {
      return -1;
    }
  }
  return 0;
}

/* No niceness asked for: the command keeps ours. */
#define KEEP_NICE INT32_MIN

/* In a forked child: niceness, cwd, environment, exec; an errno on epw if cwd or exec fails. */
static void exec_child(int epw, int nice, const char *cwd, char **envp, char **argv) {
  if (nice != KEEP_NICE && setpriority(PRIO_PROCESS, 0, nice) < 0) { /* a hint: run at ours */ }
  if (cwd && chdir(cwd) < 0) { int e = errno; if (write(epw, &e, sizeof e) < 0) {} _exit(127); }
  environ = envp;
  execvp(argv[0], argv);
  int e = errno;
  if (write(epw, &e, sizeof e) < 0) { /* nothing more to do */ }
  _exit(127);
}

static void run(uint32_t id, struct reader *r, int monitor, int piped, int nice) {
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
  uint32_t mask = piped ? get32(r) : 0;
  if (r->bad || (piped && (inlen > 0 || mask > 31))) { reply(id, 2, EINVAL, NULL, NULL); goto out; }
  if (nkids >= MAX_CHILDREN) { reply(id, 2, EAGAIN, NULL, NULL); goto out; }

  int in = -1, out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1}, sp[2] = {-1, -1}, st[2] = {-1, -1};
  int theirs[5], held[5];
  if (piped) {
    if (make_pipes(mask, theirs, held) < 0 || pipe2(ep, O_CLOEXEC) < 0) {
      int e = errno;
      for (int i = 0; i < 5; i++) { close_fd(&theirs[i]); close_fd(&held[i]); }
      close_fd(&ep[0]);
      reply(id, 2, e, NULL, NULL);
      goto out;
    }
    pid_t pid = fork();
    if (pid == 0) {
      sigset_t none;
      sigemptyset(&none);
      sigprocmask(SIG_SETMASK, &none, NULL);
      setsid();
      int epw = fcntl(ep[1], F_DUPFD_CLOEXEC, 10), moved[5];
      for (int i = 0; i < 5; i++) moved[i] = theirs[i] >= 0 ? fcntl(theirs[i], F_DUPFD_CLOEXEC, 10) : -1;
      for (int i = 0; i < 5; i++)
        if (moved[i] >= 0) dup2(moved[i], i);
      exec_child(epw, nice, cwdlen > 0 ? cwd : NULL, envp, argv);
    }
    int e = errno;
    for (int i = 0; i < 5; i++) close_fd(&theirs[i]);
    close_fd(&ep[1]);
    if (pid < 0) {
      for (int i = 0; i < 5; i++) close_fd(&held[i]);
      close_fd(&ep[0]);
      reply(id, 2, e, NULL, NULL);
      goto out;
    }
    fcntl(ep[0], F_SETFL, O_NONBLOCK);
    kids[nkids] = (struct child){.id = id, .pid = pid, .out = -1, .err = -1, .sync = -1, .start = -1, .ep = ep[0], .piped = 1};
    memcpy(kids[nkids++].held, held, sizeof held);
    goto out;
  }
  if (inlen > 0) {
    in = memfd_create("stdin", MFD_CLOEXEC);
    if (in < 0 || write(in, input, inlen) != (ssize_t)inlen || lseek(in, 0, SEEK_SET) < 0) { reply(id, 2, errno, NULL, NULL); goto out; }
  } else {
    in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  pid_t pid = -1;
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ep, O_CLOEXEC) < 0 ||
      (monitor && (pipe2(sp, O_CLOEXEC) < 0 || pipe2(st, O_CLOEXEC) < 0)) || (pid = fork()) < 0) {
    int e = errno;
    int *fds[] = {&out[0], &out[1], &err[0], &err[1], &ep[0], &ep[1], &sp[0], &sp[1], &st[0], &st[1]};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) close_fd(fds[i]);
    close(in);
    reply(id, 2, e, NULL, NULL);
    goto out;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* out of the way of fds 0-4 first */
    int epw = fcntl(ep[1], F_DUPFD_CLOEXEC, 10);
    int syncw = monitor ? fcntl(sp[1], F_DUPFD_CLOEXEC, 10) : -1;
    int startr = monitor ? fcntl(st[0], F_DUPFD_CLOEXEC, 10) : -1;
    dup2(in, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (monitor) {
      setsid();
      dup2(syncw, 3);
      dup2(startr, 4);
    }
    exec_child(epw, nice, cwdlen > 0 ? cwd : NULL, envp, argv);
  }
  close(in);
  close(out[1]);
  close(err[1]);
  close(ep[1]);
  close_fd(&sp[1]);
  close_fd(&st[0]);
  /* Whether it exec'd is read from the poll loop: waiting here would stall
     every other request until the child gets a CPU, which on a busy node
     takes milliseconds. */
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  fcntl(ep[0], F_SETFL, O_NONBLOCK);
  if (monitor) fcntl(sp[0], F_SETFL, O_NONBLOCK);
  kids[nkids++] = (struct child){.id = id, .pid = pid, .out = out[0], .err = err[0], .monitor = monitor, .sync = sp[0], .start = st[1], .ep = ep[0]};
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

/* ---- mount, umount ---- */

static void do_mount(uint32_t id, struct reader *r) {
  char *src = getstr(r, NULL), *target = getstr(r, NULL), *fstype = getstr(r, NULL);
  uint32_t flags = get32(r);
  char *data = getstr(r, NULL);
  if (r->bad) reply(id, 3, EINVAL, NULL, NULL);
  else if (mount(src, target, fstype, flags, *data ? data : NULL) < 0) reply(id, 3, errno, NULL, NULL);
  else reply(id, 0, 0, NULL, NULL);
  free(src);
  free(target);
  free(fstype);
  free(data);
}

static void do_umount(uint32_t id, struct reader *r) {
  char *target = getstr(r, NULL);
  uint32_t flags = get32(r);
  if (r->bad) reply(id, 3, EINVAL, NULL, NULL);
  else if (umount2(target, (int)flags) < 0) reply(id, 3, errno, NULL, NULL);
  else reply(id, 0, 0, NULL, NULL);
  free(target);
}

/* ---- warm ---- */

static pthread_mutex_t warm_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t warm_cv = PTHREAD_COND_INITIALIZER;
static char warm_path[4096];
static int64_t warm_until; /* CLOCK_MONOTONIC ns */
static int warm_thread;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *warmer(void *arg) {
  (void)arg;
  char open_path[sizeof warm_path] = "";
  int fd = -1;
  pthread_mutex_lock(&warm_mu);
  for (;;) {
    while (now_ns() >= warm_until) pthread_cond_wait(&warm_cv, &warm_mu);
    if (strcmp(open_path, warm_path) != 0) {
      if (fd >= 0) close(fd);
      fd = open(warm_path, O_WRONLY | O_CLOEXEC);
      memcpy(open_path, warm_path, sizeof open_path);
    }
    pthread_mutex_unlock(&warm_mu);
    /* "0": the writing process itself, into the cgroup it is in */
    if (fd < 0 || write(fd, "0", 1) < 0) {
      if (fd >= 0) close(fd);
      fd = -1;
      open_path[0] = 0;
      pthread_mutex_lock(&warm_mu);
      warm_until = 0; /* not possible here: stay idle until asked again */
      continue;
    }
    struct timespec gap = {0, 3 * 1000 * 1000};
    nanosleep(&gap, NULL);
    pthread_mutex_lock(&warm_mu);
  }
  return NULL;
}

static void do_warm(struct reader *r) {
  char *path = getstr(r, NULL);
  uint32_t ms = get32(r);
  if (!r->bad && strlen(path) < sizeof warm_path) {
    pthread_mutex_lock(&warm_mu);
    if (!warm_thread) {
      pthread_t t;
      warm_thread = pthread_create(&t, NULL, warmer, NULL) == 0;
    }
    snprintf(warm_path, sizeof warm_path, "%s", path);
    int64_t until = now_ns() + (int64_t)ms * 1000000;
    if (until > warm_until) warm_until = until;
    pthread_cond_signal(&warm_cv);
    pthread_mutex_unlock(&warm_mu);
  }
  free(path);
}

static void finish_if_done(int i) {
  struct child *c = &kids[i];
  if (c->exited) close_fd(&c->start); /* it can no longer be started */
  if (!c->exited || c->out >= 0 || c->err >= 0 || c->sync >= 0 || c->ep >= 0 || holding(c)) return;
  int kind = WIFSIGNALED(c->status) ? 1 : 0;
  int code = WIFSIGNALED(c->status) ? WTERMSIG(c->status) : WEXITSTATUS(c->status);
  if (c->spawn_errno) reply(c->id, 2, c->spawn_errno, NULL, NULL);
  else reply(c->id, kind, code, c->monitor ? &c->s : &c->o, &c->e);
  free(c->o.p);
  free(c->e.p);
  free(c->s.p);
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

/* The child's exec-error pipe: an errno if exec failed, EOF once it exec'd. */
static void read_exec_outcome(struct child *c) {
  int e = 0;
  ssize_t got = read(c->ep, &e, sizeof e);
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (got == sizeof e) c->spawn_errno = e ? e : EIO;
  close_fd(&c->ep);
  if (!c->piped) return;
  if (c->spawn_errno) {
    release(c);
    return;
  }
  char fds[64];
  int n = snprintf(fds, sizeof fds, "%d %d %d %d %d", c->held[0], c->held[1], c->held[2], c->held[3], c->held[4]);
  struct buf b = {fds, (size_t)n, sizeof fds};
  reply(c->id, 4, c->pid, &b, NULL);
}

/* A monitor's report is one line: once it is in, stop listening. */
static void drain_sync(struct child *c) {
  drain(&c->sync, &c->s);
  if (c->sync >= 0 && memchr(c->s.p, '\n', c->s.n)) close_fd(&c->sync);
}

/* The daemon is gone: nobody will start the monitors that still wait for
   their start byte. Kill them before closing the pipe (EOF lets conmon go
   on), so none is left blocked or creates an unrecorded container. */
static void abandon_unstarted(void) {
  for (int i = 0; i < nkids; i++) {
    struct child *c = &kids[i];
    release(c);
    if (!c->monitor || c->start < 0) continue;
    if (!c->exited) kill(c->pid, SIGKILL);
    close_fd(&c->start);
    close_fd(&c->sync);
  }
}

int main(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGPIPE);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) { perror("mesos-cri-spawn: signalfd"); return 1; }
  /* SIGHUP when the daemon dies, even if something else still held our
     stdin open; checked once after arming, for a daemon that died before. */
  pid_t daemon_pid = getppid();
  prctl(PR_SET_PDEATHSIG, SIGHUP);
  int orphaned = getppid() != daemon_pid || daemon_pid == 1;
  fcntl(0, F_SETFD, FD_CLOEXEC);
  fcntl(1, F_SETFD, FD_CLOEXEC);
  struct buf in = {0};
  int open_in = !orphaned;
  while (open_in || nkids > 0) {
    struct pollfd pf[2 + 4 * MAX_CHILDREN];
    int map[2 + 4 * MAX_CHILDREN];
    int n = 0;
    pf[n] = (struct pollfd){sfd, POLLIN, 0}; map[n++] = -1;
    if (open_in) { pf[n] = (struct pollfd){0, POLLIN, 0}; map[n++] = -2; }
    for (int i = 0; i < nkids; i++) {
      if (kids[i].out >= 0) { pf[n] = (struct pollfd){kids[i].out, POLLIN, 0}; map[n++] = 4 * i; }
      if (kids[i].err >= 0) { pf[n] = (struct pollfd){kids[i].err, POLLIN, 0}; map[n++] = 4 * i + 1; }
      if (kids[i].sync >= 0) { pf[n] = (struct pollfd){kids[i].sync, POLLIN, 0}; map[n++] = 4 * i + 2; }
      if (kids[i].ep >= 0) { pf[n] = (struct pollfd){kids[i].ep, POLLIN, 0}; map[n++] = 4 * i + 3; }
    }
    if (poll(pf, n, -1) < 0) {
      if (errno == EINTR) continue;
      perror("mesos-cri-spawn: poll");
      return 1;
    }
    /* output first, then exits, then new requests: indexes stay valid within a pass */
    for (int k = 0; k < n; k++) {
      if (map[k] < 0 || !pf[k].revents) continue;
      struct child *c = &kids[map[k] / 4];
      if (map[k] % 4 == 0) drain(&c->out, &c->o);
      else if (map[k] % 4 == 1) drain(&c->err, &c->e);
      else if (map[k] % 4 == 2) drain_sync(c);
      else read_exec_outcome(c);
    }
    if (pf[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP && getppid() != daemon_pid) {
          open_in = 0;
          abandon_unstarted();
        }
      }
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
        abandon_unstarted();
        for (int i = nkids - 1; i >= 0; i--) finish_if_done(i);
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
        if (op == 1 || op == 6 || op == 8) {
          run(id, &r, op == 6, op == 8, KEEP_NICE);
        } else if (op == 10) {
          int32_t nice = (int32_t)get32(&r);
          /* setpriority(2)'s range; anything else is a malformed request */
          if (r.bad || nice < -20 || nice > 19) reply(id, 2, EINVAL, NULL, NULL);
          else run(id, &r, 0, 0, nice);
        } else if (op == 9) {
          uint32_t target = get32(&r);
          for (int i = 0; i < nkids; i++)
            if (kids[i].id == target) release(&kids[i]);
        } else if (op == 2 || op == 7) {
          uint32_t target = get32(&r);
          for (int i = 0; i < nkids; i++) {
            struct child *c = &kids[i];
            if (c->id != target) continue;
            if (op == 2) {
              if (!c->exited) kill(c->pid, SIGKILL);
              close_fd(&c->sync);
              close_fd(&c->start);
            } else if (c->start >= 0) {
              if (write(c->start, "", 1) < 0) { /* it died: its exit tells */ }
              close_fd(&c->start);
            }
          }
        } else if (op == 3) {
          do_mount(id, &r);
        } else if (op == 4) {
          do_umount(id, &r);
        } else if (op == 5) {
          do_warm(&r);
        }
        off += 4 + len;
      }
      memmove(in.p, in.p + off, in.n - off);
      in.n -= off;
      /* a kill may have let a monitor finish */
      for (int i = nkids - 1; i >= 0; i--) finish_if_done(i);
    }
  }
  return 0;
}
