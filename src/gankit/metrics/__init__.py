"""Evaluation: FID, Inception Score, KID and precision/recall, with their protocol.

Modules (nothing heavy is imported until used):

* :mod:`~gankit.metrics.inception`: the FID Inception-v3 (pytorch-fid weights layout), plain torch;
* :mod:`~gankit.metrics.weights`: cache folder, weight lookup, downloads checked by sha256;
* :mod:`~gankit.metrics.features`: feature nets (``FEATURE_NETS``: ``inception``, ``mnist``),
  resize modes (``legacy`` = pytorch-fid bilinear, ``clean`` = clean-fid PIL bicubic) and the
  one batched feature pass every metric shares;
* :mod:`~gankit.metrics.scores`: the formulas on features (float64);
* :mod:`~gankit.metrics.mnist_net`: the MNIST classifier feature net, classifier FID, coverage;
* :mod:`~gankit.metrics.sources`: generators, folders, npz files, datasets as uint8 batches;
* :mod:`~gankit.metrics.refstats`: the reference-statistics cache;
* :mod:`~gankit.metrics.evaluate`: ``evaluate(source, ref, metrics, EvalOptions)``;
* :mod:`~gankit.metrics.training`: periodic evaluation during training (``eval`` config).

Public entry point::

    from gankit.metrics.evaluate import EvalOptions, evaluate, format_result
    res = evaluate("runs/00000-mnist-dcgan", "mnist:train", "fid,coverage",
                   EvalOptions(num=10000, feature_net="mnist"))
    print(format_result(res))
"""
