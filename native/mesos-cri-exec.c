/*
 * mesos-cri-exec: starts a process inside a running container, the way
 * `runc exec` does, without runc's Go start-up and re-exec (~25 ms here):
 *
 *   mesos-cri-exec [-t] PLAN ARG...
 *
 * PLAN is a text file the daemon writes once per container (see
 * src/mesos-compat/exec-plan.ts): the container init's pid and start time,
 * the namespaces to join, the cgroup.procs files, and the process spec
 * (env, cwd, user, capabilities, no_new_privs, rlimits, oom_score_adj,
 * apparmor, seccomp filter). One record per line, `key value...`; strings
 * are escaped (`\n`, `\\`).
 *
 * The helper joins the container's cgroups (by writing its child's pid) and
 * namespaces, forks the process (a new pid namespace only applies to
 * children), sets it up like runc's setns init and execs ARG in the
 * container's root. It then waits and exits with the process's code, or
 * 128+n when signal n killed it.
 *
 * Optional descriptors, used when open:
 *   fd 3: control lines from the daemon: `r ROWS COLS` (resize the tty),
 *         `k` (SIGKILL the process group). EOF also kills: the session's
 *         owner is gone.
 *   fd 4: one JSON line when done: {"exitCode":N}, or {"error":"..."}
 *         when the process could not be started (then the exit code is 255).
 * With -t the process gets a new pty from the container's /dev/pts as its
 * controlling terminal; the helper relays stdin -> pty and pty -> stdout.
 * Without -t, fds 0-2 are handed to the process as they are.
 * SIGTERM/SIGINT/SIGHUP to the helper kill the process group too, and the
 * process gets SIGKILL if the helper dies (parent-death signal).
 *
 *   mesos-cri-exec -d PLAN ARG...
 *
 * starts a pod's infra process instead (what `runc run -d` did, in a few
 * ms): the plan's `shm` tmpfs is mounted, `join` namespaces (the pod's
 * pinned netns) are entered and `unshare` ones created, the hostname and
 * sysctls are set in them, and the `exe` binary (opened on the host) is
 * started chrooted to `root` with the plan's credentials, capabilities and
 * seccomp filter, as pid 1 of its new pid namespace when the plan unshares
 * pid. The helper reports {"pid":N} on fd 4 once the process has exec'd,
 * and exits 0 without waiting for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/signalfd.h>
#include <sys/statfs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/sysmacros.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x10U
#endif
#ifndef DEVPTS_SUPER_MAGIC
#define DEVPTS_SUPER_MAGIC 0x1cd1
#endif
#define KEYCTL_JOIN_SESSION_KEYRING 1
#define SYSCTL_MAX_KEY 256
#define SYSCTL_MAX_VALUE 4096

#define MAX_ITEMS 256
#define CTL_FD 3
#define REPORT_FD 4

extern char **environ;

struct ns_entry { char name[16]; int fd; };
struct rule_arg { unsigned idx; int op; uint64_t value, value2; };
struct rule {
  char *name; uint32_t action; int nargs; struct rule_arg args[6];
};

static struct {
  pid_t pid; unsigned long long start;
  struct ns_entry ns[8]; int nns;
  char *cgroups[MAX_ITEMS]; int ncgroups; int cgroup_fds[MAX_ITEMS];
  char *cwd;
  char *env[1024]; int nenv;
  int has_user; uid_t uid; gid_t gid; gid_t groups[MAX_ITEMS]; int ngroups;
  int has_umask; mode_t umask;
  uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient; int has_caps;
  int nnp;
  struct { int resource; rlim_t soft, hard; } rlimits[32]; int nrlimits;
  int has_oom; int oom;
  char *apparmor;
  int has_seccomp; uint32_t sc_default; char *sc_arches[8]; int nsc_arches;
  struct rule *rules; int nrules, caprules;
  /* infra mode */
  int unshare_flags;
  struct { char *path; int type; int fd; } joins[4]; int njoins;
  char *hostname;
  char *sysctls[64][2]; int nsysctls;
  char *root;
  char *exe; int exe_fd;
  char *shm;
} plan = {.exe_fd = -1};

static int ns_flag(const char *name) {
  if (!strcmp(name, "ipc")) return CLONE_NEWIPC;
  if (!strcmp(name, "uts")) return CLONE_NEWUTS;
  if (!strcmp(name, "net")) return CLONE_NEWNET;
  if (!strcmp(name, "pid")) return CLONE_NEWPID;
  if (!strcmp(name, "cgroup")) return CLONE_NEWCGROUP;
  return 0;
}

static int report_ok, ctl_ok;

static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

static void report_error(const char *msg) {
  if (report_ok) {
    FILE *f = fdopen(dup(REPORT_FD), "w");
    if (f) { fputs("{\"error\":", f); json_str(f, msg); fputs("}\n", f); fclose(f); }
  } else {
    fprintf(stderr, "mesos-cri-exec: %s\n", msg);
  }
}

static void report_exit(int code) {
  if (!report_ok) return;
  dprintf(REPORT_FD, "{\"exitCode\":%d}\n", code);
}

static void die(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  report_error(buf);
  exit(255);
}

/* ---- plan parsing ---- */

static char *unescape(char *s) {
  char *o = s, *r = s;
  for (; *r; r++) {
    if (*r == '\\' && r[1]) {
      r++;
      *o++ = *r == 'n' ? '\n' : *r;
    } else {
      *o++ = *r;
    }
  }
  *o = 0;
  return s;
}

static uint64_t num(const char *s) {
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 0);
  if (errno || *end || end == s) die("bad number \"%s\" in exec plan", s);
  return v;
}

static long long snum(const char *s) {
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 0);
  if (errno || *end || end == s) die("bad number \"%s\" in exec plan", s);
  return v;
}

static int split(char *line, char **f, int max) {
  int n = 0;
  for (char *save = NULL, *t = strtok_r(line, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save)) f[n++] = t;
  return n;
}

static void parse_plan(const char *path) {
  FILE *in = fopen(path, "re");
  if (!in) die("cannot open exec plan %s: %s", path, strerror(errno));
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) > 0) {
    if (line[len - 1] == '\n') line[--len] = 0;
    char *sp = strchr(line, ' ');
    char *key = line, *rest = sp ? sp + 1 : line + len;
    if (sp) *sp = 0;
    char *f[40];
    if (!strcmp(key, "pid")) {
      int n = split(rest, f, 2);
      if (n != 2) die("bad pid record in exec plan");
      plan.pid = (pid_t)num(f[0]);
      plan.start = num(f[1]);
    } else if (!strcmp(key, "ns")) {
      if (plan.nns >= 8) die("too many namespaces in exec plan");
      snprintf(plan.ns[plan.nns].name, sizeof plan.ns[0].name, "%s", rest);
      plan.ns[plan.nns++].fd = -1;
    } else if (!strcmp(key, "cgroup")) {
      if (plan.ncgroups >= MAX_ITEMS) die("too many cgroups in exec plan");
      plan.cgroups[plan.ncgroups++] = strdup(unescape(rest));
    } else if (!strcmp(key, "cwd")) {
      plan.cwd = strdup(unescape(rest));
    } else if (!strcmp(key, "env")) {
      if (plan.nenv >= 1022) die("too many env entries in exec plan");
      plan.env[plan.nenv++] = strdup(unescape(rest));
    } else if (!strcmp(key, "user")) {
      int n = split(rest, f, 40);
      if (n < 2) die("bad user record in exec plan");
      plan.has_user = 1;
      plan.uid = (uid_t)num(f[0]);
      plan.gid = (gid_t)num(f[1]);
      for (int i = 2; i < n && plan.ngroups < MAX_ITEMS; i++) plan.groups[plan.ngroups++] = (gid_t)num(f[i]);
    } else if (!strcmp(key, "umask")) {
      plan.has_umask = 1;
      plan.umask = (mode_t)num(rest);
    } else if (!strcmp(key, "caps")) {
      if (split(rest, f, 5) != 5) die("bad caps record in exec plan");
      plan.has_caps = 1;
      plan.cap_bounding = num(f[0]);
      plan.cap_effective = num(f[1]);
      plan.cap_permitted = num(f[2]);
      plan.cap_inheritable = num(f[3]);
      plan.cap_ambient = num(f[4]);
    } else if (!strcmp(key, "nnp")) {
      plan.nnp = num(rest) != 0;
    } else if (!strcmp(key, "rlimit")) {
      if (split(rest, f, 3) != 3 || plan.nrlimits >= 32) die("bad rlimit record in exec plan");
      plan.rlimits[plan.nrlimits].resource = (int)num(f[0]);
      plan.rlimits[plan.nrlimits].soft = (rlim_t)num(f[1]);
      plan.rlimits[plan.nrlimits++].hard = (rlim_t)num(f[2]);
    } else if (!strcmp(key, "oom")) {
      plan.has_oom = 1;
      plan.oom = (int)snum(rest);
    } else if (!strcmp(key, "apparmor")) {
      plan.apparmor = strdup(unescape(rest));
    } else if (!strcmp(key, "seccomp")) {
      plan.has_seccomp = 1;
      plan.sc_default = (uint32_t)num(rest);
    } else if (!strcmp(key, "scarch")) {
      if (plan.nsc_arches < 8) plan.sc_arches[plan.nsc_arches++] = strdup(rest);
    } else if (!strcmp(key, "scrule")) {
      int n = split(rest, f, 40);
      if (n < 3) die("bad scrule record in exec plan");
      if (plan.nrules == plan.caprules) {
        plan.caprules = plan.caprules ? plan.caprules * 2 : 512;
        plan.rules = realloc(plan.rules, sizeof(struct rule) * plan.caprules);
        if (!plan.rules) die("out of memory");
      }
      struct rule *r = &plan.rules[plan.nrules++];
      r->name = strdup(f[0]);
      r->action = (uint32_t)num(f[1]);
      r->nargs = (int)num(f[2]);
      if (r->nargs < 0 || r->nargs > 6 || n != 3 + 4 * r->nargs) die("bad scrule record for %s in exec plan", f[0]);
      for (int i = 0; i < r->nargs; i++) {
        r->args[i].idx = (unsigned)num(f[3 + 4 * i]);
        r->args[i].op = (int)num(f[4 + 4 * i]);
        r->args[i].value = num(f[5 + 4 * i]);
        r->args[i].value2 = num(f[6 + 4 * i]);
      }
    } else if (!strcmp(key, "unshare")) {
      int f = ns_flag(rest);
      if (!f) die("cannot unshare namespace %s", rest);
      plan.unshare_flags |= f;
    } else if (!strcmp(key, "join")) {
      if (split(rest, f, 2) != 2 || plan.njoins >= 4) die("bad join record in exec plan");
      int t = ns_flag(f[0]);
      if (!t) die("cannot join namespace %s", f[0]);
      plan.joins[plan.njoins].type = t;
      plan.joins[plan.njoins].fd = -1;
      plan.joins[plan.njoins++].path = strdup(unescape(f[1]));
    } else if (!strcmp(key, "hostname")) {
      plan.hostname = strdup(unescape(rest));
    } else if (!strcmp(key, "sysctl")) {
      /* `sysctl KEY VALUE`: the value is the rest of the line, spaces included */
      char *v = strchr(rest, ' ');
      if (!v || plan.nsysctls >= 64) die("bad sysctl record in exec plan");
      *v++ = 0;
      plan.sysctls[plan.nsysctls][0] = strdup(unescape(rest));
      plan.sysctls[plan.nsysctls++][1] = strdup(unescape(v));
    } else if (!strcmp(key, "root")) {
      plan.root = strdup(unescape(rest));
    } else if (!strcmp(key, "exe")) {
      plan.exe = strdup(unescape(rest));
    } else if (!strcmp(key, "shm")) {
      plan.shm = strdup(unescape(rest));
    } else if (*key) {
      die("unknown record \"%s\" in exec plan", key);
    }
  }
  free(line);
  fclose(in);
}

/* ---- host side: find the container, open what must be opened before entering ---- */

static unsigned long long start_time(pid_t pid) {
  char path[64], buf[4096];
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  if (!p) return 0;
  /* field 3 (state) follows ") "; start time is field 22 */
  p += 2;
  for (int field = 3; field < 22 && p; field++) {
    p = strchr(p, ' ');
    if (p) p++;
  }
  return p ? strtoull(p, NULL, 10) : 0;
}

static void open_namespaces(void) {
  for (int i = 0; i < plan.nns; i++) {
    char path[96], self[96];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", plan.pid, plan.ns[i].name);
    snprintf(self, sizeof self, "/proc/self/ns/%s", plan.ns[i].name);
    struct stat a, b;
    if (stat(path, &a) < 0) die("container process %d is gone: %s", plan.pid, strerror(errno));
    if (stat(self, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev) continue; /* already there */
    plan.ns[i].fd = open(path, O_RDONLY | O_CLOEXEC);
    if (plan.ns[i].fd < 0) die("cannot open %s: %s", path, strerror(errno));
  }
}

static void open_cgroups(void) {
  for (int i = 0; i < plan.ncgroups; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/cgroup.procs", plan.cgroups[i]);
    plan.cgroup_fds[i] = open(path, O_WRONLY | O_CLOEXEC);
    if (plan.cgroup_fds[i] < 0) die("cannot open %s: %s", path, strerror(errno));
  }
}

static const char *ns_order[] = {"user", "ipc", "uts", "net", "pid", "cgroup", "mnt", "time"};

static void enter_namespaces(void) {
  for (size_t o = 0; o < sizeof ns_order / sizeof ns_order[0]; o++) {
    for (int i = 0; i < plan.nns; i++) {
      if (plan.ns[i].fd < 0 || strcmp(plan.ns[i].name, ns_order[o])) continue;
      if (setns(plan.ns[i].fd, 0) < 0) die("cannot join the container's %s namespace: %s", plan.ns[i].name, strerror(errno));
      close(plan.ns[i].fd);
      plan.ns[i].fd = -1;
    }
  }
}

/* Whether the infra has a namespace of this kind of its own (created or the pod's pinned one). */
static int owns_ns(int type) {
  if (plan.unshare_flags & type) return 1;
  for (int i = 0; i < plan.njoins; i++) if (plan.joins[i].type == type) return 1;
  return 0;
}

/*
 * A sysctl is written only into a namespace the pod owns, by runc's rule
 * (libcontainer/configs/validate): the IPC ones with a private IPC
 * namespace, net.* with a private network namespace, kernel.domainname with
 * a private UTS namespace; nothing else. The daemon refuses the rest at
 * RunPodSandbox already; this is the last line. KEY is the /proc/sys path
 * form ("net/ipv4/ping_group_range"): no empty, "." or ".." component.
 */
static const char *ipc_sysctls[] = {
  "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem",
  "kernel/shmall", "kernel/shmmax", "kernel/shmmni", "kernel/shm_rmid_forced",
};

static void check_sysctl(const char *key, const char *value) {
  size_t n = strlen(key);
  if (n == 0 || n > SYSCTL_MAX_KEY || strlen(value) > SYSCTL_MAX_VALUE) die("sysctl record out of bounds in exec plan");
  for (const char *p = key; *p; p++) {
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("_-./", *p)))
      die("sysctl %s: bad name", key);
  }
  for (const char *c = key; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
    size_t len = strcspn(c, "/");
    if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.')) die("sysctl %s: bad name", key);
  }
  int ipc = !strncmp(key, "fs/mqueue/", 10);
  for (size_t i = 0; i < sizeof ipc_sysctls / sizeof ipc_sysctls[0]; i++) ipc |= !strcmp(key, ipc_sysctls[i]);
  if (ipc) {
    if (!owns_ns(CLONE_NEWIPC)) die("sysctl %s is not allowed in the host's IPC namespace", key);
  } else if (!strncmp(key, "net/", 4)) {
    if (!owns_ns(CLONE_NEWNET)) die("sysctl %s is not allowed in the host's network namespace", key);
  } else if (!strcmp(key, "kernel/domainname")) {
    if (!owns_ns(CLONE_NEWUTS)) die("sysctl %s is not allowed in the host's UTS namespace", key);
  } else {
    die("sysctl %s is not in a separate kernel namespace", key);
  }
}

/*
 * The infra's executable as a file nobody but the kernel can read (mode
 * 0111, owned by root): exec'ing a file its user cannot read leaves the
 * process non-dumpable, so no process of the pod (even root with the
 * default capabilities in a shared PID namespace) can ptrace it or open its
 * /proc/<pid>/{root,cwd,fd,exe,environ}. The daemon keeps such a copy in its
 * run dir; any other binary is copied into a private memfd first.
 */
static int private_exe(const char *path) {
  int src = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (src < 0 && errno == EACCES) src = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0 || fstat(src, &st) < 0) die("cannot open %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) die("%s is not a regular file", path);
  if (st.st_uid == 0 && (st.st_mode & 07777) == 0111) return src;
  /* the process is named after it: "memfd:catatonit" */
  const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
  int fd = (int)syscall(SYS_memfd_create, base, MFD_CLOEXEC | MFD_EXEC);
  if (fd < 0 && errno == EINVAL) fd = (int)syscall(SYS_memfd_create, base, MFD_CLOEXEC);
  if (fd < 0) die("memfd_create: %s", strerror(errno));
  for (off_t off = 0; off < st.st_size;) {
    ssize_t w = sendfile(fd, src, &off, (size_t)(st.st_size - off));
    if (w <= 0) die("cannot copy %s: %s", path, w < 0 ? strerror(errno) : "short read");
  }
  close(src);
  if (fchmod(fd, 0111) < 0) die("fchmod: %s", strerror(errno));
  return fd;
}

/* The infra's side: shm, pinned namespaces, new ones, hostname and sysctls. */
static void enter_new_namespaces(void) {
  if (plan.shm && mount("shm", plan.shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
    die("cannot mount the pod's shm at %s: %s", plan.shm, strerror(errno));
  if (plan.exe) plan.exe_fd = private_exe(plan.exe);
  for (int i = 0; i < plan.njoins; i++) {
    int fd = open(plan.joins[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("cannot open namespace %s: %s", plan.joins[i].path, strerror(errno));
    if (setns(fd, plan.joins[i].type) < 0) die("cannot join namespace %s: %s", plan.joins[i].path, strerror(errno));
    close(fd);
  }
  if (plan.unshare_flags && unshare(plan.unshare_flags) < 0) die("cannot create the pod's namespaces: %s", strerror(errno));
  if (plan.hostname && sethostname(plan.hostname, strlen(plan.hostname)) < 0) die("cannot set hostname %s: %s", plan.hostname, strerror(errno));
  for (int i = 0; i < plan.nsysctls; i++) {
    const char *key = plan.sysctls[i][0], *value = plan.sysctls[i][1];
    check_sysctl(key, value);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/proc/sys/%s", key);
    int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) die("cannot set sysctl %s: %s", key, strerror(errno));
    close(fd);
  }
}

/* ---- child side: become the container's process ---- */

static int errpipe_w = -1;
static void child_fail(const char *fmt, ...);

/* Reports a start-up failure to the parent over the close-on-exec pipe and exits. */
static void child_fail(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
  if (write(errpipe_w, buf, n) < 0) { /* nothing more to do */ }
  _exit(255);
}

static void load_seccomp(void) {
  scmp_filter_ctx ctx = seccomp_init(plan.sc_default);
  if (!ctx) child_fail("seccomp: cannot initialise the filter");
  /* no_new_privs is ours to set (or not), as the spec says */
  if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0) < 0) child_fail("seccomp: cannot clear the NNP attribute");
  for (int i = 0; i < plan.nsc_arches; i++) {
    uint32_t arch = seccomp_arch_resolve_name(plan.sc_arches[i]);
    if (!arch) continue;
    int rc = seccomp_arch_add(ctx, arch);
    if (rc < 0 && rc != -EEXIST) child_fail("seccomp: cannot add architecture %s: %s", plan.sc_arches[i], strerror(-rc));
  }
  for (int i = 0; i < plan.nrules; i++) {
    struct rule *r = &plan.rules[i];
    int nr = seccomp_syscall_resolve_name(r->name);
    if (nr == __NR_SCMP_ERROR) continue; /* unknown on this kernel/arch: runc skips these too */
    if (r->action == plan.sc_default) continue;
    struct scmp_arg_cmp cmp[6];
    int repeated = 0;
    for (int a = 0; a < r->nargs; a++) {
      cmp[a].arg = r->args[a].idx;
      cmp[a].op = (enum scmp_compare)r->args[a].op;
      cmp[a].datum_a = r->args[a].value;
      cmp[a].datum_b = r->args[a].value2;
      for (int b = 0; b < a; b++) if (r->args[b].idx == r->args[a].idx) repeated = 1;
    }
    int rc;
    if (repeated) {
      /* libseccomp cannot AND two checks of one argument: one rule per check (as runc does) */
      for (int a = 0; a < r->nargs; a++) {
        rc = seccomp_rule_add_array(ctx, r->action, nr, 1, &cmp[a]);
        if (rc < 0) child_fail("seccomp: cannot add rule for %s: %s", r->name, strerror(-rc));
      }
    } else {
      rc = seccomp_rule_add_array(ctx, r->action, nr, r->nargs, cmp);
      if (rc < 0) child_fail("seccomp: cannot add rule for %s: %s", r->name, strerror(-rc));
    }
  }
  int rc = seccomp_load(ctx);
  if (rc < 0) child_fail("seccomp: cannot load the filter: %s", strerror(-rc));
  seccomp_release(ctx);
}

/* Every bit, 0-63: a count read inside the container (its /proc) could be made to lie. */
static void set_caps(void) {
  for (int c = 0; c < 64; c++) {
    if (!(plan.cap_bounding >> c & 1) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
      child_fail("cannot drop capability %d from the bounding set: %s", c, strerror(errno));
  }
}

static void apply_caps(void) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    data[i].effective = (uint32_t)(plan.cap_effective >> (32 * i));
    data[i].permitted = (uint32_t)(plan.cap_permitted >> (32 * i));
    data[i].inheritable = (uint32_t)(plan.cap_inheritable >> (32 * i));
  }
  if (syscall(SYS_capset, &hdr, data) < 0) child_fail("cannot set capabilities: %s", strerror(errno));
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  /* best effort, as runc: raising needs the capability in permitted and inheritable */
  for (int c = 0; c < 64; c++) {
    if (plan.cap_ambient >> c & 1) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  }
}

static int detached;

/*
 * The infra's own mount namespace holding one empty read-only tmpfs as its
 * root, pivot_root'ed like runc does (and the host's tree detached): `..`
 * from its root or cwd, or from /proc/<infra>/root seen by a process of the
 * pod, ends in that tmpfs. Nothing of the host stays mounted in it, so it
 * pins none of the host's mounts either.
 */
static void enter_infra_root(void) {
  if (unshare(CLONE_NEWNS) < 0) child_fail("cannot create the infra's mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail("cannot make the infra's mounts private: %s", strerror(errno));
  if (mount("infra", plan.root, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=8,mode=0555") < 0)
    child_fail("cannot mount the infra's root at %s: %s", plan.root, strerror(errno));
  if (chdir(plan.root) < 0) child_fail("cannot enter %s: %s", plan.root, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail("pivot_root: %s", strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) child_fail("cannot detach the host's tree: %s", strerror(errno));
  if (chdir("/") < 0) child_fail("chdir /: %s", strerror(errno));
}

static void become(char **argv, int sync_r, int slave, int tty) {
  char c;
  /* wait until the parent has put us into the container's cgroups */
  if (read(sync_r, &c, 1) != 1) _exit(255);
  close(sync_r);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (setsid() < 0) child_fail("setsid: %s", strerror(errno));
  if (tty) {
    int s = slave;
    if (ioctl(s, TIOCSCTTY, 0) < 0) child_fail("cannot make the pty the controlling terminal: %s", strerror(errno));
    if (fchown(s, plan.uid, plan.gid) < 0) { /* best effort, as a shared devpts may refuse */ }
    for (int fd = 0; fd < 3; fd++) if (dup2(s, fd) < 0) child_fail("dup2: %s", strerror(errno));
    if (s > 2) close(s);
  }
  if (detached) {
    /* like `runc run -d` with no stdio: nothing of the daemon's stays open in the infra */
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3 && nul >= 0; fd++) if (dup2(nul, fd) < 0) child_fail("dup2: %s", strerror(errno));
  }
  /* the daemon's control and report pipes are not the process's business */
  close(CTL_FD);
  close(REPORT_FD);
  for (int i = 0; i < plan.nrlimits; i++) {
    struct rlimit rl = {plan.rlimits[i].soft, plan.rlimits[i].hard};
    if (setrlimit(plan.rlimits[i].resource, &rl) < 0) child_fail("setrlimit %d: %s", plan.rlimits[i].resource, strerror(errno));
  }
  if (plan.has_oom) {
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
      /* best effort: the host may refuse lowering it below the daemon's own value */
      if (dprintf(fd, "%d", plan.oom) < 0) { /* keep the inherited value */ }
      close(fd);
    }
  }
  if (plan.apparmor && *plan.apparmor) {
    int fd = open("/proc/self/attr/apparmor/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0) fd = open("/proc/self/attr/exec", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || dprintf(fd, "exec %s", plan.apparmor) < 0) child_fail("cannot set apparmor profile %s: %s", plan.apparmor, strerror(errno));
    close(fd);
  }
  if (plan.root) enter_infra_root();
  /* a session keyring of its own, as runc gives every process it starts: nothing of the daemon's or another pod's */
  if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 && errno != ENOSYS) child_fail("cannot join a new session keyring: %s", strerror(errno));
  if (plan.cwd && *plan.cwd && chdir(plan.cwd) < 0) child_fail("cannot change to the working directory %s: %s", plan.cwd, strerror(errno));
  /* without no_new_privs, loading a filter needs CAP_SYS_ADMIN: load it while we still have it */
  if (plan.has_seccomp && !plan.nnp) load_seccomp();
  set_caps();
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) child_fail("PR_SET_KEEPCAPS: %s", strerror(errno));
  if (setgroups(plan.ngroups, plan.groups) < 0) child_fail("setgroups: %s", strerror(errno));
  if (setresgid(plan.gid, plan.gid, plan.gid) < 0) child_fail("setgid %u: %s", plan.gid, strerror(errno));
  if (setresuid(plan.uid, plan.uid, plan.uid) < 0) child_fail("setuid %u: %s", plan.uid, strerror(errno));
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  apply_caps();
  /* the credentials changed, which clears the parent-death signal: set it now */
  if (!detached) prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  umask(plan.has_umask ? plan.umask : 022);
  if (plan.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) child_fail("no_new_privs: %s", strerror(errno));
  if (plan.has_seccomp && plan.nnp) load_seccomp();
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* a terminal without TERM confuses full-screen programs; containerd sets xterm too */
  if (tty) {
    int has_term = 0;
    for (int i = 0; i < plan.nenv; i++) has_term |= !strncmp(plan.env[i], "TERM=", 5);
    if (!has_term) plan.env[plan.nenv++] = "TERM=xterm";
  }
  plan.env[plan.nenv] = NULL;
  environ = plan.env;
  if (plan.exe_fd >= 0) {
    fexecve(plan.exe_fd, argv, plan.env);
    child_fail("exec: \"%s\": %s", plan.exe, strerror(errno));
  }
  execvp(argv[0], argv);
  if (errno == ENOENT && !strchr(argv[0], '/'))
    child_fail("exec: \"%s\": executable file not found in $PATH", argv[0]);
  child_fail("exec: \"%s\": %s", argv[0], strerror(errno));
}

/*
 * The pty master from the container's own devpts, checked before it is
 * opened for real: /dev/pts/ptmx looked up without following any symlink,
 * then verified on an O_PATH handle to be the devpts ptmx (char 5:2 on a
 * devpts file system) and only then reopened read-write through the host's
 * /proc/self/fd. A device node a container put at /dev/ptmx (or anywhere
 * else) is never opened: the helper is not in the container's device
 * cgroup, and opening some devices has effects of its own.
 */
static int open_ptmx(int procfd) {
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int p = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof how);
  if (p < 0 && errno == ENOSYS) p = open("/dev/pts/ptmx", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (p < 0) die("cannot open the container's /dev/pts/ptmx: %s", strerror(errno));
  struct stat st;
  struct statfs sf;
  if (fstat(p, &st) < 0 || fstatfs(p, &sf) < 0) die("cannot inspect the container's /dev/pts/ptmx: %s", strerror(errno));
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) != 5 || minor(st.st_rdev) != 2 || sf.f_type != DEVPTS_SUPER_MAGIC)
    die("the container's /dev/pts/ptmx is not a devpts ptmx");
  char name[16];
  snprintf(name, sizeof name, "%d", p);
  int fd = openat(procfd, name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) die("cannot open the container's /dev/pts/ptmx: %s", strerror(errno));
  close(p);
  return fd;
}

/* ---- parent side: wait, relay the tty, take control lines ---- */

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, -1);
        continue;
      }
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void kill_group(pid_t child) {
  kill(-child, SIGKILL);
  kill(child, SIGKILL);
}

/* The signals the helper waits for (blocked from the start, read through a signalfd). */
static sigset_t waited_signals(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  return mask;
}

static int supervise(pid_t child, int master) {
  sigset_t mask = waited_signals();
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) { kill_group(child); die("signalfd: %s", strerror(errno)); }
  int ctl_open = ctl_ok;
  int stdin_open = master >= 0, master_open = master >= 0, out_open = master >= 0;
  char ctlbuf[256];
  size_t ctllen = 0;
  char buf[65536];
  int status = 0, done = 0;
  if (master >= 0) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  while (!done) {
    struct pollfd pf[4];
    int n = 0, i_sig, i_ctl = -1, i_in = -1, i_m = -1;
    pf[i_sig = n++] = (struct pollfd){sfd, POLLIN, 0};
    if (ctl_open) pf[i_ctl = n++] = (struct pollfd){CTL_FD, POLLIN, 0};
    if (stdin_open) pf[i_in = n++] = (struct pollfd){0, POLLIN, 0};
    if (master_open) pf[i_m = n++] = (struct pollfd){master, POLLIN, 0};
    if (poll(pf, n, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (pf[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo != SIGCHLD) kill_group(child);
      }
      pid_t w = waitpid(child, &status, WNOHANG);
      if (w == child) done = 1;
    }
    if (i_ctl >= 0 && pf[i_ctl].revents) {
      ssize_t r = read(CTL_FD, ctlbuf + ctllen, sizeof ctlbuf - 1 - ctllen);
      if (r <= 0) {
        ctl_open = 0;
        kill_group(child);
      } else {
        ctllen += (size_t)r;
        char *nl;
        while ((nl = memchr(ctlbuf, '\n', ctllen))) {
          *nl = 0;
          unsigned rows, cols;
          if (sscanf(ctlbuf, "r %u %u", &rows, &cols) == 2 && master >= 0) {
            struct winsize ws = {(unsigned short)rows, (unsigned short)cols, 0, 0};
            ioctl(master, TIOCSWINSZ, &ws);
          } else if (ctlbuf[0] == 'k') {
            kill_group(child);
          }
          size_t used = (size_t)(nl - ctlbuf) + 1;
          memmove(ctlbuf, nl + 1, ctllen - used);
          ctllen -= used;
        }
        if (ctllen == sizeof ctlbuf - 1) ctllen = 0; /* garbage: drop it */
      }
    }
    if (i_in >= 0 && pf[i_in].revents) {
      ssize_t r = read(0, buf, sizeof buf);
      /* a pty has no half-close: on EOF the process keeps its terminal */
      if (r <= 0) stdin_open = 0;
      else if (write_all(master, buf, (size_t)r) < 0) stdin_open = 0;
    }
    if (i_m >= 0 && pf[i_m].revents) {
      ssize_t r = read(master, buf, sizeof buf);
      if (r < 0 && errno == EAGAIN) continue;
      if (r <= 0) master_open = 0;
      else if (out_open && write_all(1, buf, (size_t)r) < 0) out_open = 0;
    }
  }
  if (!done) waitpid(child, &status, 0);
  /* output the process wrote just before it exited may still be in the pty */
  if (master_open && out_open) {
    for (;;) {
      struct pollfd pf = {master, POLLIN, 0};
      if (poll(&pf, 1, 100) <= 0) break;
      ssize_t r = read(master, buf, sizeof buf);
      if (r <= 0 || write_all(1, buf, (size_t)r) < 0) break;
    }
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 255;
}

int main(int argc, char **argv) {
  int tty = 0, a = 1, procfd = -1;
  if (a < argc && !strcmp(argv[a], "-t")) { tty = 1; a++; }
  else if (a < argc && !strcmp(argv[a], "-d")) { detached = 1; a++; }
  report_ok = fcntl(REPORT_FD, F_GETFD) >= 0;
  ctl_ok = fcntl(CTL_FD, F_GETFD) >= 0;
  /* keep fds 3 and 4 taken, so nothing of ours lands there and gets closed in the child */
  for (int fd = CTL_FD; fd <= REPORT_FD; fd++) {
    if (fcntl(fd, F_GETFD) >= 0) continue;
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0 && nul != fd) { dup2(nul, fd); close(nul); }
  }
  if (argc - a < 2) die("usage: mesos-cri-exec [-t|-d] PLAN ARG...");
  parse_plan(argv[a]);
  if (!detached && !plan.pid) die("exec plan names no container process");
  /* never a default of uid 0 with every capability */
  if (!plan.has_user) die("exec plan has no user record");
  if (!plan.has_caps) die("exec plan has no caps record");
  char **cmd = argv + a + 1;

  /* block the signals we wait for; the child restores its mask before exec */
  sigset_t mask = waited_signals();
  sigprocmask(SIG_BLOCK, &mask, NULL);

  if (detached) {
    open_cgroups();
    enter_new_namespaces();
  } else {
    if (start_time(plan.pid) != plan.start) die("container process %d is gone", plan.pid);
    /* the host's /proc/self/fd, to reopen the pty master by fd once inside the container */
    if (tty && (procfd = open("/proc/self/fd", O_DIRECTORY | O_RDONLY | O_CLOEXEC)) < 0) die("cannot open /proc/self/fd: %s", strerror(errno));
    open_namespaces();
    open_cgroups();
    if (start_time(plan.pid) != plan.start) die("container process %d is gone", plan.pid);
    enter_namespaces();
  }

  int master = -1, slave = -1;
  if (tty) {
    master = open_ptmx(procfd);
    if (unlockpt(master) < 0) die("cannot set up a pty: %s", strerror(errno));
    slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) die("cannot open the pty's other end: %s", strerror(errno));
  }

  int sync[2], errp[2];
  if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  pid_t child = fork();
  if (child < 0) die("cannot start a process in the container: %s", strerror(errno));
  if (child == 0) {
    close(sync[1]);
    close(errp[0]);
    errpipe_w = errp[1];
    if (master >= 0) close(master);
    become(cmd, sync[0], slave, tty);
  }
  if (slave >= 0) close(slave);
  close(sync[0]);
  close(errp[1]);
  char pidbuf[32];
  int plen = snprintf(pidbuf, sizeof pidbuf, "%d", child);
  for (int i = 0; i < plan.ncgroups; i++) {
    if (write(plan.cgroup_fds[i], pidbuf, (size_t)plen) < 0) {
      int e = errno;
      kill(child, SIGKILL);
      waitpid(child, NULL, 0);
      die("cannot join cgroup %s: %s", plan.cgroups[i], strerror(e));
    }
    close(plan.cgroup_fds[i]);
  }
  if (write(sync[1], "x", 1) != 1) { /* the child died: the error pipe tells */ }
  close(sync[1]);
  char err[1100];
  ssize_t n = read(errp[0], err, sizeof err - 1);
  close(errp[0]);
  if (n > 0) {
    err[n] = 0;
    waitpid(child, NULL, 0);
    die("%s", err);
  }
  if (detached) {
    if (report_ok) dprintf(REPORT_FD, "{\"pid\":%d}\n", child);
    else printf("%d\n", child);
    return 0;
  }
  int code = supervise(child, master);
  report_exit(code);
  return code;
}
