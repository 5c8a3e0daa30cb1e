"""Classification protocols of exported widths: kNN, linear, semi-sup."""
import importlib.util
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from dspnet_mm import SlimmableResNet
from dspnet_mm.datasets import generate_demo_data
from dspnet_mm.evaluation import (build_exported_resnet, knn_classify,
                                  knn_eval, knn_scores)
from dspnet_mm.slim import TransferError, apply_width, export_widths

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG_DIR = osp.join(ROOT, 'configs/benchmarks/classification')
LINEAR = osp.join(CFG_DIR, 'resnet18_1xb32-linear-coslr-200it_demo-cls.py')
SEMI = {
    10: osp.join(CFG_DIR, 'resnet18_1xb32-ft-coslr-100it_demo-cls-10pct.py'),
    1: osp.join(CFG_DIR, 'resnet18_1xb32-ft-coslr-60it_demo-cls-1pct.py'),
}


# ---------------------------------------------------------------- kNN maths
def test_knn_votes_hand_example():
    # cosine similarities of the query (1, 0): 1, 0, 1/sqrt(2)
    train = torch.tensor([[1., 0.], [0., 1.], [1., 1.]])
    labels = torch.tensor([0, 1, 1])
    query = torch.tensor([[3., 0.]])  # the norm does not matter
    s2 = math.exp(2**-0.5 / 0.5)
    votes = knn_scores(train, labels, query, k=2, temperature=0.5)
    # neighbours 0 (sim 1 -> label 0) and 2 (sim 0.707 -> label 1)
    assert votes.tolist()[0] == pytest.approx([math.exp(2.), s2], rel=1e-6)
    assert votes[0].tolist() == pytest.approx([7.389056, 4.113250], rel=1e-6)
    votes = knn_scores(train, labels, query, k=3, temperature=0.5)
    assert votes[0].tolist() == pytest.approx([math.exp(2.), s2 + 1.])
    # k beyond the train set uses all of it; num_classes pads with zeros
    votes = knn_scores(train, labels, query, 10, 0.5, num_classes=4)
    assert votes[0].tolist() == pytest.approx([math.exp(2.), s2 + 1., 0, 0])
    # (0, 1): neighbours 1 (sim 1) and 2 (0.707), both label 1
    res = knn_classify(
        train,
        labels,
        torch.tensor([[1., 0.], [0., 1.]]),
        torch.tensor([0, 1]),
        k=2,
        temperature=0.5)
    assert res == dict(top1=100.0)  # < 5 classes: no top-5


def _clusters(num_classes, per_class, dim=32, noise=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(num_classes, dim, generator=g)
    labels = torch.arange(num_classes).repeat_interleave(per_class)
    feats = centers[labels] + noise * torch.randn(
        len(labels), dim, generator=g)
    return feats, labels


def test_knn_separable_and_shuffled():
    train_x, train_y = _clusters(6, 50, seed=0)
    test_x, test_y = _clusters(6, 100, seed=0)
    res = knn_classify(train_x, train_y, test_x, test_y, k=20)
    assert res == dict(top1=100.0, top5=100.0)
    # shuffled labels carry no information: chance level, 100/6 = 16.7 %
    # (i.i.d. features, so that no cluster votes as one block)
    g = torch.Generator().manual_seed(1)
    train_x, test_x = torch.randn(2, 1200, 32, generator=g)
    train_y = test_y = torch.arange(6).repeat_interleave(200)
    shuffled = train_y[torch.randperm(len(train_y), generator=g)]
    res = knn_classify(train_x, shuffled, test_x, test_y, k=20)
    assert abs(res['top1'] - 100 / 6) < 5
    assert abs(res['top5'] - 500 / 6) < 5


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data') / 'demo')
    # 20 train images per class: 1 % -> 1 per class, 10 % -> 2 per class
    generate_demo_data(
        root,
        tasks=('cls', ),
        cls_train_per_class=20,
        cls_val_per_class=2,
        cls_size=32)
    return osp.join(root, 'cls')


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Random-init widths 0.25 and 0.5 of a ResNet-18 DSPNet-like file."""
    tmp = tmp_path_factory.mktemp('export')
    torch.manual_seed(0)
    model = SlimmableResNet(18, widths=[0.25, 0.5])
    ckpt = str(tmp / 'supernet.pth')
    torch.save(
        dict(state_dict={
            'backbone.' + k: v
            for k, v in model.state_dict().items()
        }), ckpt)
    results = export_widths(ckpt, 'all', str(tmp / 'slim'))
    return {r['meta']['width']: r['path'] for r in results}


def _lines(path):
    with open(path) as f:
        return [line for line in f.read().splitlines() if line.strip()]


def _demo_cfg(path, data_root, checkpoint, work_dir, iters=2):
    cfg = Config.fromfile(path)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = data_root
    cfg.train_dataloader.batch_size = 4
    apply_width(cfg, checkpoint, 'mmpretrain')
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = 1000
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    cfg.log_level = 'WARNING'
    return cfg


class _Record(Hook):
    """Keeps the head's weights after init and every training loss."""

    def __init__(self):
        self.losses = []

    def before_train(self, runner):
        self.head = runner.model.head.fc.weight.detach().clone()

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None):
        self.losses.append(outputs['loss'].item())


def _train(cfg):
    runner = Runner.from_cfg(cfg)
    record = _Record()
    runner.register_hook(record, 'LOWEST')
    model = runner.train()
    return runner, model, record


# ------------------------------------------------------- runner protocols
def test_linear_probe_trains_head_only(data_root, exported, tmp_path):
    ckpt = exported[0.25]
    cfg = _demo_cfg(LINEAR, data_root, ckpt, tmp_path)
    assert cfg.model.backbone.base_channels == 16
    assert cfg.model.head.in_channels == 128
    runner, model, record = _train(cfg)
    assert len(record.losses) == 2
    assert all(math.isfinite(v) for v in record.losses)
    # the head learnt, the backbone (weights and BN statistics) did not
    assert not torch.equal(model.head.fc.weight, record.head)
    expected = torch.load(ckpt)['state_dict']
    got = model.backbone.state_dict()
    assert set(got) == set(expected)
    changed = [k for k in expected if not torch.equal(got[k], expected[k])]
    assert changed == []
    assert not any(p.requires_grad for p in model.backbone.parameters())


@pytest.mark.parametrize('percent', [10, 1])
def test_semi_supervised_uses_subset(data_root, exported, tmp_path, percent):
    ckpt = exported[0.25]
    cfg = _demo_cfg(SEMI[percent], data_root, ckpt, tmp_path)
    ann = cfg.train_dataloader.dataset.ann_file
    assert ann == f'meta/train_{percent}percent.txt'
    subset = _lines(osp.join(data_root, ann))
    assert len(subset) == {10: 16, 1: 8}[percent]
    if percent == 1:  # the 10 % run below covers the training itself
        from mmengine.registry import DefaultScope
        from mmpretrain.registry import DATASETS
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            dataset = DATASETS.build(cfg.train_dataloader.dataset)
        assert len(dataset) == len(subset)
        return
    runner, model, record = _train(cfg)
    assert len(runner.train_dataloader.dataset) == len(subset)
    assert all(math.isfinite(v) for v in record.losses)
    # fine-tuning moves the backbone too
    expected = torch.load(ckpt)['state_dict']
    assert not torch.equal(model.backbone.conv1.weight,
                           expected['conv1.weight'])


def test_wrong_width_is_an_error(data_root, exported, tmp_path):
    # a config set up for width 0.5, given the file of width 0.25
    cfg = _demo_cfg(LINEAR, data_root, exported[0.5], tmp_path)
    cfg.model.backbone.init_cfg.checkpoint = exported[0.25]
    runner = Runner.from_cfg(cfg)
    with pytest.raises(TransferError, match='shape mismatch'):
        runner.train()
    # no Pretrained checkpoint at all is refused too
    cfg = _demo_cfg(LINEAR, data_root, exported[0.25], tmp_path / 'none')
    cfg.model.backbone.init_cfg = None
    with pytest.raises(ValueError, match='no Pretrained init_cfg'):
        Runner.from_cfg(cfg).train()


# -------------------------------------------------------------------- kNN
def _knn_by_hand(train, val, k, temperature):
    """Top-1 (%) of the weighted kNN, one query at a time, and bounds of
    its top-5: a query whose k neighbours vote for fewer than 5 classes
    fills its top 5 with classes of no vote, in no defined order."""
    (xs, ys), (qs, qy) = train, val
    hits1 = hits5 = open5 = 0
    for q, label in zip(qs, qy.tolist()):
        sims = [
            float(torch.nn.functional.cosine_similarity(q, x, dim=0))
            for x in xs
        ]
        nearest = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
        votes = {}
        for i in nearest:
            c = int(ys[i])
            votes[c] = votes.get(c, 0.0) + math.exp(sims[i] / temperature)
        ranked = sorted(votes, key=lambda c: -votes[c])
        hits1 += ranked[0] == label
        hits5 += label in ranked[:5]
        open5 += len(ranked) < 5 and label not in ranked
    n = len(qy)
    return 100.0 * hits1 / n, (100.0 * hits5 / n, 100.0 * (hits5 + open5) / n)


def test_knn_eval_and_cli(data_root, exported, tmp_path):
    backbone, meta = build_exported_resnet(exported[0.5])
    assert meta['base_channels'] == 32 and not backbone.training

    spec = importlib.util.spec_from_file_location(
        'knn_eval_tool', osp.join(ROOT, 'tools/knn_eval.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    out = str(tmp_path / 'knn' / 'metrics.json')
    argv = [
        exported[0.25], exported[0.5], '--data-root', data_root, '--resize',
        '0', '--crop', '0', '--k', '5', '20', '--num-workers', '0', '--device',
        'cpu', '--out', out
    ]
    assert tool.main(argv) == 0
    with open(out) as f:
        metrics = json.load(f)
    recs = metrics['widths']
    assert [r['width'] for r in recs] == [0.25, 0.5]
    assert [r['feature_dim'] for r in recs] == [128, 256]
    for rec in recs:
        assert (rec['num_train'], rec['num_val'],
                rec['num_classes']) == (160, 16, 8)
        assert [r['k'] for r in rec['results']] == [5, 20]
    # every number recounted here from the features, vote by vote
    from dspnet_mm.evaluation import extract_features, imagenet_style_dataset
    for rec, path in zip(recs, (exported[0.25], exported[0.5])):
        backbone, _ = build_exported_resnet(path)
        train = extract_features(
            backbone,
            imagenet_style_dataset(data_root, 'train', resize=0, crop=0))
        val = extract_features(
            backbone,
            imagenet_style_dataset(data_root, 'val', resize=0, crop=0))
        for res in rec['results']:
            top1, (low5, high5) = _knn_by_hand(train, val, res['k'], 0.07)
            assert res['top1'] == pytest.approx(top1)
            assert low5 - 1e-9 <= res['top5'] <= high5 + 1e-9
    # the library call gives the CLI's numbers
    from dspnet_mm.evaluation import imagenet_style_dataset
    rec = knn_eval(
        exported[0.25],
        imagenet_style_dataset(data_root, 'train', resize=0, crop=0),
        imagenet_style_dataset(data_root, 'val', resize=0, crop=0),
        k=5,
        device='cpu')
    assert rec['results'][0] == pytest.approx(recs[0]['results'][0])
    # a file that is not an exported width is an error, not a warning
    bad = str(tmp_path / 'bad.pth')
    torch.save(dict(state_dict={'conv1.weight': torch.zeros(1)}), bad)
    assert tool.main([bad, '--data-root', data_root, '--resize', '0']) == 1
