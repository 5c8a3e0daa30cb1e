import os
import shutil
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import dspnet_mm  # noqa: E402,F401  (registers modules, safe-load allow-list)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


# Temporary files: a passing test's tmp_path goes when it ends (setup.cfg,
# tmp_path_retention_policy = failed); what a module's fixtures wrote with
# tmp_path_factory (exports, pretraining checkpoints of ~140 MB each) goes
# when the module ends, unless one of its tests failed. Without this a
# session held ~8 GB at its end, the likely cause of CI's torch.save errors.
_FAILED_MODULES = set()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.failed:
        _FAILED_MODULES.add(item.nodeid.split('::')[0])


@pytest.fixture(scope='module', autouse=True)
def _module_tmp_cleanup(request, tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    before = set(os.listdir(base))
    yield
    if request.node.nodeid in _FAILED_MODULES:
        return
    for name in set(os.listdir(base)) - before:
        path = base / name
        if path.is_symlink():  # pytest's <name>current links
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)
