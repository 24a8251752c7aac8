"""Run-folder formats, shared by every layer above the models: checkpoints
(:mod:`~gankit.runfiles.checkpoint`), exported generators (:mod:`~gankit.runfiles.export`)
and the report page (:mod:`~gankit.runfiles.report`). They read and write plain files; the
trainer (``train/``), the sampling tools, the studio and the commands all use them, and they
import nothing above them (no models, no trainer, no sampling)."""
