import time

import torch
from mmengine.model import BaseModel
from torch.utils.data import Dataset

from dspnet_mm.engine import SafeRunner as Runner
from dspnet_mm.engine import TrainTimeHook
from dspnet_mm.utils.checkpoint import load_checkpoint_safely


class Points(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(x=torch.full((2, ), float(i)))


class SlowLinear(BaseModel):
    """Sleeps 50 ms a step: wall time grows, CPU time hardly does."""

    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(2, 1)

    def forward(self, x, mode='loss'):
        time.sleep(0.05)
        return dict(loss=self.fc(x).pow(2).mean())


def _train(work_dir, max_iters, resume=False):
    runner = Runner(
        model=SlowLinear(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=Points(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[dict(type='TrainTimeHook')],
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=4,
                            by_epoch=False)),
        resume=resume,
        default_scope='mmpretrain',
        randomness=dict(seed=0))
    runner.train()
    return runner


def test_train_time_is_saved_and_accumulates_over_resume(tmp_path):
    _train(tmp_path, 4)
    first = load_checkpoint_safely(str(tmp_path / 'iter_4.pth'))
    t4 = first['meta']['train_time']
    assert set(t4) == {
        'wall_s', 'cpu_s', 'segments', 'iter', 'threads', 'processor',
        'world_size'
    }
    assert t4['iter'] == 4 and t4['segments'] == 1
    assert t4['world_size'] == 1 and t4['threads'] == torch.get_num_threads()
    assert t4['wall_s'] >= 4 * 0.05  # four sleeping steps
    assert 0 < t4['cpu_s']

    _train(tmp_path, 8, resume=True)
    t8 = load_checkpoint_safely(str(tmp_path /
                                    'iter_8.pth'))['meta']['train_time']
    assert t8['iter'] == 8 and t8['segments'] == 2
    # the resumed run adds its own time to the first run's
    assert t8['wall_s'] >= t4['wall_s'] + 4 * 0.05
    assert t8['cpu_s'] > t4['cpu_s']


def test_save_outside_training_records_nothing():
    ckpt = dict(meta={})
    TrainTimeHook().before_save_checkpoint(None, ckpt)
    assert ckpt == dict(meta={})
