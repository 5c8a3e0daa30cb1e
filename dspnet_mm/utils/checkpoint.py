"""Checkpoints that hold data only, and a loader that runs nothing of them.

A checkpoint can come from anywhere (a colleague, a download, a file a
crashed run left behind), so loading one must never run code from it. In an
mmengine 0.10.7 run three things could:

* unpickling: torch >= 2.6 loads with ``weights_only=True``, which builds
  only tensors, plain containers and an allow-list of globals;
* ``Runner.resume`` parses ``checkpoint['meta']['config']`` as a Python
  config, i.e. executes it;
* mmengine's ``HistoryBuffer`` (the message hub's logged scalars): to load
  one the safe unpickler must allow the class, and its ``__setstate__``
  merges the file's statistics-method table into the *class*, state shared
  by the whole process.

What this module does about them:

1. Our runs save the message hub as plain data (:func:`plain_message_hub`,
   called by :class:`dspnet_mm.engine.SafeRunner`), so their checkpoints
   load with torch's stock ``weights_only=True`` and no allow-list at all.
2. :func:`load_checkpoint_safely` always passes ``weights_only=True``,
   drops ``meta['config']`` unread, and returns the message hub as checked
   plain numbers. Checkpoints of older dspnet_mm versions (``HistoryBuffer``
   objects holding numpy arrays) load inside :func:`safe_globals`, a context
   that allow-lists the numpy types and maps ``HistoryBuffer`` to an inert
   stand-in that keeps the pickled state as data on its own instance.
3. Nothing is allow-listed process-wide: outside that context torch's
   defaults hold, e.g. for mmengine's ``init_cfg=Pretrained`` loads.

A checkpoint written by a plain mmengine run pickles function references
(``getattr(HistoryBuffer, 'min')``) that safe loading refuses; the error
says what to do with such a file the user trusts.
"""
import logging
import os
import pickle
import zipfile
from contextlib import contextmanager
from typing import Any, Dict

import numpy as np
import torch
from mmengine.logging import HistoryBuffer, print_log

__all__ = [
    'CheckpointError', 'TornCheckpointError', 'HUB_FORMAT', 'LEGACY_GLOBALS',
    'check_safe_loading_env', 'load_checkpoint_safely', 'message_hub_state',
    'plain_message_hub', 'safe_globals', 'sanitize_checkpoint'
]

#: Tag of the plain message-hub format in ``checkpoint['message_hub']``.
HUB_FORMAT = 'dspnet_mm.message_hub/1'

#: Environment variables that make torch unpickle arbitrary objects in
#: every ``torch.load`` that does not pass ``weights_only`` (mmengine's).
UNSAFE_ENV = ('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', )

PLAIN_MMENGINE_HINT = (
    'A checkpoint written by a plain mmengine run (outside dspnet_mm) holds '
    'function references (its message hub) that safe loading refuses: if '
    'you trust the file, load it yourself with torch.load(path, '
    'weights_only=False) and re-save its "state_dict" with torch.save; that '
    'file works as load_from or init_cfg=Pretrained (not for --resume).')


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unsafe, torn or malformed."""


class TornCheckpointError(CheckpointError):
    """A file that is not a complete torch checkpoint (truncated, empty or not
    a torch zip file): what a run killed while writing leaves."""


class _InertHistoryBuffer:
    """Stands in for mmengine's ``HistoryBuffer`` while a checkpoint of an
    older dspnet_mm is unpickled: the state stays data on this instance, and
    nothing reaches a class."""

    def __setstate__(self, state) -> None:
        self.state = state


def _numpy_globals():
    core = getattr(np, '_core', None) or np.core
    multiarray = core.multiarray
    types = [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype]
    # numpy >= 1.25 pickles dtype instances of these concrete classes
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [
            getattr(dtypes, name) for name in dir(dtypes) if
            name.endswith('DType') and isinstance(getattr(dtypes, name), type)
        ]
    return types


#: What checkpoints of older dspnet_mm versions need beyond torch's
#: defaults; allowed only inside :func:`safe_globals`.
LEGACY_GLOBALS = [
    (_InertHistoryBuffer, 'mmengine.logging.history_buffer.HistoryBuffer')
] + _numpy_globals()


@contextmanager
def safe_globals():
    """Allow :data:`LEGACY_GLOBALS` for ``weights_only`` loads in the block.

    A context, not a process-wide setting: loads outside it (and after it) see
    torch's defaults only.
    """
    with torch.serialization.safe_globals(LEGACY_GLOBALS):
        yield


def check_safe_loading_env() -> None:
    """Refuse to run when the environment turns torch's safe loading off."""
    for name in UNSAFE_ENV:
        value = os.environ.get(name, '0').strip().lower()
        if value in ('1', 'y', 'yes', 'true'):
            raise CheckpointError(
                f'{name} is set: it makes torch unpickle any object in '
                'checkpoints that mmengine loads (init_cfg=Pretrained, '
                'load_from), i.e. run code from the file. Unset it.')


# ----------------------------------------------------------------- plain data


def _plain(value, where: str):
    """``value`` as plain data (numpy -> Python), or raise ``TypeError``."""
    if isinstance(value, np.generic):  # before float: np.float64 is one
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, (list, tuple)):
        items = [_plain(v, f'{where}[{i}]') for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {k: _plain(v, f'{where}[{k!r}]') for k, v in value.items()}
    raise TypeError(f'{where} is a {type(value).__name__}, not plain data')


def _numbers(values, where: str) -> list:
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if not isinstance(values, (list, tuple)) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool)
            for v in values):
        raise CheckpointError(f'message hub {where} is not a list of numbers')
    return list(values)


def _buffer_data(buf, key: str) -> dict:
    """``dict(log_history, count_history, max_length)`` of one scalar."""
    if isinstance(buf, HistoryBuffer):
        logs, counts = buf.data
        state = dict(
            log_history=logs, count_history=counts, max_length=buf.max_length)
    elif isinstance(buf, _InertHistoryBuffer):  # older dspnet_mm files
        state = buf.state if isinstance(buf.state, dict) else {}
        state = dict(
            log_history=state.get('_log_history'),
            count_history=state.get('_count_history'),
            max_length=state.get('max_length'))
    elif isinstance(buf, dict):
        state = buf
    else:
        raise CheckpointError(f'message hub scalar {key!r} is a '
                              f'{type(buf).__name__}, not logged numbers')
    logs = _numbers(state.get('log_history'), f'{key!r} log_history')
    counts = _numbers(state.get('count_history'), f'{key!r} count_history')
    max_length = state.get('max_length')
    if isinstance(max_length, np.integer):
        max_length = int(max_length)
    if (len(logs) != len(counts) or not isinstance(max_length, int)
            or isinstance(max_length, bool) or max_length < 1):
        raise CheckpointError(f'message hub scalar {key!r} is malformed')
    return dict(log_history=logs, count_history=counts, max_length=max_length)


def plain_message_hub(state: dict) -> dict:
    """A ``MessageHub.state_dict()`` (or a loaded plain form) as checked plain
    data.

    Logged scalars become ``dict(log_history, count_history, max_length)``
    of Python numbers; runtime information keeps plain values only (numpy
    scalars become Python numbers; anything else is left out, with a
    warning).
    """
    for part in ('log_scalars', 'runtime_info', 'resumed_keys'):
        if not isinstance(state.get(part, {}), dict):
            raise CheckpointError(f'message hub {part} is not a dict')
    scalars = {
        str(k): _buffer_data(v, k)
        for k, v in state.get('log_scalars', {}).items()
    }
    info = {}
    for key, value in state.get('runtime_info', {}).items():
        try:
            info[str(key)] = _plain(value, f'runtime_info[{key!r}]')
        except TypeError as e:
            print_log(
                f'message hub: left out {e}',
                logger='current',
                level=logging.WARNING)
    resumed = {
        str(k): bool(v)
        for k, v in state.get('resumed_keys', {}).items()
    }
    return dict(
        format=HUB_FORMAT,
        log_scalars=scalars,
        runtime_info=info,
        resumed_keys=resumed)


def message_hub_state(plain: dict) -> dict:
    """What ``MessageHub.load_state_dict`` takes, from the plain form.

    Every scalar is rebuilt with ``HistoryBuffer(...)``'s constructor from
    checked numbers; no state of a file reaches a class.
    """
    plain = plain_message_hub(plain)
    scalars = {
        k: HistoryBuffer(v['log_history'], v['count_history'], v['max_length'])
        for k, v in plain['log_scalars'].items()
    }
    return dict(
        log_scalars=scalars,
        runtime_info=dict(plain['runtime_info']),
        resumed_keys=dict(plain['resumed_keys']))


def sanitize_checkpoint(checkpoint: Any) -> Any:
    """Drop ``meta['config']`` and turn the message hub into plain data.

    ``Runner.resume`` would parse ``meta['config']`` as a Python config
    (executing it); mmengine itself stores its config text under
    ``meta['cfg']``, which nothing executes, so dropping ``config`` loses
    nothing.
    """
    if not isinstance(checkpoint, dict):
        return checkpoint
    meta = checkpoint.get('meta')
    if isinstance(meta, dict) and 'config' in meta:
        meta.pop('config')
        print_log(
            'ignored the config string in the checkpoint\'s meta: it is '
            'never executed',
            logger='current',
            level=logging.WARNING)
    hub = checkpoint.get('message_hub')
    if hub is not None:
        if not isinstance(hub, dict):
            raise CheckpointError('its message_hub is not a dict')
        try:
            checkpoint['message_hub'] = plain_message_hub(hub)
        except TypeError as e:
            raise CheckpointError(f'its message_hub: {e}') from None
    return checkpoint


# -------------------------------------------------------------------- loading


def _refusal(path: str, error: Exception) -> CheckpointError:
    lines = str(error).strip().splitlines()
    reason = next(
        (line.strip()
         for line in lines if 'GLOBAL' in line or 'Unsupported' in line), None)
    if not zipfile.is_zipfile(path):
        return TornCheckpointError(
            f'cannot load {path!r}: it is not a complete torch checkpoint '
            '(truncated, empty or another format; a run killed while saving '
            f'leaves such a file): {type(error).__name__}: '
            f'{lines[0] if lines else ""}'.rstrip(': '))
    if isinstance(error, pickle.UnpicklingError):
        return CheckpointError(
            f'cannot load {path!r} safely: it holds objects other than '
            f'tensors and plain data ({reason or lines[0]}). '
            f'{PLAIN_MMENGINE_HINT}')
    return TornCheckpointError(
        f'cannot load {path!r}: the checkpoint is damaged: '
        f'{type(error).__name__}: {lines[0] if lines else ""}')


def load_checkpoint_safely(path: str, map_location='cpu') -> Dict:
    """Load a local checkpoint as data, never as code.

    ``torch.load(path, weights_only=True)`` inside :func:`safe_globals`,
    then :func:`sanitize_checkpoint`.

    Args:
        path (str): a local checkpoint file.
        map_location: as in :func:`torch.load`.

    Returns:
        dict: the checkpoint; its message hub (if any) in plain form.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        TornCheckpointError: the file is truncated or no torch checkpoint.
        CheckpointError: the file holds more than data, or is malformed.
    """
    path = str(path)
    if '://' in path:
        raise CheckpointError(
            f'{path}: only local checkpoint files are loaded (download it '
            'first)')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    try:
        with safe_globals():
            checkpoint = torch.load(
                path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise _refusal(path, e) from None
    try:
        return sanitize_checkpoint(checkpoint)
    except CheckpointError as e:
        raise CheckpointError(f'cannot use {path!r}: {e}') from None
