"""Everything ``import dspnet_mm`` changes outside the package, in one list.

Each item is needed by a config or a tool of this project, and nothing
else changes: no warning filter (the tools install theirs,
:mod:`dspnet_mm.utils.quiet`), no environment variable, no logging level, no
torch flag (threads, determinism, default dtype), no ``sys.path`` entry.
``tests/test_side_effects.py`` imports the package in a fresh interpreter
and checks that whatever changed is one of these.

1. ``registries``: our modules in mmpretrain's registries (``MODELS``:
   SlimmableResNet, SlimmableNonLinearNeck, DSPNet; ``HOOKS``:
   DSPNetDistillHook; ``OPTIM_WRAPPERS``: CPUAmpOptimWrapper), and
   SlimmableResNet in mmdet's and mmseg's ``MODELS`` when those packages
   are installed (:func:`dspnet_mm.registry.register_downstream`). Why:
   configs name them by ``type``, as every OpenMMLab plugin does.
   ``dspnet_mm.evaluation`` adds VerifyBackboneHook when it is imported.
2. ``safe-loading``: the plain types mmengine writes into checkpoints are
   allow-listed for torch's weights-only unpickler, and mmengine's
   ``HistoryBuffer`` stops pickling function references
   (:mod:`dspnet_mm.utils.checkpoint`). Why: ``--resume`` with torch >= 2.6
   without turning safe loading off.
3. ``numpy2-adjust-hue``: ``mmcv.adjust_hue`` is replaced by the same
   algorithm that works under numpy 2 (:mod:`dspnet_mm.utils.compat`; only
   with numpy >= 2). Why: BYOL's ColorJitter crashes in mmcv 2.1.0 with
   numpy 2.
"""
from .utils import checkpoint  # noqa: F401  (2: safe loading)
from .utils import compat  # noqa: F401  (3: numpy-2 adjust_hue)

#: The names of the changes above, in order.
CHANGES = ('registries', 'safe-loading', 'numpy2-adjust-hue')


def register_all_modules() -> None:
    """1: import the modules that register themselves."""
    from . import engine, models  # noqa: F401
