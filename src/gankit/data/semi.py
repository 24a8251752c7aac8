"""Semi-supervised view of a labelled dataset: a few labelled examples plus the unlabelled rest.

``semi:N:BASE`` (e.g. ``semi:100:mnist``) keeps ``N`` labelled examples of ``BASE``, the same
number from every class, chosen once by a fixed seed (``data.limit`` is applied to BASE
first). Every batch holds

* ``real``: a batch of the whole set, *without* labels (the unlabelled stream);
* ``labelled_real`` / ``labelled_label``: an equally sized batch drawn with replacement from
  the N labelled examples (Salimans et al. 2016 cycle their 100 labels the same way).

Only the N chosen labels are ever given to a model, so a semi-supervised GAN trained on this
set has seen exactly N labels.
"""
from __future__ import annotations

import dataclasses

import torch

from gankit.data.base import Dataset
from gankit.errors import DataError
from gankit.registry import DATASETS

SELECTION_SEED = 1234


def balanced_subset(labels: torch.Tensor, n: int, num_classes: int,
                    seed: int = SELECTION_SEED) -> torch.Tensor:
    """Indices of ``n`` examples, ``n / num_classes`` of each class, chosen by ``seed``."""
    if n % num_classes:
        raise DataError(f"the labelled count {n} must be a multiple of the {num_classes} "
                        f"classes, e.g. {num_classes * max(1, n // num_classes)}")
    per = n // num_classes
    g = torch.Generator().manual_seed(seed)
    out = []
    for k in range(num_classes):
        idx = (labels == k).nonzero().squeeze(1)
        if len(idx) < per:
            raise DataError(f"class {k} has only {len(idx)} examples; {per} needed")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per]])
    return torch.cat(out).sort().values


class SemiSupervised(Dataset):
    def __init__(self, base: Dataset, n_labelled: int, seed: int = SELECTION_SEED):
        labels = getattr(base, "labels", None)
        if labels is None or base.info.num_classes < 2:
            raise DataError("a semi-supervised set needs a labelled base dataset "
                            "(e.g. semi:100:mnist, with data.labels=true)")
        self.base = base
        self.labelled = balanced_subset(labels, n_labelled, base.info.num_classes, seed)
        self.info = dataclasses.replace(base.info)
        self.source = f"{base.source} ({n_labelled} labelled)"

    def __len__(self) -> int:
        return len(self.base)

    def get_batch(self, index, gen, device):
        batch = self.base.get_batch(index, gen, device)
        batch.pop("label", None)  # the unlabelled stream never carries labels
        pick = torch.randint(len(self.labelled), (len(index),), generator=gen)
        lab = self.base.get_batch(self.labelled[pick], gen, device)
        batch["labelled_real"], batch["labelled_label"] = lab["real"], lab["label"]
        return batch


@DATASETS.register("semi")
def semi(arg: str, cfg) -> SemiSupervised:
    """``semi:N:BASE``: N labelled examples of BASE plus the unlabelled rest."""
    from gankit.data import load_dataset

    count, sep, base_spec = arg.partition(":")
    if not sep or not count.strip().isdigit() or not base_spec:
        raise DataError(f"write the semi-supervised set as semi:N:BASE, e.g. semi:100:mnist "
                        f"(got semi:{arg})")
    base = load_dataset(dataclasses.replace(cfg, dataset=base_spec, labels=True))
    return SemiSupervised(base, int(count))


def base_spec(spec: str) -> str:
    """The base data set of a semi-supervised spec (``semi:100:mnist`` -> ``mnist``); other
    specs are returned unchanged."""
    while spec.startswith("semi:"):
        spec = spec.split(":", 2)[2] if spec.count(":") >= 2 else spec[len("semi:"):]
    return spec
