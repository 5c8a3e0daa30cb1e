import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.runner import load_checkpoint
from mmpretrain.models import ResNet

from dspnet_mm import set_width
from dspnet_mm.datasets import generate_demo_data
from dspnet_mm.registry import MODELS
from dspnet_mm.slim import ExportError, export_widths

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18-universal_1xb16-lars-600it_demo-cls.py')


def test_universal_export_recalibrates_each_width(tmp_path):
    root = str(tmp_path / 'demo')
    generate_demo_data(
        root, tasks=('cls', ), cls_train_per_class=2, cls_val_per_class=1)
    cfg = Config.fromfile(CFG)
    cfg.train_dataloader.dataset.data_root = osp.join(root, 'cls')
    cfg.train_dataloader.batch_size = 8
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'universal.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)

    out = str(tmp_path / 'slim')
    with pytest.raises(ExportError, match='pass the training config'):
        export_widths(ckpt, [0.375], out)
    with pytest.raises(ExportError, match='outside the universal range'):
        export_widths(ckpt, [0.125], out, config=cfg)
    (res, ) = export_widths(ckpt, [0.375], out, config=cfg, recalib_batches=2)
    assert res['meta']['universal'] is True
    stock = ResNet(18, base_channels=24, stem_channels=24)
    load_checkpoint(stock, res['path'], strict=True, logger='silent')

    sd = torch.load(res['path'])['state_dict']
    assert torch.all(sd['bn1.running_var'] != 1)  # statistics recalibrated
    # the supernet at 0.375 with those statistics is the exported network
    backbone = model.backbone
    for key, value in sd.items():
        module, _, param = key.rpartition('.')
        if param in ('running_mean', 'running_var', 'weight', 'bias'):
            shared = backbone.get_submodule(module)
            if hasattr(shared, 'bn'):
                getattr(shared.bn, param).data[:value.numel()] = value
    set_width(backbone, 0.375)
    backbone.eval()
    stock.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        got, expect = stock(x), backbone(x)
    assert got[-1].shape == (2, 192, 1, 1)
    for a, b in zip(got, expect):
        torch.testing.assert_close(a, b)
