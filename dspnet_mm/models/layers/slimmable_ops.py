"""Slimmable conv, linear and switchable BN.

Weights are shared: width ``w`` uses the *first* ``round(c * w)`` output
channels of every layer (Yu et al., `Slimmable Neural Networks
<https://arxiv.org/abs/1812.08928>`_). Input channels follow the incoming
tensor, so a layer needs to know only its own output width. BN is not
shared: :class:`SwitchableBatchNorm` keeps one private BN per trained width,
because the statistics of a narrow sub-network differ from the wide one's.
"""
import weakref
from typing import Optional, Sequence

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import revert_sync_batchnorm

from .width import GRID, SlimmableMixin, channels_at, check_width


def _layout(weight: torch.Tensor) -> torch.memory_format:
    """The memory format of ``weight`` (channels_last stays channels_last in
    the dense copies below, so the kernels pick the same path)."""
    if (weight.dim() == 4 and not weight.is_contiguous()
            and weight.is_contiguous(memory_format=torch.channels_last)):
        return torch.channels_last
    return torch.contiguous_format


def _compiling() -> bool:
    compiler = getattr(torch, 'compiler', None)
    return bool(compiler is not None and compiler.is_compiling())


#: Dense weight slices for evaluation, ``{conv: {(out, cin): entry}}``. Kept
#: outside the modules, so that ``deepcopy``, pickling and ``state_dict``
#: never see them; an entry dies with its conv.
_SLICE_CACHE: 'weakref.WeakKeyDictionary' = weakref.WeakKeyDictionary()


class SlimmableConv2d(SlimmableMixin, nn.Conv2d):
    """``nn.Conv2d`` that runs on its first ``round(out_channels * width)``
    filters and on as many input channels as the input has.

    Args:
        slim_out (bool): whether the output channels follow the width.
            False for a layer whose output size is fixed. Defaults to True.
        Other args are those of ``nn.Conv2d`` at full width.
    """

    def __init__(self, *args, slim_out: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if self.groups != 1:
            raise ValueError('SlimmableConv2d supports groups=1 only')
        self.slim_out = slim_out

    @property
    def active_out_channels(self) -> int:
        if not self.slim_out:
            return self.out_channels
        return channels_at(self.out_channels, self.width)

    def active_weight(self, in_channels: int):
        """The weight (and bias) slice for the current width."""
        out = self.active_out_channels
        if in_channels > self.in_channels:
            raise ValueError(f'{in_channels} input channels exceed the '
                             f'full width of this conv ({self.in_channels})')
        bias = self.bias
        if bias is not None and out != self.out_channels:
            bias = bias[:out]
        return self._sliced_weight(out, in_channels), bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.active_weight(x.shape[1])
        return self._conv_forward(x, weight, bias)

    def train(self, mode: bool = True):
        # every train() / eval() empties the slice cache (see below)
        _SLICE_CACHE.pop(self, None)
        return super().train(mode)

    def _sliced_weight(self, out: int, cin: int) -> torch.Tensor:
        """``weight[:out, :cin]``; in evaluation one dense copy per width.

        Training (and everything with autograd) uses the plain strided
        view: the conv kernels copy it to dense memory themselves, and a
        dense slice shared between forwards measured no gain on a DSPNet
        epoch (``docs/benchmarks.md``). Evaluation without autograd caches
        the dense slice per ``(out, cin)``, so a forward copies no weights
        (measured 2-10 % faster at widths < 1): an entry is reused while the
        weight's identity, version counter and storage are unchanged (an
        optimizer step, ``load_state_dict`` and ``.to()`` change them), and
        every ``train()`` / ``eval()`` call empties the cache. Writes
        through ``weight.data`` bypass the version counter (EMAHook swaps
        weights that way, then calls ``eval()`` / ``train()``): they are
        seen after the next ``train()`` / ``eval()`` call. Frozen weights
        (mmengine's EMA writes the momentum teacher through ``.data``), jit
        tracing (mmengine's complexity analysis, ONNX), ``torch.compile``
        and inference tensors always get the view. Both paths give
        bit-identical outputs. Memory: up to ``sum(w ** 2)`` of the weight.
        """
        weight = self.weight
        if out == weight.shape[0] and cin == weight.shape[1]:
            return weight
        # _compiling() first: dynamo cannot trace is_inference()
        if (_compiling() or self.training or torch.is_grad_enabled()
                or not weight.requires_grad or weight.is_inference()
                or torch.jit.is_tracing()):
            return weight[:out, :cin]
        cache = _SLICE_CACHE.setdefault(self, {})
        stamp = (weight._version, weight.data_ptr())
        entry = cache.get((out, cin))
        if entry is not None and entry[0] is weight and entry[1] == stamp:
            return entry[2]
        dense = weight[:out, :cin].contiguous(memory_format=_layout(weight))
        cache[(out, cin)] = (weight, stamp, dense)
        return dense


class SlimmableLinear(SlimmableMixin, nn.Linear):
    """``nn.Linear`` on as many input features as the input has.

    Args:
        slim_out (bool): whether the output features follow the width.
            Defaults to False: DSPNet's projector only slices its input.
        Other args are those of ``nn.Linear`` at full width.
    """

    def __init__(self, *args, slim_out: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.slim_out = slim_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        in_features = x.shape[-1]
        if in_features > self.in_features:
            raise ValueError(f'{in_features} input features exceed the full '
                             f'width of this layer ({self.in_features})')
        out = (
            channels_at(self.out_features, self.width)
            if self.slim_out else self.out_features)
        # plain strided slice: BLAS reads it in place (no copy to save), and
        # a dense copy could change the summation order, i.e. the bits
        weight, bias = self.weight, self.bias
        if out != self.out_features or in_features != self.in_features:
            weight = weight[:out, :in_features]
            bias = bias[:out] if bias is not None else None
        return F.linear(x, weight, bias)


class SwitchableBatchNorm(SlimmableMixin, nn.Module):
    """One private norm layer per trained width.

    The norms are built with :func:`mmcv.cnn.build_norm_layer`, so
    ``norm_cfg=dict(type='SyncBN')`` gives SyncBN, and mmengine's
    ``revert_sync_batchnorm`` / ``convert_sync_batchnorm`` convert the
    per-width norms in place without merging them.

    Args:
        num_features (int): channels at full width.
        widths (Sequence[float]): the trained widths; the norm at index ``i``
            of ``self.bns`` belongs to ``sorted(widths)[i]``.
        norm_cfg (dict): config of each per-width norm.
        slim (bool): whether the channels follow the width (False for a
            fixed-size layer, e.g. the projector's hidden BN).
        **kwargs: forwarded into ``norm_cfg`` (``build_norm_layer`` passes
            ``eps``).
    """

    #: so that ``build_norm_layer`` names it ``bn1``, ``bn2``... as in ResNet
    _abbr_ = 'bn'

    def __init__(self,
                 num_features: int,
                 widths: Sequence[float],
                 norm_cfg: Optional[dict] = None,
                 slim: bool = True,
                 **kwargs):
        super().__init__()
        self.widths = tuple(sorted({check_width(w) for w in widths}))
        cfg = dict(norm_cfg or dict(type='BN'))
        for key, value in kwargs.items():
            cfg.setdefault(key, value)
        self.num_features = num_features
        self.slim = slim
        self.bns = nn.ModuleList(
            build_norm_layer(
                cfg,
                channels_at(num_features, w) if slim else num_features)[1]
            for w in self.widths)
        self._index = {round(w * GRID): i for i, w in enumerate(self.widths)}
        self.width = self.widths[-1]

    def index_of(self, width: float) -> int:
        """Index in ``self.bns`` of the norm that belongs to ``width``."""
        self.check_width(width)
        return self._index[round(width * GRID)]

    def check_width(self, width: float) -> None:
        if round(width * GRID) not in self._index:
            raise ValueError(
                f'width {width} is not one of the trained widths '
                f'{list(self.widths)}: switchable BN has statistics only '
                'for those (train in universal mode for arbitrary widths)')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bns[self._index[round(self.width * GRID)]](x)

    def extra_repr(self) -> str:
        return f'num_features={self.num_features}, widths={self.widths}'


def _sync_group(bn: nn.Module, sync: bool):
    """The process group whose batch ``bn`` must normalise over, or None."""
    sync = sync or isinstance(bn, nn.SyncBatchNorm)
    if not (sync and bn.training and dist.is_available()
            and dist.is_initialized()):
        return None
    group = getattr(bn, 'process_group', None) or dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def _sync_batch_norm(x: torch.Tensor, bn: nn.Module, group,
                     momentum: Optional[float]) -> torch.Tensor:
    """Batch norm of ``x`` with the first ``x.shape[1]`` channels of ``bn`` and
    the statistics of the batch of every rank in ``group``."""
    dtype, x = x.dtype, x.float()  # statistics in float32 under autocast
    c = x.shape[1]
    dims = [0] + list(range(2, x.dim()))
    shape = [1, c] + [1] * (x.dim() - 2)
    count = x.new_full((1, ), x.numel() // c)
    # all_reduce of torch.distributed.nn is differentiable: its backward
    # sums the gradients of every rank, as SyncBN's backward does
    total = dist_nn.all_reduce(torch.cat([x.sum(dims), count]), group=group)
    n = total[c:].detach()
    mean = total[:c] / n
    centred = x - mean.view(shape)
    sq = dist_nn.all_reduce((centred * centred).sum(dims), group=group)
    var = sq / n
    y = centred * torch.rsqrt(var + bn.eps).view(shape)
    if bn.weight is not None:
        y = y * bn.weight[:c].view(shape) + bn.bias[:c].view(shape)
    if bn.track_running_stats and momentum:
        with torch.no_grad():
            unbiased = sq.detach() / (n - 1).clamp(min=1)
            bn.running_mean[:c].lerp_(mean.detach(), momentum)
            bn.running_var[:c].lerp_(unbiased, momentum)
    return y.to(dtype)


class SlimmableBatchNorm(SlimmableMixin, nn.Module):
    """One norm layer shared by every width (universal mode).

    Width ``w`` normalises with the first channels of the shared affine
    parameters and running statistics. Running statistics of a shared BN are
    only right for the width they were last computed at, so universal-mode
    models recalibrate them per width before evaluation or export
    (:func:`dspnet_mm.models.utils.recalibrate_bn`).

    Under SyncBN in a distributed run, every width (the full one too) is
    normalised with the mean and variance of the global batch, computed
    here with two autograd-aware all-reduces (the idea of mmrazor's
    ``DynamicSyncBatchNorm``: slice the parameters *and* sync). The norm
    inside is then a plain BN (same state dict keys): this works on CPU
    (gloo) as well, where DDP refuses ``nn.SyncBatchNorm``.

    Args:
        num_features (int): channels at full width.
        norm_cfg (dict): config of the shared norm (BN / SyncBN).
        slim (bool): whether the channels follow the width.
        **kwargs: forwarded into ``norm_cfg``.
    """

    _abbr_ = 'bn'

    def __init__(self,
                 num_features: int,
                 norm_cfg: Optional[dict] = None,
                 slim: bool = True,
                 **kwargs):
        super().__init__()
        cfg = dict(norm_cfg or dict(type='BN'))
        for key, value in kwargs.items():
            cfg.setdefault(key, value)
        self.bn = build_norm_layer(cfg, num_features)[1]
        # this layer syncs by itself: keep a plain BN inside, which DDP
        # also accepts on CPU (it refuses nn.SyncBatchNorm there)
        self.sync = isinstance(self.bn, nn.SyncBatchNorm)
        if self.sync:
            self.bn = revert_sync_batchnorm(self.bn)
        self.num_features = num_features
        self.slim = slim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        bn = self.bn
        sync = _sync_group(bn, self.sync)
        if c == self.num_features and sync is None:
            return bn(x)
        training = bn.training or not bn.track_running_stats
        momentum = bn.momentum
        if bn.training and bn.track_running_stats:
            bn.num_batches_tracked.add_(1)
            if momentum is None:  # cumulative moving average
                momentum = 1.0 / float(bn.num_batches_tracked)
        if sync is not None:
            return _sync_batch_norm(x, bn, sync, momentum)
        # slices of the 1-D buffers are views: batch_norm updates them in
        # place, i.e. the first c channels of the shared statistics
        return F.batch_norm(
            x, bn.running_mean[:c] if bn.running_mean is not None else None,
            bn.running_var[:c] if bn.running_var is not None else None,
            bn.weight[:c] if bn.weight is not None else None,
            bn.bias[:c] if bn.bias is not None else None, training, momentum
            or 0.0, bn.eps)

    def extra_repr(self) -> str:
        return f'num_features={self.num_features}, shared'
