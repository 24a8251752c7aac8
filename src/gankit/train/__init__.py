"""gankit.train: the one trainer (:mod:`gankit.train.trainer`), checkpoints, EMA, health.

The package is also the public function ``gankit.train(config, out, overrides=(), ...)``:
see :func:`gankit.api.train`.
"""
from gankit._callable import make_callable

make_callable(__name__, "train")
