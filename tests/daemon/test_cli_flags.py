#!/usr/bin/env python3
"""m2td's command line: --help, --version, --check-config (good and bad
files, flags over the file), usage errors, and start-up failures that must
exit 1 with a log line rather than run half-broken."""
import os
import subprocess
import tempfile

import m2td_harness as h


def run(*args, timeout=60):
    return subprocess.run([h.env_path("M2TD_BIN")] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def write(work, name, text):
    path = os.path.join(work, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main():
    t = h.Checker("cli-flags")
    work = tempfile.mkdtemp(prefix="m2td-flags-")
    root = h.env_path("M2T_SOURCE_ROOT")
    shipped = os.path.join(root, "conf", "m2td.conf")

    r = run("--help")
    t.check(r.returncode == 0 and "--check-config" in r.stdout and "--listen" in r.stdout,
            "--help")
    r = run("--version")
    t.check(r.returncode == 0 and r.stdout.startswith("m2td ") and "libm2t" in r.stdout,
            "--version: " + r.stdout)
    t.equal(run("--bogus").returncode, 2, "unknown flag")
    t.equal(run("extra").returncode, 2, "positional argument")

    r = run("--check-config", "--config", shipped)
    t.equal(r.returncode, 0, "--check-config of conf/m2td.conf: " + r.stderr)
    t.check("configuration ok" in r.stdout and "queue_length = 64" in r.stdout,
            "--check-config prints the settings")

    conf = write(work, "threads.conf", "threads = 3\nqueue_length = 5\n")
    r = run("--check-config", "--config", conf, "--threads", "1")
    t.check("threads = 1" in r.stdout and "queue_length = 5" in r.stdout,
            "flags win over the file: " + r.stdout)

    bad = write(work, "bad.conf", "threads = 2\n# fine\nqueue_lenght = 5\n")
    r = run("--check-config", "--config", bad)
    t.equal(r.returncode, 1, "a bad key fails the check")
    t.check("bad.conf:3" in r.stderr and "queue_lenght" in r.stderr, "names file, line, key: " +
            r.stderr)
    r = run("--check-config", "--config", os.path.join(work, "missing.conf"))
    t.equal(r.returncode, 1, "a missing file fails the check")
    r = run("--check-config", "--threads", "many")
    t.check(r.returncode == 1 and "--threads" in r.stderr, "a bad flag value: " + r.stderr)
    r = run("--check-config", "--model", os.path.join(work, "nowhere.safetensors"))
    t.equal(r.returncode, 1, "a missing model fails the check")

    r = run("--listen", "127.0.0.1:0", "--model", os.path.join(work, "nowhere"), timeout=60)
    t.equal(r.returncode, 1, "start-up without models exits 1")
    t.check("cannot load the models" in r.stderr, "... and says why: " + r.stderr[-300:])
    r = run("--listen", "nonsense", timeout=60)
    t.equal(r.returncode, 1, "a bad listen address exits 1")
    t.check("cannot listen" in r.stderr, "... and says why")
    t.finish()


if __name__ == "__main__":
    main()
