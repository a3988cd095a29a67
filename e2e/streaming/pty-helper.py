#!/usr/bin/env python3
"""Runs argv[1:] on a new pseudo-terminal for the streaming tests' host runtime.

stdin is copied to the terminal, terminal output to stdout. Lines "ROWS COLS"
on fd 3 resize the terminal (the kernel then sends SIGWINCH to the program).
Exits with the program's exit code; stdin EOF sends ^D to the terminal.
"""
import fcntl, os, pty, select, struct, sys, termios

pid, master = pty.fork()
if pid == 0:
    os.environ.setdefault("TERM", "xterm")
    os.execvp(sys.argv[1], sys.argv[1:])

fds = [0, master]
try:
    os.fstat(3)
    fds.append(3)
except OSError:
    pass
resize_buf = b""
while master in fds:
    r, _, _ = select.select(fds, [], [])
    for fd in r:
        if fd == master:
            try:
                data = os.read(master, 65536)
            except OSError:
                data = b""
            if not data:
                fds = [f for f in fds if f != master]
                break
            os.write(1, data)
        elif fd == 0:
            data = os.read(0, 65536)
            if not data:
                fds.remove(0)
                os.write(master, b"\x04")
            else:
                os.write(master, data)
        elif fd == 3:
            data = os.read(3, 4096)
            if not data:
                fds.remove(3)
                continue
            resize_buf += data
            while b"\n" in resize_buf:
                line, resize_buf = resize_buf.split(b"\n", 1)
                rows, cols = (int(x) for x in line.split())
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status) & 0xFF)
