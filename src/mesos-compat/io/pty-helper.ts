/**
 * The Python side of a tty exec (see `pty-exec.ts`). Node cannot receive a
 * file descriptor over a unix socket (neither `net` nor `node-unix-socket`
 * does SCM_RIGHTS), and `runc exec` only hands out the pty master with
 * `--detach` ("cannot use console socket if runc will not detach"). So this
 * small helper does what conmon does for a terminal exec:
 *
 * 1. becomes a child subreaper, so the exec'd process, orphaned when
 *    `runc exec --detach` exits, is re-parented to it and can be reaped;
 * 2. listens on the console socket (argv[1], relative to its cwd so long
 *    work dirs don't hit the 108-byte `sun_path` limit), runs the runc
 *    command line (argv[3:]) and receives the pty master;
 * 3. relays stdin → master and master → stdout, and takes commands on
 *    fd 3: `r <rows> <cols>` (TIOCSWINSZ on the master) and `k` (SIGKILL the
 *    process through its pidfd, so a recycled pid can never be hit). EOF on
 *    fd 3 means the session's owner is gone and also kills the process;
 * 4. when the process exits, drains the master briefly and writes one JSON
 *    line on fd 4: `{"exitCode": N}` (128+n for a signal) or `{"error": …}`
 *    when runc failed to start the process.
 *
 * Python 3.9+ (`os.pidfd_open`, `socket.recv_fds`); Debian 12 has 3.11.
 */
export const PTY_HELPER_SOURCE = String.raw`
import ctypes, errno, fcntl, json, os, select, signal, socket, struct, subprocess, sys, termios, time

def report(obj):
    os.write(4, (json.dumps(obj) + "\n").encode())

def write_all(fd, data):
    while data:
        try:
            n = os.write(fd, data)
        except BrokenPipeError:
            return False
        data = data[n:]
    return True

def start(sock_path, cmd):
    if ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    srv.listen(1)
    runc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    conn, err, fds = None, b"", []
    while conn is None:
        r, _, _ = select.select([srv, runc.stderr], [], [])
        if srv in r:
            conn, _ = srv.accept()
        else:
            chunk = os.read(runc.stderr.fileno(), 65536)
            if not chunk:
                break
            err += chunk
    if conn is not None:
        _, fds, _, _ = socket.recv_fds(conn, 1024, 1)
        conn.close()
    err += runc.stderr.read()
    rc = runc.wait()
    srv.close()
    os.unlink(sock_path)
    if rc != 0 or not fds:
        for fd in fds:
            os.close(fd)
        return None, err.decode(errors="replace").strip() or "runc exec exited %d" % rc
    return fds[0], None

def exit_code(pid):
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code

def relay(master, pidfd, pid):
    os.set_blocking(master, False)
    pending, ctlbuf = bytearray(), b""
    stdin_open, ctl_open, master_open, out_open = True, True, True, True
    while True:
        rl = [pidfd]
        if master_open:
            rl.append(master)
        if stdin_open and len(pending) < 65536:
            rl.append(0)
        if ctl_open:
            rl.append(3)
        wl = [master] if pending and master_open else []
        r, w, _ = select.select(rl, wl, [])
        if 3 in r:
            data = os.read(3, 4096)
            if not data:
                ctl_open = False
                data = b"k\n"
            ctlbuf += data
            while b"\n" in ctlbuf:
                line, ctlbuf = ctlbuf.split(b"\n", 1)
                parts = line.split()
                if parts[:1] == [b"r"] and len(parts) == 3:
                    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", int(parts[1]), int(parts[2]), 0, 0))
                elif parts[:1] == [b"k"]:
                    try:
                        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if 0 in r:
            data = os.read(0, 65536)
            if data:
                pending += data
            else:
                # A pty has no half-close; the process keeps its terminal.
                stdin_open = False
        if master in w:
            try:
                del pending[:os.write(master, pending)]
            except BlockingIOError:
                pass
        if master in r:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                data = None
            except OSError as e:
                if e.errno != errno.EIO:
                    raise
                data = b""
            if data == b"":
                master_open = False
            elif data and out_open:
                out_open = write_all(1, data)
        if pidfd in r:
            break
    code = exit_code(pid)
    # The slave may still hold output the process wrote just before it exited.
    deadline = time.monotonic() + 2
    while master_open and out_open and time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.1)
        if not r:
            break
        try:
            data = os.read(master, 65536)
        except (BlockingIOError, OSError):
            break
        if not data:
            break
        out_open = write_all(1, data)
    return code

def main():
    sock_path, pid_file, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
    master, err = start(sock_path, cmd)
    if master is None:
        report({"error": err})
        return
    with open(pid_file) as f:
        pid = int(f.read().strip())
    pidfd = os.pidfd_open(pid)
    report({"exitCode": relay(master, pidfd, pid)})

main()
`;
