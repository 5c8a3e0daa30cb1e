"""The TensorBoard switch on a loaded config."""
import importlib.util

import pytest
from mmengine.config import Config

from dspnet_mm.utils import visualization
from dspnet_mm.utils.visualization import (TENSORBOARD_ENV, TensorBoardError,
                                           apply_tensorboard_switch)


def _cfg():
    return Config(
        dict(
            visualizer=dict(
                type='UniversalVisualizer',
                vis_backends=[dict(type='LocalVisBackend')])))


@pytest.mark.parametrize('value', [None, '0', '', 'false'])
def test_switch_off_leaves_the_config(value):
    cfg = _cfg()
    env = {} if value is None else {TENSORBOARD_ENV: value}
    assert apply_tensorboard_switch(cfg, env) is False
    assert cfg.visualizer.vis_backends == [dict(type='LocalVisBackend')]


def test_switch_on_adds_tensorboard_after_local(monkeypatch):
    monkeypatch.setattr(visualization.importlib.util, 'find_spec',
                        lambda name: object())
    cfg = _cfg()
    assert apply_tensorboard_switch(cfg, {TENSORBOARD_ENV: '1'}) is True
    assert [b['type'] for b in cfg.visualizer.vis_backends
            ] == ['LocalVisBackend', 'TensorboardVisBackend']
    assert cfg.visualizer.type == 'UniversalVisualizer'
    # idempotent
    apply_tensorboard_switch(cfg, {TENSORBOARD_ENV: '1'})
    assert len(cfg.visualizer.vis_backends) == 2


def test_switch_on_without_tensorboard_is_one_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        visualization.importlib.util, 'find_spec', lambda name: None
        if name == 'tensorboard' else real(name))
    with pytest.raises(TensorBoardError, match='pip install tensorboard'):
        apply_tensorboard_switch(_cfg(), {TENSORBOARD_ENV: '1'})
