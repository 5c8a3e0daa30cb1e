"""model-index.yml: every config once, in mmpretrain's metafile format."""
import glob
import os.path as osp

import yaml

from dspnet_mm.slim import complexity

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _models():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        index = yaml.safe_load(f)
    models = []
    for rel in index['Import']:
        with open(osp.join(ROOT, rel)) as f:
            meta = yaml.safe_load(f)
        names = {c['Name'] for c in meta['Collections']}
        for m in meta['Models']:
            assert m['In Collection'] in names, m['Name']
            models.append(m)
    return models


def test_every_config_is_indexed_once():
    models = _models()
    configs = sorted(m['Config'] for m in models)
    on_disk = sorted(
        osp.relpath(p, ROOT) for p in glob.glob(
            osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
        if '/_base_/' not in p)
    assert configs == on_disk
    for m in models:
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]


def test_results_are_empty_until_measured_and_flops_are_the_widths():
    for m in _models():
        assert m['Weights'] is None, m['Name']
        for result in m['Results'] or []:
            assert set(result) == {'Task', 'Dataset', 'Metrics'}
            assert all(v is None for v in result['Metrics'].values())
        meta = m['Metadata']
        if 'FLOPs' in meta:
            depth = 50 if 'resnet50' in m['Name'] else 18
            width = meta.get('Width', 1.0)
            assert (meta['Parameters'],
                    meta['FLOPs']) == complexity(depth, width), m['Name']
