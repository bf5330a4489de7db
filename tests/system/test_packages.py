#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Debian packages (make deb, scripts/deb.sh): built, linted, and put through a till's life.

The sim board's packages (the host's architecture) and the rpi4 board's (arm64) are built with
`make deb` and checked from the outside with dpkg-deb: architecture, files, conffiles, stripped
binaries of the right machine, and Depends equal to the packages that ship the libraries the
binaries need (NEEDED), looked up in the host's dpkg database for sim and in the rpi4
sysroot's for rpi4 - so a hand-written or stale Depends fails. Lintian must report no error on
either (its tags are printed as "# " lines); systemd-analyze verifies the units.

Then a Debian root (debootstrap minbase of the host's release with the packages' Depends,
cached as a tarball by scripts/debroot.sh) lives through install, self-test, a till day, an
upgrade to a newer build (make deb VERSION=...), remove and purge, with a policy-rc.d that
forbids starting services and a logging deb-systemd-invoke that shows what the maintainer
scripts asked systemd for. The steps are separate tests on one chroot, in order; a step after a
failed one reports that instead of running. /proc and the few device nodes the chroot needs are
mounted for the cycle and always unmounted (also on SIGTERM); the root is deleted only when
nothing is mounted under it. The upgrade relinks build/sim with the newer version; the build is
made again with the changelog's version afterwards.
"""
import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess

import lib
from lib import check, main, test, tmpdir, wait_until

SRC = lib.SRC
REL = lib.BIN_RELEASE
PKGS = ("posedge-agent", "posedge-bridge", "posedge-tools")
BINARY = {"posedge-agent": "posedge-agent", "posedge-bridge": "posedge-bridge",
          "posedge-tools": "posedge-ctl"}
EM = {"amd64": 62, "arm64": 183, "armhf": 40, "i386": 3}  # ELF e_machine per Debian arch
HOST_ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                           text=True).stdout.strip()
VERSION = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(SRC, "pkg", "changelog"),
                          "-SVersion"], capture_output=True, text=True).stdout.strip()
UPGRADE = VERSION + "+pkgtest1"
# The unit settings every daemon's unit must have (issue 6), as key -> value.
UNIT_MUST = {
    "Type": "notify", "NotifyAccess": "main", "WatchdogSec": "30s", "Restart": "on-failure",
    "RestartForceExitStatus": "75", "User": "posedge", "NoNewPrivileges": "yes",
    "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
    "DevicePolicy": "closed", "ProtectKernelTunables": "yes", "ProtectControlGroups": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
}
CLEAN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
             "LC_ALL": "C", "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive"}


def make_env():
    """The environment of a make of our own: not part of a caller's make (its jobserver)."""
    e = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        e.pop(k, None)
    return e


def sh(cmd, check_rc=0, timeout=600, env=None, input=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       input=input)
    if check_rc is not None and p.returncode != check_rc:
        raise lib.Failure("%s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, check_rc, p.stdout[-2000:], p.stderr[-3000:]))
    return p


_built = {}


def build(board, version=None, out=None):
    """make deb BOARD=board [VERSION=version DEB_DIR=out]: {package: .deb path}. Once per
    (board, version); a failed build fails every test that needs it with the same reason."""
    key = (board, version)
    if key not in _built:
        cmd = ["make", "-C", SRC, "-j2", "--no-print-directory", "BOARD=" + board, "deb"]
        if version:
            cmd += ["VERSION=" + version, "DEB_DIR=" + out]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=1100, env=make_env())
        if p.returncode != 0:
            _built[key] = "make deb BOARD=%s%s failed:\n%s" % (
                board, " VERSION=" + version if version else "", (p.stdout + p.stderr)[-3000:])
        else:
            d = out or os.path.join(SRC, "build", board, "deb")
            _built[key] = {p_: os.path.join(d, n) for p_ in PKGS for n in sorted(os.listdir(d))
                           if n.startswith(p_ + "_") and n.endswith(".deb")}
    r = _built[key]
    if isinstance(r, str):
        raise lib.Failure(r)
    check(sorted(r) == sorted(PKGS), "make deb BOARD=%s made %s" % (board, sorted(r)))
    return r


def field(deb, name):
    return sh(["dpkg-deb", "-f", deb, name]).stdout.strip()


def contents(deb):
    """Paths in the package (without the leading "."), from dpkg-deb --contents."""
    out = sh(["dpkg-deb", "--contents", deb]).stdout
    paths = set()
    for line in out.splitlines():
        p = line.split(None, 5)[5].split(" -> ")[0]
        paths.add(p[1:].rstrip("/") or "/")
    return paths


def depends(deb):
    """Depends as {package: constraint or ""} (first alternative of each)."""
    deps = {}
    for d in field(deb, "Depends").split(","):
        d = d.split("|")[0].strip()
        if d:
            name = d.split()[0].split(":")[0]
            deps[name] = d[len(d.split()[0]):].strip()
    return deps


def elf_machine(path):
    with open(path, "rb") as f:
        h = f.read(20)
    check(h[:4] == b"\x7fELF", "%s is not an ELF file" % path)
    return int.from_bytes(h[18:20], "little" if h[5] == 1 else "big")


def needed(path):
    out = sh(["readelf", "-d", path]).stdout
    return [l.split("[", 1)[1].split("]")[0] for l in out.splitlines() if "(NEEDED)" in l]


def lib_package(soname, multiarch, admindir=None):
    """The package that ships library SONAME, from a dpkg database (the host's by default)."""
    base = ["dpkg-query"] + (["--admindir=" + admindir] if admindir else [])
    for d in ("/lib/", "/usr/lib/"):
        p = subprocess.run(base + ["-S", d + multiarch + "/" + soname], capture_output=True,
                           text=True)
        if p.returncode == 0 and p.stdout.strip():
            return p.stdout.split(":")[0].strip()
    raise lib.Failure("no package in %s ships %s" % (admindir or "the host's dpkg database",
                                                    soname))


def shlibs_versioned(package, admindir=None):
    """Whether the library package's symbols or shlibs file gives a minimum version."""
    info = os.path.join(admindir or "/var/lib/dpkg", "info")
    names = [n for n in os.listdir(info) if n.split(":")[0].split(".")[0] == package]
    if any(n.endswith(".symbols") for n in names):
        return True
    for n in names:
        if n.endswith(".shlibs"):
            with open(os.path.join(info, n)) as f:
                for line in f:
                    words = line.split()
                    if len(words) > 3 and words[0] != "udeb:":
                        return True
    return False


def extract(deb, root):
    sh(["dpkg-deb", "-x", deb, root])


def unit_settings(path):
    """A unit file's [Service] settings as key -> list of values."""
    s, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                s.setdefault(k, []).append(v)
    return s


def check_packages(board, arch, multiarch, admindir):
    """The checks of one board's packages from the outside (dpkg-deb)."""
    debs = build(board)
    work = tmpdir("pe-deb-" + board)
    try:
        for p, deb in debs.items():
            check(field(deb, "Package") == p, "%s: Package is %s" % (deb, field(deb, "Package")))
            check(field(deb, "Architecture") == arch,
                  "%s: Architecture %s, expected %s" % (deb, field(deb, "Architecture"), arch))
            check(field(deb, "Version") == VERSION,
                  "%s: Version %s, the changelog says %s" % (deb, field(deb, "Version"), VERSION))
            files = contents(deb)
            b = BINARY[p]
            want = {"/usr/bin/" + b, "/usr/share/doc/%s/copyright" % p,
                    "/usr/share/doc/%s/changelog.gz" % p,
                    "/usr/share/man/man1/%s.1.gz" % b}
            if p != "posedge-tools":
                want.add("/lib/systemd/system/%s.service" % b)
            check(want <= files, "%s lacks %s" % (p, sorted(want - files)))
            root = os.path.join(work, p)
            extract(deb, root)
            binary = os.path.join(root, "usr", "bin", b)
            check(elf_machine(binary) == EM[arch], "%s: ELF machine %d, not %s's %d" % (
                b, elf_machine(binary), arch, EM[arch]))
            check(".symtab" not in sh(["readelf", "-S", binary]).stdout, "%s is not stripped" % b)
            # Depends: exactly the packages of the NEEDED libraries (with a version from their
            # shlibs/symbols), and adduser for the daemons.
            deps = depends(deb)
            libs = {lib_package(so, multiarch, admindir) for so in needed(binary)}
            check(libs, "%s needs no library?" % b)
            hand = {"adduser"} if p != "posedge-tools" else set()
            check(set(deps) == libs | hand, "%s Depends %s, the libraries it links are in %s" % (
                p, sorted(deps), sorted(libs | hand)))
            for l_ in libs:
                # A version where the library's own shlibs/symbols give one (libavro23's shlibs
                # line, "libavro 23 libavro23", gives none).
                if shlibs_versioned(l_, admindir):
                    check(deps[l_].startswith("(>= "), "%s: Depends %s has no version" % (p, l_))
            print("# %s %s Depends: %s" % (board, p, field(deb, "Depends")))
            with open(os.path.join(root, "usr", "share", "doc", p, "copyright")) as f:
                text = f.read()
            check("License: Apache-2.0" in text and "/usr/share/common-licenses/Apache-2.0" in text,
                  "%s: copyright is not the DEP-5 Apache-2.0 one" % p)
        # Configuration: conffiles, loadable by the daemons (the host's build: keys and values,
        # devices are not opened), state under /var/lib/posedge.
        agent, bridge = (os.path.join(work, p) for p in ("posedge-agent", "posedge-bridge"))
        for p, want in (("posedge-agent", ["/etc/posedge/agent.json", "/etc/posedge/catalog.json"]),
                        ("posedge-bridge", ["/etc/posedge/bridge.json"])):
            ctl = os.path.join(work, p + ".ctl")
            sh(["dpkg-deb", "-e", debs[p], ctl])
            with open(os.path.join(ctl, "conffiles")) as f:
                got = f.read().split()
            check(got == want, "%s conffiles %s, expected %s" % (p, got, want))
            for s in ("postinst", "prerm", "postrm"):
                check(os.access(os.path.join(ctl, s), os.X_OK), "%s has no %s" % (p, s))
        for daemon, root, conf, data in (
                ("posedge-agent", agent, "agent.json", "/var/lib/posedge/agent"),
                ("posedge-bridge", bridge, "bridge.json", "/var/lib/posedge/bridge")):
            p = sh([os.path.join(REL, daemon), "-c", os.path.join(root, "etc", "posedge", conf),
                    "--print-config"], check_rc=None)
            check(p.returncode == 0, "%s --print-config refuses the packaged %s: %s" % (
                daemon, conf, p.stderr.strip()[-500:]))
            check(json.loads(p.stdout)["data_dir"] == data,
                  "%s: data_dir %s" % (conf, json.loads(p.stdout)["data_dir"]))
        # The agent unit's device access is the board's devices, and nothing else.
        with open(os.path.join(SRC, "boards", board, "agent.json")) as f:
            devices = json.load(f).get("devices", {})
        paths = {d["path"] for d in devices.values() if d.get("driver", "fake") != "fake"}
        for daemon, root in (("posedge-agent", agent), ("posedge-bridge", bridge)):
            u = unit_settings(os.path.join(root, "lib", "systemd", "system", daemon + ".service"))
            for k, v in UNIT_MUST.items():
                check(v in u.get(k, []), "%s.service: no %s=%s (has %s)" % (daemon, k, v, u.get(k)))
            check(u.get("ExecStart") == ["/usr/bin/%s -c /etc/posedge/%s" % (
                daemon, "agent.json" if daemon == "posedge-agent" else "bridge.json")],
                "%s.service: ExecStart %s" % (daemon, u.get("ExecStart")))
            allowed = {a.split()[0] for a in u.get("DeviceAllow", [])}
            want = paths if daemon == "posedge-agent" else set()
            check({a for a in allowed if a.startswith("/")} == want,
                  "%s.service allows devices %s, the board names %s" % (daemon, sorted(allowed),
                                                                         sorted(want)))
            if not want:
                check(u.get("PrivateDevices") == ["yes"] and not allowed,
                      "%s.service: no devices, but no PrivateDevices=yes" % daemon)
            else:
                check(u.get("SupplementaryGroups"), "%s.service: devices without groups" % daemon)
        verify_units(board, [agent, bridge])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def verify_units(board, roots):
    """systemd-analyze verify (when the host has it) in a root made of the packages' files and
    the host's units (for the targets they name); any message fails."""
    if not shutil.which("systemd-analyze"):
        print("# %s: no systemd-analyze on this host: units not verified" % board)
        return
    root = tmpdir("pe-units")
    try:
        for r in roots:
            shutil.copytree(r, root, symlinks=True, dirs_exist_ok=True)
        for d in ("/lib/systemd/system", "/usr/lib/systemd/system"):
            if os.path.isdir(d) and not os.path.islink(d):
                shutil.copytree(d, root + d, symlinks=True, dirs_exist_ok=True)
        units = ["posedge-agent.service", "posedge-bridge.service"]
        p = sh(["systemd-analyze", "verify", "--man=no", "--root=" + root] + units, check_rc=None)
        msg = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not msg, "systemd-analyze verify: %s" % msg)
        for u in units:
            p = sh(["systemd-analyze", "security", "--offline=yes", "--root=" + root, u],
                   check_rc=None)
            level = [l for l in p.stdout.splitlines() if "Overall exposure level" in l]
            if level:
                text = level[-1].encode("ascii", "ignore").decode().strip()  # no arrow, no emoji
                print("# %s: %s" % (board, text))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def lintian(board):
    debs = build(board)
    p = sh(["lintian", "--display-info"] + sorted(debs.values()), check_rc=None, timeout=600)
    tags = [l for l in p.stdout.splitlines() if l[:2] in ("E:", "W:", "I:", "X:", "O:")]
    for t in tags:
        print("# %s: %s" % (board, t))
    print("# %s: lintian: %d errors, %d warnings, %d info" % (
        board, sum(t.startswith("E:") for t in tags), sum(t.startswith("W:") for t in tags),
        sum(t.startswith("I:") for t in tags)))
    errors = [t for t in tags if t.startswith("E:")]
    check(not errors, "lintian errors: %s" % "; ".join(errors))
    check(p.returncode == 0, "lintian exited %d: %s" % (p.returncode, p.stderr.strip()[-500:]))


@test
def sim_packages():
    check_packages("sim", HOST_ARCH,
                   sh(["dpkg-architecture", "-qDEB_HOST_MULTIARCH"]).stdout.strip(), None)


@test
def sim_lintian():
    lintian("sim")


@test
def rpi4_packages():
    build("rpi4")
    check_packages("rpi4", "arm64", "aarch64-linux-gnu",
                   os.path.join(SRC, "build", "rpi4", "sysroot", "var", "lib", "dpkg"))


@test
def rpi4_lintian():
    lintian("rpi4")


# ---- the install -> upgrade -> remove -> purge cycle in a Debian root ----

class Chroot:
    """A Debian root from the cached tarball, with /proc and a few device nodes mounted."""

    def __init__(self, tarball):
        self.dir = tmpdir("pe-chroot")
        self.root = os.path.join(self.dir, "root")
        self.mounts = []
        os.makedirs(self.root)
        sh(["tar", "--numeric-owner", "-xzf", tarball, "-C", self.root], timeout=300)
        self.mount(["-t", "proc", "proc"], "/proc")
        for n in ("null", "zero", "full", "random", "urandom"):
            open(self.path("/dev/" + n), "a").close()
            self.mount(["--bind", "/dev/" + n], "/dev/" + n)

    def path(self, p):
        return self.root + p

    def mount(self, args, where):
        sh(["mount"] + args + [self.path(where)])
        self.mounts.append(self.path(where))

    def run(self, *cmd, user=None, check_rc=0, timeout=300):
        argv = ["chroot", self.root]
        if user:
            argv += ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
                     "--reset-env"]
        return sh(argv + list(cmd), check_rc=check_rc, timeout=timeout, env=CLEAN_ENV)

    def popen(self, *cmd, user, log):
        argv = ["chroot", self.root, "setpriv", "--reuid=" + user, "--regid=" + user,
                "--init-groups", "--reset-env"] + list(cmd)
        return subprocess.Popen(argv, stdout=log, stderr=log, env=CLEAN_ENV)

    def close(self):
        """Unmounts everything; deletes the root only when nothing is mounted under it."""
        for m in reversed(self.mounts):
            if subprocess.run(["umount", m], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", m], capture_output=True)
        self.mounts = []
        with open("/proc/self/mounts") as f:
            left = [l.split()[1] for l in f if l.split()[1].startswith(self.root + "/")]
        if left:
            print("# left %s in place: still mounted: %s" % (self.dir, " ".join(left)))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


class Cycle:
    chroot = None
    failed = None  # the first failed step
    rebuilt = False
    journal = None  # (seq, id) of the journal's events
    spool = None  # (terminal, seq, id) of the spool's records
    spool_sha = None


def close_cycle():
    if Cycle.chroot:
        Cycle.chroot.close()
        Cycle.chroot = None
    if Cycle.rebuilt:  # build/sim back to the changelog's version
        Cycle.rebuilt = False
        subprocess.run(["make", "-C", SRC, "-j2", "--no-print-directory", "BOARD=sim", "all"],
                       capture_output=True, env=make_env(), timeout=900)


def on_sigterm(signum, frame):
    raise SystemExit(143)  # atexit runs: the chroot is unmounted, the build restored


atexit.register(close_cycle)
signal.signal(signal.SIGTERM, on_sigterm)


def step(fn):
    """A step of the cycle: runs only when every earlier step passed."""
    def wrapper():
        if Cycle.failed:
            raise lib.Failure("not run: step %s failed" % Cycle.failed)
        try:
            fn()
        except BaseException:
            Cycle.failed = fn.__name__
            close_cycle()
            raise
    wrapper.__name__ = fn.__name__
    return test(wrapper)


def status(pkg):
    p = Cycle.chroot.run("dpkg-query", "-W", "-f=${db:Status-Abbrev}${Version}", pkg,
                         check_rc=None)
    return p.stdout.strip() if p.returncode == 0 else "absent"


def invoked():
    """What the maintainer scripts asked deb-systemd-invoke for since the last call."""
    log = Cycle.chroot.path("/var/log/pe-invoke.log")
    lines = open(log).read().split("\n") if os.path.exists(log) else []
    open(log, "w").close()
    return [l for l in lines if l]


def journal_events():
    db = Cycle.chroot.path("/var/lib/posedge/agent/journal.db")
    check(os.path.exists(db), "no journal at /var/lib/posedge/agent/journal.db")
    return lib.db_rows(db, "SELECT seq, id FROM events ORDER BY seq")


def spool_records():
    db = Cycle.chroot.path("/var/lib/posedge/bridge/spool.db")
    check(os.path.exists(db), "no spool at /var/lib/posedge/bridge/spool.db")
    with open(db, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    return lib.db_rows(db, "SELECT terminal, seq, id FROM records ORDER BY terminal, seq"), sha


def owner_mode(path):
    """(user, group, mode) of a path in the chroot, names from the chroot's own files."""
    st = os.stat(Cycle.chroot.path(path))
    names = {}
    for db in ("passwd", "group"):
        with open(Cycle.chroot.path("/etc/" + db)) as f:
            names[db] = {l.split(":")[2]: l.split(":")[0] for l in f if l.count(":") >= 3}
    return (names["passwd"].get(str(st.st_uid)), names["group"].get(str(st.st_gid)),
            oct(st.st_mode & 0o7777))


@step
def chroot_install():
    debs = build("sim")
    pkgs = set()
    for deb in debs.values():
        pkgs |= set(depends(deb))
    pkgs -= set(PKGS)
    p = sh([os.path.join(SRC, "scripts", "debroot.sh"), HOST_ARCH] + sorted(pkgs), timeout=900)
    tarball = p.stdout.strip().splitlines()[-1]
    print("# Debian root: %s" % tarball)
    c = Cycle.chroot = Chroot(tarball)
    # Services must not start in a chroot; deb-systemd-invoke honours policy-rc.d. The stub in
    # front of it (PATH: /usr/local/sbin first) records what the scripts asked for, and
    # /run/systemd/system makes the scripts believe systemd runs, so that they do ask.
    with open(c.path("/usr/sbin/policy-rc.d"), "w") as f:
        f.write("#!/bin/sh\nexit 101\n")
    with open(c.path("/usr/local/sbin/deb-systemd-invoke"), "w") as f:
        f.write('#!/bin/sh\necho "$*" >>/var/log/pe-invoke.log\n'
                'exec /usr/bin/deb-systemd-invoke "$@"\n')
    os.chmod(c.path("/usr/sbin/policy-rc.d"), 0o755)
    os.chmod(c.path("/usr/local/sbin/deb-systemd-invoke"), 0o755)
    os.makedirs(c.path("/run/systemd/system"), exist_ok=True)
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 2, "posedge exists")
    os.makedirs(c.path("/tmp/v1"))
    for deb in debs.values():
        shutil.copy(deb, c.path("/tmp/v1/"))
    c.run("sh", "-c", "dpkg -i /tmp/v1/*.deb </dev/null")
    for p in PKGS:
        check(status(p) == "ii " + VERSION, "%s: %s after dpkg -i" % (p, status(p)))
    pw = c.run("getent", "passwd", "posedge").stdout.strip().split(":")
    check(int(pw[2]) < 1000 and pw[6] == "/usr/sbin/nologin", "posedge user: %s" % pw)
    groups = c.run("id", "-nG", "posedge").stdout.split()
    check({"posedge", "dialout", "input", "lp"} <= set(groups), "posedge's groups: %s" % groups)
    check(owner_mode("/var/lib/posedge/agent") == ("posedge", "posedge", "0o750"),
          "/var/lib/posedge/agent: %s" % (owner_mode("/var/lib/posedge/agent"),))
    check(owner_mode("/var/lib/posedge/bridge") == ("posedge", "posedge", "0o750"),
          "/var/lib/posedge/bridge: %s" % (owner_mode("/var/lib/posedge/bridge"),))
    check(owner_mode("/etc/posedge/agent.json") == ("root", "posedge", "0o640"),
          "/etc/posedge/agent.json: %s" % (owner_mode("/etc/posedge/agent.json"),))
    for u in ("posedge-agent", "posedge-bridge"):
        check(os.path.islink(c.path("/etc/systemd/system/multi-user.target.wants/%s.service" % u)),
              "%s.service not enabled" % u)
    calls = invoked()
    check("start posedge-agent.service" in calls and "start posedge-bridge.service" in calls,
          "a fresh install starts the services: asked for %s" % calls)


@step
def chroot_self_test():
    c = Cycle.chroot
    for daemon, conf in (("posedge-agent", "agent.json"), ("posedge-bridge", "bridge.json")):
        p = c.run("/usr/bin/" + daemon, "-c", "/etc/posedge/" + conf, "--self-test",
                  user="posedge", check_rc=None, timeout=120)
        check(p.returncode == 0, "%s --self-test as posedge exited %d: %s" % (
            daemon, p.returncode, (p.stdout + p.stderr).strip()[-600:]))
    # A damaged journal is a failed self-test.
    os.makedirs(c.path("/tmp/bad"))
    with open(c.path("/tmp/bad/journal.db"), "wb") as f:
        f.write(b"SQLite format 3\x00" + b"\xff" * 4080)
    os.chown(c.path("/tmp/bad"), *[int(x) for x in c.run(
        "sh", "-c", "id -u posedge; id -g posedge").stdout.split()])
    p = c.run("/usr/bin/posedge-agent", "-c", "/etc/posedge/agent.json", "--data-dir",
              "/tmp/bad", "--self-test", user="posedge", check_rc=None, timeout=120)
    check(p.returncode == 1, "--self-test on a damaged journal exited %d, expected 1" %
          p.returncode)


@step
def chroot_till_day():
    """The installed agent sells to 3 customers as posedge, its uplink to the installed bridge
    (through a mosquitto on the host) fills the bridge's spool."""
    c = Cycle.chroot
    work = tmpdir("pe-chroot-mq")
    mq = lib.Mosquitto(work).start()
    log = open(os.path.join(work, "bridge.log"), "w")
    bridge = c.popen("/usr/bin/posedge-bridge", "-c", "/etc/posedge/bridge.json", "--mqtt",
                     mq.addr, "--kafka", "127.0.0.1:%d" % lib.free_port(), user="posedge",
                     log=log)
    try:
        p = c.run("/usr/bin/posedge-agent", "-c", "/etc/posedge/agent.json", "--shopper", "3",
                  "--seed", "1", "--set", "sim.start=" + lib.SIM_START, "--mqtt", mq.addr, "--wait-delivered", "3", user="posedge",
                  check_rc=None, timeout=120)
        # No Kafka: never delivered (1), but spooled.
        check(p.returncode in (0, 1), "the agent exited %d: %s" % (p.returncode,
                                                                  p.stderr.strip()[-600:]))
        Cycle.journal = journal_events()
        check(len(Cycle.journal) >= 4, "journal: %s" % Cycle.journal)
        v = c.run("/usr/bin/posedge-ctl", "verify", "/var/lib/posedge/agent/journal.db",
                  user="posedge")
        check(v.stdout.startswith("OK"), "posedge-ctl verify: %s" % v.stdout)
        want = [("t01", s, i) for s, i in Cycle.journal]
        wait_until(lambda: spool_records()[0] == want, 20, "the journal's events in the spool")
    finally:
        bridge.send_signal(signal.SIGTERM)
        rc = bridge.wait(timeout=60)
        mq.stop()
        log.close()
    check(rc == 0, "the bridge exited %d: %s" % (rc, open(log.name).read()[-600:]))
    shutil.rmtree(work, ignore_errors=True)
    Cycle.spool, Cycle.spool_sha = spool_records()
    check(owner_mode("/var/lib/posedge/agent/journal.db")[0] == "posedge", "journal's owner")


@step
def chroot_upgrade():
    c = Cycle.chroot
    conf = c.path("/etc/posedge/agent.json")
    text = open(conf).read()
    check('"title": "posedge demo store"' in text, "agent.json has no title to edit")
    with open(conf, "w") as f:
        f.write(text.replace('"title": "posedge demo store"', '"title": "edited by the test"'))
    check(sh(["dpkg", "--compare-versions", UPGRADE, "gt", VERSION], check_rc=None).returncode
          == 0, "%s is not newer than %s" % (UPGRADE, VERSION))
    out = c.path("/tmp/v2")
    Cycle.rebuilt = True
    debs = build("sim", UPGRADE, out)
    for p, deb in debs.items():
        check(field(deb, "Version") == UPGRADE, "%s: Version %s" % (deb, field(deb, "Version")))
    invoked()
    c.run("sh", "-c", "dpkg -i /tmp/v2/*.deb </dev/null")
    for p in PKGS:
        check(status(p) == "ii " + UPGRADE, "%s: %s after the upgrade" % (p, status(p)))
    new = tmpdir("pe-v2")
    extract(debs["posedge-agent"], new)
    same = sh(["cmp", new + "/usr/bin/posedge-agent", c.path("/usr/bin/posedge-agent")],
              check_rc=None).returncode == 0
    shutil.rmtree(new, ignore_errors=True)
    check(same, "/usr/bin/posedge-agent is not the new package's")
    check("edited by the test" in open(conf).read(), "the edit of agent.json is gone")
    for leftover in (".dpkg-dist", ".dpkg-new", ".dpkg-old"):
        check(not os.path.exists(conf + leftover), "agent.json%s after the upgrade" % leftover)
    check(journal_events() == Cycle.journal, "the journal changed in the upgrade")
    check(spool_records() == (Cycle.spool, Cycle.spool_sha), "the spool changed in the upgrade")
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 0, "posedge is gone")
    calls = invoked()
    check("restart posedge-agent.service" in calls and "restart posedge-bridge.service" in calls,
          "the upgrade restarts the services: asked for %s" % calls)
    check(not any(l.startswith("stop ") for l in calls), "the upgrade stopped: %s" % calls)
    p = c.run("/usr/bin/posedge-agent", "-c", "/etc/posedge/agent.json", "--self-test",
              user="posedge", check_rc=None, timeout=120)
    check(p.returncode == 0, "--self-test after the upgrade exited %d: %s" % (
        p.returncode, (p.stdout + p.stderr).strip()[-600:]))


@step
def chroot_remove():
    c = Cycle.chroot
    c.run("dpkg", "-r", *PKGS)
    for p in ("posedge-agent", "posedge-bridge"):
        check(status(p) == "rc " + UPGRADE, "%s: %s after dpkg -r" % (p, status(p)))
    check(not os.path.exists(c.path("/usr/bin/posedge-agent")), "the binary stayed")
    check("edited by the test" in open(c.path("/etc/posedge/agent.json")).read(),
          "the configuration is gone after dpkg -r")
    check(os.path.exists(c.path("/etc/posedge/bridge.json")), "bridge.json is gone")
    check(journal_events() == Cycle.journal, "the journal changed in dpkg -r")
    check(spool_records() == (Cycle.spool, Cycle.spool_sha), "the spool changed in dpkg -r")
    calls = invoked()
    check("stop posedge-agent.service" in calls and "stop posedge-bridge.service" in calls,
          "dpkg -r stops the services: asked for %s" % calls)


@step
def chroot_purge():
    c = Cycle.chroot
    c.run("dpkg", "-P", *PKGS)
    for p in PKGS:
        check(status(p) == "absent" or status(p).startswith(("un", "pn")),
              "%s: %s after dpkg -P" % (p, status(p)))
    for gone in ("/var/lib/posedge/agent", "/var/lib/posedge/bridge", "/var/lib/posedge",
                 "/etc/posedge/agent.json", "/etc/posedge/catalog.json",
                 "/etc/posedge/bridge.json", "/etc/posedge",
                 "/etc/systemd/system/multi-user.target.wants/posedge-agent.service",
                 "/etc/systemd/system/posedge-agent.service"):
        check(not os.path.lexists(c.path(gone)), "%s is still there after dpkg -P" % gone)
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 0,
          "the posedge user is kept (files it owned may outlive the packages)")


if __name__ == "__main__":
    main()
