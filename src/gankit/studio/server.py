"""The local web studio: browse runs and their reports, use trained generators live.

Standard library only (``http.server.ThreadingHTTPServer``) plus a static page in
``studio/static/``. Routes::

    GET  /                              the page (static/index.html, app.js, style.css)
    GET  /api/runs                      the runs under RUNS_DIR with what each can do
    GET  /runs/<run>/report.html        the run's report (rebuilt in memory when stale)
    GET  /runs/<run>/files/<path>       an image/text file inside the run
    POST /api/sample                    {"run", "seeds": "0-15", "class_id"?, "psi"?}
    POST /api/interpolate               {"run", "seed_a", "seed_b", "t": 0..1, "mode"}
    POST /api/edit                      {"run", "seed", "direction", "strength"}
    POST /api/mix                       {"run", "seed", "mix_seed"}
    POST /api/translate?run=R&direction=AtoB     body: the image file
    POST /api/project?run=R&steps=100            body: the image file
    POST /api/attack?run=R[&index=N]             body: the image file, or none with index
                                                 (image N of the run's test split; advgan)

Answers are JSON; images come as ``data:image/png;base64`` URLs. Errors are JSON
``{"error": "what is wrong and what to do"}`` with a 4xx status.

Safety: binds 127.0.0.1 unless told otherwise, and then also requires a localhost Host header
(against DNS rebinding) and, when a browser sends one, a localhost Origin (so other web pages
open in the same browser cannot drive it); run names are single path components that must resolve (symlinks followed)
inside RUNS_DIR, and files inside their run; uploads are limited in bytes and pixels and
decoded by Pillow before use; JSON bodies are limited to 64 KB.
"""
from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import traceback
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gankit.errors import GankitError
from gankit.studio.params import (HTTPError, _float, _generator_stamp, _has_generator, _int,
                                  _is_run, _last_step, _opt_float, _opt_int, _png_url)

log = logging.getLogger("gankit.studio")

STATIC = Path(__file__).parent / "static"
MAX_JSON_BYTES = 64 * 1024
MAX_SEEDS = 64
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
FILE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".gif": "image/gif", ".webp": "image/webp", ".html": "text/html; charset=utf-8",
              ".json": "application/json", ".jsonl": "text/plain; charset=utf-8",
              ".yaml": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Studio:
    """The state behind the server: the runs folder and a small cache of loaded generators."""

    def __init__(self, runs_dir: str | Path, device: str = "cpu", max_loaded: int = 3):
        self.root = Path(runs_dir).resolve()
        if not self.root.is_dir():
            raise GankitError(f"{runs_dir} is not a folder; give the folder that holds your "
                              f"runs (default: runs)")
        self.device = device
        self.max_loaded = max_loaded
        self._gens: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._reports: dict[str, Any] = {}
        self.lock = threading.Lock()   # one model computation at a time
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ paths
    def run_dir(self, name: str) -> Path:
        """The folder of run ``name``; 404 unless it is a run directly inside the root."""
        if not isinstance(name, str) or len(name) > 255 or not NAME_RE.match(name) \
                or name in (".", ".."):
            raise HTTPError(404, f"no run named {name!r}")
        path = (self.root / name).resolve()
        if path.parent != self.root or not path.is_dir() or not _is_run(path):
            raise HTTPError(404, f"no run named {name!r} in {self.root}")
        return path

    def run_file(self, name: str, parts: list[str]) -> Path:
        run = self.run_dir(name)
        if not parts or any(not p or p in (".", "..") or p.startswith(".") or "/" in p
                            or "\\" in p or "\x00" in p for p in parts):
            raise HTTPError(404, "no such file")
        path = run.joinpath(*parts).resolve()
        if not path.is_relative_to(run) or not path.is_relative_to(self.root) \
                or not path.is_file():
            raise HTTPError(404, "no such file in this run")
        if path.suffix.lower() not in FILE_TYPES:
            raise HTTPError(403, f"files of type {path.suffix or '(none)'} are not served")
        return path

    # ------------------------------------------------------------------ runs
    def list_runs(self) -> list[dict[str, Any]]:
        out = []
        for p in sorted(self.root.iterdir()):
            if NAME_RE.match(p.name) and p.is_dir():
                try:
                    run = self.run_dir(p.name)
                except HTTPError:
                    continue
                out.append(self.describe(run))
        return out

    def describe(self, run: Path) -> dict[str, Any]:
        from gankit.config import load_yaml

        info: dict[str, Any] = {"name": run.name, "model": None, "step": 0,
                                "report": (run / "stats.jsonl").exists(),
                                "generator": _has_generator(run), "capabilities": [],
                                "latent_dim": 0, "num_classes": 0, "directions": [],
                                "dataset": None}
        try:
            cfg = load_yaml((run / "config.yaml").read_text())
            info["model"] = cfg["model"]["name"]
            info["dataset"] = cfg["data"]["dataset"]
            info["latent_dim"] = int(cfg["model"].get("z_dim", 0) or 0)
            from gankit.registry import MODELS

            info["capabilities"] = sorted(MODELS.get(info["model"]).capabilities)
        except Exception as e:  # a broken run folder is listed, not fatal
            info["problem"] = f"config.yaml unreadable ({type(e).__name__})"
        try:
            meta = json.loads((run / "export" / "config.json").read_text())
            info["num_classes"] = int(meta.get("data_info", {}).get("num_classes", 0) or 0)
            info["step"] = int(meta.get("step", 0))
            data_info = meta.get("data_info", {})
            info["kind"] = data_info.get("kind")
            info["resolution"] = data_info.get("resolution")
            info["channels"] = data_info.get("channels")
        except (OSError, ValueError):
            pass
        if not info["step"] and (run / "stats.jsonl").exists():
            info["step"] = _last_step(run / "stats.jsonl")
        info["directions"] = [p.name for p in self._direction_files(run)]
        grids = sorted(run.glob("fakes_*.png"))
        info["latest_grid"] = grids[-1].name if grids else None
        return info

    def _direction_files(self, run: Path) -> list[Path]:
        found = sorted(run.glob("*.npy")) + sorted((run / "directions").glob("*.npy"))
        return [p for p in found if p.resolve().is_relative_to(run)]

    def direction(self, run: Path, name: str, latent_dim: int):
        for p in self._direction_files(run):
            if p.name == name:
                from gankit.sampling.editing import load_direction

                return load_direction(p, latent_dim)
        raise HTTPError(404, f"no direction file {name!r} in run {run.name} (put .npy "
                             f"vectors from `gankit direction` in {run.name}/directions/)")

    def generator(self, name: str):
        """The run's generator, loaded once and kept while it is among the most recent."""
        from gankit.sampling import load_generator

        run = self.run_dir(name)
        if not _has_generator(run):
            raise HTTPError(409, f"run {name} has no export/ or checkpoint yet: wait for its "
                                 f"first checkpoint or the end of training")
        stamp = _generator_stamp(run)
        with self._cache_lock:  # request threads share the cache
            hit = self._gens.get(name)
            if hit is not None and hit[0] == stamp:
                self._gens.move_to_end(name)
                return hit[1]
            gen = load_generator(run, self.device)
            self._gens[name] = (stamp, gen)
            while len(self._gens) > self.max_loaded:
                self._gens.popitem(last=False)
            return gen

    def report(self, name: str) -> bytes:
        """report.html of the run; rebuilt (in memory) when older than the run's files."""
        from gankit.runfiles.report import RunData, build_report

        run = self.run_dir(name)
        page = run / "report.html"
        # the page and what a rebuild reads obey the /files/ rule: nothing that resolves
        # outside the run folder (a symlinked report.html or stats.jsonl) is served
        inputs = [page, run / "stats.jsonl", run / "metrics.jsonl", run / "config.yaml",
                  *run.glob("fakes_*.png")]
        if any(p.exists() and not p.resolve().is_relative_to(run) for p in inputs):
            raise HTTPError(403, f"run {name}: its report or the files it is built from link "
                                 f"outside the run folder; not served")
        newest = max((p.stat().st_mtime for p in [run / "stats.jsonl", run / "metrics.jsonl",
                                                   *run.glob("fakes_*.png")] if p.exists()),
                     default=0.0)
        if page.is_file() and page.stat().st_mtime >= newest:
            return page.read_bytes()
        if not (run / "stats.jsonl").exists() and not (run / "config.yaml").exists():
            raise HTTPError(404, f"run {name} has no report yet")
        data = self._reports.get(name)
        if data is None:
            data = self._reports[name] = RunData(run)
        data.refresh()
        return build_report(data).encode()


def _hostname(netloc: str) -> str:
    netloc = netloc.strip().rsplit("@", 1)[-1]
    return netloc[1:].split("]")[0] if netloc.startswith("[") else netloc.rsplit(":", 1)[0]


# --------------------------------------------------------------------------- handler

class Handler(BaseHTTPRequestHandler):
    studio: Studio  # set on the subclass made by make_server
    server_version = "gankit-studio"
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds a stalled connection may hold a thread (socket timeout)

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), fmt % args)

    # ------------------------------------------------------------------ plumbing
    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, obj: Any, status: int = 200) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def _host_ok(self) -> bool:
        """On loopback, only requests for localhost (DNS rebinding) from localhost pages
        (no cross-site POSTs from other web pages open in the same browser)."""
        host = self.server.server_address[0]
        if host not in ("127.0.0.1", "::1", "localhost"):
            return True  # the user chose to serve beyond this machine
        if _hostname(self.headers.get("Host") or "") not in LOOPBACK:
            return False
        origin = self.headers.get("Origin")
        if origin is not None:
            return _hostname(urlsplit(origin).netloc) in LOOPBACK
        return True

    def _dispatch(self, fn) -> None:
        self._body_read = False
        try:
            if not self._host_ok():
                raise HTTPError(403, "this studio only answers requests for localhost")
            fn()
        except HTTPError as e:
            self._refuse(e.status, str(e))
        except GankitError as e:
            self._refuse(getattr(e, "status", 400), str(e))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # a bug: keep serving, tell the page, log the traceback
            log.error("studio: %s %s failed:\n%s", self.command, self.path,
                      traceback.format_exc())
            self._refuse(500, f"internal error ({type(e).__name__}: {e}); see the server log")

    def _refuse(self, status: int, message: str) -> None:
        # an error answered before the body was read leaves it in the socket, where it would
        # be parsed as the next request: close such connections after the answer
        if self.command == "POST" and not self._body_read:
            self.close_connection = True
        self._error(status, message)

    def _route(self) -> tuple[list[str], dict[str, list[str]]]:
        url = urlsplit(self.path)
        # split first, then decode each part: %2F cannot make new path separators
        parts = [unquote(p) for p in url.path.split("/") if p]
        return parts, parse_qs(url.query)

    def _body(self, limit: int) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise HTTPError(411, "the request needs a Content-Length")
        try:
            n = int(length)
        except ValueError:
            raise HTTPError(400, "bad Content-Length") from None
        if n < 0:
            raise HTTPError(400, "bad Content-Length")
        if n > limit:
            raise HTTPError(413, f"the request body is {_size(n)}; the limit is "
                                 f"{_size(limit)}")
        data = self.rfile.read(n)
        self._body_read = True
        return data

    def _json_body(self) -> dict[str, Any]:
        raw = self._body(MAX_JSON_BYTES)
        try:
            body = json.loads(raw or b"{}")
        except (ValueError, RecursionError):  # (RecursionError: JSON nested thousands deep)
            raise HTTPError(400, "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise HTTPError(400, "the request body must be a JSON object")
        return body

    # ------------------------------------------------------------------ GET
    def do_GET(self) -> None:
        self._dispatch(self._get)

    def do_HEAD(self) -> None:
        self._dispatch(self._get)

    def _get(self) -> None:
        parts, query = self._route()
        st = self.studio
        if not parts:
            parts = ["static", "index.html"]
        if parts[0] == "static" and len(parts) == 2 and parts[1] in _static_files():
            path = STATIC / parts[1]
            self._send(200, path.read_bytes(), STATIC_TYPES[path.suffix])
        elif parts == ["api", "runs"]:
            self._json({"root": str(st.root), "runs": st.list_runs()})
        elif len(parts) == 3 and parts[0] == "api" and parts[1] == "runs":
            self._json(st.describe(st.run_dir(parts[2])))
        elif len(parts) == 3 and parts[0] == "runs" and parts[2] == "report.html":
            self._send(200, st.report(parts[1]), FILE_TYPES[".html"])
        elif len(parts) >= 4 and parts[0] == "runs" and parts[2] == "files":
            path = st.run_file(parts[1], parts[3:])
            self._send(200, path.read_bytes(), FILE_TYPES[path.suffix.lower()])
        else:
            raise HTTPError(404, f"nothing at {urlsplit(self.path).path}")

    # ------------------------------------------------------------------ POST
    def do_POST(self) -> None:
        self._dispatch(self._post)

    def _post(self) -> None:
        from gankit.studio import ops

        parts, query = self._route()
        if len(parts) != 2 or parts[0] != "api":
            raise HTTPError(404, f"nothing to POST to at {urlsplit(self.path).path}")
        action = parts[1]
        if action not in ("sample", "interpolate", "edit", "mix", "translate", "project",
                          "attack"):
            raise HTTPError(404, f"unknown action {action!r} (sample, interpolate, edit, mix, "
                                 f"translate, project, attack)")
        st = self.studio
        if action == "attack":  # an uploaded image, or &index=N of the run's test split
            q = {k: v[-1] for k, v in query.items()}
            gen = st.generator(str(q.get("run", "")))
            data = self._body(ops.MAX_UPLOAD_BYTES)
            with st.lock:
                x, label = (ops.test_image(gen, _int(q, "index", 0, 0, 10**6)) if "index" in q
                            else (ops.decode_upload(data, gen.info.channels,
                                                    gen.info.resolution), None))
                images, preds = ops.attack(gen, x)
            self._json({"image": _png_url(images, 3), "label": label, **preds})
            return
        if action in ("translate", "project"):
            q = {k: v[-1] for k, v in query.items()}
            gen = st.generator(str(q.get("run", "")))
            data = self._body(ops.MAX_UPLOAD_BYTES)
            x = ops.decode_upload(data, gen.info.channels, gen.info.resolution,
                                  crop=action == "project")
            t0 = time.perf_counter()
            with st.lock:
                if action == "translate":
                    y = ops.translate(gen, x, q.get("direction", "AtoB"))
                    extra: dict[str, Any] = {}
                else:
                    steps = _int(q, "steps", 100, 1, 1000)
                    y, _, mse = ops.project(gen, x, steps, _opt_int(q, "class_id"))
                    extra = {"mse": mse}
            self._json({"input": _png_url(x), "image": _png_url(y),
                        "seconds": round(time.perf_counter() - t0, 3), **extra})
            return
        body = self._json_body()
        gen = st.generator(str(body.get("run", "")))
        t0 = time.perf_counter()
        class_id = _opt_int(body, "class_id")
        psi = _opt_float(body, "psi", 0.0, 2.0)
        if action == "sample":
            from gankit.utils.seeds import parse_seeds

            text = str(body.get("seeds", "0-15"))
            if len(text) > 500:
                raise HTTPError(400, f"at most {MAX_SEEDS} seeds at a time")
            try:  # the ranges' sizes are checked before any list is built
                seeds = parse_seeds(text, limit=MAX_SEEDS)
            except GankitError as e:
                raise HTTPError(400, str(e)) from None
            with st.lock:
                images = ops.sample(gen, seeds, class_id, psi)
        elif action == "interpolate":
            with st.lock:
                images = ops.interpolate(gen, _int(body, "seed_a"), _int(body, "seed_b"),
                                         _float(body, "t", lo=0.0, hi=1.0),
                                         str(body.get("mode", "slerp")), class_id, psi)
        elif action == "edit":
            run = st.run_dir(str(body["run"]))
            d = st.direction(run, str(body.get("direction", "")), gen.model.latent_dim)
            with st.lock:
                images = ops.edit(gen, _int(body, "seed"), d,
                                  _float(body, "strength", lo=-100, hi=100), class_id)
        else:
            with st.lock:
                images = ops.mix(gen, _int(body, "seed"), _int(body, "mix_seed"))
        nrow = int(images.shape[0]) if action == "mix" else None  # mix: one row
        self._json({"image": _png_url(images, nrow), "n": int(images.shape[0]),
                    "seconds": round(time.perf_counter() - t0, 3)})


def _static_files() -> set[str]:
    return {p.name for p in STATIC.iterdir() if p.suffix in STATIC_TYPES}


# --------------------------------------------------------------------------- starting

def _size(n: int) -> str:
    """10 MB, 10.5 MB, 64 KB: the unit that makes the number readable."""
    if n >= 2**20:
        return f"{n / 2**20:.1f}".removesuffix(".0") + " MB"
    return f"{n / 1024:.0f} KB"


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # listen backlog (socketserver's default of 5 reset bursts)

    def handle_error(self, request, client_address) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away or stalled: nothing to report
        super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6

def make_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 7860,
                device: str = "cpu") -> ThreadingHTTPServer:
    """A ready (not yet serving) studio server; ``port=0`` picks a free port."""
    studio = Studio(runs_dir, device)
    handler = type("StudioHandler", (Handler,), {"studio": studio})
    try:
        server = (_Server6 if ":" in host else _Server)((host, port), handler)
    except OSError as e:
        raise GankitError(f"cannot listen on {host}:{port} ({e.strerror}); choose another "
                          f"--port") from None
    server.daemon_threads = True
    return server


def start_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 device: str = "cpu") -> tuple[ThreadingHTTPServer, str]:
    """Serve in a background thread (for tests and notebooks); returns (server, base URL).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = make_server(runs_dir, host, port, device)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     name="gankit-studio", daemon=True).start()
    h, p = server.server_address[:2]
    return server, f"http://{'[' + h + ']' if ':' in h else h}:{p}"
