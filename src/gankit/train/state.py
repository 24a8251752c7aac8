"""The trainer's run state: what a checkpoint holds, how a run resumes, its run folder.

:class:`TrainerState` is the part of :class:`~gankit.train.trainer.Trainer` that deals with
checkpoints, split from the loop to keep both readable: validating a checkpoint to resume from
(same model settings, same data shape, same optimizer layout), preparing the run folder,
``state_dict()`` (everything a resumed run needs to continue exactly: weights, EMA, optimizer
states by optimizer group, scaler, loader, noise and RNG states, model extras, callbacks'
state) and its inverse ``_restore``, and writing checkpoints atomically.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import torch

from gankit._version import __version__
from gankit.config import config_from_dict
from gankit.errors import CheckpointError, TrainingError
from gankit.train import distributed as D
from gankit.runfiles.checkpoint import (checkpoint_candidates, find_resumable, load_checkpoint,
                                     prune_checkpoints, replace_with_link, save_checkpoint)
from gankit.train.ema import EMA

log = logging.getLogger("gankit.train")


class TrainerState:
    """Checkpoint and run-folder methods of the trainer (a mixin: it uses the trainer's
    attributes ``cfg``, ``out``, ``model``, ``optimizers``, ``groups``, ``callbacks``, ...)."""

    def _find_resume(self, resume) -> tuple[dict[str, Any] | None, Path | None]:
        if resume is None:
            return None, None
        if str(resume) == "auto":
            found = find_resumable(self.out / "checkpoints", log)
            if found is None:
                if checkpoint_candidates(self.out / "checkpoints"):  # never overwrite them
                    raise CheckpointError(f"--resume auto: no checkpoint in {self.out} can be "
                                          f"read (see the warnings above); move them away to "
                                          f"start the run over, or pass --resume PATH")
                log.info("--resume auto: no checkpoint in %s, starting a new run", self.out)
                return None, None
            return found[1], found[0]
        path = Path(resume)
        return load_checkpoint(path), path

    def _check_compatible(self, state: dict[str, Any]) -> None:
        if state["model"] != self.cfg.model.name:
            raise CheckpointError(f"{self.resume_path} holds a {state['model']!r} model but the "
                                  f"config trains {self.cfg.model.name!r}; resume with the config "
                                  f"the run was started with ({self.out / 'config.yaml'})")
        saved = config_from_dict(state["config"], saved=True)
        if saved.model != self.cfg.model:
            from gankit.utils.diff import dotted_diff

            diff = dotted_diff(saved.to_dict()["model"], self.cfg.to_dict()["model"], "model.")
            raise CheckpointError(f"{self.resume_path} was trained with different model settings "
                                  f"(checkpoint -> config: {'; '.join(diff)}); the networks "
                                  f"would not match: resume with the config the run was "
                                  f"started with ({self.out / 'config.yaml'})")

    def _check_same_data(self, saved: dict[str, Any]) -> None:
        """A checkpoint resumes only onto data of the shape its networks were built for."""
        now = self.dataset.info.to_dict()
        keys = ("kind", "channels", "resolution", "dim", "num_classes")
        diff = [f"{k} {saved[k]} -> {now[k]}" for k in keys if k in saved and saved[k] != now[k]]
        if diff:
            raise CheckpointError(f"{self.resume_path} was trained on other data "
                                  f"({', '.join(diff)}); resume with the data settings the run "
                                  f"was started with ({self.out / 'config.yaml'})")

    def _prepare_run_dir(self) -> None:
        out = self.out
        # a folder without checkpoints (a run that failed or died before its first one) has
        # nothing to lose and starts over; one with checkpoints is never overwritten
        if self.resume_state is None and checkpoint_candidates(out / "checkpoints"):
            raise TrainingError(f"{out} already holds a run; pass --resume auto to continue it, "
                                f"or choose another --out (nothing was changed)")
        try:
            (out / "checkpoints").mkdir(parents=True, exist_ok=True)
            probe = out / ".write-test"
            probe.write_bytes(b"x")
            probe.unlink()
        except OSError as e:
            raise TrainingError(f"cannot write to the run folder {out}: {e.strerror}; choose a "
                                f"writable --out") from None
        free = shutil.disk_usage(out).free
        if free < 64 * 2**20:
            raise TrainingError(f"only {free / 2**20:.0f} MiB free on the disk of {out}; free "
                                f"some space or choose another --out")
        self._log_handler = logging.FileHandler(out / "log.txt")
        self._log_handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        logging.getLogger("gankit").addHandler(self._log_handler)
        logging.getLogger("gankit").setLevel(logging.INFO)

    def _callback_states(self) -> dict[str, Any]:
        states: dict[str, Any] = {}
        for cb in self.callbacks:
            state = cb.state_dict() if hasattr(cb, "state_dict") else None
            if state is not None:
                key = getattr(cb, "state_key", type(cb).__name__)
                while key in states:  # two callbacks of one class
                    key += "+"
                states[key] = state
        return states

    def _load_callback_states(self, states: dict[str, Any]) -> None:
        seen: set[str] = set()
        for cb in self.callbacks:
            if not hasattr(cb, "state_dict") or cb.state_dict() is None:  # as saved
                continue
            key = getattr(cb, "state_key", type(cb).__name__)
            while key in seen:
                key += "+"
            seen.add(key)
            if key in states:
                cb.load_state_dict(states[key])

    def state_dict(self) -> dict[str, Any]:
        stats = self.out / "stats.jsonl"
        rng = {"cpu": torch.get_rng_state()}
        if self.ema is not None:
            self.ema.refresh(self.model)  # the saved average carries its own BN statistics
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "model": self.cfg.model.name,
            "gankit_version": __version__,
            "step": self.step,
            "images_seen": self.images_seen,
            "config": self.cfg.to_dict(),
            "data_info": self.dataset.info.to_dict(),
            "nets": {k: v.state_dict() for k, v in self.model.nets.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            # (phases that run in place of another add nothing to an optimizer's state)
            "optimizer_groups": {k: [ph.name for ph in v if not ph.replaces]
                                 for k, v in self.groups.items()},
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "loader": self.loader.state_dict(),
            "noise": self.model.noise.state_dict(),
            "rng": D.gather_objects(rng, self.dist),  # one entry per rank
            "model_extra": self.model.extra_state(),
            "callbacks": self._callback_states() if self.is_main else {},
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "log_window": {k: [float(total), int(count)]
                           for k, (total, count) in self.log_window.items()},
            "stats_bytes": stats.stat().st_size if stats.exists() else 0,  # see tidy_for_resume
        }

    def _restore(self, state: dict[str, Any]) -> None:
        for k, v in state["nets"].items():
            self.model.nets[k].load_state_dict(v)
        if self.ema is not None:
            if state.get("ema"):
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema = EMA.from_config(
                    {n: self.model.nets[n] for n in self.model.generator_nets}, self.cfg.train)
        saved = state.get("optimizers", {})
        # checkpoints from before optimizer groups hold one optimizer per phase, by phase name
        layout = state.get("optimizer_groups") or {k: [k] for k in saved}
        for k, o in self.optimizers.items():
            if k not in saved:
                continue
            phases = [ph.name for ph in self.groups[k] if not ph.replaces]
            if layout.get(k) != phases:
                raise CheckpointError(
                    f"{self.resume_path or self.last_checkpoint}: its optimizer {k!r} stepped "
                    f"phase(s) {', '.join(layout.get(k) or [])} but this version of "
                    f"{self.cfg.model.name!r} steps it in {', '.join(phases)}, so its state "
                    f"does not carry over; resume with the gankit version that wrote the "
                    f"checkpoint, or start a new run")
            o.load_state_dict(saved[k])
        self.base_lrs = {k: [g.get("initial_lr", self.base_lrs[k][i]) for i, g in
                             enumerate(o.param_groups)] for k, o in self.optimizers.items()}
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.images_seen = int(state.get("images_seen", 0))
        self.lr_scale = float(state.get("lr_scale", 1.0))
        self.rollbacks = int(state.get("rollbacks", 0))
        # float32 sums round-trip exactly through Python floats (older checkpoints: empty)
        self.log_window = {k: (torch.tensor(total, dtype=torch.float32, device=self.device),
                               int(count))
                           for k, (total, count) in (state.get("log_window") or {}).items()}
        if state.get("loader"):
            self.loader.load_state_dict(state["loader"])
        if state.get("noise"):
            self.model.noise.load_state_dict(state["noise"])
        rngs = state.get("rng") or []
        if len(rngs) == self.dist.world:
            mine = rngs[self.dist.rank]
            torch.set_rng_state(mine["cpu"])
            if "cuda" in mine and self.device.type == "cuda":
                torch.cuda.set_rng_state(mine["cuda"], self.device)
        else:  # another world size: cannot be exact, but stays deterministic
            log.warning("resuming with %d process(es) from a checkpoint of %d: random streams "
                        "of dropout/noise layers are re-seeded", self.dist.world, len(rngs))
            torch.manual_seed(self.cfg.train.seed * 1000 + self.dist.rank + 7 * self.step)
        self.model.load_extra_state(state.get("model_extra") or {})

    def _checkpoint(self) -> Path | None:
        state = self.state_dict()  # every rank takes part (RNG states are gathered)
        ckpt_dir = self.out / "checkpoints"
        path = ckpt_dir / f"ckpt-{self.step:06d}.pt"
        if not self.is_main:
            self.last_checkpoint = path  # every rank may roll back to it (a shared folder)
            return None
        try:
            save_checkpoint(state, path)
            replace_with_link(path, ckpt_dir / "latest.pt")
            prune_checkpoints(ckpt_dir, self.cfg.train.keep_checkpoints)
        except OSError as e:  # full disk, quota, folder removed: the temp file is gone
            raise TrainingError(f"could not write checkpoint {path}: {e.strerror or e}; "
                                f"{self._kept()}. Free some space and continue with "
                                f"--resume auto") from e
        self.last_checkpoint = path
        for cb in self.callbacks:
            cb.on_checkpoint(self, path)
        return path
