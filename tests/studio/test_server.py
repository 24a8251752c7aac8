"""The studio's HTTP API: answers, errors, upload limits, and no way out of the runs folder."""
import base64
import http.client
import io
import json
import os
import urllib.parse

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.errors import GankitError
from gankit.sampling import load_generator
from gankit.sampling.grids import png_bytes as grid_png
from gankit.studio.ops import MAX_UPLOAD_BYTES
from gankit.studio.server import make_server


def request(url, method, path, body=None, headers=None):
    """(status, parsed JSON or bytes) for a raw request: no client-side path normalisation."""
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = {"Host": u.netloc}
        if method == "POST":
            hdrs["Content-Length"] = str(len(body or b""))
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            try:
                conn.send(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server refused before reading it all
        res = conn.getresponse()
        data = res.read()
        if res.getheader("Content-Type", "").startswith("application/json"):
            data = json.loads(data)
        return res.status, data
    finally:
        conn.close()


def post_json(url, path, obj):
    return request(url, "POST", path, json.dumps(obj).encode(),
                   {"Content-Type": "application/json"})


def png_bytes(size=(24, 20), mode="RGB", color=(200, 30, 30)):
    buf = io.BytesIO()
    Image.new(mode, size, color).save(buf, format="PNG")
    return buf.getvalue()


def decode(data_url):
    assert data_url.startswith("data:image/png;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))
    return np.asarray(img)


def test_page_and_runs(studio):
    status, page = request(studio, "GET", "/")
    assert status == 200 and b"gankit studio" in page and b"/static/app.js" in page
    assert request(studio, "GET", "/static/app.js")[0] == 200
    status, body = request(studio, "GET", "/api/runs")
    assert status == 200
    run = body["runs"][0]
    assert run["name"] == "00000-gan" and run["model"] == "gan" and run["generator"]
    assert run["latent_dim"] == 8 and "sample" in run["capabilities"] and run["step"] == 20


def test_sample_matches_library(studio, runs_dir):
    status, body = post_json(studio, "/api/sample", {"run": "00000-gan", "seeds": "3"})
    assert status == 200 and body["n"] == 1
    want = load_generator(runs_dir / "00000-gan", "cpu").generate([3])
    want = ((want[0, 0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(decode(body["image"]), want)
    # several seeds come as one grid, as gankit.sampling.grids.png_bytes tiles them
    status, body = post_json(studio, "/api/sample", {"run": "00000-gan", "seeds": "0-3"})
    grid = load_generator(runs_dir / "00000-gan", "cpu").generate([0, 1, 2, 3])
    assert np.array_equal(decode(body["image"]), decode(
        "data:image/png;base64," + base64.b64encode(grid_png(grid)).decode()))


def test_interpolation_endpoints_and_middle(studio):
    def at(t, mode="slerp"):
        s, b = post_json(studio, "/api/interpolate",
                         {"run": "00000-gan", "seed_a": 1, "seed_b": 2, "t": t, "mode": mode})
        assert s == 200, b
        return decode(b["image"]).astype(int)

    def seed(s):
        return decode(post_json(studio, "/api/sample", {"run": "00000-gan",
                                                         "seeds": str(s)})[1]["image"]).astype(int)

    assert np.abs(at(0.0) - seed(1)).max() <= 1 and np.abs(at(1.0) - seed(2)).max() <= 1
    mid = at(0.5)
    assert np.abs(mid - seed(1)).mean() > 1 and np.abs(mid - seed(2)).mean() > 1
    assert np.abs(at(0.5, "lerp") - mid).max() >= 0  # lerp answers too


def test_edit_with_direction_file(studio, runs_dir):
    d = np.zeros(8, np.float32)
    d[0] = 1
    (runs_dir / "00000-gan" / "directions").mkdir(exist_ok=True)
    np.save(runs_dir / "00000-gan" / "directions" / "x0.npy", d)
    status, body = request(studio, "GET", "/api/runs/00000-gan")
    assert body["directions"] == ["x0.npy"]
    imgs = []
    for s in (-3.0, 0.0, 3.0):
        st, b = post_json(studio, "/api/edit", {"run": "00000-gan", "direction": "x0.npy",
                                                 "seed": 0, "strength": s})
        assert st == 200, b
        imgs.append(decode(b["image"]).astype(int))
    assert np.abs(imgs[0] - imgs[2]).mean() > 1
    st, b = post_json(studio, "/api/edit", {"run": "00000-gan", "direction": "../x0.npy",
                                             "seed": 0, "strength": 1})
    assert st == 404 and "no direction file" in b["error"]


@pytest.mark.parametrize("body, status, words", [
    ({"run": "nope", "seeds": "0"}, 404, "no run named"),
    ({"run": "00000-gan", "seeds": "0-100"}, 400, "at most 64 seeds"),
    ({"run": "00000-gan", "seeds": "0-999999999999"}, 400, "at most 64 seeds"),
    ({"run": "00000-gan", "seeds": ",".join(["1"] * 65)}, 400, "at most 64 seeds"),
    ({"run": "00000-gan", "seeds": "a-b"}, 400, "bad seed list"),
    # issue 17: int() reads _ and + that a digits-only pre-check did not, and built the range
    ({"run": "00000-gan", "seeds": "0-5_0_000_000"}, 400, "bad seed list"),
    ({"run": "00000-gan", "seeds": "+0-+1000000000"}, 400, "bad seed list"),
    ({"run": "00000-gan", "seeds": "0-1000000000000"}, 400, "at most 64 seeds"),
    ({"run": "00000-gan", "seeds": "100000000000000000000000"}, 400, "bad seed list"),
    ({"run": "00000-gan", "seeds": "0", "psi": 0.5}, 400, "truncation"),
    ({"run": "00000-gan", "seeds": "0", "class_id": "x"}, 400, "must be an integer"),
])
def test_sample_errors(studio, body, status, words):
    s, b = post_json(studio, "/api/sample", body)
    assert s == status and words in b["error"]


def test_other_errors(studio):
    s, b = post_json(studio, "/api/interpolate", {"run": "00000-gan", "seed_a": 0,
                                                  "seed_b": 1, "t": 2})
    assert s == 400 and "'t' must be in" in b["error"]
    s, b = post_json(studio, "/api/interpolate", {"run": "00000-gan", "seed_a": 0,
                                                  "seed_b": 1, "t": "NaN"})
    assert s == 400
    s, b = post_json(studio, "/api/mix", {"run": "00000-gan", "seed": 0, "mix_seed": 1})
    assert s == 400 and "cannot do style mixing" in b["error"]
    s, b = request(studio, "POST", "/api/sample", b"{not json",
                   {"Content-Type": "application/json"})
    assert s == 400 and "not valid JSON" in b["error"]
    s, b = request(studio, "POST", "/api/sample", b"x" * 70000)
    assert s == 413
    s, b = request(studio, "POST", "/api/nothing", b"{}")
    assert s == 404 and "unknown action" in b["error"]
    s, b = request(studio, "GET", "/api/runs", headers={"Host": "evil.example:7860"})
    assert s == 403 and "localhost" in b["error"]
    s, b = request(studio, "POST", "/api/sample", json.dumps({"run": "00000-gan"}).encode(),
                   {"Origin": "https://evil.example"})
    assert s == 403
    s, b = request(studio, "POST", "/api/sample", json.dumps({"run": "00000-gan"}).encode(),
                   {"Origin": studio})
    assert s == 200


def test_uploads_validated(studio):
    run = "/api/project?run=00000-gan&steps=5"
    s, b = request(studio, "POST", run, png_bytes(), {"Content-Type": "image/png"})
    assert s == 200 and decode(b["input"]).shape == (16, 16) and b["mse"] >= 0
    s, b = request(studio, "POST", run, b"GIF89a-but-not-really")
    assert s == 400 and "not an image" in b["error"]
    s, b = request(studio, "POST", run, b"")
    assert s == 400 and "empty" in b["error"]
    # a 1-bit 5000 x 5000 PNG is a few KB but 25 M pixels: refused before decoding
    s, b = request(studio, "POST", run, png_bytes((5000, 5000), "1", 0))
    assert s == 400 and "pixels" in b["error"]
    # a body over the limit is refused from its Content-Length, before it is read: the
    # client announces the size and sends nothing, so an answer proves nothing was read.
    # (Sending the body too made the test flaky: the server closes after its 413 while bytes
    # are still arriving, and the kernel's reset can discard the answer before it is read.)
    s, b = request(studio, "POST", run, None, {"Content-Length": str(MAX_UPLOAD_BYTES + 1)})
    assert s == 413 and "limit is 10 MB" in b["error"]
    s, b = request(studio, "POST", "/api/translate?run=00000-gan", png_bytes())
    assert s == 400 and "cannot do image translation" in b["error"]


@pytest.fixture
def outside(runs_dir, tmp_path):
    """A secret outside the runs folder, a symlinked run and a symlinked file pointing at it."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config.yaml").write_text("SECRET")
    (secret / "report.html").write_text("SECRET")
    link_run = runs_dir / "link-run"
    link_file = runs_dir / "00000-gan" / "leak.yaml"
    link_run.symlink_to(secret, target_is_directory=True)
    link_file.symlink_to(secret / "config.yaml")
    yield secret
    link_run.unlink()
    link_file.unlink()


@pytest.mark.parametrize("path", [
    "/runs/../../etc/passwd",
    "/runs/00000-gan/files/../../../etc/passwd",
    "/runs/00000-gan/files/%2e%2e/%2e%2e/etc/passwd",
    "/runs/00000-gan/files/..%2f..%2fetc%2fpasswd",
    "/runs/00000-gan/files/%252e%252e/config.yaml",
    "/runs/00000-gan/files/..%5c..%5cetc%5cpasswd",
    "/runs/00000-gan/files//etc/passwd",
    "/runs/00000-gan/files/%2Fetc%2Fpasswd",
    "/runs/%2Fetc/report.html",
    "/runs/%2e%2e/report.html",
    "/runs/link-run/report.html",
    "/runs/link-run/files/config.yaml",
    "/runs/00000-gan/files/leak.yaml",
    "/runs/00000-gan/files/checkpoints/latest.pt",
    "/runs/00000-gan/files/.%2e/00000-gan/config.yaml",
    "/api/runs/..",
    "/static/../server.py",
    "/static/%2e%2e%2fserver.py",
    "http://127.0.0.1/runs/00000-gan/files/../../../etc/passwd",
])
def test_nothing_outside_the_runs_folder(studio, outside, path):
    status, body = request(studio, "GET", path)
    assert status in (403, 404), (path, status)
    text = body if isinstance(body, bytes) else json.dumps(body).encode()
    assert b"SECRET" not in text and b"root:" not in text and b"import" not in text


@pytest.mark.parametrize("linked", ["report.html", "stats.jsonl"])
def test_a_report_linked_outside_the_run_is_not_served(studio, runs_dir, outside, linked):
    # issue 17: the report route followed a symlinked report.html that /files/ refused
    import shutil

    run = runs_dir / "00001-linked"
    shutil.copytree(runs_dir / "00000-gan", run, symlinks=True)
    try:
        (run / linked).unlink(missing_ok=True)
        (run / linked).symlink_to(outside / "report.html")
        status, body = request(studio, "GET", "/runs/00001-linked/report.html")
        assert status == 403 and b"SECRET" not in json.dumps(body).encode()
    finally:
        shutil.rmtree(run)


def test_symlinked_run_not_listed_and_post_refused(studio, outside):
    s, body = request(studio, "GET", "/api/runs")
    assert "link-run" not in [r["name"] for r in body["runs"]]
    s, b = post_json(studio, "/api/sample", {"run": "link-run", "seeds": "0"})
    assert s == 404
    s, b = post_json(studio, "/api/sample", {"run": str(outside), "seeds": "0"})
    assert s == 404


def test_files_and_report(studio, runs_dir):
    s, b = request(studio, "GET", "/runs/00000-gan/files/fakes_000010.png")
    assert s == 200 and b == (runs_dir / "00000-gan" / "fakes_000010.png").read_bytes()
    s, page = request(studio, "GET", "/runs/00000-gan/report.html")
    assert s == 200 and b"gankit run report" in page
    # a report older than the run's stats is rebuilt on the fly, showing the new lines
    stats = runs_dir / "00000-gan" / "stats.jsonl"
    text = stats.read_text()
    try:
        with open(stats, "a") as f:
            f.write(json.dumps({"step": 21, "event": "nonfinite", "phase": "D",
                                "what": "non-finite loss"}) + "\n")
        report = runs_dir / "00000-gan" / "report.html"
        os.utime(report, (0, 0))
        s, page = request(studio, "GET", "/runs/00000-gan/report.html")
        assert s == 200 and b"nonfinite" in page
    finally:
        stats.write_text(text)


def test_make_server_errors(tmp_path):
    with pytest.raises(GankitError, match="not a folder"):
        make_server(tmp_path / "missing", port=0)
    server = make_server(tmp_path, port=0)
    try:
        with pytest.raises(GankitError, match="another --port"):
            make_server(tmp_path, port=server.server_address[1])
    finally:
        server.server_close()
    assert torch.get_num_threads() >= 1


def test_translate_upload(studio, translation_run):
    s, info = request(studio, "GET", f"/api/runs/{translation_run}")
    assert "translate" in info["capabilities"]
    s, b = request(studio, "POST", f"/api/translate?run={translation_run}&direction=AtoB",
                   png_bytes((50, 40), "RGBA", (10, 200, 30, 128)), {"Content-Type": "image/png"})
    assert s == 200, b
    x, y = decode(b["input"]), decode(b["image"])
    res = info["resolution"]
    assert x.shape == y.shape == ((res, res, 3) if info["channels"] == 3 else (res, res))
    s, b = request(studio, "POST", f"/api/project?run={translation_run}", png_bytes())
    assert s == 400 and "no image latent space" in b["error"]


def test_style_mix(studio, mix_run):
    s, b = post_json(studio, "/api/mix", {"run": mix_run, "seed": 0, "mix_seed": 1})
    assert s == 200, b
    assert b["n"] == 3  # source | mix | source
    grid = decode(b["image"]).astype(int)
    s, a = post_json(studio, "/api/sample", {"run": mix_run, "seeds": "0"})
    first = decode(a["image"]).astype(int)
    h, w = first.shape[:2]
    assert np.abs(grid[2:2 + h, 2:2 + w] - first).max() <= 1  # the first cell is G(z_0)


def test_error_before_body_keeps_protocol_in_sync(studio):
    """A refused upload must not leave its bytes to be parsed as the next request."""
    u = urllib.parse.urlsplit(studio)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    body = b"GET /api/runs HTTP/1.1\r\nHost: x\r\n\r\n" * 10
    conn.request("POST", "/api/project?run=nope", body, {"Content-Type": "image/png"})
    res = conn.getresponse()
    assert res.status == 404 and res.getheader("Connection") == "close"
    res.read()
    conn.close()


# issue 17, item 7 (the parts the standard-library server could take)
def test_hostile_json_and_names(studio):
    s, b = request(studio, "POST", "/api/sample", b"[" * 30000 + b"]" * 30000,
                   {"Content-Type": "application/json"})
    assert s in (400, 413) and "error" in b  # never a 500
    s, b = request(studio, "POST", "/api/sample", b" " * (70 * 1024),
                   {"Content-Type": "application/json"})
    assert s == 413 and "the limit is 64 KB" in b["error"]
    s, b = post_json(studio, "/api/sample", {"run": "r" * 5000, "seeds": "0"})
    assert s == 404
    s, b = request(studio, "GET", "/runs/" + "r" * 5000 + "/report.html")
    assert s == 404


def test_listens_on_ipv6_loopback_with_a_real_backlog(runs_dir):
    import socket

    from gankit.studio.server import start_server

    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        server, url = start_server(runs_dir, host="::1", port=0)
    except Exception as e:  # noqa: BLE001 - a kernel without ::1 configured
        pytest.skip(f"::1 not available here: {e}")
    try:
        assert url.startswith("http://[::1]:") and server.backlog >= 128
        s, body = request(url, "GET", "/api/runs")
        assert s == 200 and "runs" in body
    finally:
        server.shutdown()
        server.server_close()
