"""A hook for the DDP tests, imported by their configs (custom_imports).

It records every width's raw loss of each step, averaged over the ranks
(the loss of the global batch), and at the end of training each rank's
full state (parameters and buffers) to ``work_dir/probe_rank{r}.pth``.
"""
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.dist import get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from dspnet_mm.registry import HOOKS


@HOOKS.register_module()
class DDPProbeHook(Hook):
    priority = 'LOW'

    def before_train(self, runner) -> None:
        self.steps = {}

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        world = get_world_size()
        losses = {}
        for key, value in sorted(self._model(runner).width_losses.items()):
            value = value.detach().clone().float()
            if world > 1:
                dist.all_reduce(value)
                value /= world
            losses[key] = value.item()
        self.steps[runner.iter + 1] = losses

    def after_train(self, runner) -> None:
        state = {
            k: v.detach().clone()
            for k, v in self._model(runner).state_dict().items()
        }
        torch.save(
            dict(steps=self.steps, state=state),
            osp.join(runner.work_dir, f'probe_rank{get_rank()}.pth'))


@HOOKS.register_module()
class PoisonWidthHook(Hook):
    """Before iteration ``at`` (1-based), writes NaN into a BN weight that only
    ``width`` uses: from then on that width's loss is NaN."""
    priority = 'LOW'

    def __init__(self, at: int, width: float):
        self.at = at
        self.width = width

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter + 1 != self.at:
            return
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        bn1 = model.backbone.bn1
        with torch.no_grad():
            bn1.bns[bn1.index_of(self.width)].weight[0] = float('nan')
