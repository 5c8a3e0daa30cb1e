"""Point a stock mmpretrain / mmdet / mmseg config at an exported width.

An exported width (:func:`dspnet_mm.slim.export_widths`) is a plain
``ResNet(depth, base_channels=64 * w, stem_channels=64 * w)`` checkpoint whose
``meta`` records its depth and the output channels of its four stages.
:func:`apply_width` writes everything that depends on them into a config of a
stock model: the backbone, the checkpoint it starts from, and the input
channels of whatever reads the backbone (FPN, decode heads, the classifier).
Every number comes from the file, none is typed by hand, so one config serves
every width. The result needs no dspnet_mm import: stock tools train it.
:func:`downstream_overrides` gives the same settings as ``--cfg-options``
for the stock configs of each framework (it runs :func:`apply_width` on their
model skeletons).

mmengine's ``Pretrained`` init only *warns* about missing or mis-shaped keys,
so a wrong width would silently train from scratch;
:func:`verify_backbone_loaded` checks the loaded backbone tensor by tensor.
"""
import copy
import os.path as osp
from typing import Dict, List, Sequence, Tuple, Union

import torch

__all__ = [
    'TRANSFER_TASKS', 'TransferError', 'apply_width', 'downstream_overrides',
    'read_export_meta', 'verify_backbone_loaded'
]

#: Frameworks whose configs :func:`apply_width` understands.
TRANSFER_TASKS = ('mmpretrain', 'mmdet', 'mmseg')

#: What ``meta`` of an exported width must hold.
_META_KEYS = ('depth', 'width', 'base_channels', 'stem_channels',
              'stage_channels')

#: ``out_indices`` of each framework's ResNet when the config omits it.
_DEFAULT_OUT_INDICES = {
    'mmpretrain': (3, ),
    'mmdet': (0, 1, 2, 3),
    'mmseg': (0, 1, 2, 3),
}
#: mmseg's BaseDecodeHead reads the last feature when ``in_index`` is unset.
_DEFAULT_IN_INDEX = -1

#: mmpretrain necks that keep the channel count: the head reads the backbone.
_POOLING_NECKS = ('GlobalAveragePooling', 'GeneralizedMeanPooling')

#: Backbone options of ResNet variants that change the exported layout.
_PLAIN_RESNET = dict(deep_stem=False, avg_down=False, style='pytorch')


class TransferError(ValueError):
    """An exported width or a config that transfer cannot use."""


def _load_export(path: str) -> Tuple[Dict[str, torch.Tensor], dict]:
    if not isinstance(path, str) or not osp.isfile(path):
        raise TransferError(f'exported checkpoint not found: {path}')
    try:
        # An exported width holds tensors and plain metadata only.
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # pickle, zip and safe-unpickler errors
        first = str(e).strip().splitlines()[0] if str(e).strip() else ''
        raise TransferError(
            f'{path} cannot be loaded as an exported width (a weights-only '
            f'checkpoint): {type(e).__name__}: {first}') from None
    hint = ('export a width first: python tools/slim_checkpoint.py CKPT '
            '--widths all --out-dir DIR')
    if not isinstance(ckpt, dict) or not isinstance(
            ckpt.get('state_dict'), dict) or not isinstance(
                ckpt.get('meta'), dict):
        raise TransferError(f'{path} is not an exported width (it holds no '
                            f'"state_dict" and "meta" dicts); {hint}')
    meta = ckpt['meta']
    missing = [k for k in _META_KEYS if k not in meta]
    if missing:
        raise TransferError(f'{path} is not an exported width: its meta lacks '
                            f'{", ".join(missing)}; {hint}')
    channels = meta['stage_channels']
    if (not isinstance(channels, (list, tuple)) or len(channels) != 4
            or not all(isinstance(c, int) and c > 0 for c in channels)):
        raise TransferError(f'{path}: meta stage_channels must be four '
                            f'positive ints, got {channels!r}')
    stem = ckpt['state_dict'].get('conv1.weight')
    if stem is None or stem.shape[0] != meta['stem_channels']:
        raise TransferError(
            f'{path}: its state_dict does not match its meta (conv1.weight '
            f'{None if stem is None else tuple(stem.shape)} vs '
            f'stem_channels={meta["stem_channels"]})')
    return ckpt['state_dict'], meta


def read_export_meta(path: str) -> dict:
    """The ``meta`` of an exported width, checked.

    Args:
        path (str): a ``resnet{depth}_w{width}.pth`` written by
            ``tools/slim_checkpoint.py``.

    Returns:
        dict: at least ``depth``, ``width``, ``base_channels``,
        ``stem_channels`` and ``stage_channels`` (the four stage outputs).

    Raises:
        TransferError: a missing file, one that torch's weights-only loader
            refuses, or one that is not an exported width.
    """
    return dict(_load_export(path)[1])


def _as_list(node) -> list:
    """A head or neck entry of a config: None, one dict, or a list."""
    if node is None:
        return []
    return list(node) if isinstance(node, (list, tuple)) else [node]


def _pick(channels: Sequence[int], index: Union[int, Sequence[int]],
          where: str) -> Union[int, List[int]]:
    """Channels of the backbone outputs ``index`` reads (int or list)."""
    try:
        if isinstance(index, (list, tuple)):
            return [channels[i] for i in index]
        return channels[index]
    except (IndexError, TypeError):
        raise TransferError(f'{where}: in_index {index!r} does not select '
                            f'from the {len(channels)} backbone outputs '
                            f'{list(channels)}') from None


class _Changes:
    """Sets dotted config keys and remembers what it set, in order."""

    def __init__(self):
        self.items = []

    def set(self, node: dict, key: str, value, path: str) -> None:
        node[key] = value
        self.items.append((f'{path}.{key}', value))

    @property
    def applied(self) -> List[str]:
        return [f'{k}={v!r}' for k, v in self.items]


def _backbone(cfg, task: str, path: str, meta: dict,
              log: _Changes) -> List[int]:
    """Fill the backbone; returns the channels of its outputs, in order."""
    model = cfg.get('model')
    if not isinstance(model, dict) or not isinstance(
            model.get('backbone'), dict):
        raise TransferError('the config has no model.backbone dict')
    bb = model['backbone']
    log.set(bb, 'type', 'ResNet', 'model.backbone')
    for key in ('depth', 'base_channels', 'stem_channels'):
        log.set(bb, key, meta[key], 'model.backbone')
    for key, plain in _PLAIN_RESNET.items():
        if key in bb and bb[key] != plain:
            log.set(bb, key, plain, 'model.backbone')
    if task != 'mmpretrain' and bb.get('pretrained') is not None:
        # mmdet/mmseg ResNets refuse ``pretrained`` next to ``init_cfg``
        log.set(bb, 'pretrained', None, 'model.backbone')
    log.set(bb, 'init_cfg', dict(type='Pretrained', checkpoint=path),
            'model.backbone')
    out_indices = bb.get('out_indices', _DEFAULT_OUT_INDICES[task])
    out_indices = [out_indices] if isinstance(out_indices,
                                              int) else list(out_indices)
    return [
        _pick(meta['stage_channels'], i, 'model.backbone.out_indices')
        for i in out_indices
    ]


def _mmdet(model: dict, feats: List[int], log: _Changes) -> None:
    necks = _as_list(model.get('neck'))
    if not necks or 'in_channels' not in necks[0]:
        raise TransferError(
            'apply_width handles detectors whose first neck (FPN and the '
            'like) reads the backbone through "in_channels"; this config '
            'has none')
    # only the first neck reads the backbone; later ones read the neck
    path = 'model.neck' if isinstance(model['neck'], dict) else 'model.neck[0]'
    log.set(necks[0], 'in_channels', list(feats), path)


def _mmseg(model: dict, feats: List[int], log: _Changes) -> None:
    log.set(model, 'pretrained', None, 'model')
    necks = _as_list(model.get('neck'))
    if necks:
        # heads read the neck's outputs, whose width is the neck's own
        if 'in_channels' not in necks[0]:
            raise TransferError('the first neck of this config takes no '
                                '"in_channels": cannot set its input width')
        path = ('model.neck'
                if isinstance(model['neck'], dict) else 'model.neck[0]')
        log.set(necks[0], 'in_channels', list(feats), path)
        return
    for name in ('decode_head', 'auxiliary_head'):
        node = model.get(name)
        for i, head in enumerate(_as_list(node)):
            path = f'model.{name}' + (''
                                      if isinstance(node, dict) else f'[{i}]')
            index = head.get('in_index', _DEFAULT_IN_INDEX)
            log.set(head, 'in_channels', _pick(feats, index, path), path)


def _mmpretrain(model: dict, feats: List[int], log: _Changes) -> None:
    necks = _as_list(model.get('neck'))
    # the classifier reads the last backbone output
    last = feats[-1]
    if necks and necks[0].get('type') not in _POOLING_NECKS:
        if 'in_channels' not in necks[0]:
            raise TransferError(
                f'neck {necks[0].get("type")!r} takes no "in_channels": '
                'cannot set its input width')
        path = ('model.neck'
                if isinstance(model['neck'], dict) else 'model.neck[0]')
        log.set(necks[0], 'in_channels', last, path)
        return
    node = model.get('head')
    heads = [h for h in _as_list(node) if 'in_channels' in h]
    if not heads:
        raise TransferError('no model.head with "in_channels" to set')
    for i, head in enumerate(_as_list(node)):
        if 'in_channels' in head:
            path = 'model.head' + ('' if isinstance(node, dict) else f'[{i}]')
            log.set(head, 'in_channels', last, path)


_TASK_FNS = dict(mmpretrain=_mmpretrain, mmdet=_mmdet, mmseg=_mmseg)


def apply_width(cfg, checkpoint: str, task: str) -> List[str]:
    """Set every width-dependent field of ``cfg`` from an exported width.

    ``cfg`` is changed in place. Set are the backbone (``type='ResNet'``,
    ``depth``, ``base_channels``, ``stem_channels``; plain stem and
    ``style='pytorch'`` where the config says otherwise;
    ``init_cfg=dict(type='Pretrained', checkpoint=checkpoint)``) and the
    input channels of what reads it, derived from the backbone's
    ``out_indices`` and the file's ``stage_channels``:

    * ``mmdet``: the first neck's ``in_channels`` (e.g. FPN's list).
    * ``mmseg``: ``model.pretrained=None``; each decode and auxiliary head's
      ``in_channels`` from its own ``in_index`` (a list index gives a list,
      an int gives one number); heads may be dicts or lists of dicts. With
      a neck, its ``in_channels`` instead (the heads read the neck).
    * ``mmpretrain``: the head's ``in_channels`` behind a pooling neck, or
      the neck's ``in_channels`` otherwise.

    Args:
        cfg (mmengine.Config): a config of a stock model.
        checkpoint (str): an exported width; written into the config as is.
        task (str): ``'mmpretrain'``, ``'mmdet'`` or ``'mmseg'``.

    Returns:
        list[str]: the ``key=value`` settings applied, in order.
    """
    if task not in TRANSFER_TASKS:
        raise TransferError(
            f'task must be one of {TRANSFER_TASKS}, got {task!r}')
    meta = read_export_meta(checkpoint)
    return _apply(cfg, task, checkpoint, meta).applied


def _apply(cfg, task: str, checkpoint: str, meta: dict) -> _Changes:
    log = _Changes()
    feats = _backbone(cfg, task, checkpoint, meta, log)
    _TASK_FNS[task](cfg['model'], feats, log)
    return log


#: The model part of each framework's stock ResNet configs (mmpretrain's
#: ResNet + linear head, mmdet's ResNet + FPN, mmseg's ResNetV1c with FCN or
#: UPerNet heads), as far as :func:`apply_width` reads it.
_STOCK_MODELS = {
    'mmpretrain': ('mmpretrain',
                   dict(
                       backbone=dict(type='ResNet', out_indices=(3, )),
                       neck=dict(type='GlobalAveragePooling'),
                       head=dict(type='LinearClsHead', in_channels=2048))),
    'mmdet': ('mmdet',
              dict(
                  backbone=dict(type='ResNet', out_indices=(0, 1, 2, 3)),
                  neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048]))),
    'mmseg (FCN)':
    ('mmseg',
     dict(
         backbone=dict(type='ResNetV1c', out_indices=(0, 1, 2, 3)),
         decode_head=dict(type='FCNHead', in_index=3, in_channels=2048),
         auxiliary_head=dict(type='FCNHead', in_index=2, in_channels=1024))),
    'mmseg (UPerNet)':
    ('mmseg',
     dict(
         backbone=dict(type='ResNetV1c', out_indices=(0, 1, 2, 3)),
         decode_head=dict(
             type='UPerHead',
             in_index=[0, 1, 2, 3],
             in_channels=[256, 512, 1024, 2048]),
         auxiliary_head=dict(type='FCNHead', in_index=2, in_channels=1024))),
}


def _option(key: str, value) -> List[str]:
    """``key=value`` as mmengine's ``DictAction`` reads it back."""
    if isinstance(value, dict):
        return [
            opt for k, v in value.items() for opt in _option(f'{key}.{k}', v)
        ]
    if isinstance(value, (list, tuple)):
        value = '[' + ','.join(str(v) for v in value) + ']'
    return [f'{key}={value}']


def downstream_overrides(meta: dict, path: str) -> Dict[str, List[str]]:
    """``--cfg-options`` that stock configs need to load an exported width.

    The settings of :func:`apply_width` on the model skeleton of each
    framework's stock ResNet configs.

    Args:
        meta (dict): the ``meta`` of an exported checkpoint.
        path (str): the exported checkpoint.

    Returns:
        dict: framework name -> list of ``key=value`` overrides, for
        mmpretrain (ResNet + linear head), mmdet (ResNet + FPN) and mmseg
        (plain-stem ResNet with FCN or UPerNet decode heads).
    """
    out = {}
    for name, (task, model) in _STOCK_MODELS.items():
        cfg = dict(model=copy.deepcopy(model))
        changes = _apply(cfg, task, path, meta)
        out[name] = [
            opt for key, value in changes.items for opt in _option(key, value)
        ]
    return out


def _summary(items: Sequence[str], limit: int = 5) -> str:
    items = list(items)
    more = f' (+{len(items) - limit} more)' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more


def verify_backbone_loaded(
        model: torch.nn.Module,
        checkpoint: Union[str, Dict[str, torch.Tensor]]) -> int:
    """Check that ``model.backbone`` holds exactly the exported width.

    Call it after ``model.init_weights()``: every tensor of
    ``model.backbone.state_dict()`` must equal the file's, over the same key
    set and shapes.

    Args:
        model (nn.Module): a built model (a DDP-like wrapper is unwrapped).
        checkpoint (str | dict): an exported width, or its state dict.

    Returns:
        int: the number of tensors checked.

    Raises:
        ValueError: with a summary of missing and unexpected keys, shape
            mismatches and differing tensors.
    """
    model = getattr(model, 'module', model)
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise TransferError(f'{type(model).__name__} has no backbone')
    if isinstance(checkpoint, str):
        expected = _load_export(checkpoint)[0]
        name = checkpoint
    else:
        expected, name = checkpoint, 'the given state dict'
    got = backbone.state_dict()
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes, values = [], []
    for key in sorted(set(got) & set(expected)):
        a, b = got[key], expected[key]
        if a.shape != b.shape:
            shapes.append(f'{key} {tuple(a.shape)} vs {tuple(b.shape)}')
        elif not torch.equal(a.detach().cpu(), b.to(a.dtype).cpu()):
            values.append(key)
    if missing or unexpected or shapes or values:
        lines = [
            f'the backbone ({type(backbone).__name__}) does not hold '
            f'the weights of {name}:'
        ]
        if shapes:
            lines.append(f'  {len(shapes)} shape mismatch(es) (model vs '
                         f'file): {_summary(shapes)}')
        if missing:
            lines.append(f'  {len(missing)} key(s) of the file missing from '
                         f'the backbone: {_summary(missing)}')
        if unexpected:
            lines.append(f'  {len(unexpected)} backbone key(s) not in the '
                         f'file: {_summary(unexpected)}')
        if values:
            lines.append(f'  {len(values)} tensor(s) differ from the file '
                         f'(not loaded, or changed after loading): '
                         f'{_summary(values)}')
        lines.append('  (is the config built for another width or depth? '
                     'run apply_width / tools/transfer_config.py with this '
                     'file, and call model.init_weights() first)')
        raise TransferError('\n'.join(lines))
    return len(got)
