# SPDX-License-Identifier: Apache-2.0
"""The power-cut harness's disk model: what a disk could hold after a cut, from cutfs's log.

tests/powercut/cutfs.c (LD_PRELOAD into a release daemon) logs every change to the files under
a watched folder and SIGKILLs the daemon before its Nth change. This module replays that log
over a snapshot of the folder taken before the daemon started (all of it durable then), and
keeps two things apart: what is durable (a file's bytes and size as of its last fsync or
fdatasync; a folder's names as of its last fsync; a new file's own name from its first fsync,
as ext4, XFS and btrfs behave) and what is not yet (the changes since). cut() then writes back
into the folder what a disk could hold after losing power: everything durable, plus all, none
or a random part of the rest, in order, with the last write kept torn at 512-byte sectors (some
of its sectors new, the others old).

Invariant: a change the log calls durable is never dropped; the skipped names (the fake
printer's receipts, logs, -shm files) are the outside world and never touched.
"""
import fnmatch
import os
import random
import stat
import struct

REC = struct.Struct("<IIQQIIQ")  # type, name1_len, ino, a, name2_len, pad, data_len
(R_WRITE, R_TRUNC, R_SYNC, R_DIRSYNC, R_CREATE, R_RENAME, R_UNLINK, R_MKDIR, R_LINK) = range(1, 10)
SECTOR = 512
SO = os.path.join(os.environ.get("PE_BIN_RELEASE", ""), "cutfs.so")


def read_log(path):
    """The records of a cutfs log: (type, ino, a, name1, name2, data)."""
    with open(path, "rb") as f:
        buf = f.read()
    out, o = [], 0
    while o + REC.size <= len(buf):
        t, n1, ino, a, n2, _, dl = REC.unpack_from(buf, o)
        o += REC.size
        name1 = buf[o:o + n1].decode()
        o += n1
        name2 = buf[o:o + n2].decode()
        o += n2
        data = buf[o:o + dl]
        o += dl
        out.append((t, ino, a, name1, name2, data))
    return out


def changes(path):
    """How many cut points a run's log holds, near enough to draw the next cut point from: its
    records but the CREATEs (a first sighting is not a change of its own)."""
    return sum(1 for r in read_log(path) if r[0] != R_CREATE)


def _skipped(rel, skip):
    first = rel.split("/", 1)[0]
    return any(fnmatch.fnmatchcase(first, p) for p in skip)


def _parent(rel):
    return rel.rsplit("/", 1)[0] if "/" in rel else ""


def _apply(data, op):
    if op[0] == "w":
        _, off, new = op
        if len(data) < off:
            data.extend(b"\0" * (off - len(data)))
        data[off:off + len(new)] = new
    else:
        size = op[1]
        if len(data) > size:
            del data[size:]
        else:
            data.extend(b"\0" * (size - len(data)))


def _torn(op, rnd):
    """Some 512-byte sectors of a write, the others not written: (offset, bytes) pieces."""
    _, off, new = op
    pieces, o = [], 0
    while o < len(new):
        end = min(len(new), ((off + o) // SECTOR + 1) * SECTOR - off)
        if rnd.random() < 0.5:
            pieces.append(("w", off + o, new[o:end]))
        o = end
    return pieces


class Disk:
    """The snapshot of a watched folder, then a run's log replayed over it."""

    def __init__(self, folder, skip):
        self.folder, self.skip = folder, list(skip)
        self.files = {}     # id -> {"durable": bytearray, "pending": [op], "mode": int}
        self.dnames = {}    # durable names: rel -> id
        self.ddirs = set()  # durable sub-folders
        self.names = {}     # names now: rel -> id
        self.dirs = set()
        self.pending_dir = {}  # folder rel -> [dir op]
        self.ino = {}       # inode -> id
        self.next_id = 0
        for root, dirnames, filenames in os.walk(folder):
            relroot = os.path.relpath(root, folder)
            relroot = "" if relroot == "." else relroot
            keep = []
            for dn in dirnames:
                rel = os.path.join(relroot, dn)
                if not _skipped(rel, self.skip):
                    self.ddirs.add(rel)
                    self.dirs.add(rel)
                    keep.append(dn)
            dirnames[:] = keep
            for fn in filenames:
                rel = os.path.join(relroot, fn)
                if _skipped(rel, self.skip):
                    continue
                p = os.path.join(folder, rel)
                st = os.lstat(p)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(p, "rb") as f:
                    fid = self._new(bytearray(f.read()), stat.S_IMODE(st.st_mode))
                self.ino[st.st_ino] = fid
                self.dnames[rel] = fid
                self.names[rel] = fid

    def _new(self, data, mode=0o600):
        fid = self.next_id
        self.next_id += 1
        self.files[fid] = {"durable": data, "pending": [], "mode": mode}
        return fid

    def _dirop(self, folder, op):
        self.pending_dir.setdefault(folder, []).append(op)

    def replay(self, records):
        for t, ino, a, n1, n2, data in records:
            if t == R_CREATE:
                fid = self._new(bytearray())
                if data:
                    self.files[fid]["pending"].append(("w", 0, bytes(data)))
                self.ino[ino] = fid
                self.names[n1] = fid
                self._dirop(_parent(n1), ("link", n1, fid))
            elif t in (R_WRITE, R_TRUNC, R_SYNC):
                fid = self.ino.get(ino)
                if fid is None:
                    raise ValueError("cutfs log: inode %d was never seen" % ino)
                f = self.files[fid]
                if t == R_WRITE:
                    f["pending"].append(("w", a, bytes(data)))
                elif t == R_TRUNC:
                    f["pending"].append(("t", a))
                else:
                    for op in f["pending"]:
                        _apply(f["durable"], op)
                    f["pending"] = []
                    # Its own name, if new, is durable with it (ext4, XFS, btrfs).
                    for folder, ops in self.pending_dir.items():
                        for op in [o for o in ops if o[0] == "link" and o[2] == fid]:
                            ops.remove(op)
                            self.dnames[op[1]] = fid
            elif t == R_DIRSYNC:
                for op in self.pending_dir.pop(n1, []):
                    self._commit(op)
            elif t == R_RENAME:
                fid = self.names.pop(n1, None)
                if fid is None:
                    continue  # a folder or a file outside the model: not modelled
                self.names[n2] = fid
                self._dirop(_parent(n2), ("rename", n1, n2, fid))
            elif t == R_LINK:
                fid = self.names.get(n1)
                if fid is not None:
                    self.names[n2] = fid
                    self._dirop(_parent(n2), ("link", n2, fid))
            elif t == R_UNLINK:
                self.names.pop(n1, None)
                self._dirop(_parent(n1), ("unlink", n1))
            elif t == R_MKDIR:
                self.dirs.add(n1)
                self._dirop(_parent(n1), ("mkdir", n1))

    def _commit(self, op, names=None, dirs=None):
        names = self.dnames if names is None else names
        dirs = self.ddirs if dirs is None else dirs
        if op[0] == "link":
            names[op[1]] = op[2]
        elif op[0] == "rename":
            if names.get(op[1]) == op[3]:
                del names[op[1]]
            names[op[2]] = op[3]
        elif op[0] == "unlink":
            names.pop(op[1], None)
        elif op[0] == "mkdir":
            dirs.add(op[1])

    def unsynced(self):
        """How many changes are not durable."""
        return sum(len(f["pending"]) for f in self.files.values()) + \
            sum(len(v) for v in self.pending_dir.values())

    def cut(self, rnd, mode):
        """Writes into the folder what the disk holds after the cut. mode "all" loses every
        change not durable; "random" keeps a random prefix of each file's unsynced changes
        (the next one torn) or a random subset of them, and a random prefix of each folder's.
        Returns how many unsynced changes were lost (torn counts as lost)."""
        lost = 0
        contents = {}
        for fid, f in self.files.items():
            data = bytearray(f["durable"])
            ops = f["pending"]
            if mode == "all" or not ops:
                keep = []
            elif rnd.random() < 0.5:
                k = rnd.randint(0, len(ops))
                keep = list(ops[:k])
                if k < len(ops) and ops[k][0] == "w":
                    keep += _torn(ops[k], rnd)
            else:
                keep = [op for op in ops if rnd.random() < 0.5]
            lost += len(ops) - sum(1 for op in keep if op in ops)
            for op in keep:
                _apply(data, op)
            contents[fid] = data
        names, dirs = dict(self.dnames), set(self.ddirs)
        for folder, ops in self.pending_dir.items():
            k = 0 if mode == "all" else rnd.randint(0, len(ops))
            for op in ops[:k]:
                self._commit(op, names, dirs)
            lost += len(ops) - k
        self._write(names, dirs, contents)
        return lost

    def _write(self, names, dirs, contents):
        """Replaces the folder's modelled entries with names -> contents (skipped ones stay)."""
        for root, dirnames, filenames in os.walk(self.folder, topdown=False):
            relroot = os.path.relpath(root, self.folder)
            relroot = "" if relroot == "." else relroot
            if relroot and _skipped(relroot, self.skip):
                continue
            for fn in filenames:
                rel = os.path.join(relroot, fn)
                if not _skipped(rel, self.skip):
                    os.unlink(os.path.join(self.folder, rel))
            for dn in dirnames:
                rel = os.path.join(relroot, dn)
                if not _skipped(rel, self.skip) and rel not in dirs:
                    try:
                        os.rmdir(os.path.join(self.folder, rel))
                    except OSError:
                        pass
        for rel in sorted(dirs):
            os.makedirs(os.path.join(self.folder, rel), exist_ok=True)
        for rel, fid in names.items():
            if _parent(rel) and _parent(rel) not in dirs:
                continue  # its folder's own entry was lost
            p = os.path.join(self.folder, rel)
            with open(p, "wb") as f:
                f.write(contents[fid])
            os.chmod(p, self.files[fid]["mode"])


def env(folder, log, skip, cut_at=0, lie=None):
    """The environment that runs a release daemon under cutfs."""
    e = {"LD_PRELOAD": SO, "CUTFS_DIR": folder, "CUTFS_LOG": log, "CUTFS_SKIP": ":".join(skip),
         "CUTFS_CUT_AT": str(cut_at)}
    if lie:
        e["CUTFS_LIE"] = lie
    return e
