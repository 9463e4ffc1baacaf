#!/usr/bin/env python3
"""SIGTERM while requests are in flight: every one of them completes with
the right bytes, the listener is closed, and m2td exits 0. Then, with a
short drain_timeout_ms, requests still waiting are cancelled with 503 and
Retry-After, and m2td still exits 0 within a bounded time."""
import http.client
import signal
import tempfile
import threading
import time

import m2td_harness as h


def start_clients(port, images, results):
    threads = []
    for i, image in enumerate(images):
        def run(i=i, image=image):
            try:
                results[i] = h.compress(port, image, 4, "image/x-portable-pixmap")
            except OSError as e:
                results[i] = e
        th = threading.Thread(target=run)
        th.start()
        threads.append(th)
    return threads


def wait_in_pool(d, n):
    def all_in():
        text = d.metrics()
        return (h.metric(text, "m2td_requests_active") or 0) + \
            (h.metric(text, "m2td_queue_depth") or 0) >= n
    d.poll_until(all_in, "%d requests in the pool" % n)


def graceful(work, cli, t):
    n = h.scaled(8, 3)
    images = [h.fast_ppm(*h.dims(512, 384), seed=i) for i in range(n)]
    want = [cli.compress(img, 4) for img in images]
    config = "threads = 2\nqueue_timeout_ms = 600000\nrequest_timeout_ms = 1200000\n"
    d = h.Daemon(h.env_path("M2TD_BIN"), config=config, workdir=work)
    d.wait_ready()
    keep_alive = http.client.HTTPConnection("127.0.0.1", d.port, timeout=h.http_timeout())
    keep_alive.request("GET", "/healthz")
    keep_alive.getresponse().read()
    results = [None] * n
    threads = start_clients(d.port, images, results)
    wait_in_pool(d, n)
    d.signal(signal.SIGTERM)
    started = time.monotonic()
    d.poll_until(lambda: d.log_lines(r"msg=draining"), "the drain to begin")
    try:   # an existing connection still gets answers while draining
        keep_alive.request("GET", "/readyz")
        r = keep_alive.getresponse()
        r.read()
        t.equal(r.status, 503, "/readyz while draining")
        t.equal(r.getheader("Connection"), "close", "Connection: close while draining")
    except OSError:
        pass   # already done and gone: nothing to check
    keep_alive.close()
    for th in threads:
        th.join()
    rc = d.proc.wait(timeout=h.http_timeout())
    t.equal(rc, 0, "exit status after SIGTERM")
    t.check(time.monotonic() - started < h.http_timeout(), "exit within a bounded time")
    for i, r in enumerate(results):
        ok = isinstance(r, h.Response) and r.status == 200 and r.body == want[i]
        t.check(ok, "in-flight request %d completed correctly: %r" % (i, r))
    d.reader.join(timeout=10)
    t.check(d.log_lines(r"msg=draining"), "drain logged")
    t.check(d.log_lines(r"msg=stopped"), "stop logged")
    try:
        h.request(d.port, "GET", "/healthz", timeout=5)
        t.check(False, "still accepting after exit")
    except OSError:
        t.check(True, "listener closed")
    return d


def drain_timeout(work, t):
    n = 4
    # small enough that a job ends within the 5 s grace even under sanitizers
    images = [h.fast_ppm(*h.dims(768, 512), seed=10 + i) for i in range(n)]
    config = "threads = 1\nmax_active_requests = 1\nqueue_length = 8\ndrain_timeout_ms = 300\n"
    d = h.Daemon(h.env_path("M2TD_BIN"), config=config, workdir=work)
    d.wait_ready()
    results = [None] * n
    threads = start_clients(d.port, images, results)
    wait_in_pool(d, n)
    started = time.monotonic()
    d.signal(signal.SIGTERM)
    for th in threads:
        th.join()
    rc = d.proc.wait(timeout=60)
    t.equal(rc, 0, "exit status after a drain timeout")
    t.check(time.monotonic() - started < 30, "bounded exit after the drain timeout")
    cancelled = 0
    for i, r in enumerate(results):
        if not t.check(isinstance(r, h.Response), "request %d answered: %r" % (i, r)):
            continue
        if r.status == 503:
            cancelled += 1
            t.equal(r.error_code(), "draining", "cancelled request %d code" % i)
            t.check(r.header("retry-after") is not None, "cancelled request %d Retry-After" % i)
        else:
            t.equal(r.status, 200, "request %d" % i)
    t.check(cancelled >= n - 1, "the waiting requests were cancelled (%d)" % cancelled)
    d.reader.join(timeout=10)
    t.check(d.log_lines(r"drain timeout"), "drain timeout logged")
    return d


def main():
    work = tempfile.mkdtemp(prefix="m2td-sigterm-")
    cli = h.Cli(h.env_path("M2T_CLI"), work)
    t = h.Checker("sigterm")
    d = None
    try:
        d = graceful(work, cli, t)
        d = drain_timeout(work, t)
    finally:
        if d:
            d.kill()
    t.finish(d)


if __name__ == "__main__":
    main()
