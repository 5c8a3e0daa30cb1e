"""Feature spectrum: how many directions a frozen representation uses.

A diagnostic beside the evidence table. Non-contrastive SSL (BYOL and so
DSPNet) can *dimensionally collapse*: the features keep varying, but along a
few directions only (Jing et al. 2022, "Understanding Dimensional Collapse in
Contrastive Self-supervised Learning", https://arxiv.org/abs/2110.09348;
Tian et al. 2021, "Understanding self-supervised learning dynamics without
contrastive pairs", https://arxiv.org/abs/2102.06810). A linear probe can
still read a class from the weak directions; cosine kNN cannot, because the
few strong ones decide who is a neighbour. Two numbers show it:

* the share of the centred train features' variance on each of the top
  principal components (a random-init ResNet spreads it: the top component
  holds under 20 %);
* kNN top-1 after projecting the top ``d`` components out (fitted on train,
  applied to train and val): if it rises well above kNN on the raw features,
  the top components were nuisance, not class.
"""
from typing import Dict, Sequence

import torch

from .knn import knn_classify

__all__ = [
    'variance_shares', 'knn_without_top_components', 'spectrum',
    'format_spectrum'
]


def _principal_axes(train_feats: torch.Tensor):
    x = train_feats.double()
    mean = x.mean(0)
    _, s, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, s, vh


def _shares(s: torch.Tensor, top: int) -> list:
    var = s**2
    return (var[:top] / var.sum().clamp_min(1e-30)).tolist()


def _knn_projected(axes, train_feats, train_labels, val_feats, val_labels,
                   drop, k):
    mean, _, vh = axes
    top = vh[:drop]

    def project(x):
        x = x.double() - mean
        return (x - (x @ top.T) @ top).float()

    return knn_classify(
        project(train_feats),
        train_labels,
        project(val_feats),
        val_labels,
        k=k)['top1']


def variance_shares(train_feats: torch.Tensor, top: int = 3) -> list:
    """Fraction of the centred features' variance on each top component.

    Args:
        train_feats (Tensor): ``(N, C)`` features.
        top (int): how many components to report.

    Returns:
        list[float]: ``top`` shares in decreasing order, each in [0, 1].
    """
    return _shares(_principal_axes(train_feats)[1], top)


def knn_without_top_components(train_feats: torch.Tensor,
                               train_labels: torch.Tensor,
                               val_feats: torch.Tensor,
                               val_labels: torch.Tensor,
                               drop: int,
                               k: int = 20) -> float:
    """KNN top-1 (%) after removing the top ``drop`` principal components.

    The mean and the components come from train only. ``drop=0`` scores the
    centred features (cosine kNN on centred rather than raw features).
    """
    return _knn_projected(
        _principal_axes(train_feats), train_feats, train_labels, val_feats,
        val_labels, drop, k)


def spectrum(train_feats: torch.Tensor,
             train_labels: torch.Tensor,
             val_feats: torch.Tensor,
             val_labels: torch.Tensor,
             drops: Sequence[int] = (0, 1, 4),
             top: int = 3,
             k: int = 20) -> Dict[str, object]:
    """Variance shares and kNN with the top components removed.

    The principal axes are computed once and serve every number.

    Returns:
        dict: ``knn`` (raw features, the evidence table's kNN),
        ``shares`` (:func:`variance_shares`) and ``knn_drop<d>`` per drop.
    """
    axes = _principal_axes(train_feats)
    out = dict(
        knn=knn_classify(
            train_feats, train_labels, val_feats, val_labels, k=k)['top1'],
        shares=_shares(axes[1], top))
    for d in drops:
        out[f'knn_drop{d}'] = _knn_projected(axes, train_feats, train_labels,
                                             val_feats, val_labels, d, k)
    return out


def format_spectrum(records: Sequence[dict], command: str) -> str:
    """The markdown table of ``feature_spectrum.py``, headed by its command.

    Args:
        records (Sequence[dict]): ``kind``, ``width``, ``seed`` and the
            results of :func:`spectrum` (the same drops in every record).
        command (str): the command line that produced them.
    """
    drops = sorted(
        int(k[len('knn_drop'):]) for k in records[0]
        if k.startswith('knn_drop'))
    head = ('| network | width | seed | top-3 PC variance share | kNN-20 | ' +
            ' | '.join(f'kNN-20 without top {d} PC' if d else 'kNN-20 centred'
                       for d in drops) + ' |')
    lines = [f'`{command}`', '', head, '|' + '---|' * (5 + len(drops))]
    for r in records:
        lines.append(f"| {r['kind']} | {r['width']} | {r['seed']} | " +
                     ' / '.join(f'{s:.2f}' for s in r['shares']) +
                     f" | {r['knn']:.1f} | " +
                     ' | '.join(f"{r[f'knn_drop{d}']:.1f}"
                                for d in drops) + ' |')
    return '\n'.join(lines) + '\n'
