"""dspnet_mm: slimmable self-supervised pretraining (DSPNet) for OpenMMLab.

Importing the package registers its modules into mmpretrain's registries
(and SlimmableResNet into mmdet's and mmseg's, when installed); everything it
changes outside the package is listed in :mod:`dspnet_mm.side_effects`. It
changes nothing about torch's safe loading: checkpoints are loaded by
:func:`dspnet_mm.utils.checkpoint.load_checkpoint_safely` and
:class:`dspnet_mm.engine.SafeRunner`, with an allow-list scoped to each load.
"""
from . import side_effects
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .models.layers import get_width, set_width, width_context
from .version import __version__

side_effects.register_all_modules()

__all__ = ['__version__', 'set_width', 'get_width', 'width_context']
