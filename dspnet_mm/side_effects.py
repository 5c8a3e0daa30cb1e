"""Everything ``import dspnet_mm`` changes outside the package, in one list.

Each item is needed by a config or a tool of this project, and nothing
else changes: no warning filter (the tools install theirs,
:mod:`dspnet_mm.utils.quiet`), no environment variable, no logging level, no
torch flag (threads, determinism, default dtype), no ``sys.path`` entry,
no allow-listed global of torch's safe loading (checkpoints are loaded by
:mod:`dspnet_mm.utils.checkpoint` with an allow-list scoped to each load).
``tests/test_side_effects.py`` imports the package in a fresh interpreter
and checks that whatever changed is one of these.

1. ``registries``: our modules in mmpretrain's registries (``MODELS``:
   SlimmableResNet, SlimmableNonLinearNeck, DSPNet; ``HOOKS``:
   DSPNetDistillHook, TrainTimeHook; ``OPTIM_WRAPPERS``:
   CPUAmpOptimWrapper), and SlimmableResNet in mmdet's and mmseg's
   ``MODELS`` when those packages are installed
   (:func:`dspnet_mm.registry.register_downstream`). Why: configs name
   them by ``type``, as every OpenMMLab plugin does.
   ``dspnet_mm.evaluation`` adds VerifyBackboneHook when it is imported.
2. ``numpy2-adjust-hue``: ``mmcv.adjust_hue`` is replaced by the same
   algorithm that works under numpy 2 (:mod:`dspnet_mm.utils.compat`; only
   with numpy >= 2). Why: BYOL's ColorJitter crashes in mmcv 2.1.0 with
   numpy 2.
"""
from .utils import compat  # noqa: F401  (2: numpy-2 adjust_hue)

#: The names of the changes above, in order.
CHANGES = ('registries', 'numpy2-adjust-hue')


def register_all_modules() -> None:
    """1: import the modules that register themselves."""
    from . import engine, models  # noqa: F401
