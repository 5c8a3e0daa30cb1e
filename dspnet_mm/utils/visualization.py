"""TensorBoard next to mmengine's local files, one switch away.

``DSPNET_TENSORBOARD=1`` in the environment of ``tools/train.py`` /
``tools/test.py`` (and so of every run the width benchmark and the demo
start) adds mmengine's ``TensorboardVisBackend`` to the config's
visualizer, after its own backends: TensorBoard event files are written
into ``<work_dir>/<timestamp>/vis_data/`` beside ``scalars.json``, which
the benchmark reads. Then ``tensorboard --logdir <work_dir>``. It needs the
``tensorboard`` package (``pip install tensorboard``; in
``requirements/tests.txt``). Any config works: the switch is applied to the
loaded config, so nothing in ``configs/`` has to name it.
"""
import importlib.util
import os
from typing import Optional

__all__ = ['TENSORBOARD_ENV', 'TensorBoardError', 'apply_tensorboard_switch']

#: The switch.
TENSORBOARD_ENV = 'DSPNET_TENSORBOARD'
_BACKEND = 'TensorboardVisBackend'


class TensorBoardError(RuntimeError):
    """The switch is on, but TensorBoard cannot be written."""


def apply_tensorboard_switch(cfg, environ: Optional[dict] = None) -> bool:
    """Add TensorBoard to ``cfg.visualizer`` when the switch is on.

    Args:
        cfg (mmengine.Config): a loaded config; changed in place.
        environ (dict, optional): defaults to ``os.environ``.

    Returns:
        bool: whether TensorBoard is (now) one of the backends.

    Raises:
        TensorBoardError: the switch is on and tensorboard is not
            installed.
    """
    environ = os.environ if environ is None else environ
    if environ.get(TENSORBOARD_ENV,
                   '0').strip().lower() in ('', '0', 'false', 'no'):
        return False
    if importlib.util.find_spec('tensorboard') is None:
        raise TensorBoardError(f'{TENSORBOARD_ENV}=1 needs the tensorboard '
                               'package: pip install tensorboard')
    visualizer = cfg.get('visualizer')
    if visualizer is None:
        visualizer = cfg.visualizer = dict(
            type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    backends = list(visualizer.get('vis_backends') or [])
    if not any(b.get('type') == _BACKEND for b in backends):
        backends.append(dict(type=_BACKEND))
    visualizer['vis_backends'] = backends
    return True
