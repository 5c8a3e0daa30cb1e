"""Safe loading of mmengine checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(weights_only=True)`` the default. mmengine
0.10.7 writes two kinds of objects into its checkpoints that the safe
unpickler refuses, and so ``--resume`` fails:

* ``HistoryBuffer`` (the message hub's logged scalars) holding numpy arrays
  and scalars;
* inside each buffer, references to its statistics *functions*
  (``HistoryBuffer.min``...), pickled as ``getattr(HistoryBuffer, 'min')``.

The fix here is deliberate and narrow, not a blanket ``weights_only=False``:

1. the few plain-data types above are allow-listed for the safe unpickler
   (``torch.serialization.add_safe_globals``), the numpy ones as torch's
   own documentation recommends;
2. ``HistoryBuffer`` no longer pickles the function references: they are
   class-level and every process registers them again, so they carry no
   state. ``builtins.getattr`` is *not* allow-listed, so a file that smuggles
   a callable still fails to load.

Checkpoints written before this module was imported (by a plain mmengine
run) still contain the function references and are refused with torch's
error; :func:`load_checkpoint_safely` then says how to convert one the user
trusts.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer

__all__ = ['SAFE_GLOBALS', 'load_checkpoint_safely']


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    multiarray = core.multiarray
    types = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # numpy >= 1.25 pickles dtype instances of these concrete classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [
            getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(
                getattr(dtypes, name), type)
        ]
    return types


#: What mmengine 0.10.7 checkpoints need beyond torch's default allow-list.
SAFE_GLOBALS = [HistoryBuffer] + _numpy_globals()


def _history_buffer_getstate(self) -> dict:
    # The statistics methods live on the class (registered by __init__ and
    # by ``register_statistics``); pickling them needs ``getattr``, which
    # a safe loader must refuse.
    state = dict(self.__dict__)
    state.pop('statistics_methods', None)
    return state


def _install() -> None:
    torch.serialization.add_safe_globals(SAFE_GLOBALS)
    HistoryBuffer.__getstate__ = _history_buffer_getstate
    # An unpickled buffer is built without __init__, which is what fills the
    # class-level method table: make sure it is filled in this process.
    HistoryBuffer()


_install()


def load_checkpoint_safely(path: str, map_location='cpu') -> dict:
    """``torch.load(path, weights_only=True)`` with an actionable error.

    Args:
        path (str): a checkpoint file.
        map_location: as in :func:`torch.load`.

    Returns:
        dict: the loaded checkpoint.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # noqa: BLE001 - re-raised with context
        msg = str(e).strip().splitlines()
        reason = next((line for line in msg if 'Unsupported global' in line),
                      msg[-1] if msg else type(e).__name__)
        raise RuntimeError(
            f'cannot load {path!r} safely: {reason.strip()}. A checkpoint '
            'that is truncated or not a torch file cannot be used; one '
            'written by a plain mmengine run (outside dspnet_mm) holds '
            'function references that safe loading refuses: if you trust '
            'it, re-save its state_dict with torch.save.') from None
