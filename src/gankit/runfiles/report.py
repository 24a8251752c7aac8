"""report.html: one self-contained page per run (opens from disk, no network, no JS libraries).

It shows the training-health warnings and non-finite events, the fixed-seed sample grids over
time (PNG embedded as base64), loss, D(x)/D(G(z)), gradient-norm, speed and diversity curves
from ``stats.jsonl``, metrics over time from ``metrics.jsonl`` (any numeric key), and the
resolved ``config.yaml``. Charts are inline SVG drawn here.

:class:`ReportWriter` (a trainer callback) rewrites the page at every sample step, after an
evaluation added a ``metrics.jsonl`` line, and at the end. It keeps what it already read:
``stats.jsonl`` is read from where it stopped and each grid is encoded once, so a refresh costs
little more than writing the file.
``write_report(run_dir)`` rebuilds the page of any run (``gankit report RUN_DIR``).
"""
from __future__ import annotations

import base64
import html
import json
import math
import re
import time
from pathlib import Path
from typing import Any

from gankit.utils.io import atomic_write_text

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
          "#17becf", "#7f7f7f", "#bcbd22"]
GRID_RE = re.compile(r"^fakes_(\d+)\.png$")


class RunData:
    """What a report shows, read incrementally from a run folder."""

    def __init__(self, run_dir: str | Path):
        self.dir = Path(run_dir)
        self.stats: list[dict[str, Any]] = []
        self.metrics: list[dict[str, Any]] = []
        self._offsets = {"stats.jsonl": 0, "metrics.jsonl": 0}
        self._images: dict[str, tuple[float, str]] = {}  # name -> (mtime, base64)

    def refresh(self) -> None:
        self.stats += self._read_new("stats.jsonl")
        self.metrics += self._read_new("metrics.jsonl")

    def _read_new(self, name: str) -> list[dict[str, Any]]:
        path = self.dir / name
        if not path.exists():
            return []
        if path.stat().st_size < self._offsets[name]:  # rewritten: start again
            self._offsets[name] = 0
            if name == "stats.jsonl":
                self.stats = []
            else:
                self.metrics = []
        with open(path, "rb") as f:
            f.seek(self._offsets[name])
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line being written stays for the next refresh
        self._offsets[name] += end
        out = []
        for line in data[:end].splitlines():
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict):
                out.append(r)
        return out

    def image_b64(self, name: str) -> str | None:
        path = self.dir / name
        try:
            mtime = path.stat().st_mtime
        except OSError:
            return None
        hit = self._images.get(name)
        if hit is None or hit[0] != mtime:
            hit = (mtime, base64.b64encode(path.read_bytes()).decode("ascii"))
            self._images[name] = hit
        return hit[1]

    def grids(self) -> list[tuple[int, str]]:
        found = [(int(m.group(1)), p.name) for p in self.dir.glob("fakes_*.png")
                 if (m := GRID_RE.match(p.name))]
        return sorted(found)

    def warnings(self) -> list[dict[str, Any]]:
        out = [w for r in self.stats for w in r.get("warnings") or [] if isinstance(w, dict)]
        # trainer events the health monitor did not report (e.g. it was off, or the run
        # stopped before the next log line)
        seen = {w.get("step") for w in out if w.get("kind") == "nonfinite"}
        for r in self.stats:
            if r.get("event") == "nonfinite" and r.get("step") not in seen:
                out.append({"kind": "nonfinite", "step": r.get("step"),
                            "message": f"{r.get('what', 'non-finite value')} in phase "
                                       f"{r.get('phase')} (trainer event)",
                            "hint": "lower the learning rates, set train.grad_clip, use "
                                    "train.amp=off, or train.nan_policy=rollback"})
        return sorted(out, key=lambda w: w.get("step") or 0)


# --------------------------------------------------------------------------- SVG charts

def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    start = math.ceil(lo / step) * step
    ticks, v = [], start
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt(v: float, digits: int = 4) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e4 or a < 1e-3:
        return f"{v:.{max(digits - 4, 0)}e}"
    return f"{v:.{digits}g}"


def _labels(ticks: list[float]) -> list[str]:
    """Tick labels with as many digits as it takes to tell them apart."""
    for digits in range(4, 12):
        labels = [_fmt(t, digits) for t in ticks]
        if len(set(labels)) == len(labels):
            return labels
    return labels


def svg_chart(series: dict[str, list[tuple[float, float]]], title: str, *,
              log_y: bool = False, markers: list[tuple[float, str]] = (),
              width: int = 560, height: int = 260, y_range: tuple[float, float] | None = None,
              robust: bool = False) -> str:
    """A line chart as an inline ``<svg>``: one polyline per series, axes, ticks, legend.

    Non-finite points are dropped; ``log_y`` plots log10(y) for positive y; ``markers`` are
    vertical dashed lines at x (e.g. health warnings) with a tooltip. ``robust`` limits the
    y axis to the bulk of the values when a few spikes would flatten everything else (the
    spikes are drawn at the edge and the title says "clipped").
    """
    def ty(y: float) -> float | None:
        if not math.isfinite(y):
            return None
        if log_y:
            return math.log10(y) if y > 0 else None
        return y

    clean = {}
    for name, pts in series.items():
        p = [(float(x), t) for x, y in pts if (t := ty(float(y))) is not None]
        if p:
            clean[name] = p
    left, right, top, bottom = 58, 12, 26, 34
    pw, ph = width - left - right, height - top - bottom
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{html.escape(title)}">',
           f'<text x="{left}" y="16" class="title">{html.escape(title)}</text>']
    if not clean:
        out.append(f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" '
                   f'class="empty">no data</text></svg>')
        return "".join(out)
    xs = [x for p in clean.values() for x, _ in p]
    ys = [y for p in clean.values() for _, y in p]
    x0, x1 = min(xs), max(xs)
    y0, y1 = y_range if y_range else (min(ys), max(ys))
    if robust and not y_range and len(ys) >= 10:
        q = sorted(ys)
        lo, hi = q[len(q) // 10], q[(len(q) * 9) // 10]
        span = max(hi - lo, 1e-12)
        cap_lo, cap_hi = max(y0, lo - 3 * span), min(y1, hi + 3 * span)
        if (cap_lo, cap_hi) != (y0, y1):
            y0, y1 = cap_lo, cap_hi
            out[1] = f'<text x="{left}" y="16" class="title">{html.escape(title)} (clipped)</text>'
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    if y1 == y0:
        pad = abs(y0) * 0.1 or 1.0
        y0, y1 = y0 - pad, y1 + pad
    elif not y_range:
        pad = (y1 - y0) * 0.05
        y0, y1 = y0 - pad, y1 + pad

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + ph - (y - y0) / (y1 - y0) * ph

    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>')
    yt = nice_ticks(y0, y1)
    for t, label in zip(yt, _labels([10 ** t for t in yt] if log_y else yt)):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
                   f'class="grid"/><text x="{left - 4}" y="{sy(t) + 4:.1f}" '
                   f'text-anchor="end" class="tick">{label}</text>')
    xt = nice_ticks(x0, x1)
    for t, label in zip(xt, _labels(xt)):
        out.append(f'<line x1="{sx(t):.1f}" x2="{sx(t):.1f}" y1="{top}" y2="{top + ph}" '
                   f'class="grid"/><text x="{sx(t):.1f}" y="{top + ph + 14}" '
                   f'text-anchor="middle" class="tick">{label}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle" '
               f'class="axis">step{" (y on a log scale)" if log_y else ""}</text>')
    for x, label in markers:
        if x0 <= x <= x1:
            out.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top}" y2="{top + ph}" '
                       f'class="marker"><title>{html.escape(label)}</title></line>')
    lx = left + 6
    for i, (name, pts) in enumerate(clean.items()):
        color = COLORS[i % len(COLORS)]
        coords = " ".join(f"{sx(x):.1f},{sy(min(max(y, y0), y1)):.1f}" for x, y in pts)
        if len(pts) == 1:
            x, y = pts[0]
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
        else:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{color}" '
                       f'stroke-width="1.6"><title>{html.escape(name)}</title></polyline>')
            if len(pts) <= 12:  # few points (evaluations): show where they are
                out.extend(f'<circle cx="{sx(x):.1f}" cy="{sy(min(max(y, y0), y1)):.1f}" r="2.5" '
                           f'fill="{color}"/>' for x, y in pts)
        out.append(f'<rect x="{lx}" y="{top + 5}" width="10" height="10" fill="{color}"/>'
                   f'<text x="{lx + 13}" y="{top + 14}" class="legend">{html.escape(name)}</text>')
        lx += 20 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)


def _series(records: list[dict[str, Any]], keys: list[str]) -> dict[str, list]:
    out: dict[str, list] = {}
    for k in keys:
        pts = [(r["step"], r[k]) for r in records
               if isinstance(r.get(k), (int, float)) and isinstance(r.get("step"), (int, float))]
        if pts:
            out[k] = pts
    return out


def _numeric_keys(records: list[dict[str, Any]], skip: set[str]) -> list[str]:
    keys: list[str] = []
    for r in records:
        for k, v in r.items():
            if k not in skip and k not in keys and isinstance(v, (int, float)) \
                    and not isinstance(v, bool):
                keys.append(k)
    return keys


# --------------------------------------------------------------------------- the page

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;background:#f6f7f9;
 color:#222}
header{background:#1d2733;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}
header p{margin:4px 0 0;color:#c9d3de;font-size:13px}main{padding:16px 24px;max-width:1240px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:0 0 16px;
 padding:12px 16px}
h2{font-size:16px;margin:0 0 10px}.charts{display:flex;flex-wrap:wrap;gap:12px}
svg.chart{background:#fff}svg .title{font-size:13px;font-weight:600}
svg .tick{font-size:10px;fill:#555}svg .axis{font-size:11px;fill:#555}
svg .legend{font-size:11px}svg .plot{fill:none;stroke:#ccc}svg .grid{stroke:#eee}
svg .marker{stroke:#d62728;stroke-dasharray:3,3}svg .empty{fill:#999}
table{border-collapse:collapse;font-size:13px;width:100%}
td,th{border-bottom:1px solid #eee;padding:5px 8px;text-align:left;vertical-align:top}
.kind{font-weight:600;color:#b3261e;white-space:nowrap}.ok{color:#1b7a3a}
.grids{display:flex;flex-wrap:wrap;gap:12px}figure{margin:0;text-align:center}
figure img{image-rendering:pixelated;border:1px solid #ccc;max-width:280px;width:280px}
figure.wide img{image-rendering:auto;max-width:100%;width:auto}
figcaption{font-size:12px;color:#555}
pre{background:#f3f4f6;padding:10px;overflow:auto;font-size:12px}.hint{color:#555}
"""


def _parse_config(text: str) -> dict[str, Any]:
    import yaml

    from gankit.config import load_yaml
    from gankit.errors import ConfigError

    try:
        cfg = load_yaml(text)
    except (yaml.YAMLError, ConfigError):
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _kv(label: str, value: Any) -> str:
    return f"<b>{html.escape(label)}</b> {html.escape(str(value))}"


def build_report(data: RunData, max_grids: int = 24) -> str:
    """The report page of the run in ``data`` (call ``data.refresh()`` first)."""
    run = data.dir
    cfg_text = ""
    if (run / "config.yaml").exists():
        cfg_text = (run / "config.yaml").read_text(errors="replace")
    cfg = _parse_config(cfg_text)
    model_cfg = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    data_cfg = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    records = [r for r in data.stats if "event" not in r]
    last_step = max((r.get("step", 0) for r in data.stats if isinstance(r.get("step"), int)),
                    default=0)
    status = "finished" if (run / "export" / "config.json").exists() else "running or stopped"
    if any(r.get("event") == "nonfinite" for r in data.stats) and status != "finished":
        status = "stopped (non-finite loss)"
    warnings = data.warnings()
    markers = [(float(w.get("step") or 0), f"{w.get('kind')}: {w.get('message')}")
               for w in warnings]

    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
             f"<title>gankit report: {html.escape(run.name)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<header><h1>gankit run report: {html.escape(run.name)}</h1><p>"
             + " &middot; ".join([_kv("model", model_cfg.get("name", "?")),
                                  _kv("data", data_cfg.get("dataset", "?")),
                                  _kv("step", last_step), _kv("status", status),
                                  _kv("written", time.strftime("%Y-%m-%d %H:%M:%S"))])
             + "</p></header><main>"]

    # health warnings first: they are what a user must see
    parts.append('<section id="health"><h2>Training health</h2>')
    if warnings:
        parts.append("<table><tr><th>step</th><th>problem</th><th>what was seen</th>"
                     "<th>what to try</th></tr>")
        for w in warnings:
            parts.append(f"<tr><td>{html.escape(str(w.get('step')))}</td>"
                         f"<td class=kind>{html.escape(str(w.get('kind')))}</td>"
                         f"<td>{html.escape(str(w.get('message', '')))}</td>"
                         f"<td class=hint>{html.escape(str(w.get('hint', '')))}</td></tr>")
        parts.append("</table>")
    else:
        parts.append('<p class="ok">No health warnings.</p>')
    parts.append("</section>")

    grids = data.grids()
    if len(grids) > max_grids:  # evenly spaced, first and last kept
        idx = sorted({round(i * (len(grids) - 1) / (max_grids - 1)) for i in range(max_grids)})
        grids = [grids[i] for i in idx]
    parts.append('<section id="samples"><h2>Fixed-seed samples over time</h2><div class=grids>')
    reals = data.image_b64("reals.png")
    if reals:
        parts.append(f'<figure><img alt="real images" src="data:image/png;base64,{reals}">'
                     f"<figcaption>real images</figcaption></figure>")
    for step, name in grids:
        b64 = data.image_b64(name)
        if b64:
            parts.append(f'<figure><img alt="samples at step {step}" '
                         f'src="data:image/png;base64,{b64}"><figcaption>step {step}'
                         f"</figcaption></figure>")
    if not grids:
        parts.append("<p>No sample grids yet.</p>")
    parts.append("</div></section>")

    parts.append('<section id="curves"><h2>Training curves</h2><div class=charts>')
    loss_keys = [k for k in _numeric_keys(records, set()) if k.startswith("loss")]
    parts.append(svg_chart(_series(records, loss_keys), "losses", markers=markers,
                           robust=True))
    d_keys = [k for k in ("d_real", "d_fake") if any(k in r for r in records)]
    if d_keys:
        from gankit.registry import declared_d_output

        kind = declared_d_output(model_cfg)  # the model says what they are (models/base.py)
        probs = kind == "prob"
        named = {("D(x)" if k == "d_real" else "D(G(z))"): v
                 for k, v in _series(records, d_keys).items()}
        inside = all(0 <= r[k] <= 1 for r in records for k in d_keys if k in r)
        title = {"prob": "discriminator outputs",
                 "logit": "discriminator outputs (logits)",
                 "score": "discriminator outputs (critic scores)"}.get(
                     kind, "d_real / d_fake (as the model logs them)")
        parts.append(svg_chart(named, title, markers=markers,
                               y_range=(0.0, 1.0) if probs and inside else None))
    g_keys = [k for k in _numeric_keys(records, set()) if k.startswith("grad_norm")]
    if g_keys:
        gs = _series(records, g_keys)
        vals = [y for p in gs.values() for _, y in p if y > 0]
        spread = vals and max(vals) / min(vals) > 100
        parts.append(svg_chart(gs, "gradient norms", log_y=bool(spread), markers=markers,
                               robust=not spread))
    h_keys = [k for k in ("health/diversity", "health/duplicates") if any(k in r for r in
                                                                          data.stats)]
    if h_keys:
        parts.append(svg_chart(_series(data.stats, h_keys),
                               "sample diversity (fakes / reals) and duplicate rate",
                               markers=markers))
    if any("img_per_s" in r for r in records):
        parts.append(svg_chart(_series(records, ["img_per_s"]), "speed (images / s)"))
    parts.append("</div></section>")

    parts.append('<section id="metrics"><h2>Metrics over time</h2>')
    # "headline" repeats the first metric and "seconds" is the evaluation's own run time
    mkeys = _numeric_keys(data.metrics, {"step", "time", "images_seen", "headline", "seconds"})
    # constant integers are settings of the evaluation (subset sizes, counts), not measurements
    mkeys = [k for k in mkeys if not (
        len({r.get(k) for r in data.metrics if k in r}) == 1
        and all(isinstance(r.get(k), int) for r in data.metrics if k in r))]
    if mkeys:
        parts.append('<div class=charts>')
        for k in mkeys:
            parts.append(svg_chart(_series(data.metrics, [k]), k))
        parts.append("</div>")
    else:
        parts.append("<p>No metrics.jsonl in this run (periodic evaluation was off).</p>")
    parts.append("</section>")

    # figures an evaluation left in the run folder (e.g. `gankit adapt`'s feature PCA);
    # only plain files inside the folder, never a link to somewhere else
    figures = [p for p in sorted(run.glob("figure_*.png"))
               if p.is_file() and not p.is_symlink()]
    if figures:
        parts.append('<section id="figures"><h2>Figures</h2><div class=grids>')
        for p in figures:
            b64 = data.image_b64(p.name)
            if b64:
                caption = html.escape(p.stem[len("figure_"):].replace("_", " "))
                parts.append(f'<figure class=wide><img alt="{caption}" '
                             f'src="data:image/png;base64,{b64}"><figcaption>{caption}'
                             f"</figcaption></figure>")
        parts.append("</div></section>")

    parts.append('<section id="config"><h2>Resolved configuration</h2>'
                 f"<pre>{html.escape(cfg_text) or 'config.yaml not found'}</pre></section>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


def write_report(run_dir: str | Path, data: RunData | None = None,
                 max_grids: int = 24) -> Path:
    """(Re)write ``run_dir/report.html``; returns its path."""
    from gankit.errors import GankitError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise GankitError(f"{run_dir} is not a directory; give a run folder")
    if not ((run_dir / "stats.jsonl").exists() or (run_dir / "config.yaml").exists()):
        raise GankitError(f"{run_dir} holds no stats.jsonl or config.yaml: not a gankit run")
    data = data or RunData(run_dir)
    data.refresh()
    return atomic_write_text(run_dir / "report.html", build_report(data, max_grids))
