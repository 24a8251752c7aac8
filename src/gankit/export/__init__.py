"""gankit.export: export folders with a model card (:mod:`~gankit.export.folder`,
:mod:`~gankit.export.card`), ONNX (:mod:`~gankit.export.onnx`), the Hub (:mod:`~gankit.export.hub`).

The package is also the public function ``gankit.export(run, out=None, onnx=None)``:
see :func:`gankit.api.export`.
"""
from gankit._callable import make_callable

make_callable(__name__, "export")
