import os
import os.path as osp

import pytest
import torch
from mmdet.models.backbones import ResNet as MMDetResNet
from mmengine.runner import load_checkpoint
from mmpretrain.models import ResNet as MMPretrainResNet
from mmseg.models.backbones import ResNet as MMSegResNet

from dspnet_mm import SlimmableResNet, set_width
from dspnet_mm.slim import (ExportError, downstream_overrides, export_widths,
                            inspect_backbone)

WIDTHS = (0.25, 0.5, 0.75, 1.0)
STOCK = {
    'mmpretrain': MMPretrainResNet,
    'mmdet': MMDetResNet,
    'mmseg': MMSegResNet,
}


def trained_supernet(depth, widths=WIDTHS):
    """A SlimmableResNet whose every width has non-trivial BN state."""
    torch.manual_seed(depth)
    model = SlimmableResNet(depth, widths=widths, out_indices=(0, 1, 2, 3))
    model.init_weights()
    for m in model.modules():  # non-trivial affine parameters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.train()
    for w in widths:
        set_width(model, w)
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32) * 2 + 0.5)
    return model


def save_dspnet_like(model, path, prefix='backbone.'):
    state = {prefix + k: v for k, v in model.state_dict().items()}
    # a DSPNet checkpoint also holds heads and the teacher
    state['neck.mlp.0.weight'] = torch.randn(8, 4)
    torch.save(dict(meta=dict(iter=10), state_dict=state), path)


@pytest.fixture(scope='module', params=[18, 50])
def exported(request, tmp_path_factory):
    depth = request.param
    tmp = tmp_path_factory.mktemp(f'r{depth}')
    model = trained_supernet(depth)
    ckpt = str(tmp / 'dspnet.pth')
    save_dspnet_like(model, ckpt)
    results = export_widths(ckpt, 'all', str(tmp / 'slim'))
    return depth, model, ckpt, results


def test_exported_widths_equal_supernet_in_stock_resnets(exported):
    depth, model, _, results = exported
    assert [r['meta']['width'] for r in results] == list(WIDTHS)
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    for res in results:
        meta = res['meta']
        w = meta['width']
        assert osp.basename(res['path']) == f'resnet{depth}_w{w}.pth'
        set_width(model, w)
        with torch.no_grad():
            expect = model(x)
        base = int(64 * w)
        for name, cls in STOCK.items():
            stock = cls(
                depth=depth,
                base_channels=base,
                stem_channels=base,
                out_indices=(0, 1, 2, 3))
            load_checkpoint(stock, res['path'], strict=True, logger='silent')
            stock.eval()
            with torch.no_grad():
                got = stock(x)
            assert len(got) == 4
            for i, (a, b) in enumerate(zip(got, expect)):
                torch.testing.assert_close(
                    a, b, msg=lambda m: f'{name} w{w} out{i}: {m}')


def test_exported_file_is_plain_and_complete(exported):
    depth, model, ckpt, results = exported
    for res in results:
        w = res['meta']['width']
        ckpt_w = torch.load(res['path'], weights_only=True)
        assert set(ckpt_w) == {'state_dict', 'meta'}
        base = int(64 * w)
        stock = MMPretrainResNet(depth, base_channels=base, stem_channels=base)
        assert list(ckpt_w['state_dict']) == list(stock.state_dict())
        # that width's own BN statistics, not another width's
        idx = WIDTHS.index(w)
        torch.testing.assert_close(
            ckpt_w['state_dict']['layer1.0.bn1.running_var'],
            model.layer1[0].bn1.bns[idx].running_var)
        assert ckpt_w['state_dict']['bn1.num_batches_tracked'].item() == 2
        meta = ckpt_w['meta']
        assert meta['depth'] == depth and meta['width'] == w
        assert meta['base_channels'] == meta['stem_channels'] == base
        assert meta['params'] == sum(p.numel() for p in stock.parameters())
        assert meta['source_sha256'] and len(meta['source_sha256']) == 64
        assert meta['source_prefix'] == 'backbone.'
        assert not any(
            f.startswith('.') or '.tmp' in f
            for f in os.listdir(osp.dirname(res['path'])))


def test_flops_match_literature(exported):
    depth, _, _, results = exported
    flops = {r['meta']['width']: r['meta']['flops'] / 1e9 for r in results}
    if depth == 50:
        # slimmable networks (Yu et al.): 4.1G / 2.3G / 1.1G / 0.28G
        for w, ref in {1.0: 4.1, 0.75: 2.3, 0.5: 1.1, 0.25: 0.28}.items():
            assert abs(flops[w] - ref) / ref < 0.1, (w, flops[w])
    assert flops[0.25] < flops[0.5] < flops[0.75] < flops[1.0]


def test_inspect_and_overrides(exported):
    depth, _, ckpt, results = exported
    sd = torch.load(ckpt, weights_only=True)['state_dict']
    info = inspect_backbone(sd)
    assert info['depth'] == depth and info['widths'] == list(WIDTHS)
    meta = results[1]['meta']  # width 0.5
    c = [32, 64, 128, 256] if depth == 18 else [128, 256, 512, 1024]
    ov = downstream_overrides(meta, 'x.pth')
    assert f'model.neck.in_channels=[{",".join(map(str, c))}]' in ov['mmdet']
    assert f'model.head.in_channels={c[3]}' in ov['mmpretrain']
    assert 'model.backbone.stem_channels=32' in ov['mmseg (FCN)']
    assert f'model.decode_head.in_channels={c[3]}' in ov['mmseg (FCN)']
    assert f'model.auxiliary_head.in_channels={c[2]}' in ov['mmseg (FCN)']


def test_teacher_prefix_and_explicit_prefix(tmp_path):
    model = trained_supernet(18, widths=(0.5, 1.0))
    state = {'backbone.' + k: v for k, v in model.state_dict().items()}
    state.update({
        'target_net.module.0.' + k: v * 0 + 1
        for k, v in model.state_dict().items()
    })
    ckpt = str(tmp_path / 'two.pth')
    torch.save(dict(state_dict=state), ckpt)
    online = export_widths(ckpt, [0.5], str(tmp_path / 'online'))
    target = export_widths(
        ckpt, [0.5], str(tmp_path / 'target'), source='target')
    assert target[0]['meta']['source_prefix'] == 'target_net.module.0.'
    w_online = torch.load(online[0]['path'])['state_dict']['conv1.weight']
    w_target = torch.load(target[0]['path'])['state_dict']['conv1.weight']
    assert not torch.equal(w_online, w_target)
    assert torch.all(w_target == 1)


# ---------------------------------------------------------------- bad input
@pytest.fixture(scope='module')
def r18_ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad')
    path = str(tmp / 'r18.pth')
    save_dspnet_like(trained_supernet(18), path)
    return path


def _assert_refused(out_dir, match, fn):
    with pytest.raises(ExportError, match=match):
        fn()
    if osp.isdir(out_dir):
        assert os.listdir(out_dir) == []


def test_unknown_width(r18_ckpt, tmp_path):
    out = str(tmp_path / 'o')
    _assert_refused(out, 'was not trained',
                    lambda: export_widths(r18_ckpt, [1.0, 0.125], out))


def test_width_off_grid(r18_ckpt, tmp_path):
    out = str(tmp_path / 'o')
    _assert_refused(out, 'off the channel grid',
                    lambda: export_widths(r18_ckpt, [0.3], out))


def test_wrong_depth(r18_ckpt, tmp_path):
    out = str(tmp_path / 'o')
    _assert_refused(out, 'holds a ResNet-18 backbone, not ResNet-50',
                    lambda: export_widths(r18_ckpt, 'all', out, depth=50))


def test_no_backbone(tmp_path):
    path = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {'fc.weight': torch.randn(2, 2)}}, path)
    out = str(tmp_path / 'o')
    _assert_refused(out, 'no ResNet backbone found',
                    lambda: export_widths(path, 'all', out))


def test_plain_resnet_is_not_slimmable(tmp_path):
    path = str(tmp_path / 'plain.pth')
    torch.save({'state_dict': MMPretrainResNet(18).state_dict()}, path)
    out = str(tmp_path / 'o')
    _assert_refused(out, 'not a SlimmableResNet checkpoint',
                    lambda: export_widths(path, 'all', out))


def test_corrupt_and_truncated(r18_ckpt, tmp_path):
    trunc = str(tmp_path / 'trunc.pth')
    with open(r18_ckpt, 'rb') as f:
        data = f.read()
    with open(trunc, 'wb') as f:
        f.write(data[:len(data) // 2])
    garbage = str(tmp_path / 'garbage.pth')
    with open(garbage, 'wb') as f:
        f.write(b'not a checkpoint at all' * 10)
    out = str(tmp_path / 'o')
    for path in (trunc, garbage):
        _assert_refused(out, 'cannot load',
                        lambda: export_widths(path, 'all', out))
    _assert_refused(
        out, 'checkpoint not found',
        lambda: export_widths(str(tmp_path / 'nope.pth'), 'all', out))


def test_unwritable_out_dir(r18_ckpt, tmp_path):
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    # works as root too: a regular file stands where a dir must be
    with pytest.raises(ExportError, match='is not writable'):
        export_widths(r18_ckpt, 'all', str(blocker / 'sub'))
    with pytest.raises(ExportError, match='is not writable'):
        export_widths(r18_ckpt, 'all', str(blocker))
    assert blocker.read_text() == 'x'


def _contents(out_dir):
    out = {}
    for name in sorted(os.listdir(out_dir)):
        with open(osp.join(out_dir, name), 'rb') as f:
            out[name] = f.read()
    return out


@pytest.mark.parametrize('fail_in', ['slice', 'save'])
def test_failed_reexport_leaves_the_old_files_intact(r18_ckpt, tmp_path,
                                                     monkeypatch, fail_in):
    out = str(tmp_path / 'slim')
    export_widths(r18_ckpt, 'all', out)
    old = _contents(out)
    assert sorted(old) == [f'resnet18_w{w}.pth' for w in WIDTHS]
    # a retrained checkpoint, exported into the same dir, fails midway
    newer = str(tmp_path / 'newer.pth')
    ckpt = torch.load(r18_ckpt)
    ckpt['state_dict']['backbone.conv1.weight'] += 1
    torch.save(ckpt, newer)
    import dspnet_mm.slim.export as export
    calls = []
    target = 'slice_width' if fail_in == 'slice' else 'torch'
    real = export.slice_width if fail_in == 'slice' else torch.save

    def third_call_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError('disk full')
        return real(*args, **kwargs)

    if target == 'torch':
        monkeypatch.setattr(export.torch, 'save', third_call_fails)
    else:
        monkeypatch.setattr(export, 'slice_width', third_call_fails)
    with pytest.raises(OSError, match='disk full'):
        export_widths(newer, 'all', out)
    assert len(calls) == 3
    # every old file is there, byte for byte, and nothing else
    assert _contents(out) == old
    monkeypatch.undo()
    export_widths(newer, 'all', out)
    assert _contents(out).keys() == old.keys()
    assert _contents(out) != old
