"""Adversarial examples against a frozen classifier: FGSM, PGD and AdvGAN (``gankit attack``).

**The target convention.** Every attacked classifier is a module mapping float images in
**[0, 1]**, N x C x H x W, to **logits** N x K (K >= 2 classes). That is the convention of the
adversarial-examples literature (eps = 0.3 on MNIST means 0.3 of the full pixel range), and of
a TorchScript file a user brings (``--target model.pt``). gankit's own images are in [-1, 1];
they are converted at this boundary only (``x01 = (x + 1) / 2``).

Targets by name (:func:`~gankit.attacks.targets.load_target`):

* ``mnist`` / ``fashion-mnist``: gankit's feature nets (:mod:`gankit.metrics.mnist_net`);
* ``mnist-lenet``: a second, independently trained MNIST classifier of another architecture
  (LeNet-style, no batch norm, another seed), the default black-box *transfer* target;
* a path to a TorchScript file (``torch.jit.script(model).save("model.pt")``);
* ``untrained[:SEED]``: a small randomly initialised CNN, for smoke runs and tests only.

Modules: :mod:`~gankit.attacks.targets` (loading and checking targets),
:mod:`~gankit.attacks.gradient` (FGSM, PGD, the margin loss), :mod:`~gankit.attacks.runner`
(one report with clean accuracy, accuracy under attack, success, perturbation norms, speed and
transfer, for several methods at once).
"""
