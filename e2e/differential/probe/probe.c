/*
 * The differential suite's container process: prints what a process sees
 * from inside its container, one fact per line as "<section>\t<text>", and
 * exits 0. It runs as the container's own process (not an exec), so every
 * fact is the runtime's doing. Syscall probes run in forked children so
 * that one which succeeds changes nothing for the others; they pass
 * arguments the kernel rejects with a distinctive errno when the call is
 * allowed, so EPERM means "refused" (by seccomp or a missing capability).
 * Static, no libc features beyond syscalls: the images have no libc.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void put(const char *section, const char *text) { printf("%s\t%s\n", section, text); }

/* Every line of a file, prefixed with `key ` when given. */
static void dump(const char *section, const char *path, const char *key) {
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("%s\t%s%s<%s>\n", section, key ? key : "", key ? " " : "", strerrorname_np(errno));
    return;
  }
  char line[4096];
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = 0;
    printf("%s\t%s%s%s\n", section, key ? key : "", key ? " " : "", line);
  }
  fclose(f);
}

/* A one-line file as `section name value`. */
static void value(const char *section, const char *name, const char *path) {
  char buf[512] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    printf("%s\t%s <%s>\n", section, name, strerrorname_np(errno));
    return;
  }
  ssize_t n = read(fd, buf, sizeof buf - 1);
  int err = errno;
  close(fd);
  if (n < 0) {
    printf("%s\t%s <%s>\n", section, name, strerrorname_np(err));
    return;
  }
  buf[n] = 0;
  for (char *p = buf; *p; p++) if (*p == '\n' || *p == '\t') *p = ' ';
  while (n > 0 && buf[n - 1] == ' ') buf[--n] = 0;
  printf("%s\t%s %s\n", section, name, buf);
}

/* Runs `fn` in a child and prints its result: "ok" or the errno's name. */
static void probe(const char *name, long (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    errno = 0;
    long r = fn();
    _exit(r < 0 ? (errno & 0xff) : 0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  if (WIFSIGNALED(st)) printf("sys\t%s signal %d\n", name, WTERMSIG(st));
  else if (WEXITSTATUS(st) == 0) printf("sys\t%s ok\n", name);
  else printf("sys\t%s %s\n", name, strerrorname_np(WEXITSTATUS(st)));
}

static long p_keyctl(void) { return syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3 /* session */, 0); }
static long p_add_key(void) { return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0); }
static long p_unshare_user(void) { return unshare(CLONE_NEWUSER); }
static long p_unshare_mnt(void) { return unshare(CLONE_NEWNS); }
static long p_setns(void) { return setns(-1, 0); }
static long p_mount(void) { return mount("none", "/nonexistent-probe", "tmpfs", 0, NULL); }
static long p_ptrace(void) { return ptrace(PTRACE_TRACEME, 0, NULL, NULL); }
static long p_personality(void) { return syscall(SYS_personality, 0xffffffffUL) < 0 ? -1 : 0; }
static long p_bpf(void) { return syscall(SYS_bpf, -1, NULL, 0); }
static long p_perf(void) { return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0); }
static long p_userfaultfd(void) { return syscall(SYS_userfaultfd, -1); }
static long p_io_uring(void) { return syscall(SYS_io_uring_setup, 0, NULL); }
static long p_open_by_handle(void) { return syscall(SYS_open_by_handle_at, -1, NULL, 0); }
static long p_clone3(void) { return syscall(SYS_clone3, NULL, 0); }
static long p_kcmp(void) { return syscall(SYS_kcmp, 0, 0, 99, 0, 0); }
static long p_syslog(void) { return syscall(SYS_syslog, 10 /* SIZE_BUFFER */, NULL, 0); }
static long p_clock_settime(void) { return syscall(SYS_clock_settime, CLOCK_REALTIME, NULL); }
static long p_reboot(void) { return syscall(SYS_reboot, 0, 0, 0, NULL); /* bad magic: EINVAL when allowed */ }
static long p_swapoff(void) { return syscall(SYS_swapoff, "/nonexistent-probe"); }
static long p_chroot(void) { return chroot("/"); }
static long p_setpriority(void) { return setpriority(PRIO_PROCESS, 0, -1); }
static long p_init_module(void) { return syscall(SYS_init_module, NULL, 0, ""); }
static long p_fsopen(void) { return syscall(SYS_fsopen, "tmpfs", 0); }
static long p_pidfd_getfd(void) { return syscall(SYS_pidfd_getfd, -1, 0, 0); }
static long p_raw_socket(void) { return socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); }
static long p_ping_socket(void) { return socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP); }
static long p_packet_socket(void) { return socket(AF_PACKET, SOCK_RAW, 0); }
/* Scratch files go to /dev/shm, writable in every container; it may be the host's (ipc NODE), so the names are random. */
static char scratch[64];
static long p_mknod(void) { return mknod(scratch, S_IFCHR | 0600, makedev(1, 3)); }
static long p_chown(void) {
  int fd = open(scratch, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return -1;
  return fchown(fd, 4242, 4242);
}
static long p_setuid(void) { return setuid(4242); }
static long p_mlock(void) { static char page[4096]; return mlock(page, sizeof page); }
static long p_iopl(void) { return syscall(SYS_ioperm, 0x80, 1, 1); }

static void tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    printf("dev\t%s <%s>\n", dir, strerrorname_np(errno));
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (lstat(path, &st) < 0) continue;
    char kind = S_ISCHR(st.st_mode) ? 'c' : S_ISBLK(st.st_mode) ? 'b' : S_ISDIR(st.st_mode) ? 'd' : S_ISLNK(st.st_mode) ? 'l' : S_ISFIFO(st.st_mode) ? 'p' : S_ISSOCK(st.st_mode) ? 's' : 'f';
    char link[256] = "";
    if (kind == 'l') {
      ssize_t n = readlink(path, link, sizeof link - 1);
      if (n > 0) link[n] = 0;
    }
    if (kind == 'c' || kind == 'b')
      printf("dev\t%s %c %u:%u %o %u %u\n", path, kind, major(st.st_rdev), minor(st.st_rdev), st.st_mode & 07777, st.st_uid, st.st_gid);
    else
      printf("dev\t%s %c %o %u %u%s%s\n", path, kind, st.st_mode & 07777, st.st_uid, st.st_gid, *link ? " -> " : "", link);
    /* Directories below /dev that are not mounts of their own. */
    if (kind == 'd' && strcmp(e->d_name, "pts") && strcmp(e->d_name, "shm") && strcmp(e->d_name, "mqueue")) tree(path);
  }
  closedir(d);
}

static const char *const SYSCTLS[] = {
  "kernel/hostname", "kernel/domainname", "kernel/shmmax", "kernel/shmall", "kernel/shmmni", "kernel/msgmax",
  "kernel/msgmnb", "kernel/msgmni", "kernel/sem", "fs/mqueue/msg_max", "fs/mqueue/queues_max",
  "net/ipv4/ip_unprivileged_port_start", "net/ipv4/ping_group_range", "net/ipv4/ip_forward",
  "net/ipv4/tcp_syncookies", "net/ipv4/ip_local_port_range", "net/core/somaxconn",
  "net/ipv6/conf/all/disable_ipv6", "net/ipv4/conf/all/route_localnet", "kernel/keys/maxkeys",
  NULL,
};

static const char *const CGROUP_FILES[] = {
  "memory/memory.limit_in_bytes", "memory/memory.memsw.limit_in_bytes", "memory/memory.soft_limit_in_bytes",
  "memory/memory.swappiness", "memory/memory.kmem.limit_in_bytes", "memory/memory.oom_control",
  "cpu/cpu.shares", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us", "cpu,cpuacct/cpu.shares",
  "cpuset/cpuset.cpus", "cpuset/cpuset.mems", "pids/pids.max", "blkio/blkio.weight", "devices/devices.list",
  "hugetlb/hugetlb.2MB.limit_in_bytes",
  /* cgroup v2 */
  "memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max", "cpuset.cpus", "hugetlb.2MB.max",
  NULL,
};

static const char *const MASKED[] = {
  "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
  "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);
  put("begin", "probe");
  for (int i = 1; i < argc; i++) put("arg", argv[i]);

  FILE *f = fopen("/proc/self/status", "r");
  if (f) {
    char line[512];
    static const char *const keys[] = { "Uid:", "Gid:", "Groups:", "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:", NULL };
    while (fgets(line, sizeof line, f)) {
      line[strcspn(line, "\n")] = 0;
      for (int k = 0; keys[k]; k++) if (!strncmp(line, keys[k], strlen(keys[k]))) {
        for (char *p = line; *p; p++) if (*p == '\t') *p = ' ';
        put("status", line);
      }
    }
    fclose(f);
  }

  mode_t mask = umask(0);
  umask(mask);
  printf("umask\t%04o\n", mask);
  char cwd[1024];
  put("cwd", getcwd(cwd, sizeof cwd) ? cwd : "<error>");
  struct utsname u;
  uname(&u);
  put("uname", u.nodename);
  printf("tty\tstdin=%d stdout=%d stderr=%d\n", isatty(0), isatty(1), isatty(2));
  char *tn = ttyname(1);
  put("tty", tn ? tn : "<none>");
  struct termios t;
  if (tcgetattr(1, &t) == 0)
    printf("tty\topost=%d onlcr=%d icanon=%d echo=%d\n", !!(t.c_oflag & OPOST), !!(t.c_oflag & ONLCR), !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO));
  printf("pid\tself=%d ppid=%d\n", getpid(), getppid());
  char cmdline[512] = "";
  int cfd = open("/proc/1/cmdline", O_RDONLY | O_CLOEXEC);
  ssize_t cn = cfd >= 0 ? read(cfd, cmdline, sizeof cmdline - 1) : -1;
  if (cfd >= 0) close(cfd);
  for (ssize_t i = 0; i < cn; i++) if (cmdline[i] == 0) cmdline[i] = ' ';
  put("pid1", cn > 0 ? cmdline : "<unreadable>");
  value("oom", "oom_score_adj", "/proc/self/oom_score_adj");
  for (char **e = environ; *e; e++) put("env", *e);

  static const char *const NS[] = { "cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "user", "uts", NULL };
  for (int i = 0; NS[i]; i++) {
    char path[64], link[128] = "";
    snprintf(path, sizeof path, "/proc/self/ns/%s", NS[i]);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) link[n] = 0;
    printf("ns\t%s %s\n", NS[i], n > 0 ? link : "<none>");
  }

  dump("mount", "/proc/self/mountinfo", NULL);
  dump("cgroup", "/proc/self/cgroup", NULL);
  for (int i = 0; CGROUP_FILES[i]; i++) {
    char path[256];
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s", CGROUP_FILES[i]);
    if (access(path, F_OK) != 0) continue;
    if (strstr(CGROUP_FILES[i], "devices.list")) dump("limit", path, CGROUP_FILES[i]);
    else value("limit", CGROUP_FILES[i], path);
  }
  for (int i = 0; SYSCTLS[i]; i++) {
    char path[256];
    snprintf(path, sizeof path, "/proc/sys/%s", SYSCTLS[i]);
    value("sysctl", SYSCTLS[i], path);
  }
  dump("rlimit", "/proc/self/limits", NULL);
  tree("/dev");
  for (int i = 0; MASKED[i]; i++) {
    struct stat st;
    if (stat(MASKED[i], &st) < 0) {
      printf("path\t%s <%s>\n", MASKED[i], strerrorname_np(errno));
      continue;
    }
    int w = access(MASKED[i], W_OK) == 0;
    printf("path\t%s %s %s\n", MASKED[i], S_ISCHR(st.st_mode) ? "chr" : S_ISDIR(st.st_mode) ? "dir" : "file", w ? "w" : "-");
  }
  dump("file", "/etc/hostname", "/etc/hostname");
  dump("file", "/etc/hosts", "/etc/hosts");
  dump("file", "/etc/resolv.conf", "/etc/resolv.conf");

  /* Writability of places kubelet users care about. */
  static const char *const WRITE[] = { "/.probe-w", "/tmp/.probe-w", "/dev/.probe-w", "/etc/.probe-w", "/vol/.probe-w", "/fresh/vol/.probe-w", NULL };
  for (int i = 0; WRITE[i]; i++) {
    int fd = open(WRITE[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    printf("write\t%s %s\n", WRITE[i], fd >= 0 ? "ok" : strerrorname_np(errno));
    if (fd >= 0) { close(fd); unlink(WRITE[i]); }
  }

  probe("keyctl", p_keyctl);
  probe("add_key", p_add_key);
  probe("unshare_user", p_unshare_user);
  probe("unshare_mnt", p_unshare_mnt);
  probe("setns", p_setns);
  probe("mount", p_mount);
  probe("ptrace_traceme", p_ptrace);
  probe("personality", p_personality);
  probe("bpf", p_bpf);
  probe("perf_event_open", p_perf);
  probe("userfaultfd", p_userfaultfd);
  probe("io_uring_setup", p_io_uring);
  probe("open_by_handle_at", p_open_by_handle);
  probe("clone3", p_clone3);
  probe("kcmp", p_kcmp);
  probe("syslog", p_syslog);
  probe("clock_settime", p_clock_settime);
  probe("reboot", p_reboot);
  probe("swapoff", p_swapoff);
  probe("chroot", p_chroot);
  probe("setpriority", p_setpriority);
  probe("init_module", p_init_module);
  probe("fsopen", p_fsopen);
  probe("pidfd_getfd", p_pidfd_getfd);
  probe("socket_raw", p_raw_socket);
  probe("socket_ping", p_ping_socket);
  probe("socket_packet", p_packet_socket);
  unsigned long long r = 0;
  if (getrandom(&r, sizeof r, 0) < 0) r = (unsigned long long)getpid() ^ (unsigned long long)time(NULL);
  snprintf(scratch, sizeof scratch, "/dev/shm/.probe-%016llx", r);
  probe("mknod", p_mknod);
  unlink(scratch);
  probe("chown", p_chown);
  unlink(scratch);
  probe("setuid", p_setuid);
  probe("mlock", p_mlock);
  probe("ioperm", p_iopl);

  put("end", "probe");
  fflush(stdout);
  return 0;
}
