"""Serving the studio: the Starlette app of :mod:`gankit.studio.app` on uvicorn.

:func:`make_server` builds a :class:`StudioServer` (its socket already bound, so a port in use
is a one-line error and ``port=0`` picks a free one); ``serve_forever()`` runs it in the
calling thread (the CLI), :func:`start_server` in a background thread (tests, notebooks).

Listening beyond loopback (``--host 0.0.0.0``) turns on an access token unless told
otherwise: generated, printed with the address as Jupyter does, and required on every request.
The routes and the request checks are documented in :mod:`gankit.studio.app`.
"""
from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from pathlib import Path

from gankit.errors import GankitError
from gankit.studio.app import REQUEST_TIMEOUT, Settings, make_app
from gankit.studio.runs import Studio

log = logging.getLogger("gankit.studio")

BACKLOG = 2048            # listen backlog: bursts of clients queue, they are not reset
MAX_CONNECTIONS = 512     # more open connections than this are answered 503
KEEP_ALIVE_S = 5          # an idle keep-alive connection is closed after this
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _need_stack():
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise GankitError("the studio needs starlette and uvicorn: pip install "
                          "'gankit[studio]'") from None
    return uvicorn


class StudioServer:
    """A bound, not yet serving studio. ``url`` is its address (with the token, if any)."""

    def __init__(self, runs_dir: str | Path, host: str = "127.0.0.1", port: int = 7860,
                 device: str = "cpu", token: str | bool | None = None,
                 request_timeout: float = REQUEST_TIMEOUT):
        uvicorn = _need_stack()
        self.studio = Studio(runs_dir, device)
        self.loopback = host in LOOPBACK_HOSTS
        if token is None or token is True:  # automatic: only beyond loopback (or asked for)
            token = secrets.token_urlsafe(24) if (token or not self.loopback) else None
        self.token = token or None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
        except OSError as e:
            sock.close()
            raise GankitError(f"cannot listen on {host}:{port} ({e.strerror}); choose another "
                              f"--port or --host") from None
        sock.setblocking(False)
        self.socket = sock
        self.backlog = BACKLOG
        self.server_address = sock.getsockname()[:2]
        settings = Settings(self.loopback, self.server_address[1], self.token, request_timeout)
        self.app = make_app(self.studio, settings)
        config = uvicorn.Config(self.app, backlog=BACKLOG, limit_concurrency=MAX_CONNECTIONS,
                                timeout_keep_alive=KEEP_ALIVE_S, log_level="warning",
                                access_log=False, lifespan="off", server_header=False,
                                proxy_headers=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        h, p = self.server_address
        return f"http://{'[' + h + ']' if ':' in h else h}:{p}"

    @property
    def url(self) -> str:
        """The address to open: localhost for loopback, with ``?token=`` when one is set."""
        h, p = self.server_address
        if h == "127.0.0.1":
            h = "localhost"
        elif h in ("0.0.0.0", "::"):
            h = socket.gethostname()
        base = f"http://{'[' + h + ']' if ':' in h else h}:{p}/"
        return base + (f"?token={self.token}" if self.token else "")

    def serve_forever(self) -> None:
        """Serve in this thread until Ctrl-C (or :meth:`shutdown` from another thread)."""
        try:
            self._server.run(sockets=[self.socket])
        finally:
            for pool in self.app.state.pools:
                pool.shutdown(wait=False, cancel_futures=True)

    def start(self) -> "StudioServer":
        self._thread = threading.Thread(target=self.serve_forever, name="gankit-studio",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started and self._thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        if not self._server.started:
            raise GankitError("the studio did not start; see the log above")
        return self

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)

    def server_close(self) -> None:
        self.socket.close()


def make_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 7860,
                device: str = "cpu", token: str | bool | None = None,
                request_timeout: float = REQUEST_TIMEOUT) -> StudioServer:
    """A ready (bound, not yet serving) studio; ``port=0`` picks a free port. ``token``:
    None = generated when ``host`` is beyond loopback, True = always generated, a string =
    that token, False or "" = none."""
    return StudioServer(runs_dir, host, port, device, token, request_timeout)


def start_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 device: str = "cpu", token: str | bool | None = None,
                 request_timeout: float = REQUEST_TIMEOUT) -> tuple[StudioServer, str]:
    """Serve in a background thread (for tests and notebooks); returns (server, base URL).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = make_server(runs_dir, host, port, device, token, request_timeout).start()
    return server, server.base_url
