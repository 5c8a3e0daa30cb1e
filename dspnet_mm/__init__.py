"""dspnet_mm: slimmable self-supervised pretraining (DSPNet) for OpenMMLab.

Importing the package registers its modules into mmpretrain's registries
(and SlimmableResNet into mmdet's and mmseg's), and makes torch's safe
loader accept the plain types mmengine writes into its checkpoints.
"""
from .utils import checkpoint as _checkpoint  # noqa: F401 (allow-list)
from .utils import compat as _compat  # noqa: F401 (numpy 2 fix)
from .engine import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .models.layers import get_width, set_width, width_context
from .version import __version__

__all__ = ['__version__', 'set_width', 'get_width', 'width_context']
