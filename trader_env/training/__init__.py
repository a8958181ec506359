"""Training: SB3 model factory, callbacks (diagnostics, curriculum, progress, checkpoint
selection) and the phase training entry point :func:`train_phase`."""

from trader_env.training.callbacks import CurriculumCallback, DiagnosticsCallback, ProgressCallback
from trader_env.training.factory import (
    algorithm_class,
    build_model,
    configure_torch,
    load_warm_start,
    make_sb3_logger,
    make_training_env,
    resolve_device,
)
from trader_env.training.selection import (
    CheckpointSelectionCallback,
    SelectionSlice,
    carve_selection_slice,
)
from trader_env.training.train import (
    TrainingResult,
    save_model_atomically,
    train_phase,
)

__all__ = [
    "CheckpointSelectionCallback",
    "CurriculumCallback",
    "DiagnosticsCallback",
    "ProgressCallback",
    "SelectionSlice",
    "TrainingResult",
    "algorithm_class",
    "build_model",
    "carve_selection_slice",
    "configure_torch",
    "load_warm_start",
    "make_sb3_logger",
    "make_training_env",
    "resolve_device",
    "save_model_atomically",
    "train_phase",
]
