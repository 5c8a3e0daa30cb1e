"""``import dspnet_mm`` changes only what dspnet_mm/side_effects.py lists.

A fresh interpreter imports the stack first, including ``mmpretrain.models``
whose own import adds warning filters (scipy's), so that the stack's
import-time effects do not count; then it records the process-wide state,
imports dspnet_mm and records it again.
"""
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

PROBE = r'''
import json, logging, os, sys, warnings
import numpy as np
import torch, torch.serialization
import mmcv, mmengine
from mmengine.logging import HistoryBuffer
import mmpretrain.registry as pre
import mmdet.registry as det
import mmseg.registry as seg
import mmpretrain.models

def registries():
    out = {}
    for scope, mod in (('mmpretrain', pre), ('mmdet', det), ('mmseg', seg)):
        for name in ('MODELS', 'HOOKS', 'OPTIM_WRAPPERS', 'DATASETS',
                     'TRANSFORMS', 'METRICS'):
            reg = getattr(mod, name, None)
            if reg is not None:
                out[f'{scope}.{name}'] = {
                    k: v.__module__ for k, v in reg.module_dict.items()}
    return out

def state():
    return dict(
        warnings=[repr(f) for f in warnings.filters],
        environ=dict(os.environ),
        path=list(sys.path),
        threads=torch.get_num_threads(),
        deterministic=torch.are_deterministic_algorithms_enabled(),
        dtype=str(torch.get_default_dtype()),
        logging=[logging.getLogger().level,
                 len(logging.getLogger().handlers)],
        safe_globals=sorted(map(repr,
                                torch.serialization.get_safe_globals())),
        history_buffer_getstate=repr(
            HistoryBuffer.__dict__.get('__getstate__')),
        adjust_hue=mmcv.adjust_hue.__module__,
        registries=registries())

before = state()
import dspnet_mm
from dspnet_mm.side_effects import CHANGES
after = state()
changed = sorted(k for k in before if before[k] != after[k])
added = {
    reg: sorted(set(after['registries'][reg]) - set(before['registries'][reg]))
    for reg in after['registries']}
modules = {
    reg: sorted({after['registries'][reg][k] for k in keys})
    for reg, keys in added.items()}
print(json.dumps(dict(changed=changed, added=added, modules=modules,
                      changes=list(CHANGES),
                      numpy2=int(np.__version__.split('.')[0]) >= 2)))
'''


def test_import_changes_only_what_is_listed():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, '-c', PROBE],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    listed = set(res['changes'])
    # nothing but the listed kinds of change
    category = dict(registries='registries', adjust_hue='numpy2-adjust-hue')
    for key in res['changed']:
        assert key in category, f'import dspnet_mm changed {key}'
        assert category[key] in listed, key
    # the registrations are ours, and the ones side_effects.py names
    assert res['added']['mmpretrain.MODELS'] == [
        'DSPNet', 'SlimmableNonLinearNeck', 'SlimmableResNet'
    ]
    assert res['added']['mmpretrain.HOOKS'] == [
        'DSPNetDistillHook', 'TrainTimeHook'
    ]
    assert res['added']['mmpretrain.OPTIM_WRAPPERS'] == ['CPUAmpOptimWrapper']
    assert res['added']['mmdet.MODELS'] == ['SlimmableResNet']
    assert res['added']['mmseg.MODELS'] == ['SlimmableResNet']
    for reg, mods in res['modules'].items():
        assert all(m.startswith('dspnet_mm.') for m in mods), (reg, mods)
    others = {k: v for k, v in res['added'].items() if v}.keys()
    assert set(others) == {
        'mmpretrain.MODELS', 'mmpretrain.HOOKS', 'mmpretrain.OPTIM_WRAPPERS',
        'mmdet.MODELS', 'mmseg.MODELS'
    }
    # the numpy-2 fix happens exactly under numpy 2
    assert ('adjust_hue' in res['changed']) == res['numpy2']
