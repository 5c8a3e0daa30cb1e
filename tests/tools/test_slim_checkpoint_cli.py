"""tools/slim_checkpoint.py: one `error:` line, exit 1, nothing written."""
import os
import os.path as osp

import pytest
import torch

from tests.slim.test_export import save_dspnet_like, trained_supernet
from tests.tools.test_train_tools import load_tool

slim_checkpoint = load_tool('slim_checkpoint')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    path = str(tmp_path_factory.mktemp('cli') / 'dspnet.pth')
    save_dspnet_like(trained_supernet(18, widths=(0.5, 1.0)), path)
    return path


def _bad_files(tmp_path, ckpt):
    foreign = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {'fc.weight': torch.zeros(2, 2)}}, foreign)
    trunc = str(tmp_path / 'trunc.pth')
    with open(ckpt, 'rb') as f, open(trunc, 'wb') as g:
        g.write(f.read()[:1000])
    blocker = tmp_path / 'blocker'
    blocker.write_text('')
    return foreign, trunc, str(blocker / 'out')


@pytest.mark.parametrize('case,match', [
    ('width', 'width 0.25 was not trained'),
    ('grid', 'off the channel grid'),
    ('depth', 'holds a ResNet-18 backbone, not ResNet-50'),
    ('foreign', 'no ResNet backbone found'),
    ('truncated', 'cannot load'),
    ('unwritable', 'is not writable'),
])
def test_bad_input_exits_1_and_writes_nothing(ckpt, tmp_path, capsys, case,
                                              match):
    foreign, trunc, unwritable = _bad_files(tmp_path, ckpt)
    out = str(tmp_path / 'out')
    args = {
        'width': [ckpt, '--widths', '0.5', '0.25'],
        'grid': [ckpt, '--widths', '0.3'],
        'depth': [ckpt, '--widths', 'all', '--depth', '50'],
        'foreign': [foreign, '--widths', 'all'],
        'truncated': [trunc, '--widths', 'all'],
        'unwritable': [ckpt, '--widths', 'all'],
    }[case]
    out_dir = unwritable if case == 'unwritable' else out
    assert slim_checkpoint.main(args + ['--out-dir', out_dir]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('error: ')
    assert match in err[0]
    assert not osp.exists(out) or os.listdir(out) == []


def test_success_prints_widths_and_overrides(ckpt, tmp_path, capsys):
    out = str(tmp_path / 'ok')
    assert slim_checkpoint.main([ckpt, '--widths', 'all', '--out-dir',
                                 out]) == 0
    text = capsys.readouterr().out
    assert sorted(
        os.listdir(out)) == ['resnet18_w0.5.pth', 'resnet18_w1.0.pth']
    assert 'model.neck.in_channels=[32,64,128,256]' in text
    assert 'exported 2 width(s)' in text
