"""``compile=True`` (mmengine): SlimmableResNet compiles, DSPNet is refused.

The compiled run trains a classifier on the first two stages of a
SlimmableResNet-18 (a smaller graph to compile) switched to width 0.5, so
every conv slices its weight, for 2 iterations with inductor (mmengine's
``compile=True``); its losses equal the eager run's.
"""
import os.path as osp
import uuid

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dspnet_mm import set_width
from dspnet_mm.datasets import generate_demo_data
from dspnet_mm.models.layers import SlimmableConv2d
from dspnet_mm.models.layers.slimmable_ops import _SLICE_CACHE
from dspnet_mm.utils.compile_check import CompileError, check_compile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SUPERVISED = osp.join(
    ROOT, 'configs/slimmable_resnet/'
    'supervised_slimmable-resnet18_1xb16-sgd-20it_demo-cls.py')
DSPNET = osp.join(
    ROOT, 'configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_'
    'demo-cls.py')


def test_dspnet_compile_is_refused_with_the_reason():
    cfg = Config.fromfile(DSPNET)
    check_compile(cfg)  # no compile: nothing to refuse
    cfg.compile = True
    with pytest.raises(CompileError, match='compile=None'):
        check_compile(cfg)
    cfg.model.type = 'mmpretrain.DSPNet'
    with pytest.raises(CompileError, match='inside torch'):
        check_compile(cfg)
    sup = Config.fromfile(SUPERVISED)
    sup.compile = True
    check_compile(sup)


def test_eval_slice_cache_steps_aside_under_compile():
    conv = SlimmableConv2d(8, 16, 3, padding=1)
    conv.eval()
    set_width(conv, 0.5)
    x = torch.randn(2, 4, 5, 5)
    compiled = torch.compile(conv, backend='eager', fullgraph=True)
    with torch.no_grad():
        out = compiled(x)
        assert conv not in _SLICE_CACHE  # the plain view, no cache
        assert torch.equal(out, conv(x))
    assert conv in _SLICE_CACHE  # eager eval does cache


class _Width(Hook):

    def before_train(self, runner):
        set_width(runner.model.backbone, 0.5)


def _train(work_dir, data_root, compile_cfg):
    cfg = Config.fromfile(SUPERVISED)
    cfg.model.backbone.update(
        num_stages=2, strides=(1, 2), dilations=(1, 1), out_indices=(1, ))
    cfg.model.head.in_channels = 64  # stage 2 at width 0.5: 128 * 0.5
    cfg.train_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 4
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=2)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator',
                'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.work_dir = work_dir
    # the loss history lives in the MessageHub instance named after the
    # experiment, by default the config name plus a timestamp in seconds:
    # two runs started within a second shared it (4 losses, not 2)
    cfg.experiment_name = f'{osp.basename(work_dir)}_{uuid.uuid4().hex}'
    if compile_cfg is not None:
        cfg.compile = compile_cfg
    runner = Runner.from_cfg(cfg)
    runner.register_hook(_Width())
    runner.train()
    return runner.message_hub.get_scalar('train/loss').data[0]


def test_compiled_slimmable_resnet_trains_like_eager(tmp_path):
    root = str(tmp_path / 'demo')
    generate_demo_data(
        root, tasks=('cls', ), cls_train_per_class=4, cls_val_per_class=2)
    data_root = osp.join(root, 'cls')
    from torch._dynamo.utils import counters
    eager = _train(str(tmp_path / 'eager'), data_root, None)
    counters.clear()
    compiled = _train(str(tmp_path / 'compiled'), data_root, True)
    assert counters['stats']['unique_graphs'] > 0  # dynamo did compile
    assert len(eager) == len(compiled) == 2
    assert eager[0] != eager[1]  # two real steps
    torch.testing.assert_close(
        torch.tensor(compiled), torch.tensor(eager), rtol=1e-5, atol=1e-6)
