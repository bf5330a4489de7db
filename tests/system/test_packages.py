#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Debian packages (make deb, scripts/deb.sh): built, linted, and put through a till's life.

The sim board's packages (the host's architecture) and the rpi4 board's (arm64) are built with
`make deb` and checked from the outside with dpkg-deb: architecture, files, conffiles, stripped
binaries of the right machine, and Depends equal to the packages that ship the libraries the
binaries need (NEEDED), looked up in the host's dpkg database for sim and in the rpi4
sysroot's for rpi4, plus the few written by hand (HAND) - so a hand-written or stale Depends
fails. The shipped configurations are mutual TLS (the agent enrols, the bridge signs), and the
shipped mosquitto configuration is posedge-ctl broker-config's. Lintian must report no error
or warning on either (its tags are printed as "# " lines); systemd-analyze verifies the units.

Then a Debian root (debootstrap minbase of the host's release with the packages' Depends,
mosquitto among them, cached as a tarball by scripts/debroot.sh) lives through install (which
makes the store's CA and the broker's TLS files), self-test, a till day (the installed
mosquitto with the installed configuration, the CRL timer's job and a broker reload, the
installed bridge, a till enrolled with a technician's token, its sales in the spool), an
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
import re
import shlex
import shutil
import signal
import subprocess
import threading

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
# Depends written by hand in pkg/control (the rest is dpkg-shlibdeps'), as package -> constraint.
HAND = {"posedge-agent": {"adduser": ""},
        "posedge-bridge": {"adduser": "", "mosquitto": "(>= 2.0)",
                           "posedge-tools": "(= %s)" % VERSION},
        "posedge-tools": {}}
# The systemd units of each package.
UNITS = {"posedge-agent": ["posedge-agent.service", "posedge-upgrade.path",
                           "posedge-upgrade.service"],
         "posedge-bridge": ["posedge-bridge.service", "posedge-crl.service", "posedge-crl.timer"],
         "posedge-tools": []}
# The bridge package's TLS files (pkg/bridge-pki.postinst): path -> (owner, group, mode).
MQ = "/etc/posedge/mqtt"
CA = "/var/lib/posedge/ca"
PKI_FILES = {
    CA: ("posedge", "posedge", "0o700"),
    CA + "/ca.key": ("posedge", "posedge", "0o600"),
    CA + "/ca.crt": ("posedge", "posedge", "0o644"),
    CA + "/index.json": ("posedge", "posedge", "0o600"),
    CA + "/tokens.json": ("posedge", "posedge", "0o600"),
    CA + "/crl.pem": ("posedge", "posedge", "0o644"),
    MQ: ("root", "root", "0o755"),
    MQ + "/ca.crt": ("root", "root", "0o644"),
    MQ + "/crl.pem": ("root", "root", "0o644"),
    MQ + "/acl": ("root", "root", "0o644"),
    MQ + "/acl-enrol": ("root", "root", "0o644"),
    MQ + "/server.crt": ("root", "root", "0o644"),
    MQ + "/server.key": ("mosquitto", "mosquitto", "0o600"),
    MQ + "/bridge.crt": ("root", "root", "0o644"),
    MQ + "/bridge.key": ("posedge", "posedge", "0o600"),
    MQ + "/hq.crt": ("root", "root", "0o644"),
    MQ + "/hq.key": ("root", "root", "0o600"),
}
# Keys that must never change once made (upgrade, remove), by path.
KEYS = [CA + "/ca.key", MQ + "/server.key", MQ + "/bridge.key", MQ + "/hq.key",
        "/var/lib/posedge/agent/till.key", "/var/lib/posedge/agent/signer.key"]
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
            want |= {"/lib/systemd/system/" + u for u in UNITS[p]}
            if p == "posedge-agent":
                want |= {"/usr/sbin/posedge-upgrade", "/usr/share/man/man8/posedge-upgrade.8.gz"}
            if p == "posedge-bridge":
                want.add("/etc/mosquitto/conf.d/posedge.conf")
            check(want <= files, "%s lacks %s" % (p, sorted(want - files)))
            root = os.path.join(work, p)
            extract(deb, root)
            binary = os.path.join(root, "usr", "bin", b)
            check(elf_machine(binary) == EM[arch], "%s: ELF machine %d, not %s's %d" % (
                b, elf_machine(binary), arch, EM[arch]))
            check(".symtab" not in sh(["readelf", "-S", binary]).stdout, "%s is not stripped" % b)
            # Depends: exactly the packages of the NEEDED libraries (with a version from their
            # shlibs/symbols), and those written by hand.
            deps = depends(deb)
            libs = {lib_package(so, multiarch, admindir) for so in needed(binary)}
            check(libs, "%s needs no library?" % b)
            hand = set(HAND[p])
            check(set(deps) == libs | hand, "%s Depends %s, the libraries it links are in %s" % (
                p, sorted(deps), sorted(libs | hand)))
            for d, constraint in HAND[p].items():
                check(deps[d] == constraint, "%s: Depends %s %s, expected %r" % (
                    p, d, deps[d], constraint))
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
                        ("posedge-bridge", ["/etc/mosquitto/conf.d/posedge.conf",
                                            "/etc/posedge/bridge.json"])):
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
        check_secure_defaults(agent, bridge)
        # The agent unit's device access is the board's devices, and nothing else.
        with open(os.path.join(SRC, "boards", board, "agent.json")) as f:
            devices = json.load(f).get("devices", {})
        paths = {d["path"] for d in devices.values() if d.get("driver", "fake") != "fake"}
        for daemon, root in (("posedge-agent", agent), ("posedge-bridge", bridge)):
            u = unit_settings(os.path.join(root, "lib", "systemd", "system", daemon + ".service"))
            if daemon == "posedge-bridge":
                check("-/var/lib/posedge/ca" in u.get("ReadWritePaths", []),
                      "posedge-bridge.service cannot write the store CA (pki.dir): %s" %
                      u.get("ReadWritePaths"))
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
        check_crl_units(bridge)
        verify_units(board, [os.path.join(work, p) for p in PKGS])
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_secure_defaults(agent, bridge):
    """The shipped configurations use mutual TLS on MQTT (docs/packaging.md): the agent enrols
    (its key, certificate and token where its sandbox lets it write), the bridge connects with
    the certificate its postinst makes and signs with the store CA; the broker's configuration
    is broker-config's, with the files the postinst makes and bridge.json names."""
    def conf(root, name):
        with open(os.path.join(root, "etc", "posedge", name)) as f:
            return json.load(f)
    a, b = conf(agent, "agent.json"), conf(bridge, "bridge.json")
    state = "/var/lib/posedge/agent/"
    check(a["mqtt"]["port"] == 8883 and a["enrol"]["port"] == 8884,
          "agent.json: mqtt.port %s, enrol.port %s" % (a["mqtt"]["port"], a["enrol"]["port"]))
    tls = a["mqtt"]["tls"]
    check(tls["ca_file"] == MQ + "/ca.crt", "agent.json: mqtt.tls.ca_file %s" % tls["ca_file"])
    for k in ("cert_file", "key_file"):
        check(tls[k].startswith(state), "agent.json: mqtt.tls.%s %s is not in %s, the one place "
              "the agent may write" % (k, tls[k], state))
    check(a["enrol"]["token_file"].startswith(state),
          "agent.json: enrol.token_file %s (the agent removes it once spent)" %
          a["enrol"]["token_file"])
    check(b["mqtt"]["port"] == 8883 and b["mqtt"]["tls"] == {
        "ca_file": MQ + "/ca.crt", "cert_file": MQ + "/bridge.crt", "key_file": MQ + "/bridge.key",
        "crl_file": MQ + "/crl.pem"}, "bridge.json: mqtt %s" % b["mqtt"])
    check(b["pki"]["dir"] == CA, "bridge.json: pki.dir %s" % b["pki"]["dir"])
    # Kafka: plaintext to this host only, until the retailer's cluster is set (documented).
    check(b["kafka"]["security_protocol"] == "plaintext" and
          b["kafka"]["brokers"].startswith("127.0.0.1:"), "bridge.json: kafka %s" % b["kafka"])
    with open(os.path.join(bridge, "etc", "mosquitto", "conf.d", "posedge.conf")) as f:
        shipped = f.read()
    want = sh([os.path.join(REL, "posedge-ctl"), "broker-config", "--conf-only", "--dir", MQ,
               "--conf", "-"]).stdout
    check(shipped == "# SPDX-License-Identifier: Apache-2.0\n" + want,
          "pkg/mosquitto-posedge.conf is not what posedge-ctl broker-config --conf-only --dir "
          "%s writes:\n%s" % (MQ, want))
    blocks = shipped.split("\nlistener ")[1:]
    check(sorted(b_.split()[0] for b_ in blocks) == ["8883", "8884"],
          "posedge.conf listeners: %s" % [b_.split()[0] for b_ in blocks])
    for blk in blocks:
        check("certfile %s/server.crt" % MQ in blk and "keyfile %s/server.key" % MQ in blk,
              "a listener without TLS: %s" % blk)
    main_l = [b_ for b_ in blocks if b_.startswith("8883")][0]
    for line in ("require_certificate true", "use_identity_as_username true",
                 "allow_anonymous false", "crlfile %s/crl.pem" % MQ, "acl_file %s/acl" % MQ):
        check(line in main_l, "posedge.conf: no %r on 8883" % line)


def check_crl_units(bridge):
    """posedge-crl.timer starts posedge-crl.service daily; the service writes the CRL the broker
    and the bridge read, and reloads the broker."""
    d = os.path.join(bridge, "lib", "systemd", "system")
    t = {}
    section = None
    with open(os.path.join(d, "posedge-crl.timer")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Timer]" and "=" in line:
                k, v = line.split("=", 1)
                t[k] = v
    check(t.get("OnCalendar") == "daily" and t.get("Persistent") == "yes",
          "posedge-crl.timer: %s" % t)
    u = unit_settings(os.path.join(d, "posedge-crl.service"))
    check(u.get("Type") == ["oneshot"], "posedge-crl.service: Type %s" % u.get("Type"))
    check(u.get("ExecStart") == ["/usr/bin/posedge-ctl pki crl --dir %s --out %s/crl.pem" % (
        CA, MQ)], "posedge-crl.service: ExecStart %s" % u.get("ExecStart"))
    check(u.get("ExecStartPost") == ["+/bin/systemctl try-reload-or-restart mosquitto.service"],
          "posedge-crl.service: ExecStartPost %s" % u.get("ExecStartPost"))


def verify_units(board, roots):
    """systemd-analyze verify (when the host has it) in a root made of the packages' files, the
    host's units (for the targets they name) and the host's programs the units run; any message
    fails."""
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
        units = [u for p in PKGS for u in UNITS[p]]
        for u in units:
            for k, values in unit_settings(os.path.join(root, "lib", "systemd", "system",
                                                        u)).items():
                for v in values if k.startswith("Exec") else ():
                    prog = v.lstrip("-+!@:").split()[0]
                    if not os.path.exists(root + prog) and os.path.exists(prog):
                        os.makedirs(os.path.dirname(root + prog), exist_ok=True)
                        shutil.copy(prog, root + prog)
        p = sh(["systemd-analyze", "verify", "--man=no", "--root=" + root] + units, check_rc=None)
        msg = (p.stdout + p.stderr).strip()
        check(p.returncode == 0 and not msg, "systemd-analyze verify: %s" % msg)
        for u in [u for u in units if u.endswith(".service")]:
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
    errors = [t for t in tags if t.startswith(("E:", "W:"))]
    check(not errors, "lintian errors or warnings: %s" % "; ".join(errors))
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
        """cmd in the root as user (None: root); chroot execs it, so the pid is the program's."""
        argv = ["chroot", self.root]
        if user:
            argv += ["setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups",
                     "--reset-env"]
        return subprocess.Popen(argv + list(cmd), stdout=log, stderr=log, env=CLEAN_ENV)

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
    gnupg = None  # the test's archive key home (scripts/repo.sh), outside the repository
    repo = None  # the signed repository, inside the chroot (/srv/posedge-repo)
    gnupg_homes = []  # every key home the test made
    failed = None  # the first failed step
    rebuilt = False
    journal = None  # (seq, id) of the journal's events
    spool = None  # (terminal, seq, id) of the spool's records
    spool_sha = None
    keys = None  # {path: sha256} of the keys the packages made


def close_cycle():
    if Cycle.chroot:
        Cycle.chroot.close()
        Cycle.chroot = None
    for home in Cycle.gnupg_homes:  # the test's archive keys: their gpg-agents end with them
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)
    Cycle.gnupg_homes = []
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


REPO = "/srv/posedge-repo"
KEYRING = "/usr/share/keyrings/posedge-archive-keyring.gpg"
SOURCES = "/etc/apt/sources.list.d/posedge.sources"


def publish(repo, gnupg, debs):
    """scripts/repo.sh publish: the debs into the signed repository at repo (a host path)."""
    if gnupg not in Cycle.gnupg_homes:
        Cycle.gnupg_homes.append(gnupg)
    env = dict(make_env(), POSEDGE_REPO_GNUPGHOME=gnupg)
    return sh([os.path.join(SRC, "scripts", "repo.sh"), "publish", repo] + sorted(debs),
              env=env, timeout=600)


def point_apt(uri, keyring=KEYRING):
    """The chroot's only apt source: the posedge repository at uri, signed-by keyring."""
    with open(Cycle.chroot.path(SOURCES), "w") as f:
        f.write("Types: deb\nURIs: %s\nSuites: stable\nComponents: main\nSigned-By: %s\n" %
                (uri, keyring))


def apt_get(*args, check_rc=0):
    return Cycle.chroot.run("apt-get", "-q", "-o", "Dpkg::Use-Pty=0", *args, check_rc=check_rc,
                            timeout=600)


def candidate(pkg):
    out = Cycle.chroot.run("apt-cache", "policy", pkg).stdout
    m = re.search(r"Candidate: (\S+)", out)
    return m.group(1) if m else "(none)"


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


def sha256(path):
    with open(Cycle.chroot.path(path), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def key_hashes():
    return {k: sha256(k) for k in KEYS if os.path.exists(Cycle.chroot.path(k))}


def check_no_open_key():
    """No file under /etc/posedge or /var/lib/posedge that holds a private key is readable by
    others (nor writable by its group)."""
    n = 0
    for top in ("/etc/posedge", "/var/lib/posedge"):
        for d, _, names in os.walk(Cycle.chroot.path(top)):
            for name in names:
                path = os.path.join(d, name)
                with open(path, "rb") as f:
                    if b"PRIVATE KEY-----" not in f.read():
                        continue
                n += 1
                mode = os.stat(path).st_mode & 0o777
                check(not mode & 0o027, "%s holds a key and has mode %o" % (
                    path[len(Cycle.chroot.root):], mode))
    return n


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
    # The upgrade steps' supervisor stands in for systemd's restart of the agent.
    with open(c.path("/usr/local/sbin/deb-systemd-invoke"), "w") as f:
        f.write('#!/bin/sh\necho "$*" >>/var/log/pe-invoke.log\n'
                'if [ "$*" = "restart posedge-agent.service" ] && [ -f /run/pe-agent.pid ]; then\n'
                '    kill -TERM "$(cat /run/pe-agent.pid)" 2>/dev/null || true\nfi\n'
                'exec /usr/bin/deb-systemd-invoke "$@"\n')
    # apt runs dpkg with its own PATH (DPkg::Path): the stub goes in front there too.
    with open(c.path("/etc/apt/apt.conf.d/99pe-test"), "w") as f:
        f.write('DPkg::Path "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin";\n')
    os.chmod(c.path("/usr/sbin/policy-rc.d"), 0o755)
    os.chmod(c.path("/usr/local/sbin/deb-systemd-invoke"), 0o755)
    os.makedirs(c.path("/run/systemd/system"), exist_ok=True)
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 2, "posedge exists")
    # The signed repository (scripts/repo.sh, the test's own key outside it) as a till sees it
    # over a file: URL, and apt's only source: debootstrap's mirror entry goes.
    Cycle.gnupg = tmpdir("pe-archive-key")
    Cycle.repo = c.path(REPO)
    publish(Cycle.repo, Cycle.gnupg, debs.values())
    os.unlink(c.path("/etc/apt/sources.list"))
    # Refused: the same packages unsigned, or signed by another key.
    shutil.copytree(Cycle.repo, c.path("/srv/unsigned"))
    for f in ("InRelease", "Release.gpg"):
        os.unlink(c.path("/srv/unsigned/dists/stable/" + f))
    other = tmpdir("pe-other-key")
    publish(c.path("/srv/otherkey"), other, debs.values())
    shutil.copy(os.path.join(Cycle.repo, "posedge-archive-keyring.gpg"), c.path(KEYRING))
    for where, says in (("/srv/unsigned", "is not signed"), ("/srv/otherkey", "NO_PUBKEY")):
        point_apt("file:" + where)
        u = apt_get("update", check_rc=None)
        check(u.returncode != 0 and says in u.stdout + u.stderr,
              "apt-get update of %s exited %d: %s" % (where, u.returncode, u.stdout + u.stderr))
        check(candidate("posedge-agent") == "(none)", "apt offers posedge-agent %s from %s" % (
            candidate("posedge-agent"), where))
    # The real one: the keyring by hand (a till's first contact), then from its package.
    point_apt("file:" + REPO)
    u = apt_get("update")
    check("NO_PUBKEY" not in u.stdout + u.stderr and "not signed" not in u.stdout + u.stderr,
          "apt-get update: %s" % (u.stdout + u.stderr))
    check(candidate("posedge-agent") == VERSION, "candidate %s" % candidate("posedge-agent"))
    apt_get("install", "-y", "--no-install-recommends", "posedge-archive-keyring", *PKGS)
    for p in PKGS:
        check(status(p) == "ii " + VERSION, "%s: %s after apt-get install" % (p, status(p)))
    check(status("posedge-archive-keyring").startswith("ii "), "keyring: %s" %
          status("posedge-archive-keyring"))
    owner = c.run("dpkg", "-S", KEYRING, check_rc=None).stdout
    check(owner.startswith("posedge-archive-keyring:"), "%s belongs to %s" % (KEYRING, owner))
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
    check(os.path.islink(c.path("/etc/systemd/system/timers.target.wants/posedge-crl.timer")),
          "posedge-crl.timer not enabled")
    check(os.path.islink(c.path("/etc/systemd/system/paths.target.wants/posedge-upgrade.path")),
          "posedge-upgrade.path not enabled")
    calls = invoked()
    for want in ("start posedge-agent.service", "start posedge-bridge.service",
                 "start posedge-crl.timer", "restart mosquitto.service",
                 "start posedge-upgrade.path"):
        check(want in calls, "a fresh install asks for %r: asked for %s" % (want, calls))
    # The store's PKI: the CA for bridge.json's store, the broker's, the bridge's and HQ's
    # certificates, each key for its user only.
    for path, want in PKI_FILES.items():
        check(owner_mode(path) == want, "%s: %s, expected %s" % (path, owner_mode(path), want))
    check(check_no_open_key() == 4, "the CA's, broker's, bridge's and HQ's keys")
    ctl = "/usr/bin/posedge-ctl"
    for name, cn in (("server", "s001/server"), ("bridge", "s001/bridge"), ("hq", "s001/hq")):
        v = c.run(ctl, "pki", "verify", "--ca", MQ + "/ca.crt", "--cert", "%s/%s.crt" % (MQ, name),
                  "--crl", MQ + "/crl.pem", "--key", "%s/%s.key" % (MQ, name), check_rc=None)
        check(v.returncode == 0 and cn in v.stdout, "pki verify %s: %s" % (name, v.stdout + v.stderr))
    show = c.run(ctl, "pki", "show", MQ + "/server.crt").stdout
    host = os.uname().nodename  # the chroot's too
    names = ["DNS:localhost", "IP:127.0.0.1"]
    if re.fullmatch(r"[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*", host) and host != "localhost":
        names.append("DNS:" + host)
    for n in names:
        check(n in show, "the broker's certificate does not name %s: %s" % (n, show))
    acl = open(c.path(MQ + "/acl")).read()
    check("pattern write posedge/v1/%u/events" in acl and "user s001/bridge" in acl,
          "acl: %s" % acl)
    Cycle.keys = key_hashes()


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


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


class ChrootBroker:
    """The installed mosquitto with the installed configuration, as Debian's unit runs it
    (mosquitto -c /etc/mosquitto/mosquitto.conf, which includes conf.d/posedge.conf), its
    listeners moved to free loopback ports: a copy of both files in /tmp/pe-mq."""

    def __init__(self, c):
        self.c = c
        self.port, self.enrol_port = lib.free_port(), lib.free_port()
        while self.enrol_port == self.port:
            self.enrol_port = lib.free_port()
        main = read(c.path("/etc/mosquitto/mosquitto.conf"))
        check("include_dir /etc/mosquitto/conf.d" in main, "mosquitto.conf: %s" % main)
        conf = read(c.path("/etc/mosquitto/conf.d/posedge.conf"))
        for old, new in (("listener 8883\n", "listener %d 127.0.0.1\n" % self.port),
                         ("listener 8884\n", "listener %d 127.0.0.1\n" % self.enrol_port)):
            check(conf.count(old) == 1, "posedge.conf has no %r" % old)
            conf = conf.replace(old, new)
        os.makedirs(c.path("/tmp/pe-mq/conf.d"), exist_ok=True)  # again for each step
        with open(c.path("/tmp/pe-mq/conf.d/posedge.conf"), "w") as f:
            f.write(conf)
        with open(c.path("/tmp/pe-mq/mosquitto.conf"), "w") as f:
            f.write(main.replace("include_dir /etc/mosquitto/conf.d", "include_dir /tmp/pe-mq/conf.d"))
        # What the unit's ExecStartPre lines do.
        c.run("sh", "-c", "mkdir -m 740 -p /var/log/mosquitto /run/mosquitto && "
              "chown mosquitto /var/log/mosquitto /run/mosquitto")
        self.log_path = c.path("/var/log/mosquitto/mosquitto.log")
        self.out = open(c.path("/tmp/pe-mq/stdout"), "w")
        self.p = c.popen("/usr/sbin/mosquitto", "-c", "/tmp/pe-mq/mosquitto.conf", user=None,
                         log=self.out)
        wait_until(lambda: self.p.poll() is not None or (
            lib.port_open(self.port) and lib.port_open(self.enrol_port)), 20,
            "mosquitto's listeners")
        check(self.p.poll() is None, "mosquitto exited %s: %s" % (self.p.returncode, self.log()))

    def log(self):
        text = read(self.log_path) if os.path.exists(self.log_path) else ""
        return text + read(self.out.name)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.out.close()


@step
def chroot_till_day():
    """The store as installed: the installed mosquitto with the installed TLS configuration; the
    CRL timer's job and the broker reload it asks for; the installed bridge with the certificate
    its postinst made; a technician's token for till t07 (root on the bridge host, as
    docs/pki.md says), its agent.json edited for its gateway; the till enrols over the
    enrolment listener, switches to mutual TLS, sells to 3 customers and its events reach the
    bridge's spool; HQ's certificate reads the store's state."""
    c = Cycle.chroot
    ctl = "/usr/bin/posedge-ctl"
    mq = bridge = agent = None
    logs = []
    try:
        mq = ChrootBroker(c)
        # The daily CRL job as its unit runs it (root), then the reload it asks for: Debian's
        # unit reloads with SIGHUP.
        u = unit_settings(c.path("/lib/systemd/system/posedge-crl.service"))
        crl = sha256(MQ + "/crl.pem")
        c.run(*shlex.split(u["ExecStart"][0]))
        check(sha256(MQ + "/crl.pem") != crl, "posedge-crl.service wrote no new CRL")
        for path in (CA, CA + "/index.json", CA + "/crl.pem"):
            check(owner_mode(path) == PKI_FILES[path], "%s after the CRL job (root): %s" % (
                path, owner_mode(path)))
        check("ExecReload=/bin/kill -HUP $MAINPID" in read(c.path(
            "/lib/systemd/system/mosquitto.service")), "mosquitto.service reloads otherwise")
        mq.p.send_signal(signal.SIGHUP)
        wait_until(lambda: "Reloading config" in mq.log() or mq.p.poll() is not None, 20,
                   "mosquitto's reload")
        check(mq.p.poll() is None, "mosquitto exited at the reload: %s" % mq.log()[-2000:])
        # The bridge, as installed (only the broker's port moved).
        blog = open(c.path("/tmp/pe-bridge.log"), "w")
        logs.append(blog)
        bridge = c.popen("/usr/bin/posedge-bridge", "-c", "/etc/posedge/bridge.json", "--mqtt",
                         "127.0.0.1:%d" % mq.port, "--kafka", "127.0.0.1:%d" % lib.free_port(),
                         user="posedge", log=blog)
        wait_until(lambda: "bridge.mqtt_connected" in read(blog.name) or
                   bridge.poll() is not None, 30, "the bridge's TLS connection")
        check(bridge.poll() is None, "the bridge exited %s: %s" % (bridge.returncode,
                                                                   read(blog.name)[-2000:]))
        # The technician: a token on the bridge host (as root), onto the till; the till's
        # agent.json names its terminal and gateway.
        t = c.run(ctl, "pki", "token", "--dir", CA, "--store", "s001", "--terminal", "t07",
                  "--out", "/root/t07.token")
        token = read(c.path("/root/t07.token")).strip()
        check(len(token) >= 20 and token not in t.stdout + t.stderr, "pki token: %s" % t.stdout)
        check(owner_mode(CA + "/tokens.json") == PKI_FILES[CA + "/tokens.json"],
              "tokens.json after root's pki token: %s" % (owner_mode(CA + "/tokens.json"),))
        c.run("install", "-m", "0600", "-o", "posedge", "-g", "posedge", "/root/t07.token",
              "/var/lib/posedge/agent/enrol.token")
        conf = c.path("/etc/posedge/agent.json")
        text = read(conf)
        for old, new in (('"terminal": "t01"', '"terminal": "t07"'),
                         ('"host": ""', '"host": "127.0.0.1"')):
            check(text.count(old) == 1, "agent.json has no %s" % old)
            text = text.replace(old, new)
        with open(conf, "w") as f:
            f.write(text)
        alog = open(c.path("/tmp/pe-agent.log"), "w")
        logs.append(alog)
        agent = c.popen("/usr/bin/posedge-agent", "-c", "/etc/posedge/agent.json", "--shopper",
                        "3", "--seed", "1", "--set", "sim.start=" + lib.SIM_START,
                        "--set", "mqtt.port=%d" % mq.port, "--set",
                        "enrol.port=%d" % mq.enrol_port, "--wait-delivered", "120",
                        user="posedge", log=alog)
        wait_until(lambda: "enrol.enrolled" in read(alog.name) or agent.poll() is not None, 30,
                   "the till's enrolment")
        check(agent.poll() is None and "cn=s001/t07" in read(alog.name),
              "the agent did not enrol: %s\nbridge: %s" % (read(alog.name)[-2000:],
                                                            read(blog.name)[-1500:]))

        def spooled():
            if not os.path.exists(c.path("/var/lib/posedge/agent/journal.db")):
                return False
            j = journal_events()
            return len(j) >= 4 and spool_records()[0] == [("t07", s_, i) for s_, i in j]
        wait_until(spooled, 30, "the journal's events in the spool")
        Cycle.journal = journal_events()
        st = c.run(ctl, "status", "--mqtt", "127.0.0.1:%d" % mq.port, "--store", "s001",
                   "--tls-ca", MQ + "/ca.crt", "--tls-cert", MQ + "/hq.crt", "--tls-key",
                   MQ + "/hq.key", check_rc=None)
        check(st.returncode == 0 and "t07" in st.stdout, "posedge-ctl status as s001/hq: %s" % (
            st.stdout + st.stderr))
    finally:
        rcs = {}
        for name, p in (("agent", agent), ("bridge", bridge)):
            if p and p.poll() is None:
                p.send_signal(signal.SIGTERM)
            if p:
                try:
                    rcs[name] = p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
                    rcs[name] = p.wait()
        if mq:
            mq.stop()
        for f in logs:
            f.close()
    check(rcs["bridge"] == 0, "the bridge exited %d: %s" % (rcs["bridge"],
                                                           read(blog.name)[-600:]))
    check(rcs["agent"] in (0, 1), "the agent exited %d: %s" % (rcs["agent"],
                                                              read(alog.name)[-600:]))
    v = c.run(ctl, "verify", "/var/lib/posedge/agent/journal.db", user="posedge")
    check(v.stdout.startswith("OK"), "posedge-ctl verify: %s" % v.stdout)
    # The till's identity: its key made on it (posedge's only), the certificate the bridge
    # signed, the token spent and gone; no log holds the token.
    check(owner_mode("/var/lib/posedge/agent/till.key") == ("posedge", "posedge", "0o600"),
          "till.key: %s" % (owner_mode("/var/lib/posedge/agent/till.key"),))
    check(not os.path.exists(c.path("/var/lib/posedge/agent/enrol.token")), "the token is left")
    show = c.run(ctl, "pki", "show", "/var/lib/posedge/agent/till.crt").stdout
    check("s001/t07" in show, "till.crt: %s" % show)
    check("enrol.signed" in read(blog.name), "the bridge did not sign: %s" % read(blog.name))
    for name in (blog.name, alog.name, mq.log_path, mq.out.name):
        check(token not in read(name), "%s holds the token" % name)
    # The fiscal signer's key, made by the till at its first start like the TLS key.
    check(owner_mode("/var/lib/posedge/agent/signer.key") == ("posedge", "posedge", "0o600"),
          "signer.key: %s" % (owner_mode("/var/lib/posedge/agent/signer.key"),))
    check(check_no_open_key() == 6, "the till's keys too (TLS and signer)")
    Cycle.spool, Cycle.spool_sha = spool_records()
    Cycle.keys = key_hashes()
    check(len(Cycle.keys) == len(KEYS), "keys: %s" % sorted(Cycle.keys))
    check(owner_mode("/var/lib/posedge/agent/journal.db")[0] == "posedge", "journal's owner")


SUPERVISE = """#!/bin/sh
# The till's supervisor in the chroot, systemd's stand-in (tests/system/test_packages.py): runs
# the agent as posedge, starts it again a second after it exits (Restart=), and the
# deb-systemd-invoke stub ends it when a package asks for a restart.
while [ ! -e /run/pe-stop ]; do
    setpriv --reuid=posedge --regid=posedge --init-groups --reset-env "$@" >>/tmp/pe-agent.log 2>&1 &
    echo $! >/run/pe-agent.pid
    wait $!
    echo "exit $?" >>/tmp/pe-agent-exits
    sleep 1
done
"""
REQUEST = "/var/lib/posedge/agent/upgrade/request"
RESULT = "/var/lib/posedge/agent/upgrade/result"


class Store:
    """The installed store at work in the chroot: the broker and the bridge as installed, till
    t07 (enrolled in chroot_till_day) selling under SUPERVISE, the upgrade unit run as root
    whenever the agent's request appears (posedge-upgrade.path's stand-in: the unit's own
    ExecStart), and extra tills that enrol with a technician's token and sell unsupervised."""

    def __init__(self, c, extra=()):
        self.c, self.procs, self.logs, self.unit_out = c, [], [], []
        self.stop_unit = threading.Event()
        self.mq = ChrootBroker(c)
        try:
            self._start(extra)
        except BaseException:
            self.stop()
            raise

    def agent_args(self, terminal=None):
        a = ["/usr/bin/posedge-agent", "-c", "/etc/posedge/agent.json",
             "--set", "sim.start=2026-03-03T09:00:00.000Z", "--set", "sim.speed=60",
             "--set", "sim.tx_per_day=600", "--set", "mqtt.port=%d" % self.mq.port,
             "--set", "enrol.port=%d" % self.mq.enrol_port, "--set", "http.listen=",
             "--set", "upgrade.watch_s=3", "--set", "fleet.state_interval_s=1"]
        if terminal:
            d = "/var/lib/posedge/" + terminal
            a += ["--terminal", terminal, "--data-dir", d,
                  "--set", "mqtt.tls.cert_file=%s/till.crt" % d,
                  "--set", "mqtt.tls.key_file=%s/till.key" % d,
                  "--set", "enrol.token_file=%s/enrol.token" % d]
        return a

    def _start(self, extra):
        c = self.c
        blog = open(c.path("/tmp/pe-bridge.log"), "a")
        self.logs.append(blog)
        self.procs.append(c.popen("/usr/bin/posedge-bridge", "-c", "/etc/posedge/bridge.json",
                                  "--mqtt", "127.0.0.1:%d" % self.mq.port, "--kafka",
                                  "127.0.0.1:%d" % lib.free_port(), user="posedge", log=blog))
        for f in ("/run/pe-stop", "/run/pe-agent.pid"):
            if os.path.exists(c.path(f)):
                os.unlink(c.path(f))
        with open(c.path("/usr/local/sbin/pe-supervise"), "w") as f:
            f.write(SUPERVISE)
        os.chmod(c.path("/usr/local/sbin/pe-supervise"), 0o755)
        slog = open(c.path("/tmp/pe-supervise.log"), "a")
        self.logs.append(slog)
        self.supervisor = c.popen("/usr/local/sbin/pe-supervise", *self.agent_args(), user=None,
                                  log=slog)
        for t in extra:
            d = "/var/lib/posedge/" + t
            c.run("install", "-d", "-m", "0750", "-o", "posedge", "-g", "posedge", d)
            c.run("/usr/bin/posedge-ctl", "pki", "token", "--dir", CA, "--store", "s001",
                  "--terminal", t, "--out", "/root/%s.token" % t)
            c.run("install", "-m", "0600", "-o", "posedge", "-g", "posedge",
                  "/root/%s.token" % t, d + "/enrol.token")
            log = open(c.path("/tmp/pe-agent-%s.log" % t), "a")
            self.logs.append(log)
            self.procs.append(c.popen(*self.agent_args(t), user="posedge", log=log))
        self.unit = threading.Thread(target=self._path_unit, daemon=True)
        self.unit.start()
        wait_until(lambda: all((self.state(t) or {}).get("state") == "online"
                               for t in ("t07",) + tuple(extra)), 60, "the tills online")

    def _path_unit(self):
        """posedge-upgrade.path: the service's ExecStart whenever the request exists."""
        u = unit_settings(self.c.path("/lib/systemd/system/posedge-upgrade.service"))
        cmd = shlex.split(u["ExecStart"][0])
        while not self.stop_unit.is_set():
            if os.path.exists(self.c.path(REQUEST)):
                p = self.c.run(*cmd, check_rc=None, timeout=900)
                self.unit_out.append((p.returncode, p.stdout + p.stderr))
            self.stop_unit.wait(0.2)

    def ctl(self, *args, check_rc=None, timeout=60):
        return sh([os.path.join(REL, "posedge-ctl")] + list(args) + [
            "--mqtt", "127.0.0.1:%d" % self.mq.port, "--store", "s001",
            "--tls-ca", self.c.path(MQ + "/ca.crt"), "--tls-cert", self.c.path(MQ + "/hq.crt"),
            "--tls-key", self.c.path(MQ + "/hq.key")], check_rc=check_rc, timeout=timeout)

    def state(self, terminal):
        p = self.ctl("status", "--json", check_rc=None)
        if p.returncode != 0:
            return None
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            return None
        return (doc.get("terminals") or {}).get(terminal, {}).get("state")

    def agent_log(self):
        return read(self.c.path("/tmp/pe-agent.log"))

    def stop(self):
        self.stop_unit.set()
        if getattr(self, "unit", None):
            self.unit.join(timeout=900)
        open(self.c.path("/run/pe-stop"), "w").close()
        if os.path.exists(self.c.path("/run/pe-agent.pid")):
            self.c.run("sh", "-c", 'kill -TERM "$(cat /run/pe-agent.pid)"', check_rc=None)
        for p in self.procs + ([self.supervisor] if getattr(self, "supervisor", None) else []):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.mq.stop()
        for f in self.logs:
            f.close()


def journal_grows(store, past, what):
    """The till sells: its journal gets new sales beyond seq past (and the bridge spools them)."""
    wait_until(lambda: any(s > past for s, _ in journal_events()), 60, what)


@step
def chroot_upgrade():
    """apt upgrades the till to v2 from the signed repository, through the whole path: HQ's
    rollout (posedge-ctl rollout, the till as the canary), the agent's request at an idle
    moment, the upgrade unit's apt-get, self-test and first seconds; the journal and the spool
    keep every record, the edited configuration and the keys stay, and the till sells before
    and after."""
    c = Cycle.chroot
    conf = c.path("/etc/posedge/agent.json")
    text = open(conf).read()
    check('"title": "posedge demo store"' in text, "agent.json has no title to edit")
    with open(conf, "w") as f:
        f.write(text.replace('"title": "posedge demo store"', '"title": "edited by the test"'))
    check(sh(["dpkg", "--compare-versions", UPGRADE, "gt", VERSION], check_rc=None).returncode
          == 0, "%s is not newer than %s" % (UPGRADE, VERSION))
    Cycle.rebuilt = True
    debs = build("sim", UPGRADE, tmpdir("pe-v2"))
    for p, deb in debs.items():
        check(field(deb, "Version") == UPGRADE, "%s: Version %s" % (deb, field(deb, "Version")))
    publish(Cycle.repo, Cycle.gnupg, debs.values())
    apt_get("update")
    check(candidate("posedge-agent") == UPGRADE, "candidate %s" % candidate("posedge-agent"))
    invoked()
    store = Store(c)
    try:
        before = journal_events()
        journal_grows(store, before[-1][0], "sales before the upgrade")
        r = store.ctl("rollout", "--version", UPGRADE, "--canary", "1", "--timeout", "300",
                      timeout=400)
        check(r.returncode == 0 and "rollout t07: ok %s -> %s" % (VERSION, UPGRADE) in r.stdout,
              "rollout exited %d: %s\nunit: %s" % (r.returncode, r.stdout + r.stderr,
                                                  store.unit_out))
        for p in PKGS:
            check(status(p) == "ii " + UPGRADE, "%s: %s after the upgrade" % (p, status(p)))
        res = read(c.path(RESULT))
        check("outcome=ok\n" in res and "previous=%s\n" % VERSION in res, "result: %s" % res)
        st = store.state("t07")
        check(st["version"] == UPGRADE and st["upgrade"]["outcome"] == "ok" and
              st["upgrade"]["previous"] == VERSION, "state: %s" % st)
        upgraded = journal_events()
        journal_grows(store, upgraded[-1][0], "sales after the upgrade")
        log = store.agent_log()
        check('till.hold on=1 reason="installing an update"' in log and "till.hold on=0" in log,
              "the till was not held while installing: %s" % log[-1500:])
    finally:
        store.stop()
    after = journal_events()
    check(after[:len(before)] == before, "the journal changed in the upgrade")
    v = c.run("/usr/bin/posedge-ctl", "verify", "/var/lib/posedge/agent/journal.db", user="posedge")
    check(v.stdout.startswith("OK"), "posedge-ctl verify: %s" % v.stdout)
    spool = spool_records()[0]
    check(spool[:len(Cycle.spool)] == Cycle.spool, "the spool lost records in the upgrade")
    new = tmpdir("pe-v2x")
    extract(debs["posedge-agent"], new)
    same = sh(["cmp", new + "/usr/bin/posedge-agent", c.path("/usr/bin/posedge-agent")],
              check_rc=None).returncode == 0
    shutil.rmtree(new, ignore_errors=True)
    check(same, "/usr/bin/posedge-agent is not the new package's")
    check("edited by the test" in open(conf).read(), "the edit of agent.json is gone")
    for leftover in (".dpkg-dist", ".dpkg-new", ".dpkg-old"):
        check(not os.path.exists(conf + leftover), "agent.json%s after the upgrade" % leftover)
    check(key_hashes() == Cycle.keys, "a key changed in the upgrade")
    for path, want in PKI_FILES.items():
        check(owner_mode(path) == want, "%s after the upgrade: %s" % (path, owner_mode(path)))
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 0, "posedge is gone")
    calls = invoked()
    for want in ("restart posedge-agent.service", "restart posedge-bridge.service",
                 "restart posedge-crl.timer", "try-reload-or-restart mosquitto.service",
                 "restart posedge-upgrade.path"):
        check(want in calls, "the upgrade asks for %r: asked for %s" % (want, calls))
    check(not any(l.startswith("stop ") for l in calls), "the upgrade stopped: %s" % calls)
    check("restart mosquitto.service" not in calls, "the upgrade restarts the broker: %s" % calls)
    # The enrolled till's self-test checks its identity now (mqtt.host is set).
    for daemon, conf_ in (("posedge-agent", "agent.json"), ("posedge-bridge", "bridge.json")):
        p = c.run("/usr/bin/" + daemon, "-c", "/etc/posedge/" + conf_, "--self-test",
                  user="posedge", check_rc=None, timeout=120)
        check(p.returncode == 0 and "s001/" in p.stdout, "%s --self-test after the upgrade "
              "exited %d: %s" % (daemon, p.returncode, (p.stdout + p.stderr).strip()[-600:]))
    Cycle.journal = after
    Cycle.spool, Cycle.spool_sha = spool_records()


BROKEN = UPGRADE + "+broken"
BROKEN_AGENT = """#!/bin/sh
# posedge-agent %s: deliberately broken (tests/system/test_packages.py), its self-test fails.
echo "FAIL build: deliberately broken for the rollback test"
exit 1
"""


def broken_debs(debs, out):
    """v3: v2's packages as BROKEN, with an agent that fails its self-test (and every start)."""
    for p, deb in debs.items():
        d = tmpdir("pe-v3-" + p)
        sh(["dpkg-deb", "-R", deb, d])
        ctl = os.path.join(d, "DEBIAN", "control")
        text = read(ctl).replace("Version: " + UPGRADE, "Version: " + BROKEN)
        text = text.replace("(= %s)" % UPGRADE, "(= %s)" % BROKEN)
        with open(ctl, "w") as f:
            f.write(text)
        if p == "posedge-agent":
            with open(os.path.join(d, "usr", "bin", "posedge-agent"), "w") as f:
                f.write(BROKEN_AGENT % BROKEN)
            sh(["sh", "-c", "cd %s && find . -type f ! -path './DEBIAN/*' -printf '%%P\\0' | "
                "sort -z | xargs -0r md5sum >DEBIAN/md5sums" % shlex.quote(d)])
        sh(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", d,
            os.path.join(out, "%s_%s_%s.deb" % (p, BROKEN, HOST_ARCH))])
        shutil.rmtree(d, ignore_errors=True)
    return [os.path.join(out, n) for n in sorted(os.listdir(out))]


@step
def chroot_rollout_rolls_back():
    """A broken v3 (its self-test fails) rolled out over three tills, t07 the canary: the
    upgrade unit installs it, the self-test fails, v2 is installed again by itself and runs, the
    state says why, and the rollout stops without asking t08 and t09. The till keeps its journal
    and sells again."""
    c = Cycle.chroot
    v2 = _built.get(("sim", UPGRADE))  # chroot_upgrade's build
    check(isinstance(v2, dict), "no v2 build: %s" % v2)
    out = tmpdir("pe-v3")
    publish(Cycle.repo, Cycle.gnupg, broken_debs(v2, out))
    apt_get("update")
    check(candidate("posedge-agent") == BROKEN, "candidate %s" % candidate("posedge-agent"))
    store = Store(c, extra=("t08", "t09"))
    try:
        before = journal_events()
        r = store.ctl("rollout", "--version", BROKEN, "--canary", "1", "--max-failures", "0",
                      "--timeout", "300", timeout=400)
        text = r.stdout + r.stderr
        check(r.returncode == 1 and "rollout t07: rolled_back" in text and
              "self-test failed" in text and "rollout stopped" in text,
              "rollout exited %d: %s\nunit: %s" % (r.returncode, text, store.unit_out))
        check("t08" in text.split("rollout stopped", 1)[1] and
              "t09" in text.split("rollout stopped", 1)[1], "not asked: %s" % text)
        for p in PKGS:
            check(status(p) == "ii " + UPGRADE, "%s: %s after the rollback" % (p, status(p)))
        res = read(c.path(RESULT))
        check("outcome=rolled_back\n" in res and "version=%s\n" % BROKEN in res and
              "reason=self-test failed: FAIL build: deliberately broken" in res, "result: %s" % res)
        st = store.state("t07")
        check(st["version"] == UPGRADE and st["upgrade"]["outcome"] == "rolled_back" and
              "self-test failed" in st["upgrade"]["reason"], "state: %s" % st)
        for t in ("t08", "t09"):
            check((store.state(t) or {}).get("upgrade") is None, "%s was asked: %s" % (
                t, store.state(t)))
            check("upgrade." not in read(c.path("/tmp/pe-agent-%s.log" % t)),
                  "%s heard of the upgrade" % t)
        s_ = store.ctl("status", check_rc=0).stdout
        check(re.search(r"t07 .*rolled_back:%s" % re.escape(BROKEN), s_), "status: %s" % s_)
        journal_grows(store, journal_events()[-1][0], "sales after the rollback")
    finally:
        store.stop()
        c.run("rm", "-rf", "/var/lib/posedge/t08", "/var/lib/posedge/t09")
    after = journal_events()
    check(after[:len(before)] == before, "the journal changed in the rollback")
    v = c.run("/usr/bin/posedge-ctl", "verify", "/var/lib/posedge/agent/journal.db", user="posedge")
    check(v.stdout.startswith("OK"), "posedge-ctl verify: %s" % v.stdout)
    check(key_hashes() == Cycle.keys, "a key changed in the rollback")
    Cycle.journal = journal_events()
    Cycle.spool, Cycle.spool_sha = spool_records()


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
    check(key_hashes() == Cycle.keys, "a key changed in dpkg -r")
    check(os.path.exists(c.path("/etc/mosquitto/conf.d/posedge.conf")) and
          os.path.exists(c.path(MQ + "/crl.pem")), "the broker's configuration is gone")
    calls = invoked()
    for want in ("stop posedge-agent.service", "stop posedge-bridge.service",
                 "stop posedge-crl.timer"):
        check(want in calls, "dpkg -r asks for %r: asked for %s" % (want, calls))


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
                 "/etc/systemd/system/posedge-agent.service",
                 "/etc/systemd/system/timers.target.wants/posedge-crl.timer",
                 CA, MQ, "/etc/mosquitto/conf.d/posedge.conf"):
        check(not os.path.lexists(c.path(gone)), "%s is still there after dpkg -P" % gone)
    check(c.run("getent", "passwd", "posedge", check_rc=None).returncode == 0,
          "the posedge user is kept (files it owned may outlive the packages)")
    check("try-restart mosquitto.service" in invoked(), "the broker keeps the purged listeners")
    check(status("mosquitto").startswith("ii "), "mosquitto: %s" % status("mosquitto"))


if __name__ == "__main__":
    main()
