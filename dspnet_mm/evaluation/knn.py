"""Weighted kNN classification of frozen features (the SSL kNN monitor).

The classifier of Wu et al. 2018, "Unsupervised Feature Learning via
Non-Parametric Instance Discrimination" (https://arxiv.org/abs/1805.01978),
as DINO evaluates it (``eval_knn.py``, https://arxiv.org/abs/2104.14294):
features are L2-normalised; each test feature takes its ``k`` most
cosine-similar train features, and neighbour ``i`` votes for its label with
weight ``exp(s_i / T)``. The class with the largest summed vote wins.
"""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from torch.utils.data import DataLoader, Dataset

from .exported import build_exported_resnet

__all__ = [
    'IMAGENET_NORM', 'extract_features', 'knn_scores', 'knn_classify',
    'knn_eval', 'imagenet_style_dataset'
]

#: The data preprocessor of mmpretrain's ImageNet configs (and ours).
IMAGENET_NORM = dict(
    type='ClsDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

DataLike = Union[DataLoader, Dataset, dict]


def imagenet_style_dataset(data_root: str,
                           split: str = 'train',
                           ann_file: Optional[str] = None,
                           data_prefix: Optional[str] = None,
                           resize: int = 256,
                           crop: int = 224) -> dict:
    """A dataset config for ``<root>/<split>/...`` + ``meta/<split>.txt``.

    The layout of mmpretrain's ImageNet and of the demo data. The pipeline
    is the evaluation one (no augmentation) for train and val alike.

    Args:
        data_root (str): the dataset root.
        split (str): ``'train'`` or ``'val'``: default ann file and prefix.
        ann_file (str, optional): ``path label`` lines, relative to the root;
            ``meta/<split>.txt`` by default.
        data_prefix (str, optional): image folder relative to the root;
            ``<split>`` by default.
        resize (int): short edge after resizing (0: no resize).
        crop (int): centre crop side (0: no crop).

    Returns:
        dict: a ``CustomDataset`` config.
    """
    pipeline = [dict(type='LoadImageFromFile')]
    if resize:
        pipeline.append(
            dict(
                type='ResizeEdge',
                scale=resize,
                edge='short',
                backend='pillow'))
    if crop:
        pipeline.append(dict(type='CenterCrop', crop_size=crop))
    pipeline.append(dict(type='PackInputs'))
    cfg = dict(
        type='CustomDataset',
        data_root=data_root,
        ann_file=ann_file or f'meta/{split}.txt',
        data_prefix=split if data_prefix is None else data_prefix,
        pipeline=pipeline)
    classes = osp.join(data_root, 'meta', 'classes.txt')
    if osp.isfile(classes):
        cfg['classes'] = classes
    return cfg


def _as_loader(data: DataLike, batch_size: int,
               num_workers: int) -> DataLoader:
    """A sequential loader of packed samples from a loader/dataset/config."""
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, dict):
        if 'dataset' in data:  # a dataloader config: keep its sizes
            batch_size = data.get('batch_size', batch_size)
            num_workers = data.get('num_workers', num_workers)
            data = data['dataset']
        from mmpretrain.registry import DATASETS
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            data = DATASETS.build(data)
    # the order is irrelevant to kNN, and every sample must be seen once
    return DataLoader(
        data,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=pseudo_collate)


def _build_preprocessor(data_preprocessor) -> torch.nn.Module:
    if isinstance(data_preprocessor, torch.nn.Module):
        return data_preprocessor
    from mmpretrain.registry import MODELS
    cfg = dict(data_preprocessor or IMAGENET_NORM)
    cfg.setdefault('type', 'ClsDataPreprocessor')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


@torch.no_grad()
def extract_features(
    backbone: torch.nn.Module,
    data: DataLike,
    data_preprocessor: Union[dict, torch.nn.Module, None] = None,
    batch_size: int = 64,
    num_workers: int = 0,
    device: Optional[Union[str, torch.device]] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Global-average-pooled last-stage features and labels of a dataset.

    The backbone runs in eval mode (BN uses its running statistics) without
    gradients; its mode is restored afterwards. Images are normalised by the
    data preprocessor, as in training.

    Args:
        backbone (nn.Module): returns a feature map or a tuple of them (the
            last one is used), e.g. an mmpretrain ``ResNet``.
        data (DataLoader | Dataset | dict): packed samples
            (``inputs``/``data_samples``), or a dataset or dataloader
            config built in mmpretrain's scope.
        data_preprocessor (dict | nn.Module, optional): defaults to
            :data:`IMAGENET_NORM`.
        batch_size (int): used unless ``data`` is a loader or its config.
        num_workers (int): likewise.
        device (str | torch.device, optional): defaults to the backbone's.

    Returns:
        tuple: ``(features, labels)`` of shapes ``(N, C)`` and ``(N, )``, on
        ``device``.
    """
    if device is None:
        device = next(backbone.parameters()).device
    loader = _as_loader(data, batch_size, num_workers)
    preprocessor = _build_preprocessor(data_preprocessor).to(device)
    was_training = backbone.training
    backbone.eval()
    feats, labels = [], []
    try:
        for batch in loader:
            batch = preprocessor(batch, False)
            out = backbone(batch['inputs'].to(device))
            if isinstance(out, (tuple, list)):
                out = out[-1]
            if out.dim() == 4:
                out = out.mean(dim=(2, 3))
            feats.append(out.float())
            labels.append(
                torch.cat([s.gt_label for s in batch['data_samples']]))
    finally:
        backbone.train(was_training)
    if not feats:
        raise ValueError('the dataset is empty: no features to extract')
    return torch.cat(feats), torch.cat(labels).long().to(device)


def knn_scores(train_feats: torch.Tensor,
               train_labels: torch.Tensor,
               test_feats: torch.Tensor,
               k: int = 20,
               temperature: float = 0.07,
               num_classes: Optional[int] = None,
               chunk_size: int = 256) -> torch.Tensor:
    """Class votes of the weighted kNN: ``sum_i exp(cos_i / T)`` per class.

    Args:
        train_feats (Tensor): ``(N, C)`` features of the labelled set.
        train_labels (Tensor): ``(N, )`` integer labels.
        test_feats (Tensor): ``(M, C)`` features to classify.
        k (int): neighbours per test sample (at most ``N`` are used).
        temperature (float): ``T`` of the vote weights.
        num_classes (int, optional): defaults to ``max label + 1``.
        chunk_size (int): test samples per similarity block (memory bound:
            ``chunk_size x N`` floats).

    Returns:
        Tensor: ``(M, num_classes)`` summed vote weights.
    """
    if train_feats.shape[0] != train_labels.shape[0]:
        raise ValueError(f'{train_feats.shape[0]} train features but '
                         f'{train_labels.shape[0]} labels')
    if k < 1 or temperature <= 0:
        raise ValueError(f'need k >= 1 and temperature > 0, got k={k}, '
                         f'temperature={temperature}')
    train_labels = train_labels.long()
    if num_classes is None:
        num_classes = int(train_labels.max()) + 1
    k = min(k, train_feats.shape[0])
    train = F.normalize(train_feats.float(), dim=1)
    test = F.normalize(test_feats.float().to(train.device), dim=1)
    scores = []
    for start in range(0, test.shape[0], chunk_size):
        sim = test[start:start + chunk_size] @ train.T
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        votes = torch.zeros(
            sim.shape[0], num_classes, device=sim.device, dtype=sim.dtype)
        votes.scatter_add_(1, train_labels[top_idx], weights)
        scores.append(votes)
    return torch.cat(scores)


def knn_classify(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 test_feats: torch.Tensor,
                 test_labels: torch.Tensor,
                 k: int = 20,
                 temperature: float = 0.07,
                 num_classes: Optional[int] = None,
                 chunk_size: int = 256) -> Dict[str, float]:
    """Top-1 (and top-5) accuracy in percent of the weighted kNN.

    See :func:`knn_scores` for the arguments. ``top5`` is reported when
    there are at least 5 classes.

    Returns:
        dict: ``top1`` and, with 5 or more classes, ``top5``.
    """
    if num_classes is None:
        num_classes = int(max(train_labels.max(), test_labels.max())) + 1
    scores = knn_scores(train_feats, train_labels, test_feats, k, temperature,
                        num_classes, chunk_size)
    target = test_labels.long().to(scores.device).view(-1, 1)
    ranked = scores.topk(min(5, num_classes), dim=1).indices
    hits = ranked.eq(target)
    total = max(hits.shape[0], 1)
    out = dict(top1=hits[:, :1].any(1).sum().item() * 100.0 / total)
    if num_classes >= 5:
        out['top5'] = hits[:, :5].any(1).sum().item() * 100.0 / total
    return out


def knn_eval(checkpoint: str,
             train_data: DataLike,
             val_data: DataLike,
             k: Union[int, Sequence[int]] = 20,
             temperature: float = 0.07,
             data_preprocessor: Union[dict, torch.nn.Module, None] = None,
             batch_size: int = 64,
             num_workers: int = 0,
             device: Optional[Union[str, torch.device]] = None) -> dict:
    """KNN accuracy (train -> val) of one exported width.

    The stock mmpretrain ResNet is built from the file's meta (depth,
    base/stem channels) and loaded with ``strict=True``.

    Args:
        checkpoint (str): an exported width (``tools/slim_checkpoint.py``).
        train_data (DataLoader | Dataset | dict): the labelled set, e.g.
            ``imagenet_style_dataset(root, 'train')`` or a config's
            ``val_dataloader`` with the train ann file.
        val_data (DataLoader | Dataset | dict): the set to classify.
        k (int | Sequence[int]): neighbours; several values share the
            features.
        temperature (float): ``T`` of the vote weights.
        data_preprocessor (dict | nn.Module, optional): normalisation;
            defaults to :data:`IMAGENET_NORM`.
        batch_size (int): for datasets and dataset configs.
        num_workers (int): likewise.
        device (str | torch.device, optional): CUDA when available.

    Returns:
        dict: the width's ``checkpoint``, ``depth``, ``width``,
        ``base_channels``, ``feature_dim``, ``params``, ``flops``, the set
        sizes, ``num_classes``, ``temperature`` and ``results``: one
        ``dict(k, top1[, top5])`` per ``k``.
    """
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    backbone, meta = build_exported_resnet(checkpoint, device=device)
    feats = {}
    for name, data in (('train', train_data), ('val', val_data)):
        feats[name] = extract_features(
            backbone,
            data,
            data_preprocessor,
            batch_size=batch_size,
            num_workers=num_workers,
            device=device)
    (train_x, train_y), (val_x, val_y) = feats['train'], feats['val']
    num_classes = int(max(train_y.max(), val_y.max())) + 1
    ks: List[int] = [k] if isinstance(k, int) else list(k)
    results = []
    for k_ in ks:
        res = knn_classify(
            train_x,
            train_y,
            val_x,
            val_y,
            k=k_,
            temperature=temperature,
            num_classes=num_classes)
        results.append(dict(k=k_, **res))
    return dict(
        checkpoint=checkpoint,
        depth=meta['depth'],
        width=meta['width'],
        base_channels=meta['base_channels'],
        feature_dim=int(train_x.shape[1]),
        params=meta.get('params'),
        flops=meta.get('flops'),
        num_train=int(train_x.shape[0]),
        num_val=int(val_x.shape[0]),
        num_classes=num_classes,
        temperature=temperature,
        results=results)
