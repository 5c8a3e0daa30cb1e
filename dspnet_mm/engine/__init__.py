from . import hooks, optimizers
from .hooks import *  # noqa: F401,F403
from .optimizers import *  # noqa: F401,F403

__all__ = hooks.__all__ + optimizers.__all__
