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

    Under DDP, :meth:`before_train` refuses what DDP cannot run with
    ``find_unused_parameters=False`` (read from the wrapper, else from
    ``model_wrapper_cfg``, else from the top-level key): a slow start, or
    ``num_sampled`` below the number of middle widths, each of which leaves
    per-width BNs without gradient (not in universal mode, whose BNs are
    shared).
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
        if runner.distributed:
            self._check_ddp(runner, model)

    @staticmethod
    def _find_unused_parameters(runner) -> bool:
        """What the DDP wrapper does, else what the config asks it to do
        (``model_wrapper_cfg`` first, then the top-level key)."""
        wrapper = runner.model
        if hasattr(wrapper, 'find_unused_parameters'):  # torch / mm DDP
            return bool(wrapper.find_unused_parameters)
        cfg = runner.cfg
        wrapper_cfg = cfg.get('model_wrapper_cfg') or {}
        if 'find_unused_parameters' in wrapper_cfg:
            return bool(wrapper_cfg['find_unused_parameters'])
        return bool(cfg.get('find_unused_parameters', False))

    def _check_ddp(self, runner, model) -> None:
        """Refuse what DDP cannot run without ``find_unused_parameters``.

        Each trained width has its own BNs (in the backbone, projector and
        predictor); a step that skips a width leaves them without gradient, and
        DDP then fails at the next iteration. Universal mode shares its BNs, so
        every step uses every parameter.
        """
        if getattr(model.backbone, 'universal',
                   False) or self._find_unused_parameters(runner):
            return
        sampler = model.width_sampler
        reasons, fixes = [], []
        if sampler.num_sampled < len(sampler.pool):
            reasons.append(
                f'num_sampled={sampler.num_sampled} trains '
                f'{sampler.num_sampled} of the {len(sampler.pool)} middle '
                f'widths {sampler.pool} per step')
            fixes.append(f'num_sampled={len(sampler.pool)} (every width '
                         'every step)')
        if self.start_ratio > 0:
            reasons.append(
                f'the slow start (start_ratio={self.start_ratio}) trains '
                f'only width {sampler.max_width} at first')
        if reasons:
            raise ValueError(
                'DSPNet under DDP with find_unused_parameters=False: '
                f'{" and ".join(reasons)}, so the per-width BNs of the '
                'other widths get no gradient and DDP fails at the next '
                'iteration. Set model_wrapper_cfg = '
                'dict(find_unused_parameters=True) in the config' +
                ''.join(f', or {fix}' for fix in fixes) + '.')

    def weight_at(self, it: int, max_iters: int) -> float:
        """Lambda at 0-based iteration ``it`` (0 during the slow start)."""
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
