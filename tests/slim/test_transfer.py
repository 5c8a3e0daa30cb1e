"""Transfer of exported widths to stock mmdet / mmseg / mmpretrain configs."""
import glob
import math
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from dspnet_mm import SlimmableResNet
from dspnet_mm.datasets import DEMO_CLASSES, generate_demo_data
from dspnet_mm.models.backbones import resnet_stage_channels
from dspnet_mm.slim import (TransferError, apply_width, export_widths,
                            read_export_meta, verify_backbone_loaded)

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
BENCH = osp.join(ROOT, 'configs', 'benchmarks')
WIDTHS = (0.25, 0.5, 0.75, 1.0)
CONFIGS = {
    osp.relpath(p, BENCH): 'mmdet' if '/mmdet/' in p else 'mmseg'
    for p in sorted(glob.glob(osp.join(BENCH, 'mm*', '*.py')))
}
DET_DEMO = 'mmdet/mask-rcnn_dspnet-r50_fpn_1xb4-50it_demo-coco.py'
SEG_DEMO = 'mmseg/fcn_dspnet-r50-d8_1xb4-50it_demo-seg.py'
MASK_RCNN = 'mmdet/mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py'
FCN = 'mmseg/fcn_dspnet-r50-d8_4xb2-40k_cityscapes-512x1024.py'
UPERNET = 'mmseg/upernet_dspnet-r50_4xb4-80k_ade20k-512x512.py'
CLS = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'


def _quiet():
    # init_weights reports every parameter at INFO
    MMLogger.get_instance('test_transfer', log_level='WARNING')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """``{(depth, width): path}`` of every width of a depth-18/50 supernet."""
    tmp = tmp_path_factory.mktemp('slim')
    out = {}
    for depth in (18, 50):
        torch.manual_seed(depth)
        model = SlimmableResNet(depth, widths=WIDTHS)
        src = str(tmp / f'super{depth}.pth')
        torch.save(
            dict(state_dict={
                'backbone.' + k: v
                for k, v in model.state_dict().items()
            }), src)
        for res in export_widths(src, 'all', str(tmp)):
            out[depth, res['meta']['width']] = res['path']
    return out


def _cfg(name):
    if '::' in name:
        from mmengine.hub import get_config
        return get_config(name)
    return Config.fromfile(osp.join(BENCH, name))


def _build(cfg, task):
    if task == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    elif task == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS.build(cfg.model)


def _assert_plain(path):
    """A written config needs no dspnet_mm: no imports, no module of ours."""
    cfg = Config.fromfile(path)
    assert 'custom_imports' not in cfg
    assert 'Slimmable' not in cfg.pretty_text


# ---------------------------------------------------------------- metadata


def test_read_export_meta(exported, tmp_path):
    meta = read_export_meta(exported[50, 0.5])
    assert meta['depth'] == 50 and meta['width'] == 0.5
    assert meta['base_channels'] == meta['stem_channels'] == 32
    assert meta['stage_channels'] == [128, 256, 512, 1024]

    with pytest.raises(TransferError, match='not found'):
        read_export_meta(str(tmp_path / 'nope.pth'))
    # a training checkpoint: meta, but not the export's
    ckpt = str(tmp_path / 'train.pth')
    torch.save(
        dict(meta=dict(iter=10), state_dict={'conv1.weight': torch.ones(1)}),
        ckpt)
    with pytest.raises(TransferError, match='lacks depth, width'):
        read_export_meta(ckpt)
    plain = str(tmp_path / 'plain.pth')
    torch.save({'conv1.weight': torch.ones(1)}, plain)
    with pytest.raises(TransferError, match='not an exported width'):
        read_export_meta(plain)
    # anything the weights-only loader refuses is refused, not executed
    unsafe = str(tmp_path / 'unsafe.pth')
    torch.save(dict(state_dict={}, meta=dict(fn=os.getcwd)), unsafe)
    with pytest.raises(TransferError, match='weights-only'):
        read_export_meta(unsafe)


# -------------------------------------------------------- derived channels


@pytest.mark.parametrize('depth', [18, 50])
def test_channels_follow_every_width(exported, depth):
    bases = {
        name: _cfg(name)
        for name in (MASK_RCNN, DET_DEMO, FCN, SEG_DEMO, UPERNET, CLS)
    }
    for width in WIDTHS:
        path = exported[depth, width]
        c = resnet_stage_channels(depth, width)
        base = round(64 * width)
        for name, cfg in bases.items():
            cfg = cfg.copy()
            task = ('mmpretrain' if name == CLS else
                    'mmdet' if name.startswith('mmdet') else 'mmseg')
            applied = apply_width(cfg, path, task)
            bb = cfg.model.backbone
            assert (bb.type, bb.depth, bb.base_channels,
                    bb.stem_channels) == ('ResNet', depth, base, base)
            assert bb.init_cfg == dict(type='Pretrained', checkpoint=path)
            assert f'model.backbone.depth={depth}' in applied
            if task == 'mmdet':
                assert cfg.model.neck.in_channels == c
            elif task == 'mmpretrain':
                assert cfg.model.head.in_channels == c[3]
            else:
                assert cfg.model.pretrained is None
                assert cfg.model.auxiliary_head.in_channels == c[2]
                assert cfg.model.decode_head.in_channels == (
                    c if name == UPERNET else c[3])


def test_heads_lists_and_out_indices(exported):
    path = exported[50, 0.25]
    c = resnet_stage_channels(50, 0.25)
    cfg = Config(
        dict(
            model=dict(
                type='CascadeEncoderDecoder',
                pretrained='open-mmlab://resnet50_v1c',
                backbone=dict(type='ResNetV1c', deep_stem=True, depth=101),
                decode_head=[
                    dict(type='FCNHead', in_index=[1, 2], in_channels=[1, 1]),
                    dict(type='OCRHead', in_channels=2048),  # in_index -1
                ],
                auxiliary_head=[
                    dict(type='FCNHead', in_index=2, in_channels=1024),
                    dict(type='FCNHead', in_index=1, in_channels=512),
                ])))
    apply_width(cfg, path, 'mmseg')
    m = cfg.model
    assert m.backbone.type == 'ResNet' and m.backbone.deep_stem is False
    assert m.decode_head[0].in_channels == [c[1], c[2]]
    assert m.decode_head[1].in_channels == c[3]
    assert [h.in_channels for h in m.auxiliary_head] == [c[2], c[1]]

    # mmdet: FPN reads the outputs the backbone returns
    det = Config(
        dict(
            model=dict(
                backbone=dict(type='ResNet', out_indices=(1, 2, 3)),
                neck=[
                    dict(type='FPN', in_channels=[1]),
                    dict(type='BFP', in_channels=256)
                ])))
    apply_width(det, path, 'mmdet')
    assert det.model.neck[0].in_channels == c[1:]
    assert det.model.neck[1].in_channels == 256  # reads the FPN, untouched
    with pytest.raises(TransferError, match='in_index 7'):
        apply_width(
            Config(
                dict(
                    model=dict(
                        backbone=dict(type='ResNet'),
                        decode_head=dict(in_index=7)))), path, 'mmseg')
    with pytest.raises(TransferError, match='task must be'):
        apply_width(det, path, 'mmdet3d')


# ---------------------------------------------------- build, load, verify


@pytest.mark.parametrize('name', list(CONFIGS))
def test_every_benchmark_config_builds_and_loads(exported, name):
    _quiet()
    task = CONFIGS[name]
    cfg = _cfg(name)
    apply_width(cfg, exported[18, 0.25], task)
    model = _build(cfg, task)
    model.init_weights()
    assert verify_backbone_loaded(model, exported[18, 0.25]) == len(
        model.backbone.state_dict())


def test_stock_classifier_builds_and_loads(exported):
    _quiet()
    cfg = _cfg(CLS)
    apply_width(cfg, exported[50, 0.25], 'mmpretrain')
    model = _build(cfg, 'mmpretrain')
    model.init_weights()
    verify_backbone_loaded(model, exported[50, 0.25])
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32), mode='tensor')
    assert out.shape == (1, 1000)


def test_verify_raises_for_wrong_width_or_tampering(exported):
    _quiet()
    cfg = _cfg(DET_DEMO)
    apply_width(cfg, exported[18, 0.25], 'mmdet')
    model = _build(cfg, 'mmdet')
    model.init_weights()
    verify_backbone_loaded(model, exported[18, 0.25])
    # the same model checked against another width
    with pytest.raises(ValueError, match='shape mismatch'):
        verify_backbone_loaded(model, exported[18, 0.5])
    with pytest.raises(ValueError, match='missing from the backbone'):
        verify_backbone_loaded(model, exported[50, 0.25])
    # a tampered tensor
    with torch.no_grad():
        model.backbone.layer2[0].conv1.weight[0, 0, 0, 0] += 1
    with pytest.raises(ValueError, match='1 tensor.*layer2.0.conv1.weight'):
        verify_backbone_loaded(model, exported[18, 0.25])

    # a config built for 0.25 pointed at the 0.5 file: mmengine only warns
    # and skips the mis-shaped tensors; verify refuses it
    cfg = _cfg(SEG_DEMO)
    apply_width(cfg, exported[18, 0.25], 'mmseg')
    cfg.model.backbone.init_cfg.checkpoint = exported[18, 0.5]
    model = _build(cfg, 'mmseg')
    model.init_weights()
    with pytest.raises(
            ValueError,
            match=r'conv1.weight \(16, 3, 7, 7\) vs '
            r'\(32, 3, 7, 7\)'):
        verify_backbone_loaded(model, exported[18, 0.5])


def test_transfer_config_cli(exported, tmp_path):
    from tests.tools.test_train_tools import load_tool
    transfer_config = load_tool('transfer_config')
    out = str(tmp_path / 'fcn.py')
    assert transfer_config.main([
        osp.join(BENCH,
                 SEG_DEMO), exported[50, 0.5], '--task', 'mmseg', '--out', out,
        '--verify', '--cfg-options', 'model.decode_head.in_index=2'
    ]) == 0
    _assert_plain(out)
    cfg = Config.fromfile(out)
    c = resnet_stage_channels(50, 0.5)
    # options are merged first, so derived channels follow them
    assert cfg.model.decode_head.in_channels == c[2]
    assert cfg.model.backbone.init_cfg.checkpoint == exported[50, 0.5]
    assert transfer_config.main([
        osp.join(BENCH, SEG_DEMO),
        str(tmp_path / 'fcn.py'), '--task', 'mmseg', '--out',
        str(tmp_path / 'x.py')
    ]) == 1


# ------------------------------------------------------ demo runs, for real


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(
        root, tasks=('det', 'seg'), det_train=4, det_val=2, det_size=64)
    return root


def _demo_runner(name, task, checkpoint, overrides, work_dir):
    from mmengine.runner import Runner
    cfg = _cfg(name)
    apply_width(cfg, checkpoint, task)
    cfg.merge_from_dict(overrides)
    # the runner must take the written plain config, as stock tools do
    path = osp.join(work_dir, 'transfer.py')
    cfg.dump(path)
    _assert_plain(path)
    cfg = Config.fromfile(path)
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = runner.message_hub.log_scalars
    loss = scalars['train/loss'].current()
    assert math.isfinite(loss), loss
    return scalars, runner


def _val_predictions(runner):
    model = runner.model
    model.eval()
    with torch.no_grad():
        for batch in runner.val_dataloader:
            yield from model.val_step(batch)


def _bbox_map_by_hand(runner, ann_file):
    """COCO box mAP of the trained model's val predictions, with pycocotools
    directly."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    gt = COCO(ann_file)
    cat_ids = gt.getCatIds(catNms=list(DEMO_CLASSES))
    dets = []
    for sample in _val_predictions(runner):
        pred = sample.pred_instances
        for box, score, label in zip(pred.bboxes.tolist(),
                                     pred.scores.tolist(),
                                     pred.labels.tolist()):
            x1, y1, x2, y2 = box
            dets.append(
                dict(
                    image_id=sample.img_id,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    score=score,
                    category_id=cat_ids[label]))
    assert dets  # score_thr 0: every image has boxes
    evaluator = COCOeval(gt, gt.loadRes(dets), 'bbox')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator.stats[0]


def _miou_by_hand(runner, num_classes):
    """MIoU (%) of the val predictions: per-class intersection over union
    summed over the set, classes never present nor predicted left out."""
    inter = torch.zeros(num_classes, dtype=torch.float64)
    union = torch.zeros(num_classes, dtype=torch.float64)
    for sample in _val_predictions(runner):
        pred = sample.pred_sem_seg.data.squeeze(0).cpu()
        gt = sample.gt_sem_seg.data.squeeze(0).cpu()
        keep = gt != 255
        pred, gt = pred[keep], gt[keep]
        for c in range(num_classes):
            p, g = pred == c, gt == c
            inter[c] += (p & g).sum()
            union[c] += (p | g).sum()
    present = union > 0
    return float((inter[present] / union[present]).mean() * 100)


def test_demo_det_trains_and_evaluates(exported, demo_root, tmp_path):
    coco = osp.join(demo_root, 'coco') + '/'
    cfg = _cfg(DET_DEMO)
    assert cfg.classes == DEMO_CLASSES
    assert cfg.model.roi_head.bbox_head.num_classes == len(DEMO_CLASSES)
    scalars = _demo_runner(
        DET_DEMO,
        'mmdet',
        exported[18, 0.25],
        {
            'train_dataloader.batch_size': 2,
            'train_dataloader.dataset.data_root': coco,
            'val_dataloader.dataset.data_root': coco,
            'test_dataloader.dataset.data_root': coco,
            'val_evaluator.ann_file': coco + 'annotations/instances_val.json',
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            # an untrained detector may score below the 0.05 threshold
            'model.test_cfg.rcnn.score_thr': 0.0,
        },
        str(tmp_path))
    scalars, runner = scalars
    for key in ('train/loss_rpn_cls', 'train/loss_cls', 'train/loss_mask'):
        assert math.isfinite(scalars[key].current()), key
    # the logged box mAP is COCO's, recomputed from the model's predictions
    assert scalars['val/coco/bbox_mAP'].current() == pytest.approx(
        _bbox_map_by_hand(runner, coco + 'annotations/instances_val.json'),
        abs=1e-3)
    assert math.isfinite(scalars['val/coco/segm_mAP'].current())


def test_demo_seg_trains_and_evaluates(exported, demo_root, tmp_path):
    seg = osp.join(demo_root, 'seg')
    cfg = _cfg(SEG_DEMO)
    assert cfg.classes == ('background', ) + DEMO_CLASSES
    assert cfg.model.decode_head.num_classes == len(DEMO_CLASSES) + 1
    scalars = _demo_runner(
        SEG_DEMO, 'mmseg', exported[50, 0.25], {
            'train_dataloader.batch_size': 2,
            'train_dataloader.dataset.data_root': seg,
            'val_dataloader.dataset.data_root': seg,
            'test_dataloader.dataset.data_root': seg,
            'model.data_preprocessor.size': (64, 64),
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
        }, str(tmp_path))
    scalars, runner = scalars
    assert math.isfinite(scalars['train/decode.loss_ce'].current())
    assert scalars['val/mIoU'].current() == pytest.approx(
        _miou_by_hand(runner,
                      len(DEMO_CLASSES) + 1), abs=0.01)


def test_written_config_needs_no_dspnet_mm(exported, tmp_path):
    """A fresh interpreter with only mmdet builds and loads the config."""
    cfg = _cfg(MASK_RCNN)
    apply_width(cfg, exported[18, 0.5], 'mmdet')
    path = str(tmp_path / 'mask-rcnn.py')
    cfg.dump(path)
    code = ('import sys\n'
            'from mmengine.config import Config\n'
            'from mmengine.logging import MMLogger\n'
            'from mmdet.registry import MODELS\n'
            'from mmdet.utils import register_all_modules\n'
            'MMLogger.get_instance("t", log_level="WARNING")\n'
            'register_all_modules()\n'
            f'cfg = Config.fromfile({path!r})\n'
            'model = MODELS.build(cfg.model)\n'
            'model.init_weights()\n'
            'import torch\n'
            f'sd = torch.load({exported[18, 0.5]!r}, weights_only=True)\n'
            'sd = sd["state_dict"]\n'
            'got = model.backbone.state_dict()\n'
            'assert set(got) == set(sd)\n'
            'assert all(got[k].equal(sd[k]) for k in sd)\n'
            'assert not any(m.startswith("dspnet_mm") for m in sys.modules)\n'
            'print("ok")\n')
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    proc = subprocess.run([sys.executable, '-c', code],
                          cwd=str(tmp_path),
                          env=env,
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout.strip().endswith('ok'), (
        proc.stderr[-3000:])
