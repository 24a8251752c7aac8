"""Domain adaptation, measured: source-only vs DANN vs train-on-target on the target test split.

:func:`run_adaptation` (``gankit adapt CONFIG``) trains three runs of one ``dann`` config into
``OUT/`` with the same networks, data order, steps and schedules:

* ``source-only``: ``model.lambda_max=0``: labels of the source only, no domain gradient to F
  (its domain classifier still learns, so its features can be probed like DANN's);
* ``dann``: the config as given (target images unlabelled);
* ``target-only``: the upper bound, trained on the *labelled target* training split
  (``domains:TARGET,TARGET``, ``lambda_max=0``).

A run whose ``export/config.json`` exists is finished and is not trained again; an interrupted
one continues (``--resume auto``). Each run is then scored on the test split of the pair:

* ``target_accuracy`` / ``source_accuracy``: accuracy of C(F(x)) on each domain's test split;
* ``domain_accuracy``: the run's own domain classifier D on the test features (balanced
  source / target; near 0.5 means D cannot tell the domains apart);
* ``probe_accuracy``: a *fresh* domain classifier (an MLP like D, trained on features of the
  first half of the test examples, scored on the second half). The adversarially trained D is
  confused by construction, so the probe is the stricter test of invariance.

It writes ``OUT/adapt.json``, ``OUT/features_pca.png`` (PCA of source vs target test features
before (source-only) and after (DANN) adaptation), ``OUT/target_samples.png`` and a one-page
``OUT/adapt.html``; the PCA plot and the numbers also go into the ``dann`` run folder
(``metrics.jsonl``, ``figure_features_pca.png``) so its report shows them.
"""
from __future__ import annotations

import dataclasses
import html
import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from gankit.errors import ConfigError, GankitError

log = logging.getLogger("gankit.adapt")

RUNS = ("source-only", "dann", "target-only")
#: Ganin & Lempitsky (2015), Table 2, MNIST -> MNIST-M.
PUBLISHED = {"source-only": 0.5225, "dann": 0.7666, "target-only": 0.9596}


def run_configs(cfg) -> dict[str, Any]:
    """The configs of the three runs derived from a ``dann`` config."""
    from gankit.data import split_spec
    from gankit.data.domains import split_domains

    if cfg.model.name != "dann":
        raise ConfigError(f"gankit adapt compares domain adaptation runs: the config trains "
                          f"{cfg.model.name!r}; use a dann config (e.g. mnist-to-mnistm-dann)")
    name, arg = split_spec(cfg.data.dataset)
    if name != "domains":
        raise ConfigError(f"gankit adapt needs data.dataset=domains:SOURCE,TARGET, got "
                          f"{cfg.data.dataset!r}")
    _, target = split_domains(arg)
    no_adapt = dataclasses.replace(cfg.model, lambda_max=0.0)
    return {"source-only": dataclasses.replace(cfg, model=no_adapt),
            "dann": cfg,
            "target-only": dataclasses.replace(
                cfg, model=no_adapt,
                data=dataclasses.replace(cfg.data, dataset=f"domains:{target},{target}"))}


def _cpu_seconds(run_dir: Path) -> float | None:
    stats = run_dir / "stats.jsonl"
    if not stats.exists():
        return None
    last = None
    for line in stats.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if "cpu_s" in rec:
            last = rec["cpu_s"]
    return last


def load_test_pair(data_cfg):
    """The test split of the run's domain pair (source and target, with labels)."""
    from gankit.data import load_dataset

    return load_dataset(dataclasses.replace(data_cfg, split="test", limit=0, flip=False))


@torch.no_grad()
def _images(t: torch.Tensor) -> torch.Tensor:
    from gankit.data.base import to_float

    return to_float(t)


def domain_probe(feats_s: torch.Tensor, feats_t: torch.Tensor, steps: int = 400,
                 seed: int = 0) -> float:
    """Accuracy of a fresh MLP domain classifier on learned features (0.5 = invariant).

    Trained on the first half of each domain's features, scored on the second half, with
    balanced classes; features are standardised with the training half's statistics.
    """
    n = min(len(feats_s), len(feats_t)) // 2
    if n < 2:
        raise GankitError("the domain probe needs at least 4 examples of each domain")
    x_tr = torch.cat([feats_s[:n], feats_t[:n]]).float()
    y_tr = torch.cat([torch.zeros(n), torch.ones(n)])
    x_te = torch.cat([feats_s[n:2 * n], feats_t[n:2 * n]]).float()
    y_te = torch.cat([torch.zeros(n), torch.ones(n)])
    mean, std = x_tr.mean(0), x_tr.std(0).clamp_min(1e-6)
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        probe = torch.nn.Sequential(torch.nn.Linear(x_tr.shape[1], 100), torch.nn.ReLU(),
                                    torch.nn.Linear(100, 1))
    opt = torch.optim.Adam(probe.parameters(), lr=1e-3)
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(0, len(x_tr), (min(256, len(x_tr)),), generator=g)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                probe(x_tr[idx]).squeeze(1), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return float(((probe(x_te).squeeze(1) > 0).float() == y_te).float().mean())


def pca_2d(feats: torch.Tensor) -> torch.Tensor:
    """First two principal components (N x 2) of ``feats`` (N x d), centred on their mean."""
    x = feats.double() - feats.double().mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return (x @ v[:2].T).float()


def evaluate_run(run_dir: Path, test, n_probe: int = 2000, n_plot: int = 1000
                 ) -> tuple[dict[str, Any], torch.Tensor, int]:
    """Scores of one trained run on the test pair ``test``; also its 2-D PCA of
    ``n_plot`` source + ``n_plot`` target test features and ``n_plot``."""
    from gankit.metrics.classifier import load_classifier

    model, cfg, step, ckpt = load_classifier(run_dir, "cpu")
    xs, ys = _images(test.A), test.labels_A
    xt, yt = _images(test.B), test.labels_B
    res: dict[str, Any] = {"run": str(run_dir), "step": step, "checkpoint": str(ckpt)}
    if yt is not None:
        res["target_accuracy"] = float((model.classify(xt).argmax(1) == yt).float().mean())
    res["source_accuracy"] = float((model.classify(xs).argmax(1) == ys).float().mean())
    k = min(len(xs), len(xt), 2 * n_probe)
    fs, ft = model.features(xs[:k]), model.features(xt[:k])
    d = torch.cat([model.domain_logits(fs), model.domain_logits(ft)]) > 0
    truth = torch.cat([torch.zeros(k, dtype=torch.bool), torch.ones(k, dtype=torch.bool)])
    res["domain_accuracy"] = float((d == truth).float().mean())
    res["probe_accuracy"] = domain_probe(fs, ft)
    res["cpu_seconds"] = _cpu_seconds(Path(run_dir))
    m = min(n_plot, k)
    return res, pca_2d(torch.cat([fs[:m], ft[:m]])), m


def draw_scatter(panels: list[tuple[str, torch.Tensor, int]], path: str | Path,
                 size: int = 420) -> Path:
    """PNG of 2-D point clouds, one panel each: the first ``n`` rows source (blue), the rest
    target (red), drawn in a shuffled order so neither colour hides the other."""
    from PIL import Image, ImageDraw

    from gankit.utils.io import atomic_write

    pad, head = 12, 44
    img = Image.new("RGB", (len(panels) * size, size + head + 22), "white")
    draw = ImageDraw.Draw(img)
    colors = [(31, 119, 180), (214, 39, 40)]
    for i, (title, xy, n) in enumerate(panels):
        x0 = i * size
        draw.text((x0 + pad, 8), title, fill="black")
        draw.rectangle([x0 + pad, head, x0 + size - pad, head + size - 2 * pad], outline="gray")
        # the central 99% of each axis fills the panel; the few outliers sit on its edge
        lo, hi = torch.quantile(xy, 0.005, dim=0), torch.quantile(xy, 0.995, dim=0)
        span = (hi - lo).clamp_min(1e-9)
        inner = size - 4 * pad
        pts = ((xy - lo) / span).clamp(0, 1) * inner
        order = torch.randperm(len(xy), generator=torch.Generator().manual_seed(0))
        for j in order.tolist():
            px = x0 + 2 * pad + float(pts[j, 0])
            py = head + pad + inner - float(pts[j, 1])
            draw.ellipse([px - 1.5, py - 1.5, px + 1.5, py + 1.5], fill=colors[int(j >= n)])
    y = size + head
    for k, (label, c) in enumerate((("source", colors[0]), ("target", colors[1]))):
        draw.ellipse([pad + 90 * k, y + 4, pad + 90 * k + 8, y + 12], fill=c)
        draw.text((pad + 90 * k + 14, y + 2), label, fill="black")
    draw.text((pad + 200, y + 2), "PCA of F's features on the test split", fill="black")
    return atomic_write(path, lambda f: img.save(f, format="PNG"))


def _train_or_reuse(cfg, run_dir: Path) -> str:
    from gankit.train.trainer import train

    if (run_dir / "export" / "config.json").exists():
        from gankit.config import load_config

        saved = load_config(run_dir / "config.yaml")
        keys = ("steps", "batch_size", "seed", "lr_g", "lr_d", "beta1", "beta2")
        same = saved.model == cfg.model and saved.data == cfg.data and all(
            getattr(saved.train, k) == getattr(cfg.train, k) for k in keys)
        if not same:
            raise ConfigError(f"{run_dir} holds a run trained with other settings than asked "
                              f"(see its config.yaml); choose another --out, or delete it")
        log.info("%s is already trained with these settings: reusing it", run_dir)
        return "reused"
    train(cfg, run_dir, resume="auto")
    return "trained"


def run_adaptation(cfg, out: str | Path, runs: tuple[str, ...] = RUNS,
                   n_probe: int = 2000) -> dict[str, Any]:
    """Train (or reuse) the runs named in ``runs`` under ``out`` and compare them (see the
    module docstring). Returns the report written to ``out/adapt.json``."""
    from gankit.utils.images import save_grid
    from gankit.utils.io import write_json

    unknown = [r for r in runs if r not in RUNS]
    if unknown or not runs:
        raise ConfigError(f"unknown run(s) {', '.join(unknown) or '(none)'}; choose from "
                          f"{', '.join(RUNS)}")
    out = Path(out)
    cfgs = run_configs(cfg)
    test = load_test_pair(cfg.data)
    t0 = time.time()
    result: dict[str, Any] = {"config": cfg.preset or "", "dataset": cfg.data.dataset,
                              "test": test.source, "steps": cfg.train.steps,
                              "test_examples": {"source": len(test.A), "target": len(test.B)},
                              "published_mnist_to_mnistm": PUBLISHED, "runs": {}}
    panels = []
    for name in runs:
        run_dir = out / name
        how = _train_or_reuse(cfgs[name], run_dir)
        res, xy, n = evaluate_run(run_dir, test, n_probe)
        res["how"] = how
        result["runs"][name] = res
        if name in ("source-only", "dann"):
            title = "before adaptation (source only)" if name == "source-only" else \
                "after adaptation (DANN)"
            panels.append((f"{title}\ntarget acc {res.get('target_accuracy', float('nan')):.3f}"
                           f", own D acc {res['domain_accuracy']:.3f}, fresh probe acc "
                           f"{res['probe_accuracy']:.3f}", xy, n))
    result["seconds"] = round(time.time() - t0, 1)
    out.mkdir(parents=True, exist_ok=True)
    if panels:
        draw_scatter(panels, out / "features_pca.png")
    save_grid(_images(test.B[:64]), out / "target_samples.png", nrow=8)
    write_json(out / "adapt.json", result)
    write_page(result, out)
    if "dann" in result["runs"]:
        _into_run(result, out)
    return result


def _into_run(result: dict[str, Any], out: Path) -> None:
    """The numbers (metrics.jsonl) and the PCA figure into the dann run, and its report."""
    import shutil

    from gankit.runfiles.report import write_report

    run = out / "dann"
    dann = result["runs"]["dann"]
    line = {"step": dann["step"], "time": round(time.time(), 3),
            **{f"adapt/{k}": v for k, v in dann.items() if isinstance(v, float)}}
    for name in ("source-only", "target-only"):
        if name in result["runs"] and "target_accuracy" in result["runs"][name]:
            line[f"adapt/{name}_target_accuracy"] = result["runs"][name]["target_accuracy"]
    with open(run / "metrics.jsonl", "a") as f:
        f.write(json.dumps(line) + "\n")
    if (out / "features_pca.png").exists():
        shutil.copyfile(out / "features_pca.png", run / "figure_features_pca.png")
    write_report(run)


def format_result(result: dict[str, Any]) -> str:
    rows = [f"target test split: {result['test']}",
            f"({result['test_examples']['target']} target / {result['test_examples']['source']} "
            f"source test images; {result['steps']} steps per run)", "",
            f"{'run':12s} {'target acc':>10s} {'source acc':>10s} {'own D acc':>9s} "
            f"{'fresh probe acc':>15s} {'CPU s':>7s}"]
    for name, r in result["runs"].items():
        acc = r.get("target_accuracy")
        cpu = r.get("cpu_seconds")
        rows.append(f"{name:12s} {'-' if acc is None else f'{acc:.4f}':>10s} "
                    f"{r['source_accuracy']:>10.4f} {r['domain_accuracy']:>9.3f} "
                    f"{r['probe_accuracy']:>15.3f} {'-' if cpu is None else f'{cpu:.0f}':>7s}")
    p = result["published_mnist_to_mnistm"]
    rows += ["", "own D acc: the run's own domain classifier (trained against F) on the test "
                 "features;",
             "fresh probe acc: a new domain classifier trained on half of them, scored on the "
             "other half (0.5 = the features do not tell the domains apart)",
             f"published (Ganin & Lempitsky 2015, MNIST -> MNIST-M): source only "
             f"{p['source-only']:.2%}, DANN {p['dann']:.2%}, train on target "
             f"{p['target-only']:.2%}"]
    return "\n".join(rows)


def write_page(result: dict[str, Any], out: Path) -> Path:
    """``out/adapt.html``: the table, the PCA figure and target samples (self-contained)."""
    import base64

    from gankit.utils.io import atomic_write_text

    def img(name: str) -> str:
        p = out / name
        if not p.exists():
            return ""
        b64 = base64.b64encode(p.read_bytes()).decode()
        return f'<figure><img alt="{name}" src="data:image/png;base64,{b64}"></figure>'

    body = html.escape(format_result(result))
    page = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>gankit adapt"
            "</title><style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;"
            "padding:1em;white-space:pre-wrap}figure{display:inline-block;margin:1em}"
            "</style></head><body>"
            f"<h1>Domain adaptation: {html.escape(result['dataset'])}</h1><pre>{body}</pre>"
            f"<h2>Features before and after adaptation</h2>{img('features_pca.png')}"
            f"<h2>Target test images</h2>{img('target_samples.png')}</body></html>\n")
    return atomic_write_text(out / "adapt.html", page)
