"""The state behind the studio: its runs folder, the one path check every file route uses, and
a small cache of loaded generators. No HTTP here (that is :mod:`gankit.studio.app`)."""
from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from gankit.errors import GankitError
from gankit.studio.params import HTTPError, _generator_stamp, _has_generator, _is_run, _last_step

STATIC = Path(__file__).parent / "static"
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._+-]*$")
MAX_NAME = 255
FILE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
              ".gif": "image/gif", ".webp": "image/webp", ".html": "text/html; charset=utf-8",
              ".json": "application/json", ".jsonl": "text/plain; charset=utf-8",
              ".yaml": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8"}
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8"}


def confined(base: Path, parts: list[str] | tuple[str, ...], what: str = "file") -> Path:
    """``base/parts...`` with symlinks resolved, or a 404 unless it stays inside ``base``.

    The one path check of the studio: every route that serves or reads a file by a name from
    the request goes through it. Each part must be one plain component (no separators, no
    ``.``/``..``, no hidden names, no NUL, at most 255 characters); the resolved path must be
    inside the resolved ``base`` (a symlink pointing elsewhere is refused, not followed).
    """
    if not parts or any(not isinstance(p, str) or not p or len(p) > MAX_NAME
                        or p.startswith(".") or "/" in p or "\\" in p or "\x00" in p
                        for p in parts):
        raise HTTPError(404, f"no such {what}")
    base = base.resolve()
    path = base.joinpath(*parts).resolve()
    if path == base or not path.is_relative_to(base):
        raise HTTPError(404, f"no such {what}")
    return path


class Studio:
    """The runs folder, the generator cache and the report cache (shared by request threads)."""

    def __init__(self, runs_dir: str | Path, device: str = "cpu", max_loaded: int = 3):
        self.root = Path(runs_dir).resolve()
        if not self.root.is_dir():
            raise GankitError(f"{runs_dir} is not a folder; give the folder that holds your "
                              f"runs (default: runs)")
        self.device = device
        self.max_loaded = max_loaded
        self._gens: OrderedDict[str, tuple[Any, Any]] = OrderedDict()
        self._reports: dict[str, Any] = {}
        self._cache_lock = threading.Lock()
        self._report_lock = threading.Lock()

    # ------------------------------------------------------------------ paths
    def run_dir(self, name: str) -> Path:
        """The folder of run ``name``; 404 unless it is a run directly inside the root."""
        if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > MAX_NAME:
            raise HTTPError(404, f"no run named {name[:80]!r}" if isinstance(name, str)
                            else "no such run")
        path = confined(self.root, [name], "run")
        if path.parent != self.root or not path.is_dir() or not _is_run(path):
            raise HTTPError(404, f"no run named {name!r} in {self.root}")
        return path

    def run_file(self, name: str, parts: list[str]) -> Path:
        run = self.run_dir(name)
        path = confined(run, parts, "file in this run")
        if not path.is_file():
            raise HTTPError(404, "no such file in this run")
        if path.suffix.lower() not in FILE_TYPES:
            raise HTTPError(403, f"files of type {path.suffix or '(none)'} are not served")
        return path

    @staticmethod
    def static_file(name: str) -> Path:
        path = confined(STATIC, [name])
        if path.suffix not in STATIC_TYPES or not path.is_file():
            raise HTTPError(404, "no such file")
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
        except (OSError, ValueError, TypeError, AttributeError):
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

                return load_direction(confined(run, p.relative_to(run).parts), latent_dim)
        raise HTTPError(404, f"no direction file {name[:80]!r} in run {run.name} (put .npy "
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

    def classifier(self, name: str):
        """(model with every net loaded, config) of a run whose model classifies (dann), from
        its newest checkpoint (exports keep only generator networks); cached like generators."""
        from gankit.metrics.classifier import load_classifier

        run = self.run_dir(name)
        if not any((run / "checkpoints").glob("*.pt")):
            raise HTTPError(409, f"run {name} has no checkpoint yet: wait for its first "
                                 f"checkpoint or the end of training")
        stamp = ("classifier", *_generator_stamp(run))
        key = f"{name}\x00classifier"
        with self._cache_lock:
            hit = self._gens.get(key)
            if hit is not None and hit[0] == stamp:
                self._gens.move_to_end(key)
                return hit[1]
            model, cfg, _, _ = load_classifier(run, self.device)
            self._gens[key] = (stamp, (model, cfg))
            while len(self._gens) > self.max_loaded:
                self._gens.popitem(last=False)
            return model, cfg

    def report(self, name: str) -> bytes:
        """report.html of the run; rebuilt (in memory) when older than the run's files."""
        from gankit.runfiles.report import RunData, build_report

        run = self.run_dir(name)
        # the page and what a rebuild reads pass the same check as /files/: nothing that
        # resolves outside the run folder (a symlinked report.html or stats.jsonl) is used
        names = ["report.html", "stats.jsonl", "metrics.jsonl", "config.yaml",
                 *(p.name for p in run.glob("fakes_*.png"))]
        for n in names:
            if (run / n).exists() or (run / n).is_symlink():
                try:
                    confined(run, [n])
                except HTTPError:
                    raise HTTPError(403, f"run {name}: its report or the files it is built "
                                         f"from link outside the run folder; not served") from None
        page = run / "report.html"
        newest = max((p.stat().st_mtime for p in [run / "stats.jsonl", run / "metrics.jsonl",
                                                   *run.glob("fakes_*.png")] if p.exists()),
                     default=0.0)
        if page.is_file() and page.stat().st_mtime >= newest:
            return page.read_bytes()
        if not (run / "stats.jsonl").exists() and not (run / "config.yaml").exists():
            raise HTTPError(404, f"run {name} has no report yet")
        with self._report_lock:  # RunData keeps read offsets: one refresh at a time
            data = self._reports.get(name)
            if data is None:
                data = self._reports[name] = RunData(run)
            data.refresh()
            return build_report(data).encode()
