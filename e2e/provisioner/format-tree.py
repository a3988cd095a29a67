"""Source trees and snapshots for the layer-format corpus (format-corpus.e2e.test.ts).

  python3 format-tree.py make DIR FEATURES   builds the tree with FEATURES (comma-separated)
  python3 format-tree.py snap DIR FEATURES   prints what must survive a tar round trip

Features: long (names and link targets over 100/255 bytes), bigid (uid/gid over
2097151), xattr (binary user.* value, security.capability), sparse (a file with
holes), nonutf8 (a name that is not UTF-8), special (fifo, char device), frac
(sub-second mtimes kept), round (the writer rounds mtimes to seconds).
"""
import hashlib
import os
import struct
import sys

T0 = 1600000000


def make(root, feats):
    def times(p, t):
        ns = T0 * 10**9 + round((t - T0) * 1e9)
        os.utime(p, ns=(ns, ns), follow_symlinks=False)

    def file(rel, data, mode=0o644, uid=0, gid=0, t=T0 + 0.25):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, 'wb') as f:
            f.write(data)
        os.chown(p, uid, gid)
        os.chmod(p, mode)
        times(p, t)
        return p

    os.makedirs(os.path.join(root, b'd'))
    file(b'd/file', b'hello\n', t=T0 + 1.5)
    file(b'suid', b'bin', mode=0o4755)
    file(b'empty', b'')
    file(b'big', os.urandom(300_000), mode=0o600)
    os.symlink(b'd/file', os.path.join(root, b'link'))
    os.link(os.path.join(root, b'd/file'), os.path.join(root, b'hard'))
    os.makedirs(os.path.join(root, b'e/f'))
    if 'long' in feats:
        file(b'long/' + b'n' * 120 + b'/' + b'f' * 120, b'long name')
        file(b'deep/' + (b'p' * 60 + b'/') * 4 + b'q' * 80, b'over 255')
        os.symlink(b'x' * 150, os.path.join(root, b'longlink'))
    if 'bigid' in feats:
        file(b'bigid', b'ids', uid=3000000, gid=3000001)
    if 'nonutf8' in feats:
        file(b'caf\xe9', b'latin-1 name')
    if 'special' in feats:
        os.mkfifo(os.path.join(root, b'fifo'), 0o640)
        os.mknod(os.path.join(root, b'null'), 0o20666, os.makedev(1, 3))
        times(os.path.join(root, b'fifo'), T0 + 0.75)
        times(os.path.join(root, b'null'), T0 + 0.75)
    if 'sparse' in feats:
        p = file(b'sparse', b'')
        with open(p, 'r+b') as f:
            f.seek(1 << 20)
            f.write(b'S' * 4096)
            f.seek(3 << 20)
            f.write(b'T' * 10)
            f.truncate(4 << 20)
        times(p, T0 + 0.25)
    if 'xattr' in feats:
        p = file(b'caps', b'ping', mode=0o755)
        os.setxattr(p, 'user.bin', bytes(range(256)))
        # VFS_CAP_REVISION_2 with the effective bit; permitted = CAP_NET_RAW (13).
        os.setxattr(p, 'security.capability', struct.pack('<5I', 0x02000001, 1 << 13, 0, 0, 0))
        times(p, T0 + 0.25)
    os.chown(os.path.join(root, b'd'), 1000, 1001)
    os.chmod(os.path.join(root, b'd'), 0o750)
    for d in [b'e/f', b'e', b'long', b'deep', b'd']:
        for dirpath, dirnames, _ in os.walk(os.path.join(root, d), topdown=False):
            times(dirpath, T0 + 2.125)
    times(os.path.join(root, b'link'), T0 + 3.5)
    if 'long' in feats:
        times(os.path.join(root, b'longlink'), T0 + 3.5)


def snap(root, feats):
    inodes = {}
    rows = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            if not (os.path.isdir(p) and not os.path.islink(p)):
                inodes.setdefault((st.st_dev, st.st_ino), []).append(os.path.relpath(p, root))
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            mt = st.st_mtime_ns // 1000 if 'frac' in feats else st.st_mtime_ns // 10**9
            if 'round' in feats:  # Go's archive/tar rounds times it cannot store exactly
                mt = (st.st_mtime_ns + 5 * 10**8) // 10**9
            row = [repr(rel), oct(st.st_mode), '%d:%d' % (st.st_uid, st.st_gid), 'mtime=%d' % mt]
            if os.path.islink(p):
                row.append('-> ' + repr(os.readlink(p)))
            elif os.path.isfile(p):
                row += ['size=%d' % st.st_size, hashlib.sha256(open(p, 'rb').read()).hexdigest()[:16]]
                group = inodes[(st.st_dev, st.st_ino)]
                if len(group) > 1:
                    row.append('links=' + repr(sorted(group)))
                if 'sparse' in feats and rel == b'sparse':
                    row.append('sparse=%s' % (st.st_blocks * 512 < st.st_size))
            elif not os.path.isdir(p):
                row.append('rdev=%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)))
            try:
                names = sorted(x for x in os.listxattr(p, follow_symlinks=False) if not x.startswith('trusted.') and x != 'security.selinux')
                row += ['%s=%s' % (x, os.getxattr(p, x, follow_symlinks=False).hex()) for x in names]
            except OSError:
                pass
            rows.append(' '.join(row))
    print('\n'.join(rows))


def nofooter(root):
    """A GNU tar of ROOT whose stream stops right after the last file's data (no padding, no end blocks)."""
    import io
    import tarfile
    buf = io.BytesIO()
    root = os.fsdecode(root)
    with tarfile.open(fileobj=buf, mode='w', format=tarfile.GNU_FORMAT) as t:
        t.add(root, arcname='.', recursive=False)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for n in sorted(dirnames + filenames):
                if n != 'last':
                    t.add(os.path.join(dirpath, n), arcname=os.fsdecode(os.path.relpath(os.path.join(dirpath, n), root)), recursive=False)
        last = os.path.join(root, 'last')
        info = t.gettarinfo(last, arcname='last')
        with open(last, 'rb') as f:
            t.addfile(info, f)
        end = t.offset - (512 - info.size % 512) % 512
    sys.stdout.buffer.write(buf.getvalue()[:end])


if __name__ == '__main__':
    cmd, root = sys.argv[1], os.fsencode(sys.argv[2])
    feats = set(sys.argv[3].split(',')) if len(sys.argv) > 3 else set()
    if cmd == 'make':
        make(root, feats)
        if 'last' in feats:
            with open(os.path.join(root, b'last'), 'wb') as f:
                f.write(b'the last file, 37 bytes, unpadded.\n\n')
            os.utime(os.path.join(root, b'last'), (T0, T0))
            os.utime(root, (T0, T0))
    elif cmd == 'nofooter':
        nofooter(root)
    else:
        snap(root, feats)
