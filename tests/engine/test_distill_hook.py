import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import Dataset

from dspnet_mm.engine import DSPNetDistillHook
from tests.models.test_dspnet import dspnet_cfg


class TwoViews(Dataset):

    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(
            inputs=[torch.rand(3, 32, 32, generator=g) * 255 for _ in '12'],
            data_samples=torch.tensor(i))  # unused by DSPNet


def run(tmp_path, hook, max_iters=6):
    seen = []

    class Probe(DSPNetDistillHook.__mro__[1]):  # mmengine Hook

        def after_train_iter(self, runner, batch_idx, data_batch=None,
                             outputs=None):
            model = runner.model
            seen.append((runner.iter, model.distill_weight,
                         model.sub_widths_active, sorted(outputs)))

    runner = Runner(
        model=dspnet_cfg(
            data_preprocessor=dict(type='SelfSupDataPreprocessor')),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=TwoViews(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[hook, dict(type=Probe, priority='LOW')],
        default_scope='mmpretrain',
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0))
    runner.train()
    return runner, seen


def test_linear_warmup_and_slow_start_in_a_runner(tmp_path):
    hook = dict(
        type='DSPNetDistillHook',
        weight=2.0,
        schedule='linear',
        warmup_ratio=0.5,
        start_ratio=1 / 3)
    runner, seen = run(tmp_path, hook)
    # iterations 1..6 run with runner.iter 0..5 before the step
    weights = [w for _, w, _, _ in seen]
    assert weights == pytest.approx([0, 0, 2 / 3, 4 / 3, 2, 2])
    active = [a for _, _, a, _ in seen]
    assert active == [False, False, True, True, True, True]
    keys = [k for _, _, _, k in seen]
    assert 'loss_w0.25' not in keys[0] and 'loss_w0.25' in keys[2]
    hub = runner.message_hub
    assert hub.get_scalar('train/distill_weight').current() == 2.0
    for w in ('1.0', '0.75', '0.5', '0.25'):
        v = hub.get_scalar(f'train/raw_loss_w{w}').current()
        assert 0 < v < 8


def test_constant_schedule():
    hook = DSPNetDistillHook(weight=0.5)
    assert [hook.weight_at(i, 10) for i in (0, 5, 9)] == [0.5] * 3
    with pytest.raises(ValueError, match='warmup_ratio > 0'):
        DSPNetDistillHook(schedule='linear')
    with pytest.raises(ValueError, match='schedule'):
        DSPNetDistillHook(schedule='cosine')


def test_hook_refuses_a_model_that_is_not_dspnet(tmp_path):
    hook = DSPNetDistillHook()
    runner = type('R', (), {'model': torch.nn.Linear(2, 2)})()
    with pytest.raises(TypeError, match='DSPNetDistillHook schedules DSPNet'):
        hook.before_train(runner)
