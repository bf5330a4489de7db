# SPDX-License-Identifier: Apache-2.0
"""A real Confluent Schema Registry compatible server for the end-to-end system tests.

Registry runs Apicurio Registry (built by scripts/registry.sh into a cache outside the
repository) on a free loopback port, with its schemas in an H2 database file under the test's
work directory. Its Confluent compatibility API is under /apis/ccompat/v7, so the base URL a
Schema Registry client is given is Registry.url, "http://127.0.0.1:PORT/apis/ccompat/v7":
POST url/subjects/S/versions registers ({"id": N}), POST url/subjects/S looks a schema up,
GET url/subjects/S/versions/latest and GET url/schemas/ids/N fetch. start() returns only once
GET url/subjects answers; start() after stop() or kill() brings the same registry back on the
same port with the same schemas and ids.

    r = Registry(workdir)
    try:
        r.start()
        sid = r.register("pos.sales-value", schema_json)
        ... r.url ...
    finally:
        r.close(failed)

Everything the server prints is in <workdir>/<name>/registry.log, appended across restarts and
kept by close().
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

from lib import SRC, Failure, check, free_port, wait_until

SCRIPT = os.path.join(SRC, "scripts", "registry.sh")
API = "/apis/ccompat/v7"
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
START_TIMEOUT = 90  # seconds; a cold JVM takes about 3 on an idle 2-core machine
STOP_TIMEOUT = 30


def registry_home():
    """The directory scripts/registry.sh built the registry into, or Failure saying how."""
    p = subprocess.run([SCRIPT, "home"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise Failure("no Schema Registry for the tests (run scripts/registry.sh fetch): %s"
                      % (p.stderr.strip() or "scripts/registry.sh home exited %d" % p.returncode))
    return p.stdout.strip()


def _tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError as e:
        return "(cannot read %s: %s)\n" % (path, e)


class Registry:
    """One Schema Registry on 127.0.0.1.

    Its files are in <workdir>/<name>/: registry.log (everything the JVM prints) and data/ (the
    H2 database). Raises Failure from the constructor when the registry has not been fetched.
    """

    def __init__(self, workdir, name="registry", port=None):
        self.home = registry_home()
        self.dir = os.path.join(workdir, name)
        self.data = os.path.join(self.dir, "data")
        self.logpath = os.path.join(self.dir, "registry.log")
        self.port = port or free_port()
        self.proc = None
        self.start_seconds = None  # how long the last start() took
        os.makedirs(self.dir, exist_ok=True)
        atexit.register(self.kill)  # a test that forgets close() leaves no JVM behind

    @property
    def url(self):
        """The base URL a Schema Registry client is given."""
        return "http://127.0.0.1:%d%s" % (self.port, API)

    def request(self, method, path, body=None, timeout=10):
        """One request to url + path (body: a dict sent as JSON). Returns (status, decoded
        JSON answer or None); HTTP errors are returned, not raised."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": CONTENT_TYPE,
                                              "Accept": CONTENT_TYPE})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None

    def _serves(self):
        if self.proc.poll() is not None:
            raise Failure("the registry exited with status %d while starting; last lines of "
                          "%s:\n%s" % (self.proc.returncode, self.logpath, self.logtail(30)))
        try:
            status, _ = self.request("GET", "/subjects", timeout=2)
        except OSError:
            return False
        return status == 200

    def start(self):
        """Starts the registry and waits until GET /subjects answers; returns self. Raises
        Failure naming the log, with its last lines, when the JVM exits or does not answer
        within START_TIMEOUT seconds."""
        check(self.proc is None or self.proc.poll() is not None, "the registry is already running")
        t0 = time.monotonic()
        with open(self.logpath, "a") as log:
            log.write("---- posedge: starting the registry on %s ----\n" % self.url)
            log.flush()
            # registry.sh run execs the JVM: self.proc is the server itself.
            self.proc = subprocess.Popen([SCRIPT, "run", str(self.port), self.data],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT)
        try:
            wait_until(self._serves, START_TIMEOUT, "the registry to answer on %s" % self.url)
        except Failure as e:
            if self.proc.poll() is None:
                self.kill()
                raise Failure("%s; last lines of %s:\n%s" % (e, self.logpath, self.logtail(30)))
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def stop(self):
        """SIGTERM, SIGKILL after STOP_TIMEOUT seconds. Returns the exit status, or None when
        it was not running."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(timeout=30)

    def kill(self):
        """SIGKILL: the registry stops as in a crash."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=30)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def logtail(self, n=30):
        """The last n lines of registry.log, as one string."""
        return _tail(self.logpath, n)

    @staticmethod
    def _subject(subject):
        return urllib.parse.quote(subject, safe="")

    def register(self, subject, schema):
        """Registers schema (Avro JSON text, or a dict) under subject; returns its id."""
        if not isinstance(schema, str):
            schema = json.dumps(schema)
        status, ans = self.request("POST", "/subjects/%s/versions" % self._subject(subject),
                                   {"schema": schema})
        check(status == 200 and isinstance(ans, dict) and "id" in ans,
              "registering under %s: HTTP %d %s" % (subject, status, ans))
        return ans["id"]

    def latest(self, subject):
        """{"subject", "version", "id", "schema"} of the subject's latest version, or None."""
        status, ans = self.request("GET", "/subjects/%s/versions/latest" % self._subject(subject))
        return ans if status == 200 else None

    def schema(self, schema_id):
        """The schema text with this id, or None."""
        status, ans = self.request("GET", "/schemas/ids/%d" % schema_id)
        return ans["schema"] if status == 200 else None

    def close(self, failed=False):
        """Stops the registry. Removes its data unless failed; the log is always kept, and
        when failed its path is printed."""
        try:
            self.stop()
        finally:
            self.kill()
        if failed:
            print("    registry log kept at %s (data in %s)" % (self.logpath, self.data),
                  flush=True)
        else:
            shutil.rmtree(self.data, ignore_errors=True)


def serve(workdir):
    """`registry.py serve DIR`: run one registry until SIGTERM or SIGINT. The first line on
    stdout is "url=BASE_URL"."""
    r = Registry(workdir)

    def stop(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, stop)
    try:
        r.start()
        print("url=%s" % r.url, flush=True)
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        r.close()


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3 or sys.argv[1] != "serve":
        sys.exit("usage: registry.py serve DIR")
    serve(sys.argv[2])
