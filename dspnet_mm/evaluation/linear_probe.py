"""A linear probe on cached frozen features, trained to convergence.

The laptop-scale linear protocol: the frozen backbone's features are
extracted once (:func:`dspnet_mm.evaluation.extract_features`), then a
multinomial logistic regression is fitted on them with full-batch L-BFGS
until its gradient vanishes. Unlike a few hundred SGD steps through the
network, this has no learning rate to tune, cannot diverge, and gives the
same number on every run (it is a convex problem solved to tolerance).

The L2 penalty is the only hyper-parameter. It is chosen on a held-out
split of the *train* set (never on val): every candidate is fitted on the
rest of train and scored on that split, the best is refitted on all of
train and evaluated once on val. Features are standardised with the train
statistics first (as ``StandardScaler`` + ``LogisticRegression``), so the
penalty means the same at every width.

mmpretrain's linear configs (SGD/LARS through the frozen network, with
augmentation) remain the protocol at ImageNet scale
(``configs/benchmarks/classification``).
"""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

__all__ = ['DEFAULT_WEIGHT_DECAYS', 'fit_logistic', 'linear_probe']

#: Candidate L2 penalties (on the mean cross-entropy, standardised inputs).
DEFAULT_WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1,
                         3e-1, 1.0)


def _standardise(train: torch.Tensor, *others: torch.Tensor):
    mean = train.mean(0, keepdim=True)
    std = train.std(0, keepdim=True).clamp_min(1e-6)
    return [(x - mean) / std for x in (train, ) + others]


def fit_logistic(x: torch.Tensor,
                 y: torch.Tensor,
                 num_classes: int,
                 weight_decay: float,
                 max_iter: int = 1000,
                 tolerance: float = 1e-7) -> torch.nn.Linear:
    """Multinomial logistic regression by full-batch L-BFGS.

    Minimises ``mean CE(W x + b, y) + weight_decay / 2 * ||W||^2`` (the bias
    is not penalised) in float64, from zero, until the gradient or the step
    falls below ``tolerance`` or ``max_iter`` iterations.

    Args:
        x (Tensor): ``(N, C)`` inputs.
        y (Tensor): ``(N, )`` labels in ``[0, num_classes)``.
        num_classes (int): outputs of the classifier.
        weight_decay (float): the L2 penalty.
        max_iter (int): L-BFGS iterations at most.
        tolerance (float): gradient and step tolerance.

    Returns:
        nn.Linear: the fitted classifier (float64).
    """
    x = x.double()
    y = y.long()
    head = torch.nn.Linear(x.shape[1], num_classes).double()
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(
        head.parameters(),
        lr=1,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=tolerance,
        tolerance_change=tolerance * 1e-2,
        line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(head(x), y)
        loss = loss + 0.5 * weight_decay * head.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return head.requires_grad_(False)


def _accuracy(head: torch.nn.Linear, x: torch.Tensor,
              y: torch.Tensor) -> float:
    return (head(x.double()).argmax(1) == y).double().mean().item() * 100


def _holdout_split(y: torch.Tensor, fraction: float, seed: int):
    """Stratified split of indices: ``fraction`` of every class held out."""
    gen = torch.Generator().manual_seed(seed)
    fit, held = [], []
    for c in torch.unique(y):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n = int(round(len(idx) * fraction))
        if len(idx) > 1:
            n = min(max(n, 1), len(idx) - 1)
        held.append(idx[:n])
        fit.append(idx[n:])
    return torch.cat(fit).sort().values, torch.cat(held).sort().values


def linear_probe(train_feats: torch.Tensor,
                 train_labels: torch.Tensor,
                 val_feats: torch.Tensor,
                 val_labels: torch.Tensor,
                 weight_decays: Sequence[float] = DEFAULT_WEIGHT_DECAYS,
                 holdout: float = 0.2,
                 seed: int = 0,
                 num_classes: Optional[int] = None,
                 max_iter: int = 1000) -> Dict:
    """Top-1 (%) of a logistic regression whose penalty is chosen on train.

    Args:
        train_feats (Tensor): ``(N, C)`` frozen features of the train set.
        train_labels (Tensor): ``(N, )``.
        val_feats (Tensor): ``(M, C)`` features to evaluate on.
        val_labels (Tensor): ``(M, )``.
        weight_decays (Sequence[float]): candidate L2 penalties.
        holdout (float): fraction of each train class held out to choose
            the penalty.
        seed (int): seed of the held-out split.
        num_classes (int, optional): defaults to ``max label + 1``.
        max_iter (int): L-BFGS iterations per fit.

    Returns:
        dict: ``top1`` (val), ``weight_decay`` (chosen), ``train_top1``
        (the final fit on all of train), ``holdout_top1`` (per candidate,
        the selection curve) and ``holdout``/``seed``.
    """
    if len(weight_decays) == 0:
        raise ValueError('weight_decays is empty')
    if not 0 < holdout < 1:
        raise ValueError(f'holdout must be in (0, 1), got {holdout}')
    train_labels = train_labels.long().cpu()
    val_labels = val_labels.long().cpu()
    if num_classes is None:
        num_classes = int(max(train_labels.max(), val_labels.max())) + 1
    train_feats = train_feats.double().cpu()
    val_feats = val_feats.double().cpu()

    fit_idx, held_idx = _holdout_split(train_labels, holdout, seed)
    x_fit, x_held = _standardise(train_feats[fit_idx], train_feats[held_idx])
    curve = {}
    for wd in weight_decays:
        head = fit_logistic(x_fit, train_labels[fit_idx], num_classes, wd,
                            max_iter)
        curve[float(wd)] = _accuracy(head, x_held, train_labels[held_idx])
    # the best held-out accuracy; ties go to the stronger penalty
    best = max(sorted(curve, reverse=True), key=lambda wd: curve[wd])

    x_train, x_val = _standardise(train_feats, val_feats)
    head = fit_logistic(x_train, train_labels, num_classes, best, max_iter)
    return dict(
        top1=_accuracy(head, x_val, val_labels),
        train_top1=_accuracy(head, x_train, train_labels),
        weight_decay=best,
        holdout_top1=curve,
        holdout=holdout,
        seed=seed)
