"""The studio's HTTP application (Starlette, served by uvicorn from :mod:`gankit.studio.server`).

Routes::

    GET  /                              the page (static/index.html, app.js, style.css)
    GET  /api/runs                      the runs under RUNS_DIR with what each can do
    GET  /api/runs/<run>                one run
    GET  /runs/<run>/report.html        the run's report (rebuilt in memory when stale)
    GET  /runs/<run>/files/<path>       an image/text file inside the run
    POST /api/sample                    {"run", "seeds": "0-15", "class_id"?, "psi"?}
    POST /api/interpolate               {"run", "seed_a", "seed_b", "t": 0..1, "mode"}
    POST /api/edit                      {"run", "seed", "direction", "strength"}
    POST /api/mix                       {"run", "seed", "mix_seed"}
    POST /api/translate?run=R&direction=AtoB     body: the image file
    POST /api/project?run=R&steps=100            body: the image file
    POST /api/attack?run=R[&index=N]             body: the image file, or none with index
    POST /api/domain?run=R[&index=N]             body: the image file, or none with index

Answers are JSON; images come as ``data:image/png;base64`` URLs. Errors are JSON
``{"error": "what is wrong and what to do"}`` with a 4xx status (503 when a request ran past
its time limit).

Every request first passes :func:`_guard`: on a loopback address the Host header must name
localhost (DNS rebinding); a browser's Origin must be exactly the studio's own
``scheme://host:port`` (other pages, including other localhost ports, cannot drive it); with an
access token, the request must carry it (``?token=`` once, then a cookie, or an
``Authorization: Bearer`` header; compared in constant time). Model work runs in two bounded
thread pools: quick requests (sample, interpolate, edit, mix) and long ones (project,
translate, attack, domain), so a long projection never holds up sampling. Bodies are limited before
they are read (Content-Length) and while they are read; every request has a time limit.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable
from urllib.parse import parse_qsl, unquote

from gankit.errors import GankitError
from gankit.studio.params import HTTPError, _float, _int, _opt_float, _opt_int, _png_url
from gankit.studio.runs import FILE_TYPES, STATIC_TYPES, Studio

log = logging.getLogger("gankit.studio")

MAX_JSON_BYTES = 64 * 1024
MAX_SEEDS = 64
MAX_QUERY = 2048               # characters of a query string
REQUEST_TIMEOUT = 300.0        # seconds any one request may take
QUICK_WORKERS = 4              # threads for sample / interpolate / edit / mix
LONG_WORKERS = 2               # threads for project / translate / attack
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
ACTIONS = ("sample", "interpolate", "edit", "mix", "translate", "project", "attack", "domain")
LONG_ACTIONS = {"translate", "project", "attack", "domain"}


def _size(n: int) -> str:
    """10 MB, 10.5 MB, 64 KB: the unit that makes the number readable."""
    if n >= 2**20:
        return f"{n / 2**20:.1f}".removesuffix(".0") + " MB"
    return f"{n / 1024:.0f} KB"


def _hostname(netloc: str) -> str:
    netloc = netloc.strip().rsplit("@", 1)[-1]
    return netloc[1:].split("]")[0] if netloc.startswith("[") else netloc.rsplit(":", 1)[0]


def cookie_name(port: int) -> str:
    return f"gankit-studio-{port}"  # per port: cookies are shared by every port of a host


class Settings:
    """What the app needs to know about how it is served."""

    def __init__(self, loopback: bool, port: int, token: str | None,
                 request_timeout: float = REQUEST_TIMEOUT):
        self.loopback, self.port, self.token = loopback, port, token
        self.request_timeout = request_timeout


def make_app(studio: Studio, settings: Settings):
    """The Starlette application of ``studio``."""
    import anyio
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route

    # bounded worker pools; a request past its time limit stops waiting for its work (which
    # finishes in its thread, holding its pool slot): the pools stay bounded either way
    quick = ThreadPoolExecutor(QUICK_WORKERS, thread_name_prefix="studio-quick")
    long = ThreadPoolExecutor(LONG_WORKERS, thread_name_prefix="studio-long")
    files = ThreadPoolExecutor(4, thread_name_prefix="studio-files")

    def json_response(obj: Any, status: int = 200, close: bool = False) -> Response:
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        if close:
            headers["Connection"] = "close"
        return Response(json.dumps(obj), status, headers, "application/json")

    def raw(body: bytes, ctype: str) -> Response:
        return Response(body, 200, {"Cache-Control": "no-store",
                                    "X-Content-Type-Options": "nosniff"}, ctype)

    async def in_thread(fn: Callable[[], Any], pool: ThreadPoolExecutor = files) -> Any:
        return await asyncio.wrap_future(pool.submit(fn))

    def endpoint(fn):
        """Guard, time limit, errors as JSON; a body left unread closes the connection."""
        async def handler(request):
            request.state.body_read = False
            try:
                refused = _guard(request, settings)
                if refused is not None:
                    return json_response({"error": refused[1]}, refused[0])
                with anyio.fail_after(settings.request_timeout):
                    response = await fn(request)
                if request.query_params.get("token") and request.method == "GET" \
                        and settings.token:
                    response.set_cookie(cookie_name(settings.port), settings.token,
                                        httponly=True, samesite="strict")
                return response
            except HTTPError as e:
                status, message = e.status, str(e)
            except TimeoutError:
                status, message = 503, (f"the request took longer than "
                                        f"{settings.request_timeout:g} s; ask for less (fewer "
                                        f"seeds or projection steps)")
            except GankitError as e:
                status, message = getattr(e, "status", 400), str(e)
            except Exception as e:  # a bug: keep serving, tell the page, log the traceback
                log.error("studio: %s %s failed:\n%s", request.method, request.url.path,
                          traceback.format_exc())
                status, message = 500, (f"internal error ({type(e).__name__}: {e}); see the "
                                        f"server log")
            unread = request.method == "POST" and not request.state.body_read
            return json_response({"error": message}, status, close=unread)
        return handler

    # ------------------------------------------------------------------ GET
    @endpoint
    async def page(request):
        parts = _parts(request)
        path = studio.static_file(parts[1] if len(parts) == 2 else "index.html")
        return raw(path.read_bytes(), STATIC_TYPES[path.suffix])

    @endpoint
    async def runs(request):
        return json_response({"root": str(studio.root),
                              "runs": await in_thread(studio.list_runs)})

    @endpoint
    async def one_run(request):
        name = _part(request, 2)
        return json_response(await in_thread(lambda: studio.describe(studio.run_dir(name))))

    @endpoint
    async def report(request):
        name = _part(request, 1)
        return raw(await in_thread(lambda: studio.report(name)), FILE_TYPES[".html"])

    @endpoint
    async def run_file(request):
        parts = _parts(request)
        path = await in_thread(lambda: studio.run_file(parts[1], parts[3:]))
        return raw(await in_thread(path.read_bytes), FILE_TYPES[path.suffix.lower()])

    # ------------------------------------------------------------------ POST
    @endpoint
    async def action(request):
        from gankit.studio import ops

        name = request.path_params["action"]
        if name not in ACTIONS:
            raise HTTPError(404, f"unknown action {name[:40]!r} ({', '.join(ACTIONS)})")
        q = _query(request)
        if name in LONG_ACTIONS:
            run = str(q.get("run", ""))
            index = _int(q, "index", 0, 0, 10**6) if "index" in q else None
            steps = _int(q, "steps", 100, 1, 1000) if name == "project" else 0
            class_id = _opt_int(q, "class_id")
            direction = str(q.get("direction", "AtoB"))[:16]
            if name == "domain":  # a dann run: its classifiers, from the checkpoint
                model, cfg = await in_thread(lambda: studio.classifier(run))
                data = await _body(request, ops.MAX_UPLOAD_BYTES)
                return json_response(await in_thread(
                    lambda: _domain(ops, model, cfg, data, index), long))
            gen = await in_thread(lambda: studio.generator(run))
            data = await _body(request, ops.MAX_UPLOAD_BYTES)
            work = lambda: _long(ops, gen, name, data, index, steps, class_id, direction)  # noqa: E731
            return json_response(await in_thread(work, long))
        body = _json(await _body(request, MAX_JSON_BYTES))
        work = _quick(studio, ops, name, body)  # parses and checks everything first
        return json_response(await in_thread(work, quick))

    async def not_found(request, exc):
        return json_response({"error": f"nothing at {request.url.path[:200]}"},
                             getattr(exc, "status_code", 404))

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/static/{name}", page, methods=["GET"]),
        Route("/api/runs", runs, methods=["GET"]),
        Route("/api/runs/{name}", one_run, methods=["GET"]),
        Route("/runs/{name}/report.html", report, methods=["GET"]),
        Route("/runs/{name}/files/{path:path}", run_file, methods=["GET"]),
        Route("/api/{action}", action, methods=["POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})
    app.state.pools = (quick, long, files)
    return app


# --------------------------------------------------------------------------- request parts

def _parts(request) -> list[str]:
    """The path split first, then each part decoded: %2F cannot make new separators."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    return [unquote(p) for p in raw.decode("latin-1").split("?")[0].split("/") if p]


def _part(request, i: int) -> str:
    parts = _parts(request)
    return parts[i] if len(parts) > i else ""


def _query(request) -> dict[str, str]:
    qs = request.scope.get("query_string", b"").decode("latin-1")
    if len(qs) > MAX_QUERY:
        raise HTTPError(414, f"the query string is over {MAX_QUERY} characters")
    return {k: v for k, v in parse_qsl(qs, keep_blank_values=True)}


async def _body(request, limit: int) -> bytes:
    """The request body, refused with 413 from its Content-Length before it is read, and
    while it is read when no length was given."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit() or len(length) > 18:
            raise HTTPError(400, "bad Content-Length")
        if int(length) > limit:
            raise HTTPError(413, f"the request body is {_size(int(length))}; the limit is "
                                 f"{_size(limit)}")
    chunks, n = [], 0
    async for chunk in request.stream():
        n += len(chunk)
        if n > limit:
            raise HTTPError(413, f"the request body is over the limit of {_size(limit)}")
        chunks.append(chunk)
    request.state.body_read = True
    return b"".join(chunks)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):  # (RecursionError: JSON nested thousands deep)
        raise HTTPError(400, "the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPError(400, "the request body must be a JSON object")
    return body


def _guard(request, settings: Settings) -> tuple[int, str] | None:
    """(status, message) when the request may not be served, else None."""
    host = request.headers.get("host") or ""
    if settings.loopback and _hostname(host) not in LOOPBACK:
        return 403, "this studio only answers requests for localhost"
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{host}":
        return 403, ("requests from other web pages are refused (the Origin must be this "
                     "studio's own address)")
    if settings.token:
        given = (request.query_params.get("token")
                 or request.cookies.get(cookie_name(settings.port)) or "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith(("bearer ", "token ")):
            given = given or auth.split(None, 1)[1].strip()
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            return 401, ("this studio needs its access token: open the address that "
                         "`gankit studio` printed (with ?token=...), or send "
                         "'Authorization: Bearer TOKEN'")
    return None


# --------------------------------------------------------------------------- the work

def _quick(studio: Studio, ops, action: str, body: dict[str, Any]) -> Callable[[], dict]:
    """Check every value of a JSON request, then return the work to run in the pool."""
    run = str(body.get("run", ""))
    studio.run_dir(run)  # 404 before anything is loaded
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
        fn = lambda gen: ops.sample(gen, seeds, class_id, psi)  # noqa: E731
    elif action == "interpolate":
        a, b = _int(body, "seed_a"), _int(body, "seed_b")
        t = _float(body, "t", lo=0.0, hi=1.0)
        mode = str(body.get("mode", "slerp"))[:16]
        fn = lambda gen: ops.interpolate(gen, a, b, t, mode, class_id, psi)  # noqa: E731
    elif action == "edit":
        seed, strength = _int(body, "seed"), _float(body, "strength", lo=-100, hi=100)
        dname = str(body.get("direction", ""))

        def fn(gen):
            d = studio.direction(studio.run_dir(run), dname, gen.model.latent_dim)
            return ops.edit(gen, seed, d, strength, class_id)
    else:
        seed, mix_seed = _int(body, "seed"), _int(body, "mix_seed")
        fn = lambda gen: ops.mix(gen, seed, mix_seed)  # noqa: E731

    def work() -> dict[str, Any]:
        gen = studio.generator(run)
        t0 = time.perf_counter()
        images = fn(gen)
        nrow = int(images.shape[0]) if action == "mix" else None  # mix: one row
        return {"image": _png_url(images, nrow), "n": int(images.shape[0]),
                "seconds": round(time.perf_counter() - t0, 3)}
    return work


def _long(ops, gen, action: str, data: bytes, index: int | None, steps: int,
          class_id: int | None, direction: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    if action == "attack":  # an uploaded image, or image `index` of the run's test split
        x, label = (ops.test_image(gen, index) if index is not None
                    else (ops.decode_upload(data, gen.info.channels, gen.info.resolution),
                          None))
        images, preds = ops.attack(gen, x)
        return {"image": _png_url(images, 3), "label": label, **preds}
    x = ops.decode_upload(data, gen.info.channels, gen.info.resolution,
                          crop=action == "project")
    extra: dict[str, Any] = {}
    if action == "translate":
        y = ops.translate(gen, x, direction)
    else:
        y, _, mse = ops.project(gen, x, steps, class_id)
        extra = {"mse": mse}
    return {"input": _png_url(x), "image": _png_url(y),
            "seconds": round(time.perf_counter() - t0, 3), **extra}



def _domain(ops, model, cfg, data: bytes, index: int | None) -> dict[str, Any]:
    """A dann run on test pair ``index`` (source and target image) or on an uploaded image."""
    t0 = time.perf_counter()
    if index is not None:
        x, labels = ops.domain_test_pair(cfg, index)
        domains: list[str | None] = ["source", "target"]
    else:
        x = ops.decode_upload(data, model.info.channels, model.info.resolution)
        labels, domains = [None], [None]
    items = [{"image": _png_url(x[i:i + 1]), "domain": d, "label": lab, **p}
             for i, (d, lab, p) in enumerate(zip(domains, labels, ops.domain_predict(model, x)))]
    return {"items": items,
            "class_names": list(model.info.class_names or []),
            "seconds": round(time.perf_counter() - t0, 3)}
