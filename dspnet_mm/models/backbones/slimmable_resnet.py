from typing import List, Sequence

from mmengine.model import constant_init
from mmpretrain.models.backbones import ResNet
from mmpretrain.models.backbones.resnet import BasicBlock, Bottleneck

from dspnet_mm.registry import MODELS, register_downstream
from ..layers import (GRID, SlimmableBatchNorm, SlimmableConv2d,
                      SwitchableBatchNorm, WidthConstraint, check_width,
                      get_width, set_width)

#: Depths with a standard torchvision / OpenMMLab ResNet counterpart.
DEPTHS = (18, 34, 50, 101, 152)


def resnet_stage_channels(depth: int, width: float) -> List[int]:
    """Output channels of the four stages of a ResNet at ``width``.

    The same numbers as a standard ResNet with
    ``base_channels = stem_channels = 64 * width``.
    """
    if depth not in DEPTHS:
        raise ValueError(f'depth must be one of {DEPTHS}, got {depth}')
    base = round(GRID * check_width(width))
    expansion = 1 if depth < 50 else 4
    return [base * expansion * 2**i for i in range(4)]


@MODELS.register_module()
@register_downstream
class SlimmableResNet(ResNet, WidthConstraint):
    """ResNet whose every width in ``widths`` is a standard ResNet.

    Width ``w`` runs the first ``round(c * w)`` channels of every layer and
    its own BN (one private BN per width, :class:`SwitchableBatchNorm`), so
    the sub-network at ``w`` has exactly the layers of
    ``ResNet(depth, base_channels=64 * w, stem_channels=64 * w)`` and is
    exported to it by slicing (:mod:`dspnet_mm.slim`). Switch widths with
    :func:`dspnet_mm.set_width`; a new model runs at ``max(widths)``. Every
    switch refuses a width that was not trained (or, in universal mode, is
    outside ``[min(widths), max(widths)]``): :meth:`check_width`.

    Style is ``pytorch`` (stride on the 3x3 conv) with the plain 7x7 stem,
    the ResNet that torchvision, mmpretrain, mmdet and mmseg share.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        widths (Sequence[float]): trainable widths; ``64 * w`` must be an
            integer and ``0 < w <= 1``. Defaults to (0.25, 0.5, 0.75, 1.0).
        norm_cfg (dict): config of each per-width norm, e.g.
            ``dict(type='SyncBN')``. Defaults to BN.
        universal (bool): universal mode: one BN shared by all widths, and
            any width on the 1/64 grid between ``min(widths)`` and
            ``max(widths)`` runs; BN statistics must then be recalibrated
            per width before evaluation or export. Defaults to False.
        out_indices, frozen_stages, norm_eval, zero_init_residual, strides,
        dilations, num_stages, in_channels, with_cp, drop_path_rate,
        init_cfg: as in :class:`mmpretrain.models.ResNet`.
    """

    def __init__(self,
                 depth: int,
                 widths: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
                 in_channels: int = 3,
                 num_stages: int = 4,
                 strides=(1, 2, 2, 2),
                 dilations=(1, 1, 1, 1),
                 out_indices=(3, ),
                 frozen_stages: int = -1,
                 norm_cfg: dict = dict(type='BN', requires_grad=True),
                 norm_eval: bool = False,
                 with_cp: bool = False,
                 zero_init_residual: bool = True,
                 init_cfg=[
                     dict(type='Kaiming', layer=['Conv2d']),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ],
                 drop_path_rate: float = 0.0,
                 universal: bool = False):
        if depth not in DEPTHS:
            raise ValueError(
                f'SlimmableResNet depth must be one of {DEPTHS}, got {depth}')
        if not widths:
            raise ValueError('widths must name at least one width')
        self.widths = tuple(sorted({check_width(w) for w in widths}))
        self.universal = universal
        # build_norm_layer applies requires_grad to the wrapper's
        # parameters: keep the user's choice for the inner norms.
        switchable_cfg = dict(
            norm_cfg=norm_cfg,
            requires_grad=norm_cfg.get('requires_grad', True))
        if universal:
            switchable_cfg.update(type=SlimmableBatchNorm)
        else:
            switchable_cfg.update(type=SwitchableBatchNorm, widths=self.widths)
        super().__init__(
            depth=depth,
            in_channels=in_channels,
            stem_channels=GRID,
            base_channels=GRID,
            num_stages=num_stages,
            strides=strides,
            dilations=dilations,
            out_indices=out_indices,
            style='pytorch',
            deep_stem=False,
            avg_down=False,
            frozen_stages=frozen_stages,
            conv_cfg=dict(type=SlimmableConv2d),
            norm_cfg=switchable_cfg,
            norm_eval=norm_eval,
            with_cp=with_cp,
            zero_init_residual=zero_init_residual,
            init_cfg=init_cfg,
            drop_path_rate=drop_path_rate)
        self.norm_cfg = norm_cfg
        set_width(self, self.widths[-1])

    def check_width(self, width: float) -> float:
        """Refuse a width this backbone cannot run: off the grid, untrained,
        or (universal mode) outside ``[min(widths), max(widths)]``.

        Called by :func:`dspnet_mm.set_width` before anything switches.

        Returns:
            float: ``width`` as a float.
        """
        width = check_width(width)
        lo, hi = self.widths[0], self.widths[-1]
        if self.universal:
            if not lo - 1e-9 <= width <= hi + 1e-9:
                raise ValueError(
                    f'width {width} is outside the universal range '
                    f'[{lo}, {hi}] of this SlimmableResNet')
        elif round(width * GRID) not in {round(w * GRID) for w in self.widths}:
            raise ValueError(
                f'width {width} is not one of the trained widths '
                f'{list(self.widths)} of this SlimmableResNet (train in '
                'universal mode for arbitrary widths)')
        return width

    @property
    def width(self) -> float:
        """The width the backbone runs at now."""
        return get_width(self)

    def stage_channels(self, width: float) -> List[int]:
        """Output channels of each stage at ``width``."""
        return resnet_stage_channels(self.depth, width)[:self.num_stages]

    def init_weights(self):
        super().init_weights()
        if (isinstance(self.init_cfg, dict)
                and self.init_cfg['type'] == 'Pretrained'):
            return
        if self.zero_init_residual:
            # ResNet.init_weights zero-inits ``norm3``/``norm2`` through
            # ``constant_init``, which does not see inside the switchable
            # wrapper: zero every width's last BN of each residual branch.
            for m in self.modules():
                last = None
                if isinstance(m, Bottleneck):
                    last = m.norm3
                elif isinstance(m, BasicBlock):
                    last = m.norm2
                if isinstance(last, SwitchableBatchNorm):
                    for bn in last.bns:
                        constant_init(bn, 0)
                elif isinstance(last, SlimmableBatchNorm):
                    constant_init(last.bn, 0)

    def extra_repr(self) -> str:
        return (f'depth={self.depth}, widths={self.widths}, '
                f'universal={self.universal}')
