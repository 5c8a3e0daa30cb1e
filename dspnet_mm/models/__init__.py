from . import algorithms, backbones, layers, necks, utils
from .algorithms import *  # noqa: F401,F403
from .backbones import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403
from .utils import *  # noqa: F401,F403

# the classes and functions only: without __all__, `from .models import *`
# in dspnet_mm/__init__.py would also bind `utils` (this package's
# models.utils) over dspnet_mm.utils
__all__ = (
    algorithms.__all__ + backbones.__all__ + layers.__all__ + necks.__all__ +
    utils.__all__)
