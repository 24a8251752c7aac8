"""A bare two-phase optimisation loop for model-maths tests (no trainer, no files)."""
import torch


def fit(model, loader, steps: int, lr: float, phases=("D", "G")) -> None:
    """``steps`` rounds of one Adam(lr, (0.5, 0.999)) step per phase on ``model.loss``,
    each followed by ``model.after_step``."""
    opt = {k: torch.optim.Adam(model.nets[k].parameters(), lr, betas=(0.5, 0.999))
           for k in phases}
    for _ in range(steps):
        batch = next(loader)
        for phase in phases:
            loss, _ = model.loss(phase, batch, model.nets)
            opt[phase].zero_grad()
            loss.backward()
            opt[phase].step()
            model.after_step(phase)  # as the trainer does (weight clipping, averages)
