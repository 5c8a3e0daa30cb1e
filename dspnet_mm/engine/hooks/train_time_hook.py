import os
import platform
import time

import torch
from mmengine.hooks import Hook

from dspnet_mm.registry import HOOKS


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@HOOKS.register_module()
class TrainTimeHook(Hook):
    """Records what a pretraining run cost, in every checkpoint it writes.

    ``checkpoint['meta']['train_time']`` holds the wall-clock and CPU
    seconds of this rank's training loop (from ``before_train`` to the
    save), accumulated over resumes, with the iteration, the number of
    torch threads and the processor. A rerun or a resumed run adds up to
    what one uninterrupted run would report, up to the restart cost, so
    costs of runs can be compared from their checkpoints alone (the
    benchmark reads them). CPU seconds do not grow when other processes
    share the machine; wall seconds do.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._done = dict(wall_s=0.0, cpu_s=0.0, segments=0)
        self._wall0 = self._cpu0 = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        prev = (checkpoint.get('meta') or {}).get('train_time')
        if isinstance(prev, dict):
            self._done = dict(
                wall_s=float(prev.get('wall_s', 0.0)),
                cpu_s=float(prev.get('cpu_s', 0.0)),
                segments=int(prev.get('segments', 0)))

    def before_train(self, runner) -> None:
        self._wall0 = time.perf_counter()
        self._cpu0 = _cpu_seconds()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._wall0 is None:  # a save outside training
            return
        meta = checkpoint.setdefault('meta', {})
        meta['train_time'] = dict(
            wall_s=round(
                self._done['wall_s'] + time.perf_counter() - self._wall0, 3),
            cpu_s=round(self._done['cpu_s'] + _cpu_seconds() - self._cpu0, 3),
            segments=self._done['segments'] + 1,
            iter=int(meta.get('iter', runner.iter)),
            threads=torch.get_num_threads(),
            processor=platform.processor() or platform.machine(),
            world_size=int(runner.world_size))
