import type { OciSeccomp, OciSeccompSyscall } from './types';

/**
 * The RuntimeDefault seccomp profile, written after the facts of containerd's
 * `contrib/seccomp/seccomp_default.go`: deny by default with EPERM, allow a
 * fixed list of ordinary syscalls, and unlock the dangerous ones only when the
 * container's bounding set holds the capability that already guards them
 * (mount and unshare with CAP_SYS_ADMIN, ptrace-like calls with
 * CAP_SYS_PTRACE …). Unknown names are fine: runc skips syscalls its
 * libseccomp does not know, so newer calls can be listed ahead of time.
 * io_uring is absent on purpose (containerd 2.0 dropped it: it bypasses
 * seccomp for everything it submits).
 */

const ALLOWED: readonly string[] = `
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32
clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync
fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat
getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups
getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch inotify_init
inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents
io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listxattr
llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise map_shadow_stack membarrier
memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2
mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend
mq_timedsend_time64 mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
nanosleep newfstatat _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2
pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
process_mrelease pselect6 pselect6_time64 ptrace pwrite64 pwritev pwritev2 read readahead readlink
readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr rename
renameat renameat2 restart_syscall rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask
rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
sched_getaffinity sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list
setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt shmget
shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socket socketcall socketpair splice stat
stat64 statfs statfs64 statx symlink symlinkat sync sync_file_range syncfs sysinfo tee tgkill time
timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64 timer_settime
timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64
times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
`.trim().split(/\s+/);

/** Syscalls a capability unlocks: the kernel checks that capability for them anyway. */
const BY_CAPABILITY: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['CAP_DAC_READ_SEARCH', ['open_by_handle_at']],
  ['CAP_SYS_ADMIN', [
    'bpf', 'clone', 'clone3', 'fanotify_init', 'fsconfig', 'fsmount', 'fsopen', 'fspick', 'lookup_dcookie',
    'mount', 'mount_setattr', 'move_mount', 'name_to_handle_at', 'open_tree', 'perf_event_open', 'quotactl',
    'quotactl_fd', 'setdomainname', 'sethostname', 'setns', 'syslog', 'umount', 'umount2', 'unshare',
  ]],
  ['CAP_SYS_BOOT', ['reboot']],
  ['CAP_SYS_CHROOT', ['chroot']],
  ['CAP_SYS_MODULE', ['delete_module', 'init_module', 'finit_module']],
  ['CAP_SYS_PACCT', ['acct']],
  ['CAP_SYS_PTRACE', ['kcmp', 'pidfd_getfd', 'process_madvise', 'process_vm_readv', 'process_vm_writev']],
  ['CAP_SYS_RAWIO', ['iopl', 'ioperm']],
  ['CAP_SYS_TIME', ['settimeofday', 'stime', 'clock_settime', 'clock_settime64']],
  ['CAP_SYS_TTY_CONFIG', ['vhangup']],
  ['CAP_SYS_NICE', ['get_mempolicy', 'mbind', 'set_mempolicy', 'set_mempolicy_home_node']],
  ['CAP_SYSLOG', ['syslog']],
  ['CAP_BPF', ['bpf']],
  ['CAP_PERFMON', ['perf_event_open']],
];

/** Namespace-creating clone flags: NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET. */
const CLONE_NAMESPACE_FLAGS = 0x7e020000;
const EPERM = 1;
const ENOSYS = 38;

/** seccomp architectures for Node's `process.arch` (the native one plus its compat ABIs). */
export function seccompArchitectures(arch: string = process.arch): string[] {
  switch (arch) {
    case 'x64': return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'arm64': return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
    case 'ia32': return ['SCMP_ARCH_X86'];
    case 'arm': return ['SCMP_ARCH_ARM'];
    case 's390x': return ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'];
    case 'ppc64': return ['SCMP_ARCH_PPC64LE'];
    case 'riscv64': return ['SCMP_ARCH_RISCV64'];
    default: return [];
  }
}

function archSyscalls(arch: string): string[] {
  switch (arch) {
    case 'x64':
    case 'ia32': return ['arch_prctl', 'modify_ldt'];
    case 'arm64':
    case 'arm': return ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls'];
    case 's390x': return ['s390_pci_mmio_read', 's390_pci_mmio_write', 's390_runtime_instr'];
    case 'ppc64': return ['sync_file_range2'];
    default: return [];
  }
}

/**
 * RuntimeDefault for a container whose bounding set is `bounding`.
 * `personality` is limited to the personas glibc and 32-bit emulation use.
 */
export function runtimeDefaultSeccomp(bounding: readonly string[], arch: string = process.arch): OciSeccomp {
  const caps = new Set(bounding);
  const allow = new Set([...ALLOWED, ...archSyscalls(arch)]);
  for (const [cap, names] of BY_CAPABILITY) if (caps.has(cap)) for (const n of names) allow.add(n);
  const syscalls: OciSeccompSyscall[] = [{ names: [...allow].sort(), action: 'SCMP_ACT_ALLOW' }];
  for (const persona of [0x0, 0x8, 0x20000, 0x20008, 0xffffffff]) {
    syscalls.push({ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: persona, op: 'SCMP_CMP_EQ' }] });
  }
  if (!caps.has('CAP_SYS_ADMIN')) {
    // Threads and plain forks yes, new namespaces no. On s390 the flags are the second argument.
    const index = arch === 's390x' ? 1 : 0;
    syscalls.push({
      names: ['clone'],
      action: 'SCMP_ACT_ALLOW',
      args: [{ index, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    });
    // clone3 takes its flags in memory seccomp cannot read; ENOSYS makes libc fall back to clone.
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  const architectures = seccompArchitectures(arch);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    defaultErrnoRet: EPERM,
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls,
  };
}
