#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The signed apt repository (make repo, scripts/repo.sh; docs/rollout.md), checked as apt sees it.

`make repo` publishes the sim (amd64), rpi4 (arm64) and armhf packages into a repository in a
temporary directory, signed with a key made in a temporary GnuPG home (POSEDGE_REPO_GNUPGHOME:
never the user's own key). The board builds are make's: what test_packages.py or an earlier run
built is reused. Then, from the outside:

- InRelease and Release.gpg verify with gpgv against the keyring in posedge-archive-keyring, and
  not against another key's; Release names the three architectures, and every index's SHA256
  and size are the file's; each binary-ARCH/Packages lists posedge-agent, -bridge and -tools of
  that architecture and the keyring (all), each pointing at its file in the pool;
- the keyring package: its files, its example entry, lintian (no error or warning);
- nothing of the secret key is in the repository (the key's secret scalar, read from the key
  home, is searched for in every file and in the keyring package's data);
- apt resolves the arm64 and armhf packages' Depends against Debian's package lists of those
  architectures (the lists the cross sysroots already downloaded, $POSEDGE_CACHE/apt/ARCH,
  copied into a private apt state: the cache is never changed), with the repository added as a
  signed file: source and apt-get -s install from an empty dpkg status; a package whose Depends
  cannot be met fails the same resolver;
- apt-get update (a private state, amd64, only file: sources: no network) accepts the repository
  with Signed-By, and refuses an unsigned copy, a copy signed by another key and a copy whose
  index was changed after signing;
- publishing again is a no-op on the pool, a second version keeps the first in the index, a
  changed file under a published name is refused (nothing copied), bad input is refused with
  its reason, and a key rotation (key --new, a keyring with both keys, key --use, key --retire)
  keeps the newest keyring carrying exactly the signing keys.
"""
import atexit
import glob
import gzip
import hashlib
import os
import re
import shutil
import subprocess

import lib
from lib import check, main, test, tmpdir

SRC = lib.SRC
REPO_SH = os.path.join(SRC, "scripts", "repo.sh")
ARCHES = ("amd64", "arm64", "armhf")
BOARDS = {"amd64": "sim", "arm64": "rpi4", "armhf": "armhf"}
PKGS = ("posedge-agent", "posedge-bridge", "posedge-tools")
KEYRING_PKG = "posedge-archive-keyring"
KEYRING_PATH = "/usr/share/keyrings/posedge-archive-keyring.gpg"
VERSION = subprocess.run(["dpkg-parsechangelog", "-l", os.path.join(SRC, "pkg", "changelog"),
                          "-SVersion"], capture_output=True, text=True).stdout.strip()
CACHE = os.environ.get("POSEDGE_CACHE", os.path.expanduser("~/.cache/posedge"))

WORK = tmpdir("pe-repo")
GH = os.path.join(WORK, "gnupg")  # the archive key's home
REPO = os.path.join(WORK, "repo")
HOMES = [GH]  # every GnuPG home the test uses: their agents are stopped at exit
# gpg and gpgv of the test itself never touch ~/.gnupg.
GPG_ENV = dict(os.environ, GNUPGHOME=os.path.join(WORK, "gpg-scratch"))
os.makedirs(GPG_ENV["GNUPGHOME"], mode=0o700)
HOMES.append(GPG_ENV["GNUPGHOME"])


def cleanup():
    for h in HOMES:
        subprocess.run(["gpgconf", "--homedir", h, "--kill", "gpg-agent"], capture_output=True)
    shutil.rmtree(WORK, ignore_errors=True)


atexit.register(cleanup)


def make_env():
    """The environment of a make of our own: not part of a caller's make (its jobserver)."""
    e = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
        e.pop(k, None)
    return e


def sh(cmd, check_rc=0, timeout=600, env=None, input=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       input=input, cwd=cwd)
    if check_rc is not None and p.returncode != check_rc:
        raise lib.Failure("%s exited %d, expected %d\nstdout: %s\nstderr: %s" % (
            " ".join(cmd), p.returncode, check_rc, p.stdout[-2000:], p.stderr[-3000:]))
    return p


def repo_sh(*args, home=GH, check_rc=0, env=None):
    e = dict(os.environ, POSEDGE_REPO_GNUPGHOME=home)
    e.update(env or {})
    return sh([REPO_SH] + list(args), check_rc=check_rc, env=e)


_published = []


def published():
    """make repo into REPO, once; a failure fails every test that needs it with its reason."""
    if not _published:
        p = subprocess.run(["make", "-C", SRC, "-j2", "--no-print-directory", "repo",
                            "REPO_DIR=" + REPO, "POSEDGE_REPO_GNUPGHOME=" + GH],
                           capture_output=True, text=True, timeout=1500, env=make_env())
        _published.append(None if p.returncode == 0 else
                          "make repo failed:\n" + (p.stdout + p.stderr)[-3000:])
    if _published[0]:
        raise lib.Failure(_published[0])
    return REPO


def board_debs(arch=None):
    """The packages make repo published (of ARCH), from the boards' build directories."""
    return sorted(d for a, b in BOARDS.items() if arch in (None, a)
                  for d in glob.glob(os.path.join(SRC, "build", b, "deb", "*.deb")))


def names(debs):
    return sorted(os.path.basename(d).split("_")[0] for d in debs)


def dists(repo=None):
    return os.path.join(repo or published(), "dists", "stable")


def paragraphs(text):
    """A deb822 file as a list of {field: value} (continuation lines joined with newlines)."""
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        fields, last = {}, None
        for line in block.splitlines():
            if line.startswith("#"):
                continue
            if line[:1] in (" ", "\t") and last:
                fields[last] += "\n" + line.strip()
            elif ":" in line:
                last, v = line.split(":", 1)
                fields[last] = v.strip()
        if fields:
            out.append(fields)
    return out


def packages(arch, repo=None):
    with open(os.path.join(dists(repo), "main", "binary-" + arch, "Packages")) as f:
        return paragraphs(f.read())


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def keyring_deb(repo=None, version=VERSION):
    path = os.path.join(repo or published(), "pool", "main",
                        "%s_%s_all.deb" % (KEYRING_PKG, version))
    check(os.path.isfile(path), "%s is not in the pool" % os.path.basename(path))
    return path


def extract(deb, dest):
    shutil.rmtree(dest, ignore_errors=True)
    sh(["dpkg-deb", "-x", deb, dest])
    return dest


def keyring(repo=None, version=VERSION):
    """The keyring file of posedge-archive-keyring VERSION, extracted from the package."""
    d = extract(keyring_deb(repo, version), os.path.join(WORK, "kr-%s" % version))
    return d + KEYRING_PATH


def key_fprs(keyring_file):
    """The primary key fingerprints in a keyring file."""
    out = sh(["gpg", "--batch", "--with-colons", "--import-options", "show-only", "--import",
              keyring_file], env=GPG_ENV).stdout
    fprs, want = [], False
    for line in out.splitlines():
        f = line.split(":")
        if f[0] == "pub":
            want = True
        elif f[0] == "fpr" and want:
            fprs.append(f[9])
            want = False
    return fprs


_other = []


def other_key():
    """(home, keyring file) of another key, made fresh, that signs nothing of ours."""
    if not _other:
        home = os.path.join(WORK, "other-gnupg")
        HOMES.append(home)
        repo_sh("key", home=home)
        kr = os.path.join(WORK, "other.gpg")
        with open(kr, "wb") as f:
            f.write(subprocess.run(["gpg", "--batch", "--homedir", home, "--export"],
                                   capture_output=True, check=True).stdout)
        _other.append((home, kr))
    return _other[0]


def gpgv(keyring_file, *files):
    return sh(["gpgv", "--keyring", keyring_file] + list(files), check_rc=None, env=GPG_ENV)


def copy_repo(name, repo=None):
    dst = os.path.join(WORK, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(repo or published(), dst, symlinks=True)
    return dst


def copy_home(name):
    dst = os.path.join(WORK, name)
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(GH, dst, symlinks=True,
                    ignore=shutil.ignore_patterns("S.*", "*.lock", ".#*"))
    HOMES.append(dst)
    return dst


def pool(repo):
    """{name: (sha256, mtime_ns, inode)} of the pool's files."""
    d = os.path.join(repo, "pool", "main")
    out = {}
    for n in sorted(os.listdir(d)):
        st = os.stat(os.path.join(d, n))
        out[n] = (sha256(os.path.join(d, n)), st.st_mtime_ns, st.st_ino)
    return out


def make_deb(out_dir, package, version, arch, depends=None, description="posedge test package"):
    """A minimal package (one doc file), for the resolver's and publish's negative checks."""
    root = os.path.join(WORK, "mk-%s-%s-%s" % (package, version, arch))
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "DEBIAN"))
    os.makedirs(os.path.join(root, "usr", "share", "doc", package))
    with open(os.path.join(root, "usr", "share", "doc", package, "README"), "w") as f:
        f.write("made by tests/system/test_repo.py\n")
    control = ["Package: " + package, "Version: " + version, "Architecture: " + arch,
               "Maintainer: posedge tests <tests@posedge.example>"]
    if depends:
        control.append("Depends: " + depends)
    control.append("Description: " + description)
    with open(os.path.join(root, "DEBIAN", "control"), "w") as f:
        f.write("\n".join(control) + "\n")
    os.makedirs(out_dir, exist_ok=True)
    deb = os.path.join(out_dir, "%s_%s_%s.deb" % (package, version, arch))
    sh(["dpkg-deb", "--root-owner-group", "-b", root, deb])
    return deb


def repack(deb, out_dir, version=None, description=None):
    """DEB rebuilt with another version or another synopsis (a different file)."""
    root = os.path.join(WORK, "rp-" + os.path.basename(deb))
    shutil.rmtree(root, ignore_errors=True)
    sh(["dpkg-deb", "-R", deb, root])
    ctl = os.path.join(root, "DEBIAN", "control")
    text = open(ctl).read()
    if version:
        text = re.sub(r"(?m)^Version: .*$", "Version: " + version, text)
    if description:
        text = re.sub(r"(?m)^Description: .*$", "Description: " + description, text)
    with open(ctl, "w") as f:
        f.write(text)
    os.makedirs(out_dir, exist_ok=True)
    f = dict(l.split(": ", 1) for l in text.splitlines() if re.match(r"^[A-Z][\w-]*: ", l))
    out = os.path.join(out_dir, "%s_%s_%s.deb" % (f["Package"], f["Version"], f["Architecture"]))
    sh(["dpkg-deb", "--root-owner-group", "-b", root, out])
    return out


# ---- a private apt ----
# Its state, lists, caches and configuration in a directory of its own, for one architecture.
# With SEED, the Debian package lists (and their sources.list) of the cross sysroots' apt state
# ($POSEDGE_CACHE/apt/ARCH, scripts/sysroot.sh) are copied in, and the host's configuration
# parts that state links (proxies, validity checks) too; the cache itself is only read.
class Apt:
    def __init__(self, name, arch, seed=False):
        self.arch = arch
        self.dir = d = os.path.join(WORK, name)
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("lists/partial", "cache/archives/partial", "apt.conf.d"):
            os.makedirs(os.path.join(d, sub))
        open(os.path.join(d, "status"), "w").close()
        self.base = ""  # the Debian mirror's entries
        if seed:
            cache = os.path.join(CACHE, "apt", arch)
            lists = glob.glob(os.path.join(cache, "lists", "*_Packages*"))
            if not lists or not os.path.isfile(os.path.join(cache, "sources.list")):
                raise lib.Failure("no Debian %s package lists in %s: make deb BOARD=%s makes "
                                  "them (scripts/sysroot.sh)" % (arch, cache, BOARDS[arch]))
            for f in glob.glob(os.path.join(cache, "lists", "*")):
                if os.path.isfile(f) and not f.endswith("/lock"):
                    shutil.copy(f, os.path.join(d, "lists"))
            self.base = open(os.path.join(cache, "sources.list")).read()
            for f in glob.glob(os.path.join(cache, "apt.conf.d", "*")):
                if os.path.islink(f):
                    os.symlink(os.readlink(f), os.path.join(d, "apt.conf.d", os.path.basename(f)))
        with open(os.path.join(d, "apt.conf.d", "zz-posedge-test"), "w") as f:
            f.write("""#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
#clear DPkg::Post-Invoke;
#clear DPkg::Pre-Invoke;
#clear Acquire::IndexTargets::deb::DEP-11;
#clear Acquire::IndexTargets::deb::DEP-11-icons;
#clear Acquire::IndexTargets::deb::DEP-11-icons-small;
#clear Acquire::IndexTargets::deb::DEP-11-icons-hidpi;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large;
#clear Acquire::IndexTargets::deb::DEP-11-icons-large-hidpi;
APT::Architecture "{arch}";
#clear APT::Architectures;
APT::Architectures {{ "{arch}"; }};
APT::Sandbox::User "root";
APT::Get::List-Cleanup "false";
Acquire::Languages "none";
Dir::State "{d}";
Dir::State::Lists "{d}/lists";
Dir::State::status "{d}/status";
Dir::Cache "{d}/cache";
Dir::Cache::archives "{d}/cache/archives";
Dir::Cache::pkgcache "{d}/cache/pkgcache.bin";
Dir::Cache::srcpkgcache "{d}/cache/srcpkgcache.bin";
Dir::Etc::SourceList "{d}/sources.list";
Dir::Etc::SourceParts "/dev/null";
Dir::Etc::Preferences "/dev/null";
Dir::Etc::PreferencesParts "/dev/null";
""".format(arch=arch, d=d))
        with open(os.path.join(d, "apt.conf"), "w") as f:
            f.write('Dir::Etc::Parts "%s/apt.conf.d";\n' % d)
        self.env = dict(os.environ, APT_CONFIG=os.path.join(d, "apt.conf"), LC_ALL="C")

    def update(self, source_list=None, parts=None):
        """apt-get update of only the entries of SOURCE_LIST (one-line) or of PARTS (a
        directory of deb822 .sources): file: URIs, no network. The lists of the other sources
        stay (List-Cleanup off)."""
        return sh(["apt-get", "update"] + self.opts(source_list, parts), check_rc=None,
                  env=self.env, timeout=300)

    def opts(self, source_list=None, parts=None):
        return ["-o", "Dir::Etc::SourceList=" + (source_list or "/dev/null"),
                "-o", "Dir::Etc::SourceParts=" + (parts or "/dev/null")]

    def resolve(self, *pkgs):
        """apt-get -s install PKGS from the empty dpkg status, with every list (the Debian
        mirror's and ours): (returncode, output, {package: (version, arch)} of what it would
        install)."""
        p = sh(["apt-get", "-s", "-o", "Debug::NoLocking=1", "install"] + list(pkgs),
               check_rc=None, env=self.env, timeout=300)
        inst = {}
        for m in re.finditer(r"^Inst (\S+) (?:\[[^]]*\] )?\((\S+) .*\[(\S+)\]\)", p.stdout,
                             re.M):
            inst[m.group(1)] = (m.group(2), m.group(3))
        return p.returncode, p.stdout + p.stderr, inst


def with_repo(arch, repo, kr, name):
    """A private apt of ARCH with Debian's lists and REPO as a signed file: source, updated."""
    apt = Apt(name, arch, seed=True)
    ours = os.path.join(apt.dir, "posedge.list")
    with open(ours, "w") as f:
        f.write("deb [signed-by=%s] file:%s stable main\n" % (kr, repo))
    with open(os.path.join(apt.dir, "sources.list"), "w") as f:
        f.write(apt.base + open(ours).read())
    u = apt.update(source_list=ours)
    check(u.returncode == 0 and not re.search(r"^[EW]:", u.stderr, re.M),
          "apt-get update of %s (%s) failed: %s" % (repo, arch, u.stderr[-1500:]))
    return apt


# ---- the tests ----

@test
def make_repo():
    repo = published()
    for a in ARCHES:
        debs = board_debs(a)
        check(set(PKGS) <= set(names(debs)) and all(d.endswith("_%s.deb" % a) for d in debs),
              "build/%s/deb: %s" % (BOARDS[a], [os.path.basename(d) for d in debs]))
        for d in debs:
            pooled = os.path.join(repo, "pool", "main", os.path.basename(d))
            check(os.path.isfile(pooled), "%s is not in the pool" % os.path.basename(d))
            check(sha256(pooled) == sha256(d), "pool/main/%s is not build/%s/deb's" % (
                os.path.basename(d), BOARDS[a]))
    for f in ("InRelease", "Release", "Release.gpg"):
        check(os.path.isfile(os.path.join(dists(), f)), "dists/stable/%s is missing" % f)
    check(os.path.isfile(os.path.join(repo, "posedge-archive-keyring.gpg")),
          "the repository has no posedge-archive-keyring.gpg")
    mode = os.stat(GH).st_mode & 0o777
    check(mode == 0o700, "the key home is mode %o, not 700" % mode)


@test
def signed():
    kr = keyring()
    d = dists()
    check(sha256(kr) == sha256(os.path.join(published(), "posedge-archive-keyring.gpg")),
          "posedge-archive-keyring.gpg in the repository is not the keyring package's")
    p = gpgv(kr, os.path.join(d, "InRelease"))
    check(p.returncode == 0, "InRelease does not verify with the keyring: %s" % p.stderr)
    p = gpgv(kr, os.path.join(d, "Release.gpg"), os.path.join(d, "Release"))
    check(p.returncode == 0, "Release.gpg does not verify with the keyring: %s" % p.stderr)
    with open(os.path.join(d, "Release.gpg")) as f:
        check(f.read().startswith("-----BEGIN PGP SIGNATURE-----"), "Release.gpg is not armoured")
    # What InRelease signs is Release.
    signed_text = sh(["gpgv", "--keyring", kr, "--output", "-", os.path.join(d, "InRelease")],
                     env=GPG_ENV).stdout
    check(signed_text.strip() == open(os.path.join(d, "Release")).read().strip(),
          "InRelease does not sign the text of Release")
    fprs = key_fprs(kr)
    signer = repo_sh("key").stdout.strip()
    check(fprs == [signer], "the keyring holds %s, the signing key is %s" % (fprs, signer))
    _, other = other_key()
    for args in ((os.path.join(d, "InRelease"),),
                 (os.path.join(d, "Release.gpg"), os.path.join(d, "Release"))):
        p = gpgv(other, *args)
        check(p.returncode != 0, "%s verifies with another key" % os.path.basename(args[0]))


@test
def release():
    d = dists()
    rel = paragraphs(open(os.path.join(d, "Release")).read())[0]
    want = {"Origin": "posedge", "Label": "posedge", "Suite": "stable", "Codename": "stable",
            "Components": "main", "Architectures": "amd64 arm64 armhf"}
    for k, v in want.items():
        check(rel.get(k) == v, "Release: %s is %r, not %r" % (k, rel.get(k), v))
    check(re.match(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d (UTC|\+0000)$", rel.get("Date", "")),
          "Release: Date %r" % rel.get("Date"))
    check("MD5Sum" not in rel and "SHA1" not in rel, "Release carries MD5 or SHA1 sums")
    sums = {}
    for line in filter(None, rel.get("SHA256", "").splitlines()):
        h, size, name = line.split()
        sums[name] = (h, int(size))
    want_files = {"main/binary-%s/Packages%s" % (a, z) for a in ARCHES for z in ("", ".gz")}
    check(set(sums) == want_files, "Release's SHA256 lists %s" % sorted(sums))
    for name, (h, size) in sums.items():
        path = os.path.join(d, name)
        check(sha256(path) == h, "Release: the sha256 of %s is not the file's" % name)
        check(os.path.getsize(path) == size, "Release: the size of %s is not the file's" % name)
    for a in ARCHES:
        base = os.path.join(d, "main", "binary-" + a, "Packages")
        with gzip.open(base + ".gz", "rb") as z:
            check(z.read() == open(base, "rb").read(), "binary-%s/Packages.gz is not Packages" % a)


@test
def packages_per_architecture():
    repo = published()
    for a in ARCHES:
        ps = packages(a)
        got = sorted((p["Package"], p["Architecture"], p["Version"]) for p in ps)
        want = sorted([(n, a, VERSION) for n in names(board_debs(a))] +
                      [(KEYRING_PKG, "all", VERSION)])
        check(got == want, "binary-%s/Packages lists %s, not %s" % (a, got, want))
        for p in ps:
            path = os.path.join(repo, p["Filename"])
            check(p["Filename"].startswith("pool/main/") and os.path.isfile(path),
                  "binary-%s: %s's Filename %s" % (a, p["Package"], p["Filename"]))
            check(sha256(path) == p["SHA256"] and os.path.getsize(path) == int(p["Size"]),
                  "binary-%s: %s's SHA256 or Size is not its file's" % (a, p["Package"]))


@test
def keyring_package():
    deb = keyring_deb()
    f = lambda k: sh(["dpkg-deb", "-f", deb, k]).stdout.strip()
    check(f("Package") == KEYRING_PKG and f("Version") == VERSION and f("Architecture") == "all",
          "%s: %s %s %s" % (deb, f("Package"), f("Version"), f("Architecture")))
    d = extract(deb, os.path.join(WORK, "keyring-pkg"))
    doc = "/usr/share/doc/" + KEYRING_PKG
    files = sorted("/" + os.path.relpath(os.path.join(r, n), d)
                   for r, _, ns in os.walk(d) for n in ns)
    want = sorted([KEYRING_PATH, doc + "/copyright", doc + "/changelog.gz",
                   doc + "/examples/posedge.sources"])
    check(files == want, "the keyring package has %s, not %s" % (files, want))
    check(open(d + doc + "/copyright").read() == open(os.path.join(SRC, "pkg", "copyright")).read(),
          "its copyright is not pkg/copyright")
    ex = paragraphs(open(d + doc + "/examples/posedge.sources").read())
    want = {"Types": "deb", "URIs": "https://repo.example/posedge", "Suites": "stable",
            "Components": "main", "Signed-By": KEYRING_PATH}
    check(ex == [want], "examples/posedge.sources: %s" % ex)
    top = paragraphs(open(os.path.join(published(), "posedge.sources")).read())
    check(top and top[0].get("URIs") == "file:" + published()
          and all(top[0].get(k) == v for k, v in want.items() if k != "URIs"),
          "the repository's posedge.sources: %s" % top)
    p = sh(["lintian", "--no-tag-display-limit", deb], check_rc=None)
    for line in p.stdout.splitlines():
        print("# lintian: " + line)
    check(not re.search(r"^[EW]: ", p.stdout, re.M), "lintian: %s" % p.stdout.strip())
    # Reproducible: the same keys and version give the same file.
    again = copy_repo("repo-repro")
    os.remove(os.path.join(again, "pool", "main", os.path.basename(deb)))
    repo_sh("publish", again)
    check(sha256(keyring_deb(again)) == sha256(deb), "the keyring package is not reproducible")


@test
def no_secret_key_material():
    repo = published()
    check(not os.path.realpath(GH).startswith(os.path.realpath(repo) + "/"),
          "the key home is inside the repository")
    secrets = []
    for kf in glob.glob(os.path.join(GH, "private-keys-v1.d", "*.key")):
        text = open(kf, "rb").read()
        m = re.search(rb"\(d\s*#([0-9A-Fa-f\s]+)#", text)  # the extended key format
        check(m, "%s: no secret scalar found (its format changed?)" % kf)
        raw = bytes.fromhex(re.sub(rb"\s", b"", m.group(1)).decode())
        check(len(raw) >= 32, "%s: a secret of %d bytes" % (kf, len(raw)))
        secrets += [raw, raw.hex().encode(), raw.hex().upper().encode()]
    check(secrets, "no secret key in the key home")
    data = extract(keyring_deb(), os.path.join(WORK, "keyring-data"))
    scanned = 0
    for top in (repo, data):
        for r, _, ns in os.walk(top):
            for n in ns:
                path = os.path.join(r, n)
                blob = open(path, "rb").read()
                scanned += 1
                check(b"PRIVATE KEY" not in blob, "%s holds a private key block" % path)
                for s in secrets:
                    check(s not in blob, "%s holds the archive key's secret" % path)
                if n.endswith(".gpg") and not blob.startswith(b"-----"):
                    pk = sh(["gpg", "--batch", "--list-packets", path], check_rc=None,
                            env=GPG_ENV).stdout
                    check("secret" not in pk, "%s has secret key packets" % path)
    check(scanned > 10, "only %d files scanned" % scanned)


def check_resolves(arch):
    repo = published()
    kr = keyring()
    want = list(PKGS) + [KEYRING_PKG]
    rc, out, inst = with_repo(arch, repo, kr, "apt-" + arch).resolve(*want)
    check(rc == 0, "apt-get -s install %s (%s) failed:\n%s" % (" ".join(want), arch, out[-2500:]))
    for p in PKGS:
        check(inst.get(p) == (VERSION, arch), "%s: %s installs %s" % (arch, p, inst.get(p)))
    check(inst.get(KEYRING_PKG) == (VERSION, "all"), "%s: the keyring: %s" % (
        arch, inst.get(KEYRING_PKG)))
    check(len(inst) > 20 and "libc6" in inst and "mosquitto" in inst,
          "%s: the resolver installs only %s" % (arch, sorted(inst)))


@test
def depends_resolve_arm64():
    check_resolves("arm64")


@test
def depends_resolve_armhf():
    check_resolves("armhf")


@test
def unmet_depends_fail_the_resolver():
    """The same resolver on a copy of the repository with a package whose Depends cannot be
    met (a version of libc6 no Debian has, a library no Debian has): it must fail, naming it."""
    copy = copy_repo("repo-unmet")
    bad = make_deb(os.path.join(WORK, "unmet"), "posedge-unmet", VERSION, "arm64",
                   depends="libc6 (>= 99), posedge-agent (= %s)" % VERSION)
    gone = make_deb(os.path.join(WORK, "unmet"), "posedge-gone", VERSION, "arm64",
                    depends="libposedge-nowhere0")
    repo_sh("publish", copy, bad, gone)
    check(any(p["Package"] == "posedge-unmet" for p in packages("arm64", copy)),
          "posedge-unmet is not in the copy's index")
    apt = with_repo("arm64", copy, keyring(), "apt-unmet")
    rc, out, inst = apt.resolve("posedge-agent")
    check(rc == 0 and inst.get("posedge-agent") == (VERSION, "arm64"),
          "the copy's posedge-agent does not resolve:\n%s" % out[-1500:])
    for pkg, why in (("posedge-unmet", "Depends: libc6 (>= 99)"),
                     ("posedge-gone", "Depends: libposedge-nowhere0")):
        rc, out, _ = apt.resolve(pkg)
        check(rc != 0, "apt-get -s install %s succeeded:\n%s" % (pkg, out[-1500:]))
        check(pkg in out and why in out, "apt-get -s install %s failed, but not for %r:\n%s" % (
            pkg, why, out[-1500:]))


def apt_update_amd64(repo, kr, name):
    """apt-get update of REPO alone, as a till would with the repository's posedge.sources (its
    URIs set to REPO, its Signed-By to KR): the result, and the Apt."""
    apt = Apt(name, "amd64")
    text = open(os.path.join(published(), "posedge.sources")).read()
    text = re.sub(r"(?m)^URIs: .*$", "URIs: file:" + repo, text)
    text = re.sub(r"(?m)^Signed-By: .*$", "Signed-By: " + kr, text)
    parts = os.path.join(apt.dir, "sources.list.d")
    os.makedirs(parts)
    with open(os.path.join(parts, "posedge.sources"), "w") as f:
        f.write(text)
    return apt.update(parts=parts), apt


@test
def apt_update_accepts_the_signed_repository():
    kr = keyring()
    p, apt = apt_update_amd64(published(), kr, "apt-amd64")
    check(p.returncode == 0 and not re.search(r"^[EW]:", p.stderr, re.M),
          "apt-get update refused the repository:\n%s%s" % (p.stdout[-1500:], p.stderr[-1500:]))
    pol = sh(["apt-cache"] + apt.opts(parts=os.path.join(apt.dir, "sources.list.d")) +
             ["policy", "posedge-agent"], env=apt.env).stdout
    check("Candidate: " + VERSION in pol and "file:" + published() in pol,
          "apt-cache policy posedge-agent:\n%s" % pol)


@test
def apt_update_refuses_unsigned_or_foreign_or_altered():
    kr = keyring()
    unsigned = copy_repo("repo-unsigned")
    for f in ("InRelease", "Release.gpg"):
        os.remove(os.path.join(dists(unsigned), f))
    home, _ = other_key()
    foreign = copy_repo("repo-foreign")
    d = dists(foreign)
    for f in ("InRelease", "Release.gpg"):
        os.remove(os.path.join(d, f))
    g = ["gpg", "--batch", "--homedir", home, "--digest-algo", "SHA512"]
    sh(g + ["--clearsign", "-o", os.path.join(d, "InRelease"), os.path.join(d, "Release")])
    sh(g + ["--armor", "--detach-sign", "-o", os.path.join(d, "Release.gpg"),
            os.path.join(d, "Release")])
    altered = copy_repo("repo-altered")
    with open(os.path.join(dists(altered), "main", "binary-amd64", "Packages"), "a") as f:
        f.write("\nPackage: posedge-intruder\nVersion: 9\nArchitecture: amd64\n"
                "Filename: pool/main/x.deb\nSize: 1\nSHA256: %s\n" % ("0" * 64))
    other_id = key_fprs(os.path.join(WORK, "other.gpg"))[0][-16:]
    for repo, why in ((unsigned, "is not signed"), (foreign, "NO_PUBKEY " + other_id),
                      (altered, "Hash Sum mismatch")):
        p, _ = apt_update_amd64(repo, kr, "apt-" + os.path.basename(repo))
        out = p.stdout + p.stderr
        check(p.returncode != 0 or re.search(r"^E:", p.stderr, re.M),
              "apt-get update accepted %s:\n%s" % (os.path.basename(repo), out[-1500:]))
        check(why in out, "apt-get update refused %s, but not with %r:\n%s" % (
            os.path.basename(repo), why, out[-1500:]))


@test
def publish_again_is_a_noop_on_the_pool():
    repo = copy_repo("repo-again")
    before = pool(repo)
    idx = {a: open(os.path.join(dists(repo), "main", "binary-" + a, "Packages")).read()
           for a in ARCHES}
    p = repo_sh("publish", repo, *board_debs())
    check(pool(repo) == before, "publishing the same packages changed the pool")
    check("0 added" in p.stdout, "publish says: %s" % p.stdout.strip())
    for a in ARCHES:
        check(open(os.path.join(dists(repo), "main", "binary-" + a, "Packages")).read() == idx[a],
              "binary-%s/Packages changed" % a)
    check(gpgv(keyring(), os.path.join(dists(repo), "InRelease")).returncode == 0,
          "the re-signed InRelease does not verify")


@test
def second_version_keeps_the_first():
    repo = copy_repo("repo-v2")
    tools = [d for d in board_debs() if os.path.basename(d).startswith("posedge-tools_")
             and d.endswith("_arm64.deb")][0]
    v2 = VERSION + "+repotest1"
    newer = repack(tools, os.path.join(WORK, "v2"), version=v2)
    before = pool(repo)
    repo_sh("publish", repo, newer)
    after = pool(repo)
    check(all(after.get(n) == s for n, s in before.items()), "a published file changed")
    check(set(after) - set(before) == {os.path.basename(newer)},
          "the pool gained %s" % sorted(set(after) - set(before)))
    vs = sorted(p["Version"] for p in packages("arm64", repo) if p["Package"] == "posedge-tools")
    check(vs == sorted([VERSION, v2]), "binary-arm64 lists posedge-tools %s" % vs)
    check(not any(p["Version"] == v2 for p in packages("armhf", repo)),
          "the arm64 package is in binary-armhf")


@test
def changed_file_under_a_published_name_is_refused():
    repo = copy_repo("repo-changed")
    tools = [d for d in board_debs() if os.path.basename(d).startswith("posedge-tools_")
             and d.endswith("_arm64.deb")][0]
    changed = repack(tools, os.path.join(WORK, "changed"), description="changed after publishing")
    fresh = make_deb(os.path.join(WORK, "changed"), "posedge-fresh", VERSION, "all")
    before = pool(repo)
    rel = open(os.path.join(dists(repo), "InRelease")).read()
    p = repo_sh("publish", repo, fresh, changed, check_rc=None)
    check(p.returncode != 0, "a changed posedge-tools_%s_arm64.deb was published" % VERSION)
    check("published with other contents" in p.stderr and os.path.basename(changed) in p.stderr,
          "the refusal does not say why: %s" % p.stderr.strip())
    check(pool(repo) == before, "the refused publish changed the pool")
    check(open(os.path.join(dists(repo), "InRelease")).read() == rel,
          "the refused publish changed the index")


@test
def bad_input_is_refused_with_its_reason():
    repo = copy_repo("repo-bad")
    before = pool(repo)
    text = os.path.join(WORK, "notes.deb")
    with open(text, "w") as f:
        f.write("not a package\n")
    i386 = make_deb(os.path.join(WORK, "bad"), "posedge-i386", VERSION, "i386")
    truncated = os.path.join(WORK, "bad", "posedge-tools_%s_arm64.deb" % VERSION)
    tools = [d for d in board_debs() if os.path.basename(d) == os.path.basename(truncated)][0]
    with open(tools, "rb") as f, open(truncated, "wb") as g:
        g.write(f.read()[:-4096])
    cases = ((os.path.join(WORK, "missing.deb"), "no such file"),
             (text, "is not a Debian package"),
             (truncated, "is not a Debian package"),
             (i386, "architecture i386"))
    for deb, why in cases:
        p = repo_sh("publish", repo, deb, check_rc=None)
        check(p.returncode != 0 and why in p.stderr and deb in p.stderr,
              "publish %s: rc %d, %s" % (os.path.basename(deb), p.returncode, p.stderr.strip()))
    p = repo_sh("publish", repo, *board_debs(), home=os.path.join(repo, "key"), check_rc=None)
    check(p.returncode != 0 and "inside REPO_DIR" in p.stderr,
          "a key home inside the repository: rc %d, %s" % (p.returncode, p.stderr.strip()))
    check(not os.path.exists(os.path.join(repo, "key")), "the key home was made in the repository")
    p = repo_sh("publish", repo, home=os.path.join(SRC, "build", "archive-gnupg"), check_rc=None)
    check(p.returncode != 0 and "inside the source tree" in p.stderr,
          "a key home in the source tree: rc %d, %s" % (p.returncode, p.stderr.strip()))
    check(pool(repo) == before, "a refused publish changed the pool")


@test
def key_rotation():
    home = copy_home("gnupg-rotation")
    repo = copy_repo("repo-rotation")
    old = repo_sh("key", home=home).stdout.strip()
    new = repo_sh("key", "--new", home=home).stdout.strip()
    check(re.match(r"^[0-9A-F]{40}$", new) and new != old, "key --new printed %r" % new)
    check(repo_sh("key", home=home).stdout.strip() == old, "key --new changed the signing key")
    # Both keys published under a keyring version of their own; still signed by the old key.
    p = repo_sh("publish", repo, home=home)
    k1 = VERSION + "+keys1"
    check(k1 in p.stdout, "publish after key --new: %s" % p.stdout.strip())
    check(sorted(key_fprs(keyring(repo, k1))) == sorted([old, new]),
          "keyring %s holds %s" % (k1, key_fprs(keyring(repo, k1))))
    check(keyring_deb(repo, VERSION), "the first keyring is gone")
    old_kr = keyring(repo, VERSION)
    check(gpgv(old_kr, os.path.join(dists(repo), "InRelease")).returncode == 0,
          "before key --use, a till with the old keyring cannot verify")
    # Signing switched: the both-keys keyring verifies, the old one alone does not.
    repo_sh("key", "--use", new, home=home)
    p = repo_sh("publish", repo, home=home)
    check("keys changed" not in p.stdout, "publish after key --use built a keyring: %s" % p.stdout)
    check(gpgv(keyring(repo, k1), os.path.join(dists(repo), "InRelease")).returncode == 0,
          "after key --use, the keyring with both keys cannot verify")
    check(gpgv(old_kr, os.path.join(dists(repo), "InRelease")).returncode != 0,
          "after key --use, the old key alone still verifies")
    p = repo_sh("key", "--retire", new, home=home, check_rc=None)
    check(p.returncode != 0 and "is the signing key" in p.stderr,
          "retiring the signing key: %s" % p.stderr.strip())
    repo_sh("key", "--retire", old, home=home)
    repo_sh("publish", repo, home=home)
    k2 = VERSION + "+keys2"
    check(key_fprs(keyring(repo, k2)) == [new], "keyring %s holds %s" % (
        k2, key_fprs(keyring(repo, k2))))
    check(key_fprs(os.path.join(repo, "posedge-archive-keyring.gpg")) == [new],
          "the repository's posedge-archive-keyring.gpg is not the new keyring")
    vs = sorted(p["Version"] for p in packages("armhf", repo)
                if p["Package"] == KEYRING_PKG)
    check(vs == sorted([VERSION, k1, k2]), "binary-armhf lists keyrings %s" % vs)


if __name__ == "__main__":
    main()
