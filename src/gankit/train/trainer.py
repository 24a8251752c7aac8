"""The one training loop for every GAN variant.

Read top to bottom: ``Trainer.__init__`` sets a run up (run folder, data, model, optimizers,
precision, EMA, resume), ``Trainer.run`` loops over steps, and each step runs the model's
phases (e.g. D x n_critic, then G). The model supplies the maths (``model.loss``); everything
else happens here, once, for every variant:

* requires_grad toggling per phase, zero_grad, backward, gradient averaging across processes,
  optional clipping, the optimizer step, and the model's ``after_step`` hook;
* mixed precision (bf16 autocast on CPU and CUDA, fp16 with a gradient scaler on CUDA) and
  channels_last memory format;
* an EMA of the generator, fixed-seed sample grids, ``stats.jsonl`` with one record per
  step that logged anything (the log window's means and what observers add at that step,
  e.g. the health monitor's diversity at a sample step), a progress bar;
* non-finite loss/gradient detection on the step it happens (stop, or roll back and halve the
  learning rates), with the last good checkpoint always kept;
* atomic checkpoints that restore everything, so that a resumed run continues exactly as an
  uninterrupted one would (:mod:`gankit.train.state`), and an exported generator at the end.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from gankit.config import Config, save_config
from gankit.data import load_dataset
from gankit.data.base import NoiseSource
from gankit.errors import TrainingError
from gankit.models.base import (GANModel, Phase, build_model, check_phases, due_phases,
                                lazy_ratio, log_names)
from gankit.train import distributed as D
from gankit.train import memory
from gankit.train.callbacks import Callback
from gankit.runfiles.checkpoint import branch_off, load_checkpoint, tidy_for_resume
from gankit.train.ema import EMA
from gankit.runfiles.export import export_generator
from gankit.train.observers import build_callbacks
from gankit.train.progress import Progress
from gankit.train.runlock import RunLock
from gankit.train.runtime import (autocast, choose_threads, is_conv_model, keep_freed_memory,
                                  resolve_amp, resolve_device)
from gankit.train.state import TrainerState
from gankit.train.stats import StatsFile
from gankit.utils.images import save_grid

log = logging.getLogger("gankit.train")

MAX_ROLLBACKS = 3


class NonFiniteError(Exception):
    def __init__(self, phase: str, what: str, step: int):
        super().__init__(f"{what} at step {step} in phase {phase}")
        self.phase, self.what, self.step = phase, what, step


def train(cfg: Config, out_dir: str | Path, resume: str | Path | None = None,
          callbacks: list[Callback] | None = None, default_callbacks: bool = True) -> Path:
    """Train ``cfg`` into ``out_dir``; ``resume`` = "auto" or a checkpoint path. Returns out_dir.

    ``callbacks`` are added to the run's default ones (health monitor, evaluation, the export's
    model card, trackers, report: see :mod:`gankit.train.observers`); ``default_callbacks=False``
    runs only them (the export then has no README.md card).
    """
    return Trainer(cfg, out_dir, resume, callbacks, default_callbacks).run()


class Trainer(TrainerState):
    _lock: RunLock | None = None

    def __init__(self, cfg: Config, out_dir: str | Path, resume: str | Path | None = None,
                 callbacks: list[Callback] | None = None, default_callbacks: bool = True):
        t = cfg.train
        self.cfg = cfg
        self.out = Path(out_dir)
        device = resolve_device(t.device)
        self.dist = D.init_distributed(device.type)
        self.device = resolve_device(t.device, self.dist.local_rank)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.is_main = self.dist.is_main
        self.callbacks = build_callbacks(cfg, callbacks, default_callbacks)
        self._log_handler: logging.Handler | None = None

        # one trainer per folder (the lock is taken before the folder is read)
        self._lock = RunLock(self.out).acquire() if self.is_main else None
        try:
            # a checkpoint to resume from is found before anything is written to the folder
            self.resume_state, self.resume_path = self._find_resume(resume)
            if self.resume_state is not None:
                self._check_compatible(self.resume_state)
            if self.is_main:
                self._prepare_run_dir()
            self._build()
        except BaseException:  # a failed start leaves no log handler or lock behind
            self._close_log()
            raise

    def _build(self) -> None:
        t = self.cfg.train
        # Data, then the model built for it. Every rank builds the same initial weights from the
        # run seed; rank 0's are broadcast anyway so that nothing depends on that.
        memory.check_config(self.cfg)  # absurd sizes are refused before anything is allocated
        # each step's activations reuse freed memory instead of faulting in fresh pages
        log.debug(keep_freed_memory())
        self.dataset = load_dataset(self.cfg.data)
        if self.resume_state is not None:
            self._check_same_data(self.resume_state.get("data_info") or {})
        memory.check_model(self.cfg, self.dataset.info)
        torch.manual_seed(t.seed)
        self.model: GANModel = build_model(self.cfg.model, self.dataset.info)
        self.threads = choose_threads(t.threads, self.model, self.dist.world)
        if self.device.type == "cpu":
            torch.set_num_threads(self.threads)
        self.channels_last = t.channels_last and is_conv_model(self.model)
        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        if self.dist.enabled:
            D.broadcast_module(self.model)
        torch.manual_seed(t.seed * 1000 + self.dist.rank)  # dropout etc. differ across ranks

        self.model.noise = NoiseSource(t.seed, self.dist.rank, self.dist.world, self.device)
        self.loader = self.dataset.loader(t.batch_size, t.seed, self.dist.rank, self.dist.world,
                                          self.device)
        self.phases: list[Phase] = self.model.phases(t)
        check_phases(self.phases)
        self.phase_params = {ph.name: self._params(ph.nets) for ph in self.phases}
        self.groups: dict[str, list[Phase]] = {}  # optimizer name -> the phases that step it
        for ph in self.phases:
            self.groups.setdefault(ph.group, []).append(ph)
        self.optimizers = {g: self._make_optimizer(g, phs) for g, phs in self.groups.items()}
        self.log_names = log_names(self.phases)  # Dmain of optimizer D logs loss_d
        self.base_lrs = {k: [g["lr"] for g in o.param_groups] for k, o in self.optimizers.items()}
        gen_nets = {n: self.model.nets[n] for n in self.model.generator_nets}
        self.ema = EMA.from_config(gen_nets, t)
        self.amp_dtype = resolve_amp(t.amp, self.device, self.model.info.kind)
        self.scaler = (torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None)
        self.nets = self._forward_nets()
        # Non-finite losses/gradients are caught before the optimizer step where checking is
        # free (CPU). On CUDA a check per phase would stall the GPU queue, so the first bad
        # (step, phase) is recorded on the device and read at the next log/sample/checkpoint
        # boundary; nothing is ever written from a step after a bad one.
        self.sync_checks = self.device.type != "cuda"
        self._first_bad = torch.full((), -1, dtype=torch.long, device=self.device)
        if self.is_main:  # once data and model have loaded: a failed start changes nothing
            state = self.resume_state or {}
            if self.resume_state is not None:  # an earlier state: later ones move to branches/
                branch = branch_off(self.out, int(state["step"]), self.resume_path)
                if branch is not None:
                    log.info("resuming at step %d before the folder's newest checkpoints: they "
                             "were moved to %s (lineage.jsonl)", state["step"], branch)
            tidy_for_resume(self.out, int(state.get("step", 0)), state.get("stats_bytes"))
            save_config(self.cfg, self.out / "config.yaml")

        self.step = 0
        self.images_seen = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        # sums of the values logged since the last log line; saved in checkpoints, so that
        # the first line after a resume averages the same steps as an uninterrupted run's
        self.log_window: dict[str, Any] = {}
        self.stats = StatsFile(self.out / "stats.jsonl", enabled=self.is_main)
        self.last_checkpoint: Path | None = None
        n = t.grid_size
        self.fixed_seeds = list(range(n))
        self.fixed_z = (self.model.make_latents(self.fixed_seeds) if self.model.latent_dim
                        else None)
        self.fixed_labels = self.model.sample_labels(self.fixed_seeds)
        # a fixed real batch for previews of image-to-image models, drawn from its own loader so
        # the training order is untouched
        self.fixed_batch = next(self.dataset.loader(n, t.seed + 1, device=self.device))
        self.last_sample: torch.Tensor | None = None  # the images of the latest sample grid
        if self.resume_state is not None:
            self._restore(self.resume_state)
            self._load_callback_states(self.resume_state.get("callbacks") or {})
            self.last_checkpoint = self.resume_path  # a good state to roll back to
            log.info("resumed from %s at step %d", self.resume_path, self.step)
            self.resume_state = None  # free the memory

    # ------------------------------------------------------------------ setup helpers
    def _make_optimizer(self, group: str, phases: list[Phase]) -> torch.optim.Optimizer:
        """One optimizer over the union of the group's nets, with stylegan2-ada's lazy
        regularisation correction when a phase of the group runs every k > 1 steps."""
        owner = next((ph for ph in phases if ph.name == group), phases[0])
        nets = tuple(n for ph in phases for n in ph.nets)
        opt = self.model.make_optimizer(owner, self._params(nets), self.cfg.train)
        ratio = lazy_ratio(phases)
        if ratio != 1.0:  # k + 1 updates every k steps: smaller steps, shorter memory
            for g in opt.param_groups:
                g["lr"] *= ratio
                if "betas" in g:
                    g["betas"] = tuple(b ** ratio for b in g["betas"])
        return opt

    def _params(self, nets: tuple[str, ...]) -> list[torch.nn.Parameter]:
        seen: set[int] = set()
        params = []
        for name in nets:
            for p in self.model.nets[name].parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    params.append(p)
        return params

    def _forward_nets(self) -> dict[str, torch.nn.Module]:
        nets = dict(self.model.nets.items())
        if self.cfg.train.compile:
            if self.model.double_backward:
                log.warning("train.compile ignored: this model's loss takes a double backward "
                            "(gradient penalty), which torch.compile cannot trace")
            else:
                nets = {k: torch.compile(v) for k, v in nets.items()}
        return nets

    # ------------------------------------------------------------------ the loop
    def run(self) -> Path:
        try:
            self._describe()
            if self.is_main:
                for cb in self.callbacks:
                    cb.on_start(self)
                if self.step == 0 and "real" in self.fixed_batch and self.fixed_batch["real"].dim() == 4:
                    save_grid(self.fixed_batch["real"], self.out / "reals.png")
            self._loop()
            self._finish()
        except OSError as e:  # a full disk while writing stats, samples or the export
            error = TrainingError(f"could not write to {e.filename or self.out}: "
                                  f"{e.strerror or e}; {self._kept()}. Free some space and "
                                  f"continue with --resume auto")
            self._notify_error(error)
            raise error from e
        except (TrainingError, KeyboardInterrupt) as e:  # non-finite values, a checkpoint
            self._notify_error(e)  # that could not be written, Ctrl-C: tell the callbacks
            raise
        finally:
            self._close_log()
        return self.out

    def _notify_error(self, error: BaseException) -> None:
        """Tell the callbacks (e.g. the report) why the run stops; their own failures (the disk
        may be full) are logged, never allowed to hide the original error."""
        if not self.is_main:
            return
        try:  # what the step logged before it stopped (e.g. Ctrl-C during a sample grid)
            self.stats.close()
        except OSError as write_error:  # the disk that stopped the run
            log.warning("could not write the step's stats.jsonl record: %s", write_error)
        for cb in self.callbacks:
            try:
                cb.on_error(self, error)
            except Exception as cb_error:  # noqa: BLE001
                log.warning("could not record the error in %s: %s", type(cb).__name__, cb_error)

    def _close_log(self) -> None:
        """Detach the run's log file, release the run folder's lock and end the process group
        gankit started for this run."""
        if self._log_handler is not None:
            logging.getLogger("gankit").removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        if self._lock is not None:
            self._lock.release()
        D.shutdown(self.dist)

    def _loop(self) -> None:
        t = self.cfg.train
        # a bar on a terminal, one plain line per log step in a log file (nohup, SLURM)
        progress = Progress(t.steps, self.step, enabled=self.is_main and t.progress)
        window = self.log_window  # (a resumed run's: restored from its checkpoint)
        win_start, win_steps = time.perf_counter(), 0
        self._cpu0 = time.process_time()  # stats' cpu_s: this process's CPU seconds in the loop
        while self.step < t.steps:
            nxt = self.step + 1
            want_norms = nxt % t.log_every == 0 or nxt == t.steps
            boundary = (want_norms or (t.sample_every and nxt % t.sample_every == 0)
                        or (t.checkpoint_every and nxt % t.checkpoint_every == 0))
            try:
                self._train_step(window, want_norms)
                if boundary and not self.sync_checks:
                    self._check_deferred()
            except NonFiniteError as e:
                self._on_nonfinite(e)
                window = self.log_window = {}
                win_start, win_steps = time.perf_counter(), 0
                progress.rewind(self.step)
                continue
            self.step += 1
            win_steps += 1
            progress.update()
            final = self.step == t.steps  # always logged, sampled and checkpointed
            self.stats.open(self.step)  # one record for what is logged at this step
            if self.step % t.log_every == 0 or final:
                record = self._log_window(window, win_steps, time.perf_counter() - win_start)
                progress.log(record)
                window = self.log_window = {}
                win_start, win_steps = time.perf_counter(), 0
            if (t.sample_every and self.step % t.sample_every == 0) or final:
                self._sample()
            self.stats.close()  # before the checkpoint, whose stats_bytes must include it
            if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or final:
                self._checkpoint()
        progress.close()

    def _train_step(self, window: dict[str, Any], want_norms: bool) -> None:
        t = self.cfg.train
        self.model.on_step_start(self.step, self.images_seen)
        factor = self.model.lr_factor(self.step, t.steps) * self.lr_scale
        for name, opt in self.optimizers.items():
            for group, base in zip(opt.param_groups, self.base_lrs[name]):
                group["lr"] = base * factor
        for index, phase in due_phases(self.phases, self.step):
            for name, net in self.model.nets.items():
                net.requires_grad_(name in phase.nets or name in phase.keep)
            for _ in range(phase.repeats):
                batch = next(self.loader) if phase.batch else {}
                self._phase_step(index, phase, batch, window, want_norms)
        self.images_seen += t.batch_size * self.dist.world
        if self.ema is not None:
            self.ema.update({n: self.model.nets[n] for n in self.model.generator_nets}, self.step)

    def _phase_step(self, index: int, phase: Phase, batch: dict[str, torch.Tensor],
                    window: dict[str, Any], want_norms: bool) -> None:
        if self.channels_last:
            batch = {k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                     for k, v in batch.items()}
        opt = self.optimizers[phase.group]
        params = self.phase_params[phase.name]
        with autocast(self.device, self.amp_dtype):
            loss, logs = self.model.loss(phase.name, batch, self.nets)
        # every phase's loss under one name, the scalar it minimised (penalties included)
        logs = {**logs, f"loss_{self.log_names[phase.name].lower()}": loss}
        opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.dist.enabled:
            D.all_reduce_grads(params, self.dist.world)
        if self.scaler is not None:
            self.scaler.unscale_(opt)
        grads = [p.grad for p in params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if grads else torch.zeros((), device=self.device)
        if self.scaler is None:  # (with fp16 the scaler skips inf steps itself, by design)
            # [loss finite, gradient finite]; under DDP agreed by every rank, so that a NaN on
            # one rank stops all of them at the same step, with the same message
            finite = torch.stack([torch.isfinite(loss.detach()), torch.isfinite(norm)]).float()
            if self.dist.enabled:
                dist.all_reduce(finite, op=dist.ReduceOp.MIN)
            if self.sync_checks:
                if not bool(finite.all()):
                    raise NonFiniteError(phase.name, "non-finite loss" if finite[0] == 0
                                         else "non-finite gradient", self.step)
            else:
                code = torch.tensor(self.step * 64 + index, device=self.device)
                self._first_bad = torch.where((self._first_bad < 0) & (finite.min() == 0), code,
                                              self._first_bad)
        if self.cfg.train.grad_clip > 0:
            torch.nn.utils.clip_grads_with_norm_(params, self.cfg.train.grad_clip, norm)
        if self.scaler is not None:
            self.scaler.step(opt)
            self.scaler.update()
        else:
            opt.step()
        self.model.after_step(phase.name)
        for k, v in logs.items():
            acc = window.get(k)
            window[k] = (v.detach().float(), 1) if acc is None else (acc[0] + v.detach().float(), acc[1] + 1)
        if want_norms or (phase.interval > 1 and not phase.replaces):  # lazy: its latest run
            window[f"grad_norm/{self.log_names[phase.name]}"] = (norm.detach().float(), 1)

    # ------------------------------------------------------------------ faults
    def _check_deferred(self) -> None:
        code = int(self._first_bad)  # the one host sync, at a log/sample/checkpoint boundary
        if code >= 0:
            self._first_bad.fill_(-1)
            step, index = divmod(code, 64)
            raise NonFiniteError(self.phases[index].name, "non-finite loss or gradient", step)

    def _on_nonfinite(self, e: NonFiniteError) -> None:
        t = self.cfg.train
        where = f"{e.what} at step {e.step} in phase {e.phase}"
        keep = self._kept()
        if self.is_main:
            event = {"step": e.step, "event": "nonfinite", "phase": e.phase, "what": e.what}
            self.write_stats(event)
            self.emit(event)
        if t.nan_policy == "rollback" and self.last_checkpoint and self.rollbacks < MAX_ROLLBACKS:
            rollbacks, scale = self.rollbacks + 1, self.lr_scale * 0.5
            self._restore(load_checkpoint(self.last_checkpoint, self.device))
            self.rollbacks, self.lr_scale = rollbacks, scale
            log.warning("%s: rolled back to step %d and scaled the learning rates by %g",
                        where, self.step, self.lr_scale)
            return
        error = TrainingError(f"{where}; training stopped and {keep}. Lower the learning rates "
                              f"(train.lr_d, train.lr_g), set train.grad_clip, use "
                              f"train.amp=off, or set train.nan_policy=rollback")
        raise error

    def _kept(self) -> str:
        return (f"the last good checkpoint is {self.last_checkpoint}" if self.last_checkpoint
                else "no checkpoint had been written yet")

    # ------------------------------------------------------------------ outputs
    def _describe(self) -> None:
        t = self.cfg.train
        n_params = {k: sum(p.numel() for p in v.parameters()) for k, v in self.model.nets.items()}
        amp = {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.amp_dtype]
        log.info("model %s (%s) on %s, %d example(s) from %s", self.cfg.model.name,
                 ", ".join(f"{k} {v / 1e6:.2f}M" for k, v in n_params.items()),
                 self.dataset.info.kind, len(self.dataset), self.dataset.source or "memory")
        log.info("device %s, precision %s, channels_last %s, threads %d, processes %d, "
                 "batch %d x %d", self.device, amp, self.channels_last, self.threads,
                 self.dist.world, t.batch_size, self.dist.world)

    def _log_window(self, window: dict[str, Any], steps: int, seconds: float) -> dict[str, Any]:
        t = self.cfg.train
        record: dict[str, Any] = {"step": self.step, "images_seen": self.images_seen}
        for k, (total, count) in window.items():
            record[k] = float(total) / count
        record["img_per_s"] = steps * t.batch_size * self.dist.world / max(seconds, 1e-9)
        record["lr_scale"] = self.lr_scale
        record["cpu_s"] = round(time.process_time() - getattr(self, "_cpu0", 0.0), 2)
        if self.is_main:
            for cb in self.callbacks:
                cb.on_log(self, record)
            self.stats.add(record)
        return record

    def write_stats(self, line: dict[str, Any]) -> None:
        """Add a callback's own numbers (or a trainer event) to the run's stats.jsonl; the
        callbacks get ``line`` as a ``stats`` event.

        During a step (from its log record to its checkpoint: ``on_log``, ``on_sample``) a line
        of that step is merged into the step's one record, written once before the step's
        checkpoint, so that stats.jsonl holds one record per step. Other lines (an event of a
        step that failed, a line written in ``on_end``) are appended as they are
        (:mod:`gankit.train.stats`)."""
        if self.stats.is_open_at(int(line.get("step", self.step))):
            self.stats.add(line)
        else:
            self.stats.append(line)
        self.emit({"event": "stats", "line": line})

    def emit(self, event: dict[str, Any]) -> None:
        """Hand an event (``{"event": kind, "step": ..., ...}``) to every callback."""
        if self.is_main:
            for cb in self.callbacks:  # (duck-typed callbacks may lack the newer hooks)
                if hasattr(cb, "on_event"):
                    cb.on_event(self, event)

    def generator_nets(self) -> dict[str, torch.nn.Module]:
        """The generator nets used for samples and export: the EMA copies when enabled."""
        if self.ema is not None:
            self.ema.refresh(self.model)
            return dict(self.ema.nets)
        return {n: self.model.nets[n] for n in self.model.generator_nets}

    @torch.no_grad()
    def _sample(self) -> Path | None:
        if not self.is_main:
            return None
        gens = self.generator_nets()
        modes = {k: v.training for k, v in gens.items()}
        for v in gens.values():
            v.eval()
        # sampling must not consume the training RNG (noise inputs draw from it), or a run that
        # sampled would differ from one that resumed past the sample
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                images = self.model.preview(self.fixed_z, self.fixed_labels, self.fixed_batch, gens)
        finally:
            for k, v in gens.items():
                v.train(modes[k])
        if images is None:
            return None
        path = self.out / f"fakes_{self.step:06d}.png"
        nrow = getattr(self.model, "preview_nrow", None) or max(1, int(math.sqrt(images.shape[0])))
        save_grid(images.float(), path, nrow=nrow)
        self.last_sample = images.float()
        for cb in self.callbacks:
            cb.on_sample(self, path)
        return path

    def _finish(self) -> None:
        # (the last step's sample grid and checkpoint were taken in the loop; a run resumed
        # from its final checkpoint has them already)
        if self.is_main:
            export_generator(self.model, self.generator_nets(), self.cfg, self.dataset.info,
                             self.out / "export", step=self.step, ema=self.ema is not None)
            for cb in self.callbacks:
                cb.on_end(self)
            log.info("done: %d steps; samples, checkpoints and export/ in %s", self.step, self.out)
        D.barrier(self.dist)

