from typing import Optional, Sequence

from mmpretrain.models.necks import NonLinearNeck

from dspnet_mm.registry import MODELS
from ..layers import SlimmableLinear, SwitchableBatchNorm


@MODELS.register_module()
class SlimmableNonLinearNeck(NonLinearNeck):
    """Mmpretrain's ``NonLinearNeck`` (BYOL's projector and predictor) made
    width-aware.

    Width switching forces two changes and nothing else: the first linear
    layer reads as many input features as the backbone gives at the current
    width (``2048 * w`` for a ResNet-50), and each BN of the MLP becomes one
    private BN per width (:class:`SwitchableBatchNorm`), since the
    statistics of a narrow sub-network's projections differ from the wide
    one's. Hidden and output sizes stay fixed, so every width projects into
    the same space as the teacher.

    Args:
        widths (Sequence[float], optional): the trained widths, one BN each.
            None shares the BNs (universal mode). :class:`DSPNet` fills it
            from its backbone.
        Other args: see :class:`mmpretrain.models.necks.NonLinearNeck`.
    """

    def __init__(self,
                 in_channels: int,
                 hid_channels: int,
                 out_channels: int,
                 widths: Optional[Sequence[float]] = None,
                 num_layers: int = 2,
                 with_bias: bool = False,
                 with_last_bn: bool = True,
                 with_last_bn_affine: bool = True,
                 with_last_bias: bool = False,
                 with_avg_pool: bool = True,
                 norm_cfg: dict = dict(type='SyncBN'),
                 init_cfg=[
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(
            in_channels=in_channels,
            hid_channels=hid_channels,
            out_channels=out_channels,
            num_layers=num_layers,
            with_bias=with_bias,
            with_last_bn=with_last_bn,
            with_last_bn_affine=with_last_bn_affine,
            with_last_bias=with_last_bias,
            with_avg_pool=with_avg_pool,
            norm_cfg=norm_cfg,
            init_cfg=init_cfg)
        self.fc0 = SlimmableLinear(in_channels, hid_channels, bias=with_bias)
        self.widths = None if widths is None else tuple(sorted(widths))
        if widths is None:
            return
        for name in ['bn0'] + [n for n in self.bn_names if n is not None]:
            bn = getattr(self, name)
            setattr(
                self, name,
                SwitchableBatchNorm(
                    bn.num_features,
                    widths,
                    norm_cfg=dict(norm_cfg, affine=bn.affine),
                    slim=False))
