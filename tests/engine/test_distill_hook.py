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

        def after_train_iter(self,
                             runner,
                             batch_idx,
                             data_batch=None,
                             outputs=None):
            model = runner.model
            seen.append(
                (runner.iter, model.distill_weight, model.sub_widths_active,
                 sorted(outputs)))

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


@pytest.fixture
def gloo_world_of_one():
    """A real (one-process) gloo group, so that real DDP wrappers build."""
    import torch.distributed as dist

    from tests.tools.test_train_tools import free_port
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{free_port()}',
        rank=0,
        world_size=1)
    yield
    dist.destroy_process_group()


def _ddp_runner(find_unused, universal=False, cfg=None, **model_kwargs):
    from types import SimpleNamespace

    from mmengine.config import Config
    from mmengine.model import MMDistributedDataParallel

    from dspnet_mm.registry import MODELS
    model_cfg = dspnet_cfg(**model_kwargs)
    if universal:
        model_cfg['backbone'].update(universal=True, widths=[0.25, 1.0])
    model = MODELS.build(model_cfg)
    if find_unused is not None:
        model = MMDistributedDataParallel(
            model, device_ids=None, find_unused_parameters=find_unused)
    return SimpleNamespace(
        model=model, distributed=True, cfg=Config(cfg or {}))


@pytest.mark.parametrize('case,start_ratio,refused', [
    (dict(num_sampled=1), 0.0, 'num_sampled=1'),
    (dict(num_sampled=0), 0.0, 'num_sampled=0'),
    (dict(num_sampled=2), 0.3, 'slow start'),
    (dict(num_sampled=2), 0.0, None),
    (dict(num_sampled=1, universal=True), 0.3, None),
])
def test_ddp_configs_that_leave_parameters_unused_are_refused(
        gloo_world_of_one, case, start_ratio, refused):
    hook = DSPNetDistillHook(start_ratio=start_ratio)
    runner = _ddp_runner(False, **case)
    if refused is None:
        hook.before_train(runner)
    else:
        with pytest.raises(ValueError, match=refused) as info:
            hook.before_train(runner)
        # the fix is named
        assert 'model_wrapper_cfg = dict(find_unused_parameters=True)' in str(
            info.value)
    # with unused parameters allowed, DDP runs every one of them
    hook.before_train(_ddp_runner(True, **case))


@pytest.mark.parametrize('cfg,refused', [
    (dict(
        model_wrapper_cfg=dict(find_unused_parameters=True),
        find_unused_parameters=False), False),
    (dict(find_unused_parameters=True), False),
    (dict(
        model_wrapper_cfg=dict(find_unused_parameters=False),
        find_unused_parameters=True), True),
    ({}, True),
])
def test_wrapper_setting_read_from_model_wrapper_cfg(cfg, refused):
    """Where the wrapper does not tell, the config decides; the wrapper's own
    ``model_wrapper_cfg`` wins over the top-level key."""
    hook = DSPNetDistillHook(start_ratio=0.5)
    runner = _ddp_runner(None, cfg=cfg)
    if refused:
        with pytest.raises(ValueError, match='find_unused_parameters'):
            hook.before_train(runner)
    else:
        hook.before_train(runner)
