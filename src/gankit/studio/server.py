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
HEAD_TIMEOUT_S = 30       # a connection that has not sent a whole request head by then is closed
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _need_stack():
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError:
        raise GankitError("the studio needs starlette and uvicorn: pip install "
                          "'gankit[studio]'") from None
    return uvicorn


def _protocol(head_timeout: float):
    """uvicorn's h11 protocol with a deadline for each request head: uvicorn closes idle
    keep-alive connections but not ones stalled inside a request line or headers (slowloris),
    which would otherwise hold their slots until the client gives up. Falls back to plain h11
    if this uvicorn's protocol class is not the one this was written against."""
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
    except ImportError:  # pragma: no cover - another uvicorn layout
        return "h11"
    if not all(hasattr(H11Protocol, a) for a in ("connection_made", "data_received",
                                                  "on_response_complete", "connection_lost")):
        return "h11"  # pragma: no cover

    class HeadDeadline(H11Protocol):
        _head_timer = None
        _waited_cycle = None

        def _arm(self) -> None:
            self._disarm()
            self._waited_cycle = getattr(self, "cycle", None)
            self._head_timer = self.loop.call_later(head_timeout, self._expire)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _expire(self) -> None:
            cycle = getattr(self, "cycle", None)
            if cycle is self._waited_cycle and not self.transport.is_closing():
                self.transport.close()  # no request head since the timer was armed

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if getattr(self, "cycle", None) is not self._waited_cycle:
                self._disarm()  # a request head arrived: the request's own time limit rules

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm()  # waiting for the next request head on a kept-alive connection

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

    return HeadDeadline


class StudioServer:
    """A bound, not yet serving studio. ``url`` is its address (with the token, if any)."""

    def __init__(self, runs_dir: str | Path, host: str = "127.0.0.1", port: int = 7860,
                 device: str = "cpu", token: str | bool | None = None,
                 request_timeout: float = REQUEST_TIMEOUT, head_timeout: float = HEAD_TIMEOUT_S):
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
        self.settings = Settings(self.loopback, self.server_address[1], self.token,
                                 request_timeout)
        self.app = make_app(self.studio, self.settings)
        config = uvicorn.Config(self.app, http=_protocol(head_timeout), backlog=BACKLOG, limit_concurrency=MAX_CONNECTIONS,
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
                **timeouts: float) -> StudioServer:
    """A ready (bound, not yet serving) studio; ``port=0`` picks a free port. ``token``:
    None = generated when ``host`` is beyond loopback, True = always generated, a string =
    that token, False or "" = none. ``timeouts``: ``request_timeout`` (seconds one request
    may take), ``head_timeout`` (seconds to send a request's line and headers)."""
    return StudioServer(runs_dir, host, port, device, token, **timeouts)


def start_server(runs_dir: str | Path, host: str = "127.0.0.1", port: int = 0,
                 device: str = "cpu", token: str | bool | None = None,
                 **timeouts: float) -> tuple[StudioServer, str]:
    """Serve in a background thread (for tests and notebooks); returns (server, base URL).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = make_server(runs_dir, host, port, device, token, **timeouts).start()
    return server, server.base_url
