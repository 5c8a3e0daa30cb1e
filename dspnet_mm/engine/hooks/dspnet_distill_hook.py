from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from dspnet_mm.registry import HOOKS

SCHEDULES = ('constant', 'linear')


@HOOKS.register_module()
class DSPNetDistillHook(Hook):
    """Schedules DSPNet's distillation: lambda and the active widths.

    This hook owns ``model.distill_weight`` (lambda, the weight of every
    sub-width loss) and ``model.sub_widths_active``; it only sets these two
    attributes before each iteration and logs them. The teacher's EMA
    momentum is *not* scheduled here: the model owns it (``CosineEMA``, as
    mmpretrain's BYOL).

    lambda at iteration ``i`` of ``N``:

    * before ``start_ratio * N`` (slow start): sub-widths do not train;
    * then ``weight`` (``schedule='constant'``) or a linear ramp from 0 to
      ``weight`` over ``warmup_ratio * N`` iterations (``'linear'``).

    Each width's raw (unweighted) loss is logged as ``raw_loss_w{width}``
    and lambda as ``distill_weight``.

    Args:
        weight (float): lambda after the warm-up. Defaults to 1.
        schedule (str): ``'constant'`` or ``'linear'``.
        warmup_ratio (float): fraction of training of the linear ramp.
        start_ratio (float): fraction of training before sub-widths join.
            In DDP a slow start leaves the sub-width BNs without gradients
            for a while: it needs ``find_unused_parameters=True``.
    """

    priority = 'NORMAL'

    def __init__(self,
                 weight: float = 1.0,
                 schedule: str = 'constant',
                 warmup_ratio: float = 0.0,
                 start_ratio: float = 0.0):
        if schedule not in SCHEDULES:
            raise ValueError(f'schedule must be one of {SCHEDULES}, '
                             f'got {schedule!r}')
        if not 0 <= start_ratio < 1 or not 0 <= warmup_ratio <= 1:
            raise ValueError('start_ratio must be in [0, 1) and warmup_ratio '
                             'in [0, 1]')
        if schedule == 'linear' and warmup_ratio == 0:
            raise ValueError("schedule='linear' needs warmup_ratio > 0")
        self.weight = float(weight)
        self.schedule = schedule
        self.warmup_ratio = warmup_ratio
        self.start_ratio = start_ratio

    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def before_train(self, runner) -> None:
        model = self._model(runner)
        missing = [
            a for a in ('distill_weight', 'sub_widths_active', 'width_losses')
            if not hasattr(model, a)
        ]
        if missing:
            raise TypeError(
                f'DSPNetDistillHook schedules DSPNet models; '
                f'{type(model).__name__} has no {", ".join(missing)}. '
                'Remove the hook from custom_hooks or use type="DSPNet".')
        if (self.start_ratio > 0 and runner.distributed
                and not runner.cfg.get('find_unused_parameters', False)):
            raise ValueError(
                'a slow start (start_ratio > 0) leaves sub-width parameters '
                'unused in DDP: set find_unused_parameters = True in the '
                'config')

    def weight_at(self, it: int, max_iters: int) -> float:
        """lambda at 0-based iteration ``it`` (0 during the slow start)."""
        start = int(self.start_ratio * max_iters)
        if it < start:
            return 0.0
        if self.schedule == 'linear':
            ramp = max(1, int(self.warmup_ratio * max_iters))
            return self.weight * min(1.0, (it - start + 1) / ramp)
        return self.weight

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        model = self._model(runner)
        start = int(self.start_ratio * runner.max_iters)
        model.sub_widths_active = runner.iter >= start
        model.distill_weight = self.weight_at(runner.iter, runner.max_iters)
        runner.message_hub.update_scalar('train/distill_weight',
                                         model.distill_weight)

    def after_train_iter(self,
                         runner,
                         batch_idx,
                         data_batch=None,
                         outputs=None) -> None:
        for key, value in self._model(runner).width_losses.items():
            runner.message_hub.update_scalar(f'train/raw_loss_w{key}',
                                             float(value))
