#!/usr/bin/env python3
"""Model versions and SIGHUP.

A model directory starts with m2t-v1. While requests are in flight, m2t-v2
(the same weights under another name, so another file hash and model id) is
added and made the default, and SIGHUP reloads: requests begun before the
reload (headers sent, body completed after it) finish with v1's bytes, new
compressions use v2, and v1's bitstreams still decode (by their model id).
Once v1 is removed, a decompress begun before still decodes with it (the
old snapshot is alive until its last request ends) and new ones get 422
naming v1's id. A reload whose golden self-test fails keeps the models in
use; a start whose self-test fails is alive but not ready until a fixed
reload. A model without a golden file is loaded, unverified."""
import http.client
import os
import shutil
import signal
import socket
import tempfile
import threading

import m2td_harness as h


class PartialUpload:
    """A POST whose headers and first half of the body are sent now, and the
    rest by finish(), which returns the answer."""

    def __init__(self, port, path, ctype, body):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=h.http_timeout())
        self.body = body
        head = ("POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n\r\n" % (path, ctype, len(body))).encode()
        self.sock.sendall(head + body[:len(body) // 2])

    def finish(self):
        self.sock.sendall(self.body[len(self.body) // 2:])
        resp = http.client.HTTPResponse(self.sock)
        resp.begin()
        r = h.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        self.sock.close()
        return r


def make_model_dir(work, source_models):
    models = os.path.join(work, "models")
    os.makedirs(models)
    shutil.copy(os.path.join(source_models, "m2t-v1.safetensors"), models)
    shutil.copy(os.path.join(source_models, "m2t-v1.golden.m2t"), models)
    with open(os.path.join(models, "DEFAULT"), "w") as f:
        f.write("m2t-v1.safetensors\n")
    return models


def make_v2(models, where):
    """m2t-v1's weights with the metadata name m2t-v2: another model id."""
    with open(os.path.join(models, "m2t-v1.safetensors"), "rb") as f:
        data = f.read()
    needle = b'"name":"m2t-v1"'
    assert data.count(needle) == 1, "model metadata layout changed"
    path = os.path.join(where, "m2t-v2.safetensors")
    with open(path, "wb") as f:
        f.write(data.replace(needle, b'"name":"m2t-v2"'))
    return path


def models_doc(d):
    return h.request(d.port, "GET", "/v1/models").json()


def reload_and_wait(d, generation):
    d.signal(signal.SIGHUP)
    d.poll_until(lambda: d.metric("m2td_reloads_total", {"result": "ok"}) +
                 d.metric("m2td_reloads_total", {"result": "error"}) >= generation - 1,
                 "reload %d" % (generation - 1))


def versions(d, cli, t, work, models):
    v1_id = models_doc(d)["models"][0]["id"]
    image = h.fast_ppm(*h.dims(768, 512), seed=7)
    v1_bits = cli.compress(image, 5)
    v1_png = cli.decompress(v1_bits)
    first = h.compress(d.port, image, 5, "image/x-portable-pixmap")
    t.check(first.status == 200 and first.body == v1_bits, "v1 compress")

    # Requests in flight across the reload. A request takes its snapshot
    # (settings and models) when its headers arrive: these have sent their
    # headers and half their bodies, and send the rest after the reload.
    partial = [PartialUpload(d.port, "/v1/compress?quality=5", "image/x-portable-pixmap", image),
               PartialUpload(d.port, "/v1/compress?quality=5", "image/x-portable-pixmap", image),
               PartialUpload(d.port, "/v1/decompress", "application/octet-stream", v1_bits)]
    in_flight_before = 1 + len(partial)   # the /metrics request counts too
    d.poll_until(lambda: d.metric("m2td_requests_in_flight") >= in_flight_before,
                 "the partial uploads to be in flight")
    # and some running in the pool meanwhile (their timing is not checked)
    n = 2
    results = [None] * n

    def work_item(i):
        if i % 2:
            results[i] = ("c", h.compress(d.port, image, 5, "image/x-portable-pixmap"))
        else:
            results[i] = ("d", h.decompress(d.port, v1_bits))
    threads = [threading.Thread(target=work_item, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    staging = os.path.join(work, "staging")
    os.makedirs(staging, exist_ok=True)
    v2_path = make_v2(models, staging)
    cli.run("compress", "-q", "4", "-m", v2_path, os.path.join(work, "golden.png"), "-o",
            os.path.join(staging, "m2t-v2.golden.m2t"))
    os.rename(os.path.join(staging, "m2t-v2.golden.m2t"), os.path.join(models, "m2t-v2.golden.m2t"))
    os.rename(v2_path, os.path.join(models, "m2t-v2.safetensors"))
    with open(os.path.join(models, "DEFAULT"), "w") as f:
        f.write("m2t-v2.safetensors\n")
    reload_and_wait(d, 2)
    for th in threads:
        th.join()
    for i, (kind, r) in enumerate(results):
        want = v1_bits if kind == "c" else v1_png
        t.check(r.status == 200 and r.body == want,
                "request %d (%s) during the reload: %r" % (i, kind, r))
    for i, (up, want) in enumerate(zip(partial, (v1_bits, v1_bits, v1_png))):
        r = up.finish()
        t.check(r.status == 200 and r.body == want,
                "request %d begun before the reload kept model v1: %r" % (i, r))

    doc = models_doc(d)
    t.equal(doc["default"], "m2t-v2", "v2 is the default after the reload")
    v2 = [m for m in doc["models"] if m["name"] == "m2t-v2"][0]
    t.check(v2["id"] != v1_id and v2["verified"], "v2 has its own id and passed its self-test")
    v2_bits = cli.compress(image, 5, model=os.path.join(models, "m2t-v2.safetensors"))
    now = h.compress(d.port, image, 5, "image/x-portable-pixmap")
    t.check(now.status == 200 and now.body == v2_bits, "new compressions use v2")
    t.equal(now.header("x-m2t-model-id"), v2["id"], "X-M2T-Model-Id is v2's")
    old = h.compress(d.port, image, 5, "image/x-portable-pixmap", extra="model=m2t-v1")
    t.check(old.status == 200 and old.body == v1_bits, "?model=m2t-v1 still compresses with v1")
    back = h.decompress(d.port, v1_bits)
    t.check(back.status == 200 and back.body == v1_png, "a v1 bitstream decodes after the upgrade")
    t.equal(back.header("x-m2t-model"), "m2t-v1", "... with v1")
    back2 = h.decompress(d.port, v2_bits)
    t.check(back2.status == 200 and back2.header("x-m2t-model") == "m2t-v2", "v2 bitstream")

    late = PartialUpload(d.port, "/v1/decompress", "application/octet-stream", v1_bits)
    d.poll_until(lambda: d.metric("m2td_requests_in_flight") >= 2, "the partial upload")
    os.remove(os.path.join(models, "m2t-v1.safetensors"))
    reload_and_wait(d, 3)
    r = late.finish()
    t.check(r.status == 200 and r.body == v1_png,
            "a decompress begun before v1 was unloaded still decodes with it: %r" % r)
    t.equal([m["name"] for m in models_doc(d)["models"]], ["m2t-v2"], "v1 unloaded")
    gone = h.decompress(d.port, v1_bits)
    t.equal(gone.status, 422, "a bitstream of an unloaded model")
    t.equal(gone.error_code(), "model_not_loaded", "its code")
    t.check(v1_id in gone.json()["error"]["message"], "the message names the model id " + v1_id)

    # a reload whose self-test fails keeps what works
    golden = os.path.join(models, "m2t-v2.golden.m2t")
    with open(golden, "rb") as f:
        good = f.read()
    with open(golden, "wb") as f:
        f.write(good[:-20])
    reload_and_wait(d, 4)
    t.equal(d.metric("m2td_reloads_total", {"result": "error"}), 1.0, "failed reload counted")
    t.equal(h.request(d.port, "GET", "/readyz").status, 200, "still ready on the old models")
    t.check(h.decompress(d.port, v2_bits).status == 200, "still serving")
    with open(golden, "wb") as f:
        f.write(good)


def not_ready_start(cli, t, work, source_models):
    models = os.path.join(work, "broken")
    os.makedirs(models)
    shutil.copy(os.path.join(source_models, "m2t-v1.safetensors"), models)
    with open(os.path.join(source_models, "m2t-v1.golden.m2t"), "rb") as f:
        good = f.read()
    bad = bytearray(good)
    bad[-5] ^= 0xFF   # patch data: decodes to other latents, the CRC says so
    golden = os.path.join(models, "m2t-v1.golden.m2t")
    with open(golden, "wb") as f:
        f.write(bytes(bad))
    d = h.Daemon(h.env_path("M2TD_BIN"), ["--model", models], workdir=work)
    try:
        def says_self_test():
            r = h.request(d.port, "GET", "/readyz")
            return r.status == 503 and "self-test" in r.json()["error"]["message"]
        d.poll_until(says_self_test, "/readyz to report the failed self-test")
        t.check(True, "/readyz says why it is not ready")
        t.equal(h.request(d.port, "GET", "/healthz").status, 200, "alive though not ready")
        c = h.compress(d.port, h.synthetic_png(16, 16), 4)
        t.equal((c.status, c.error_code()), (503, "not_ready"), "no coding before ready")
        t.equal(d.metric("m2td_ready"), 0.0, "ready gauge 0")
        with open(golden, "wb") as f:
            f.write(good)
        d.signal(signal.SIGHUP)
        d.wait_ready()
        t.check(True, "ready after a reload with a good golden file")
        os.remove(golden)   # no golden file: loaded, unverified
        reload_and_wait(d, 3)
        t.equal(models_doc(d)["models"][0]["verified"], False, "a model without golden file")
        t.equal(h.request(d.port, "GET", "/readyz").status, 200, "... is served anyway")
        t.check(d.log_lines(r"model unverified"), "... and logged as unverified")
    finally:
        rc = d.stop()
    t.equal(rc, 0, "exit status (broken start)")
    return d


def main():
    work = tempfile.mkdtemp(prefix="m2td-reload-")
    source_models = os.path.join(h.env_path("M2T_SOURCE_ROOT"), "models")
    cli = h.Cli(h.env_path("M2T_CLI"), work)
    with open(os.path.join(work, "golden.png"), "wb") as f:
        f.write(h.synthetic_png(96, 80, seed=1))
    models = make_model_dir(work, source_models)
    # partial uploads wait through reloads: no idle or request timeout then
    config = "connection_timeout_s = 3600\nrequest_timeout_ms = 3600000\n"
    d = h.Daemon(h.env_path("M2TD_BIN"), ["--model", models], config=config, workdir=work)
    t = h.Checker("reload")
    try:
        d.wait_ready()
        versions(d, cli, t, work, models)
    finally:
        rc = d.stop()
    t.equal(rc, 0, "exit status")
    d = not_ready_start(cli, t, work, source_models)
    t.finish(d)


if __name__ == "__main__":
    main()
