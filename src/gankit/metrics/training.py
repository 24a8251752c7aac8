"""Periodic evaluation during training: ``metrics.jsonl`` and ``checkpoints/best.pt``.

Enabled by the ``eval`` config section (``eval.every > 0``). At every checkpoint whose step is a
multiple of ``eval.every`` (and at the final one) the callback draws ``eval.num`` samples from
the current generator (EMA weights when the run keeps them; seeds 0..N-1, so evaluations are
comparable across steps), computes the metrics against the reference (``eval.ref``, default:
the run's own training images at the training resolution; its features are cached once, see
:mod:`gankit.metrics.refstats`), appends one line to ``metrics.jsonl``,
logs it, hands it to the other callbacks as a ``{"event": "metrics", ...}`` event (the report
redraws), and points ``checkpoints/best.pt`` at the checkpoint with the best value of the first
metric (lower FID/KID/KL-to-uniform, higher IS/precision). The best value so far is kept in
checkpoints (``state_dict``).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch

from gankit.train.callbacks import Callback

log = logging.getLogger("gankit.metrics")

# (how to read the headline number of a metric, True when higher is better)
HEADLINE = {"fid": (lambda v: v, False), "kid": (lambda v: v["mean"], False),
            "is": (lambda v: v["mean"], True), "pr": (lambda v: v["precision"], True),
            "coverage": (lambda v: v["kl_to_uniform"], False)}


def flatten(metrics: dict) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        if isinstance(v, dict):
            out.update({f"{k}_{kk}": vv for kk, vv in v.items()})
        else:
            out[k] = v
    return out


class EvalCallback(Callback):
    def __init__(self, ecfg):
        self.ecfg = ecfg
        self.net = None
        self.best: float | None = None
        self._restored = False

    def state_dict(self):
        return {"best": self.best}

    def load_state_dict(self, state) -> None:
        self.best = state.get("best")
        self._restored = True

    def _options(self, trainer):
        from gankit.metrics.evaluate import EvalOptions

        e = self.ecfg
        return EvalOptions(num=e.num, num_ref=e.num_ref, feature_net=e.feature_net,
                           resize=e.resize, weights=e.weights or None, device=str(trainer.device),
                           progress=False)

    def on_start(self, trainer) -> None:
        from gankit.metrics.evaluate import build_feature_net, parse_metrics

        e, t = self.ecfg, trainer.cfg.train
        self.metrics = parse_metrics(e.metrics)
        if t.checkpoint_every and e.every % t.checkpoint_every:
            log.warning("eval.every=%d is not a multiple of train.checkpoint_every=%d: only "
                        "checkpoints at multiples of both are evaluated", e.every,
                        t.checkpoint_every)
        # build the feature net now: a missing weights file should stop the run before it starts
        self.net = build_feature_net(self._options(trainer))
        self.path = Path(trainer.out) / "metrics.jsonl"
        if self.path.exists() and not self._restored:  # a checkpoint from before evaluation
            # state was kept in checkpoints: the best value so far from the file
            for line in self.path.read_text().splitlines():
                rec = json.loads(line)
                if "headline" in rec:
                    self._better(rec["headline"])

    def _better(self, value: float) -> bool:
        higher = HEADLINE[self.metrics[0]][1]
        if self.best is None or (value > self.best if higher else value < self.best):
            self.best = value
            return True
        return False

    def on_checkpoint(self, trainer, path) -> None:
        step, last = trainer.step, trainer.cfg.train.steps
        if step % self.ecfg.every and step != last:
            return
        t0 = time.perf_counter()
        result = self.evaluate(trainer)
        name = self.metrics[0]
        key = ("classifier_" if self.net.classifier and name in ("fid", "is", "kid", "pr")
               else "") + name
        headline = float(HEADLINE[name][0](result["metrics"][key]))
        record = {"step": step, "time": round(time.time(), 3), "checkpoint": Path(path).name,
                  **flatten(result["metrics"]), "headline": headline,
                  "seconds": round(time.perf_counter() - t0, 1), "protocol": result["protocol"]}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
        trainer.emit({"event": "metrics", **record})
        improved = self._better(headline)
        if improved:
            from gankit.runfiles.checkpoint import replace_with_link

            replace_with_link(Path(path), Path(path).parent / "best.pt")
        nums = ", ".join(f"{k} {v:.4g}" for k, v in flatten(result["metrics"]).items()
                         if isinstance(v, float))
        log.info("eval step %d: %s%s [%d vs %d images, %s]", step, nums,
                 " (best so far -> checkpoints/best.pt)" if improved else "",
                 result["protocol"]["num_source"], result["protocol"].get("num_reference", 0),
                 self.net.name)

    @staticmethod
    def _training_data(trainer):
        """The run's own training images, exactly as the model sees them (resolution,
        channels, crop), as the default reference."""
        from gankit.metrics.sources import training_source

        return training_source(trainer.cfg.data, trainer.dataset)

    @torch.no_grad()
    def evaluate(self, trainer) -> dict:
        from gankit.metrics.evaluate import evaluate
        from gankit.metrics.sources import GeneratorSource
        from gankit.sampling.loading import Generator

        gens = trainer.generator_nets()
        modes = {k: v.training for k, v in gens.items()}
        for v in gens.values():
            v.eval()
        ref = self.ecfg.ref or self._training_data(trainer)
        devices = [trainer.device] if trainer.device.type == "cuda" else []
        try:
            # evaluation must not consume the training RNG: a resumed run would diverge
            with torch.random.fork_rng(devices=devices):
                gen = Generator(trainer.model, gens, trainer.cfg, Path(trainer.out),
                                trainer.step, trainer.device)
                src = GeneratorSource(gen, spec=f"generator@step{trainer.step}")
                return evaluate(src, ref, self.metrics, self._options(trainer), net=self.net)
        finally:
            for k, v in gens.items():
                v.train(modes[k])
