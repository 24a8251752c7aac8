"""The studio under load (issue 17 item 7): 50 parallel clients on 127.0.0.1 all get answers
(no connection resets), and sampling stays responsive while a long projection runs.

The latencies are printed (``python -m pytest -q -s tests/studio/test_load.py``); the only
time bound asserted is a generous one: samples are answered before the projection finishes.
"""
import http.client
import json
import statistics
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

from test_server import png_bytes

CLIENTS = 50


def one_request(url, method, path, body=None):
    """(status, seconds) of a fresh connection's request; connection errors are raised."""
    u = urllib.parse.urlsplit(url)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        res = conn.getresponse()
        res.read()
        return res.status, time.perf_counter() - t0
    finally:
        conn.close()


def test_fifty_parallel_clients_no_resets(studio):
    barrier = threading.Barrier(CLIENTS)
    sample = json.dumps({"run": "00000-gan", "seeds": "0-3"}).encode()

    def client(i):
        barrier.wait(60)  # all connect at once
        if i % 2:
            return one_request(studio, "GET", "/api/runs")
        return one_request(studio, "POST", "/api/sample", sample)

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))  # a reset would raise here
    assert [s for s, _ in results] == [200] * CLIENTS
    lat = sorted(t for _, t in results)
    print(f"\n{CLIENTS} parallel clients: median {statistics.median(lat) * 1000:.0f} ms, "
          f"max {lat[-1] * 1000:.0f} ms, all 200")


def test_sampling_stays_responsive_during_a_long_projection(studio):
    project_result = {}

    def project():
        project_result["answer"] = one_request(
            studio, "POST", "/api/project?run=00000-gan&steps=1000", png_bytes())
        project_result["end"] = time.perf_counter()

    idle = [one_request(studio, "POST", "/api/sample",
                        json.dumps({"run": "00000-gan", "seeds": "0"}).encode())[1]
            for _ in range(5)]
    t = threading.Thread(target=project)
    start = time.perf_counter()
    t.start()
    time.sleep(0.2)
    busy, answered = [], []
    while t.is_alive() and len(busy) < 50:
        status, seconds = one_request(studio, "POST", "/api/sample",
                                      json.dumps({"run": "00000-gan", "seeds": "1"}).encode())
        assert status == 200
        busy.append(seconds)
        answered.append(time.perf_counter())
    t.join(120)
    assert project_result["answer"][0] == 200
    assert busy and answered[0] < project_result["end"]
    print(f"\nsample latency idle: median {statistics.median(idle) * 1000:.0f} ms; during a "
          f"1000-step projection ({project_result['end'] - start:.1f} s): {len(busy)} samples, "
          f"median {statistics.median(busy) * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms")


def test_stalled_connections_do_not_block_or_log_tracebacks(studio, caplog):
    import logging
    import socket

    u = urllib.parse.urlsplit(studio)
    stalled = []
    try:
        for i in range(200):  # half a request line or half the headers, then nothing
            s = socket.create_connection((u.hostname, u.port), timeout=10)
            s.sendall(b"GET /api/ru" if i % 2 else b"POST /api/sample HTTP/1.1\r\nHost: x")
            stalled.append(s)
        with caplog.at_level(logging.WARNING):
            assert one_request(studio, "GET", "/api/runs")[0] == 200
    finally:
        for s in stalled:
            s.close()
    time.sleep(0.5)
    assert one_request(studio, "GET", "/api/runs")[0] == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_stalled_request_head_is_cut_off(runs_dir):
    """Slowloris: a connection that never finishes its request line or headers is closed by
    the server (here after 0.5 s), while complete requests are served meanwhile."""
    import socket

    from gankit.studio.server import start_server

    server, url = start_server(runs_dir, head_timeout=0.5)
    u = urllib.parse.urlsplit(url)
    try:
        socks = [socket.create_connection((u.hostname, u.port), timeout=30) for _ in range(3)]
        socks[0].sendall(b"GET /api/ru")                            # half a request line
        socks[1].sendall(b"GET /api/runs HTTP/1.1\r\nHost: x")      # half the headers
        # socks[2] sends nothing at all
        assert one_request(url, "GET", "/api/runs")[0] == 200
        for s in socks:
            assert s.recv(100) == b""  # closed by the server (the socket timeout is 30 s)
            s.close()
        # a kept-alive connection that starts a second request and stalls is cut off too
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.sendall(f"GET /api/runs HTTP/1.1\r\nHost: {u.netloc}\r\n\r\n".encode())
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /api/runs HTTP/1.1\r\nHo")
        rest = b""
        while chunk := s.recv(65536):
            rest += chunk
        s.close()
        assert b"HTTP/1.1" not in rest  # no second answer: the stalled head was cut off
    finally:
        server.shutdown()
        server.server_close()
