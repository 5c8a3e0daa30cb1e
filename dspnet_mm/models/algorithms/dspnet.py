import copy
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmpretrain.models.selfsup import BaseSelfSupervisor
from mmpretrain.models.utils import CosineEMA
from mmpretrain.structures import DataSample

from dspnet_mm.registry import MODELS
from ..layers import GRID, set_width, width_tag
from ..utils import WidthSampler

DISTILL_SOURCES = ('target', 'online', 'both')


@MODELS.register_module()
class DSPNet(BaseSelfSupervisor):
    """DSPNet: slimmable pretraining by discriminative SSL + distillation.

    `DSPNet: Towards Slimmable Pretrained Networks based on Discriminative
    Self-supervised Learning <https://arxiv.org/abs/2207.06075>`_, as built
    in this project (``shared/METHOD.md``): BYOL at full width, and the same
    loss distils the momentum teacher (the EMA of the full-width network)
    into every narrower width.

    One :meth:`loss` call trains all widths drawn by the sandwich rule and
    returns one loss per width (``loss_w1.0``, ``loss_w0.25``...), so a
    single backward and plain DDP suffice.

    Who owns what:

    * the model owns the teacher and its momentum schedule (``CosineEMA``,
      updated inside :meth:`loss`, as mmpretrain's BYOL);
    * :class:`DSPNetDistillHook` owns ``distill_weight`` (lambda) and
      ``sub_widths_active`` (slow start); without the hook they keep their
      initial values.

    Args:
        backbone (dict): a ``SlimmableResNet``; its ``widths`` are the
            trained widths (and the range ends in universal mode).
        neck (dict): the projector, a ``SlimmableNonLinearNeck``; its
            ``widths`` are filled from the backbone.
        head (dict): a ``LatentPredictHead`` whose predictor is a
            ``SlimmableNonLinearNeck`` (``widths`` filled likewise) and whose
            loss is ``CosineSimilarityLoss(shift_factor=2, scale_factor=2)``,
            i.e. ``2 - 2 cos(p, z)``.
        num_sampled (int): widths trained per step besides the largest and
            smallest. Defaults to 2 (with 4 widths, all every step).
        distill_from (str): target of the sub-widths: ``'target'`` (the
            momentum teacher, default), ``'online'`` (the detached
            full-width online prediction, in-place distillation as US-Nets)
            or ``'both'`` (the mean of the two losses). Every target is
            cross-view, like BYOL's loss: view 1's prediction at width
            ``w`` learns view 2's target and vice versa, i.e.
            ``l(p1_w, z2) + l(p2_w, z1)`` with ``z`` the teacher's
            projection or the full width's prediction.
        distill_weight (float): initial lambda.
        base_momentum (float): start value of mmengine's EMA momentum, i.e.
            ``1 - tau`` (0.01 means tau = 0.99); annealed to 0 (tau = 1)
            with a cosine over training by ``CosineEMA``.
        seed (int): seed of the width sampler.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 num_sampled: int = 2,
                 distill_from: str = 'target',
                 distill_weight: float = 1.0,
                 base_momentum: float = 0.01,
                 seed: int = 0,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[Union[List[dict], dict]] = None) -> None:
        if distill_from not in DISTILL_SOURCES:
            raise ValueError(f'distill_from must be one of {DISTILL_SOURCES},'
                             f' got {distill_from!r}')
        universal = backbone.get('universal', False)
        # one place for the widths: the backbone; BNs of the projector and
        # predictor are per width too (shared in universal mode)
        head_widths = None if universal else backbone.get('widths')
        neck = copy.deepcopy(neck)
        head = copy.deepcopy(head)
        if head_widths is not None:
            neck.setdefault('widths', head_widths)
            head['predictor'].setdefault('widths', head_widths)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self._check_widths()
        self.width_sampler = WidthSampler(
            self.backbone.widths,
            num_sampled=num_sampled,
            universal=self.backbone.universal,
            seed=seed)
        self.distill_from = distill_from
        self.distill_weight = float(distill_weight)
        self.sub_widths_active = True
        # raw (unweighted) loss of each width in the last step, for logging
        self.width_losses: Dict[str, torch.Tensor] = {}
        # the teacher runs at full width only: it is the EMA of the largest
        # network (built now, while the online network is at full width)
        self.target_net = CosineEMA(
            nn.Sequential(self.backbone, self.neck), momentum=base_momentum)

    def _check_widths(self) -> None:
        """Backbone, projector and predictor must agree on the widths: one BN
        per trained width in each (shared BNs in universal mode)."""

        def grid(widths):
            return None if widths is None else sorted(
                {round(float(w) * GRID)
                 for w in widths})

        universal = getattr(self.backbone, 'universal', False)
        parts = dict(
            backbone=None
            if universal else getattr(self.backbone, 'widths', None),
            neck=getattr(self.neck, 'widths', None),
            predictor=getattr(self.head.predictor, 'widths', None))
        if len({str(grid(w)) for w in parts.values()}) > 1:
            found = ', '.join(f'{k}: {"shared BN" if v is None else list(v)}'
                              for k, v in parts.items())
            raise ValueError(
                f'DSPNet: the widths of backbone, neck and head.predictor '
                f'disagree ({found}{", universal mode" if universal else ""})'
                '. Give the widths once, as model.backbone.widths: DSPNet '
                'fills those of the neck and the predictor (per-width BNs; '
                'shared BNs in universal mode).')

    @property
    def max_width(self) -> float:
        return self.width_sampler.max_width

    def _online(self):
        return (self.backbone, self.neck, self.head)

    def _set_online_width(self, width: float) -> None:
        for module in self._online():
            set_width(module, width)

    def _predict(self, img: torch.Tensor) -> torch.Tensor:
        proj = self.neck(self.backbone(img))[0]
        return self.head.predictor([proj])[0]

    def _pair_loss(self, p1, p2, t1, t2) -> torch.Tensor:
        # symmetric: view 1 predicts view 2's target and vice versa
        ell = self.head.loss_module
        return ell(p1, t2.detach()) + ell(p2, t1.detach())

    def loss(self, inputs: List[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """All sampled widths of one step.

        Args:
            inputs (List[torch.Tensor]): the two augmented views.
            data_samples (List[DataSample]): unused.

        Returns:
            Dict[str, torch.Tensor]: ``loss_w{width}`` for every trained
            width; the full width's is BYOL's loss, the others are lambda
            times their distillation loss.

        Raises:
            FloatingPointError: a width's loss is NaN or inf; the message
                names the width and the (1-based) iteration.
        """
        assert isinstance(inputs, list) and len(inputs) == 2
        img_v1, img_v2 = inputs
        step = int(self.target_net.steps)
        with torch.no_grad():
            self.target_net.update_parameters(
                nn.Sequential(self.backbone, self.neck))
            z1 = self.target_net(img_v1)[0]
            z2 = self.target_net(img_v2)[0]

        widths = self.width_sampler.sample(step)
        if not self.sub_widths_active:
            widths = widths[:1]
        losses, raw = {}, {}
        try:
            for width in widths:
                self._set_online_width(width)
                p1, p2 = self._predict(img_v1), self._predict(img_v2)
                key = width_tag(width)
                if width == self.max_width:
                    # BYOL: the full width learns from the momentum teacher
                    loss = self._pair_loss(p1, p2, z1, z2)
                    full_p1, full_p2 = p1.detach(), p2.detach()
                    losses[f'loss_w{key}'] = loss
                else:
                    if self.distill_from == 'target':
                        loss = self._pair_loss(p1, p2, z1, z2)
                    elif self.distill_from == 'online':
                        loss = self._pair_loss(p1, p2, full_p1, full_p2)
                    else:
                        loss = 0.5 * (
                            self._pair_loss(p1, p2, z1, z2) +
                            self._pair_loss(p1, p2, full_p1, full_p2))
                    losses[f'loss_w{key}'] = self.distill_weight * loss
                raw[key] = loss.detach()
        finally:
            self._set_online_width(self.max_width)
        self.width_losses = raw
        self._check_finite(raw, step)
        return losses

    @staticmethod
    def _check_finite(raw: Dict[str, torch.Tensor], step: int) -> None:
        """Stop before the update when a width's loss is NaN or inf.

        One device sync per step. Raised from :meth:`loss`, i.e. before
        backward and the optimizer step: the weights and every checkpoint
        saved so far stay as they were.
        """
        if bool(torch.isfinite(torch.stack(list(raw.values()))).all()):
            return
        bad = [k for k, v in raw.items() if not torch.isfinite(v)]
        raise FloatingPointError(
            f'DSPNet: the loss at width {bad[0]} is '
            f'{raw[bad[0]].item()} at iteration {step + 1} (non-finite at '
            f'widths {", ".join(bad)}). Training stopped before this '
            'iteration\'s update; the checkpoints saved so far are intact. '
            'Resume from the last one with a lower learning rate, or find '
            'what diverged at that width.')
