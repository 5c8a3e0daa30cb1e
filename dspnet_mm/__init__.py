"""dspnet_mm: slimmable self-supervised pretraining (DSPNet) for OpenMMLab.

Importing the package registers its modules into mmpretrain's registries
(and SlimmableResNet into mmdet's and mmseg's). It changes nothing about
torch's safe loading: checkpoints are loaded by
:func:`dspnet_mm.utils.checkpoint.load_checkpoint_safely` and
:class:`dspnet_mm.engine.SafeRunner`, with an allow-list scoped to each load.
"""
from .utils import compat as _compat  # noqa: F401 (numpy 2 fix)
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .models.layers import get_width, set_width, width_context
from .version import __version__

__all__ = ['__version__', 'set_width', 'get_width', 'width_context']
