"""gankit studio [RUNS_DIR] [--port 7860] [--host 127.0.0.1] [--token T | --no-token]: the local
web studio."""
from __future__ import annotations

NAME = "studio"
HELP = "serve a local web page to browse runs and use trained generators live"
DESCRIPTION = ("Serve the gankit studio: browse the runs in RUNS_DIR and their reports, "
               "sample, interpolate, edit, style-mix, translate and project with any trained "
               "generator. Listens on 127.0.0.1 only unless --host says otherwise.")


def add_arguments(p) -> None:
    p.add_argument("runs_dir", nargs="?", default="runs", metavar="RUNS_DIR",
                   help="folder holding run folders (default: runs)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860; 0 = any free)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 "
                        "exposes your runs and generators to the network)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    tok = p.add_mutually_exclusive_group()
    tok.add_argument("--token", default=None, metavar="TOKEN",
                     help="require this access token (default: one is generated and printed "
                          "whenever --host is beyond loopback)")
    tok.add_argument("--no-token", action="store_true",
                     help="no access token, even beyond loopback (anyone who can reach the "
                          "port can use the studio)")


def run(args) -> int:
    import logging

    from gankit.errors import GankitError
    from gankit.studio.server import make_server

    if not 0 <= args.port <= 65535:
        raise GankitError(f"--port {args.port} is not a port number (0-65535)")
    token = False if args.no_token else args.token
    server = make_server(args.runs_dir, args.host, args.port, args.device, token=token)
    if not server.loopback:
        logging.getLogger("gankit.studio").warning(
            "serving on %s: anyone who can reach this machine %s", args.host,
            "and has the token can use the studio" if server.token
            else "can use the studio (no token)")
    print(f"gankit studio: serving {server.studio.root} at {server.url} (Ctrl-C to stop)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
