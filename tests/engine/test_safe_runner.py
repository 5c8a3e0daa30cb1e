"""SafeRunner: plain-data checkpoints, atomic saves, resume from the last
complete checkpoint (in-process, tiny DSPNet)."""
import os
import os.path as osp

import torch

from dspnet_mm.engine import SafeRunner, checkpoint_candidates
from tests.engine.test_distill_hook import TwoViews
from tests.models.test_dspnet import dspnet_cfg


def _runner(work_dir, max_iters, **kwargs):
    return SafeRunner(
        model=dspnet_cfg(
            data_preprocessor=dict(type='SelfSupDataPreprocessor')),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=TwoViews(),
            batch_size=4,
            sampler=dict(type='DefaultSampler', shuffle=False),
            collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        custom_hooks=[dict(type='DSPNetDistillHook')],
        default_scope='mmpretrain',
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1,
                            by_epoch=False)),
        randomness=dict(seed=0),
        **kwargs)


def _touch(path, data=b'x'):
    with open(path, 'wb') as f:
        f.write(data)


def test_candidates_newest_first_pointer_not_trusted(tmp_path):
    for name in ('iter_2.pth', 'iter_10.pth', 'iter_9.pth', 'epoch_3.pth',
                 'best_acc.pth', '.iter_11.pth.123.0badc0de.tmp'):
        _touch(str(tmp_path / name))
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_9.pth'))
    names = [osp.basename(p) for p in checkpoint_candidates(str(tmp_path))]
    # the pointer is one behind (a kill after the save): iter_10 first
    assert names == ['iter_10.pth', 'iter_9.pth', 'iter_2.pth', 'epoch_3.pth']
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'best_acc.pth'))
    assert osp.basename(checkpoint_candidates(str(tmp_path))[0]) == \
        'best_acc.pth'


def test_checkpoints_are_plain_and_resume_skips_a_torn_one(tmp_path):
    _runner(tmp_path, 3).train()
    for i in (1, 2, 3):
        path = str(tmp_path / f'iter_{i}.pth')
        # plain data: torch's stock safe loader, no allow-list
        assert torch.serialization.get_unsafe_globals_in_checkpoint(path) == []
    assert not [n for n in os.listdir(tmp_path) if n.endswith('.tmp')]
    full = torch.load(str(tmp_path / 'iter_3.pth'))
    assert full['message_hub']['runtime_info']['iter'] == 2
    # iter_3 torn (another writer, a full disk), a temp file of a killed
    # save left behind
    with open(str(tmp_path / 'iter_3.pth'), 'r+b') as f:
        f.truncate(1000)
    stale = tmp_path / '.iter_4.pth.999999.0badc0de.tmp'
    stale.write_bytes(b'partial')
    runner = _runner(tmp_path, 3, resume=True)
    runner.train()
    assert runner.iter == 3
    assert not stale.exists()
    resumed = torch.load(str(tmp_path / 'iter_3.pth'))
    assert resumed['meta']['iter'] == 3
    for key in ('backbone.conv1.weight', 'target_net.module.0.conv1.weight'):
        torch.testing.assert_close(resumed['state_dict'][key],
                                   full['state_dict'][key])
