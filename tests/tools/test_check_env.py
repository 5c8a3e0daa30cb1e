"""The env check reports the real, pinned stack and proves mmcv's ops run."""
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _load_check_env():
    # tools/ is not a package: load the script as a module.
    spec = importlib.util.spec_from_file_location(
        'check_env', os.path.join(ROOT, 'tools', 'check_env.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_env = _load_check_env()


def test_pins_are_read_from_requirements():
    pins = check_env.read_pins(ROOT)
    assert pins == {
        'torch': '2.14.1',
        'torchvision': '0.29.1',
        'mmengine': '0.10.7',
        'mmcv': '2.1.0',
        'mmpretrain': '1.2.0',
        'mmdet': '3.3.0',
        'mmsegmentation': '1.2.2',
    }


def test_installed_versions_equal_the_pins():
    versions = check_env.collect_versions(ROOT)
    assert set(versions) == {
        'python', 'torch', 'torchvision', 'mmengine', 'mmcv', 'mmpretrain',
        'mmdet', 'mmsegmentation', 'numpy'
    }
    for dist, pin in check_env.read_pins(ROOT).items():
        info = versions[dist]
        # torch may carry a local tag (2.14.1+cu130); the pin has none
        assert info['installed'].split('+')[0] == pin, dist
        assert info['pinned'] == pin and info['ok'], dist
    assert versions['numpy']['installed'] is not None
    assert all(info['ok'] for info in versions.values())


@pytest.mark.parametrize('installed,pinned,ok', [
    ('2.14.1+cu130', '2.14.1', True),
    ('2.14.1', '2.14.1', True),
    ('2.14.0', '2.14.1', False),
    ('2.14.1+cpu', '2.14.1+cu130', False),
])
def test_pin_matching_follows_pep440(installed, pinned, ok):
    assert check_env._matches(installed, pinned) is ok


def test_mmcv_ops_nms_keeps_non_overlapping_boxes():
    import mmcv._ext  # noqa: F401
    assert check_env.check_mmcv_ops() == [0, 2]


def test_mmdet_model_forward():
    assert check_env.check_mmdet(size=64) == [(1, 27, 8, 8), (1, 27, 4, 4),
                                              (1, 27, 2, 2), (1, 27, 1, 1),
                                              (1, 27, 1, 1)]


def test_mmseg_model_forward():
    assert check_env.check_mmseg(size=64) == (1, 4, 2, 2)


def test_main_passes(capsys):
    assert check_env.main() == 0
    out = capsys.readouterr().out
    assert 'check_env: OK' in out
    assert 'MISMATCH' not in out and 'MISSING' not in out


def test_main_reports_a_mismatch(monkeypatch, capsys):
    real = check_env.collect_versions

    def fake(root=check_env.REPO_ROOT):
        versions = real(root)
        versions['mmcv'] = dict(installed='2.2.0', pinned='2.1.0', ok=False)
        return versions

    monkeypatch.setattr(check_env, 'collect_versions', fake)
    assert check_env.main() == 1
    err = capsys.readouterr().err
    assert 'FAILED' in err and 'mmcv 2.2.0 (pin 2.1.0)' in err


def test_checks_leave_no_default_scope_behind():
    from mmengine.registry import DefaultScope
    before = DefaultScope.get_current_instance()
    check_env.check_mmdet()
    check_env.check_mmseg()
    after = DefaultScope.get_current_instance()
    assert (after.scope_name if after else None) == (
        before.scope_name if before else None)
