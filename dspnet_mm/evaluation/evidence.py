"""The evidence table: every width of DSPNet next to random init and to
networks pretrained one by one, with seeds, spread and pretraining cost.

One call evaluates, per width:

* ``random``: the random-init twin (:func:`random_init_resnet`, one per
  seed, BN statistics averaged over the training images), the floor a
  pretraining must clear;
* ``byol``: networks pretrained one by one (any mmpretrain checkpoint of a
  ResNet, e.g. our BYOL twins; the width is read from the weights);
* ``dspnet``: every width of each DSPNet checkpoint, exported with
  :func:`dspnet_mm.slim.export_widths` exactly as users export them.

Each network is frozen, its global-average-pooled features of the whole
image (no resize, no crop; ImageNet normalisation) are extracted once for
train and val, then scored by weighted kNN (k = 20 and 200, T = 0.07) and
by the cached-feature linear probe (:func:`linear_probe`: L-BFGS logistic
regression, penalty chosen on a held-out part of train). Seeds are read
from the checkpoints (mmengine's ``meta['seed']``), pretraining wall time
from ``meta['train_time']`` (:class:`~dspnet_mm.engine.TrainTimeHook`).

Per-network results are cached under ``<out_dir>/cache`` keyed by the
checkpoint's SHA-256, the width, the data and :data:`PROTOCOL`, so the
table can be built as checkpoints arrive and a rerun only re-reads them.
Features are computed in float32 on one thread; a rerun on the same
machine gives the same numbers to the last digit.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..models.layers import width_tag
from ..utils.atomic import atomic_write
from .evidence_report import (KINDS, LABELS, aggregate, format_evidence,
                              plot_evidence, write_evidence)
from .knn import (_as_loader, _build_preprocessor, extract_features,
                  imagenet_style_dataset, knn_classify)
from .linear_probe import linear_probe
from .random_twin import fit_bn_statistics, random_init_resnet

__all__ = [
    'PROTOCOL', 'KINDS', 'EvidenceError', 'evaluate_backbone',
    'build_evidence', 'aggregate', 'format_evidence', 'plot_evidence',
    'write_evidence', 'network_plan'
]

#: What a cached result depends on besides network and data; bump on change.
PROTOCOL = 'evidence/1: whole image, knn k=20,200 T=0.07, linear_probe'

KNN_KS = (20, 200)


class EvidenceError(ValueError):
    """Bad input to the evidence table (one clear message)."""


def _data_signature(data_root: str) -> str:
    h = hashlib.sha256(osp.abspath(data_root).encode())
    for name in ('meta/train.txt', 'meta/val.txt', 'manifest.json'):
        path = osp.join(data_root, name)
        if osp.isfile(path):
            with open(path, 'rb') as f:
                h.update(f.read())
    return h.hexdigest()[:16]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def _split(data_root: str, split: str) -> dict:
    ann = osp.join(data_root, 'meta', f'{split}.txt')
    if not osp.isfile(ann):
        raise EvidenceError(
            f'{ann} not found: --data-root must be an ImageNet-style root '
            '(tools/prepare_dataset.py makes one from class folders)')
    return imagenet_style_dataset(data_root, split, resize=0, crop=0)


def evaluate_backbone(backbone: torch.nn.Module,
                      data_root: str,
                      batch_size: int = 128) -> Dict[str, float]:
    """KNN (k = 20, 200) and linear-probe top-1 (%) of a frozen backbone."""
    tx, ty = extract_features(
        backbone, _split(data_root, 'train'), batch_size=batch_size)
    vx, vy = extract_features(
        backbone, _split(data_root, 'val'), batch_size=batch_size)
    res = {
        f'knn{k}': knn_classify(tx, ty, vx, vy, k=k)['top1']
        for k in KNN_KS
    }
    lp = linear_probe(tx, ty, vx, vy)
    res.update(
        linear=lp['top1'],
        linear_train=lp['train_top1'],
        linear_weight_decay=lp['weight_decay'],
        feature_dim=int(tx.shape[1]))
    return res


def _random_twin(depth: int, width: float, seed: int, data_root: str,
                 batch_size: int) -> torch.nn.Module:
    net = random_init_resnet(depth, width, seed)
    pre = _build_preprocessor(None)
    loader = _as_loader(_split(data_root, 'train'), batch_size, 0)
    fit_bn_statistics(net, (pre(b, False)['inputs'] for b in loader))
    return net


def _checkpoint_meta(path: str) -> dict:
    from ..utils.checkpoint import load_checkpoint_safely
    meta = load_checkpoint_safely(path).get('meta') or {}
    time = meta.get('train_time') or {}
    return dict(
        seed=meta.get('seed'),
        iter=meta.get('iter'),
        wall_s=time.get('wall_s'),
        cpu_s=time.get('cpu_s'),
        threads=time.get('threads'),
        processor=time.get('processor'))


class _Cache:

    def __init__(self, out_dir: str, data_root: str):
        self.dir = osp.join(out_dir, 'cache')
        self.data = _data_signature(data_root)

    def _path(self, ident: str) -> str:
        key = hashlib.sha256(
            f'{ident}|{self.data}|{PROTOCOL}'.encode()).hexdigest()[:24]
        return osp.join(self.dir, f'{key}.json')

    def get(self, ident: str) -> Optional[dict]:
        try:
            with open(self._path(ident)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, ident: str, rec: dict) -> None:
        os.makedirs(self.dir, exist_ok=True)
        atomic_write(json.dumps(rec, indent=1), self._path(ident))


def network_plan(out_dir: str,
                 dspnet: Sequence[str] = (),
                 byol: Sequence[str] = (),
                 random_seeds: Sequence[int] = (0, ),
                 widths: Optional[Sequence[float]] = None,
                 depth: Optional[int] = None) -> Tuple[List[tuple], int]:
    """The networks of a table: every exported width, then the random twins.

    Exports each width of every DSPNet checkpoint and each one-by-one
    checkpoint into ``<out_dir>/slim/<sha256[:16]>``, then adds one random
    twin per seed and width (the widths seen, plus ``widths``). Shared by
    :func:`build_evidence` and ``tools/analysis/feature_spectrum.py``.

    Raises:
        EvidenceError: a checkpoint is missing (checked for all before
            anything is exported) or cannot be exported, or the checkpoints
            differ in depth.

    Returns:
        tuple: ``(nets, depth)``; each net is ``(kind, source, ident,
        export meta, exported path, run meta)`` with ``kind`` in
        :data:`KINDS`, ``path`` None for a random twin.
    """
    from ..benchmark.sources import quiet_complexity
    from ..slim import ExportError, export_plain_resnet, export_widths
    from ..slim.file_format import complexity
    for path in list(dspnet) + list(byol):  # all, before anything is written
        if not osp.isfile(path):
            raise EvidenceError(f'checkpoint not found: {path}')
    nets = []
    try:
        for path in dspnet:
            sha = _sha256(path)
            with quiet_complexity():
                exported = export_widths(
                    path, 'all' if widths is None else list(widths),
                    osp.join(out_dir, 'slim', sha[:16]))
            meta = _checkpoint_meta(path)
            for res in exported:
                w = res['meta']['width']
                nets.append(('dspnet', path, f'{sha}|{w}', res['meta'],
                             res['path'], meta))
        for path in byol:
            sha = _sha256(path)
            with quiet_complexity():
                res = export_plain_resnet(path,
                                          osp.join(out_dir, 'slim', sha[:16]))
            w = res['meta']['width']
            if widths is not None and w not in widths:
                continue
            nets.append(('byol', path, f'{sha}|{w}', res['meta'], res['path'],
                         _checkpoint_meta(path)))
    except ExportError as e:
        raise EvidenceError(str(e)) from None
    seen_depths = {n[3]['depth'] for n in nets}
    if len(seen_depths) > 1:
        raise EvidenceError(f'checkpoints of different depths: '
                            f'{sorted(seen_depths)}')
    depth = depth or (seen_depths.pop() if seen_depths else 18)
    twin_widths = sorted(
        {n[3]['width']
         for n in nets} | set(widths or
                              ()), reverse=True) or [1.0, 0.75, 0.5, 0.25]
    for seed in random_seeds:
        for w in twin_widths:
            with quiet_complexity():
                params, flops = complexity(depth, w)
            nets.append(
                ('random', None, f'random|{depth}|{w}|{seed}',
                 dict(depth=depth, width=w, params=params, flops=flops), None,
                 dict(seed=seed, wall_s=0.0, cpu_s=0.0)))
    return nets, depth


def build_evidence(data_root: str,
                   out_dir: str,
                   dspnet: Sequence[str] = (),
                   byol: Sequence[str] = (),
                   random_seeds: Sequence[int] = (0, 1),
                   widths: Optional[Sequence[float]] = None,
                   depth: Optional[int] = None,
                   batch_size: int = 128,
                   log: Callable[[str], None] = print) -> List[dict]:
    """Evaluate every network of the table; one record per network.

    Args:
        data_root (str): ImageNet-style root with ``meta/train.txt`` and
            ``meta/val.txt`` (train fits kNN memory and probe, val scores).
        out_dir (str): exports go to ``<out_dir>/slim``, results to
            ``<out_dir>/cache``.
        dspnet (Sequence[str]): DSPNet checkpoints (one per seed).
        byol (Sequence[str]): one-by-one checkpoints, any widths and seeds.
        random_seeds (Sequence[int]): seeds of the random-init twins.
        widths (Sequence[float], optional): widths to evaluate; by default
            those the DSPNet checkpoints were trained with.
        depth (int, optional): ResNet depth of the random twins; by default
            that of the checkpoints.

    Returns:
        list[dict]: ``kind``, ``width``, ``seed``, ``source``, ``params``,
        ``flops``, the metrics (:data:`METRICS`), ``wall_s`` etc.
    """
    _split(data_root, 'train'), _split(data_root, 'val')
    if not (dspnet or byol or random_seeds):
        raise EvidenceError('nothing to evaluate')
    cache = _Cache(out_dir, data_root)
    records = []
    nets, depth = network_plan(out_dir, dspnet, byol, random_seeds, widths,
                               depth)
    from .exported import build_exported_resnet
    for i, (kind, source, ident, emeta, path, meta) in enumerate(nets, 1):
        w = emeta['width']
        what = (f'[{i}/{len(nets)}] {LABELS[kind]} w{width_tag(w)} '
                f'seed {meta.get("seed")}')
        rec = cache.get(ident)
        if rec is None:
            log(f'{what} ...')
            if kind == 'random':
                net = _random_twin(depth, w, meta['seed'], data_root,
                                   batch_size)
            else:
                net, _ = build_exported_resnet(path)
            rec = evaluate_backbone(net, data_root, batch_size)
            cache.put(ident, rec)
        else:
            log(f'{what} (cached)')
        rec = dict(
            kind=kind,
            width=w,
            seed=meta.get('seed'),
            source=source,
            depth=emeta['depth'],
            params=emeta['params'],
            flops=emeta['flops'],
            **rec)
        rec.update({
            k: meta.get(k)
            for k in ('iter', 'wall_s', 'cpu_s', 'threads', 'processor')
            if k in meta
        })
        log(f'    knn20 {rec["knn20"]:.2f}  knn200 {rec["knn200"]:.2f}  '
            f'linear {rec["linear"]:.2f}')
        records.append(rec)
    return records
