import hashlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest

from dspnet_mm.datasets import (DEMO_CLASSES, SMALL_DEMO, DemoDataError,
                                demo_metainfo, generate_demo_data)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
K = len(DEMO_CLASSES)


def _file_hashes(root):
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = osp.join(d, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path,
                                root)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    return root, generate_demo_data(root, seed=0, **SMALL_DEMO)


def test_deterministic_by_seed(demo, tmp_path):
    root, manifest = demo
    again = generate_demo_data(str(tmp_path / 'a'), seed=0, **SMALL_DEMO)
    assert _file_hashes(root) == _file_hashes(str(tmp_path / 'a'))
    assert again == manifest
    other = generate_demo_data(str(tmp_path / 'b'), seed=1, **SMALL_DEMO)
    assert other['content_hash'] != manifest['content_hash']
    a, b = _file_hashes(root), _file_hashes(str(tmp_path / 'b'))
    assert a.keys() == b.keys()
    png = [k for k in a if k.endswith('.png')]
    assert all(a[k] != b[k] for k in png)


def test_manifest(demo):
    root, manifest = demo
    with open(osp.join(root, 'manifest.json')) as f:
        assert json.load(f) == manifest
    assert manifest['seed'] == 0
    assert manifest['classes'] == list(DEMO_CLASSES)
    for key, value in SMALL_DEMO.items():
        assert manifest['params'][key] == value
    assert manifest['params']['tasks'] == ['cls', 'det', 'seg']
    hashes = _file_hashes(root)
    assert manifest['num_files'] == len(hashes) - 1
    assert len(manifest['content_hash']) == 64


def test_cls_layout_counts_and_labels(demo):
    root, manifest = demo
    cls = osp.join(root, 'cls')
    n_train, n_val = (SMALL_DEMO['cls_train_per_class'],
                      SMALL_DEMO['cls_val_per_class'])
    assert _lines(osp.join(cls, 'meta', 'classes.txt')) == list(DEMO_CLASSES)
    assert sorted(os.listdir(osp.join(cls, 'train'))) == list(DEMO_CLASSES)
    for split, n in (('train', n_train), ('val', n_val)):
        lines = _lines(osp.join(cls, 'meta', f'{split}.txt'))
        assert len(lines) == n * K == manifest['counts']['cls'][split]
        for line in lines:
            rel, label = line.split(' ')
            assert 0 <= int(label) < K
            assert rel.split('/')[0] == DEMO_CLASSES[int(label)]
            img = cv2.imread(osp.join(cls, split, rel), cv2.IMREAD_UNCHANGED)
            assert img.shape == (SMALL_DEMO['cls_size'], ) * 2 + (3, )
        for name in DEMO_CLASSES:
            assert len(os.listdir(osp.join(cls, split, name))) == n

    train = set(_lines(osp.join(cls, 'meta', 'train.txt')))
    subsets = {}
    for name, frac in (('train_1percent', 0.01), ('train_10percent', 0.1)):
        lines = _lines(osp.join(cls, 'meta', f'{name}.txt'))
        per_class = max(1, round(n_train * frac))
        assert len(lines) == per_class * K == manifest['counts']['cls'][name]
        assert len(set(lines)) == len(lines) and set(lines) <= train
        labels = [int(line.split()[1]) for line in lines]
        assert np.bincount(labels, minlength=K).tolist() == [per_class] * K
        subsets[name] = set(lines)
    assert subsets['train_1percent'] <= subsets['train_10percent']


def test_subset_sizes_default_counts(tmp_path):
    manifest = generate_demo_data(
        str(tmp_path / 'd'),
        cls_train_per_class=120,
        cls_val_per_class=1,
        cls_size=16,
        det_train=1,
        det_val=1,
        det_size=16,
        tasks=('cls', ))
    counts = manifest['counts']['cls']
    assert counts['train_1percent'] == K
    assert counts['train_10percent'] == 12 * K
    assert not osp.exists(str(tmp_path / 'd' / 'coco'))
    assert not osp.exists(str(tmp_path / 'd' / 'seg'))


def test_coco_well_formed(demo):
    root, manifest = demo
    size = SMALL_DEMO['det_size']
    for split in ('train', 'val'):
        path = osp.join(root, 'coco', 'annotations', f'instances_{split}.json')
        with open(path) as f:
            coco = json.load(f)
        assert [c['id'] for c in coco['categories']] == list(range(1, K + 1))
        assert [c['name'] for c in coco['categories']] == list(DEMO_CLASSES)
        images = {im['id']: im for im in coco['images']}
        assert len(images) == SMALL_DEMO[f'det_{split}']
        assert len(images) == manifest['counts']['det'][f'{split}_images']
        assert (len(coco['annotations']) == manifest['counts']['det']
                [f'{split}_instances'])
        assert len({a['id']
                    for a in coco['annotations']}) == len(coco['annotations'])
        per_image = {i: 0 for i in images}
        for ann in coco['annotations']:
            im = images[ann['image_id']]
            assert (im['width'], im['height']) == (size, size)
            assert osp.isfile(osp.join(root, 'coco', split, im['file_name']))
            per_image[im['id']] += 1
            assert 1 <= ann['category_id'] <= K
            assert ann['iscrowd'] == 0 and ann['area'] > 0
            x, y, w, h = ann['bbox']
            assert w > 0 and h > 0
            assert x >= 0 and y >= 0 and x + w <= size and y + h <= size
            (poly, ) = ann['segmentation']
            pts = np.array(poly).reshape(-1, 2)
            assert len(pts) >= 3
            assert (pts >= [x - 1e-6, y - 1e-6]).all()
            assert (pts <= [x + w + 1e-6, y + h + 1e-6]).all()
            assert ann['area'] <= w * h + 2 * (w + h) + 1
        assert all(1 <= n <= 4 for n in per_image.values())


def test_seg_maps_match_coco(demo):
    root, manifest = demo
    for split in ('train', 'val'):
        names = sorted(os.listdir(osp.join(root, 'seg', 'ann_dir', split)))
        assert len(names) == SMALL_DEMO[f'det_{split}']
        assert names == sorted(
            os.listdir(osp.join(root, 'seg', 'img_dir', split)))
        with open(
                osp.join(root, 'coco', 'annotations',
                         f'instances_{split}.json')) as f:
            coco = json.load(f)
        by_name = {im['file_name']: im['id'] for im in coco['images']}
        for name in names:
            label = cv2.imread(
                osp.join(root, 'seg', 'ann_dir', split, name),
                cv2.IMREAD_UNCHANGED)
            assert label.dtype == np.uint8 and label.ndim == 2
            assert set(np.unique(label).tolist()) <= set(range(K + 1))
            # Same scenes as COCO, masks never overlap: the label map holds
            # exactly each instance's class, with its area in pixels.
            anns = [
                a for a in coco['annotations']
                if a['image_id'] == by_name[name]
            ]
            assert set(np.unique(label).tolist()) - {0} == {
                a['category_id']
                for a in anns
            }
            for cid in {a['category_id'] for a in anns}:
                area = sum(a['area'] for a in anns if a['category_id'] == cid)
                assert (label == cid).sum() == area
            img = osp.join(root, 'seg', 'img_dir', split, name)
            with open(img, 'rb') as f, open(
                    osp.join(root, 'coco', split, name), 'rb') as g:
                assert f.read() == g.read()


def test_loads_with_mmpretrain(demo):
    from mmpretrain.datasets import CustomDataset
    root, _ = demo
    cls = osp.join(root, 'cls')
    n = SMALL_DEMO['cls_train_per_class']
    ds = CustomDataset(
        data_root=cls,
        ann_file='meta/train.txt',
        data_prefix='train',
        classes=DEMO_CLASSES)
    assert len(ds) == n * K
    assert ds.get_gt_labels().tolist() == np.repeat(np.arange(K), n).tolist()
    assert osp.isfile(ds[0]['img_path'])
    # Folder scanning (no ann file) must number the classes identically.
    scanned = CustomDataset(data_root=cls, data_prefix='val')
    assert scanned.CLASSES == DEMO_CLASSES
    assert len(scanned) == SMALL_DEMO['cls_val_per_class'] * K
    val = CustomDataset(
        data_root=cls,
        ann_file='meta/val.txt',
        data_prefix='val',
        **demo_metainfo('cls'))
    assert [d['img_path'] for d in val.data_list
            ] == [d['img_path'] for d in scanned.data_list]
    assert val.get_gt_labels().tolist() == scanned.get_gt_labels().tolist()
    sub = CustomDataset(
        data_root=cls,
        ann_file='meta/train_10percent.txt',
        data_prefix='train',
        classes=DEMO_CLASSES)
    assert len(sub) == K


def test_loads_with_mmdet(demo):
    from mmcv.transforms import LoadImageFromFile
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations
    root, _ = demo
    coco = osp.join(root, 'coco')
    ds = CocoDataset(
        data_root=coco,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        metainfo=dict(classes=DEMO_CLASSES),
        test_mode=True,
        pipeline=[
            LoadImageFromFile(),
            LoadAnnotations(with_bbox=True, with_mask=True)
        ])
    assert len(ds) == SMALL_DEMO['det_train']
    with open(osp.join(coco, 'annotations', 'instances_train.json')) as f:
        anns = json.load(f)['annotations']
    for idx in (0, len(ds) - 1):
        out = ds[idx]
        img_id = ds.get_data_info(idx)['img_id']
        mine = [a for a in anns if a['image_id'] == img_id]
        size = SMALL_DEMO['det_size']
        assert out['img'].shape == (size, size, 3)
        assert len(out['gt_bboxes']) == len(mine) == len(out['gt_masks'])
        assert out['gt_bboxes_labels'].tolist() == [
            a['category_id'] - 1 for a in mine
        ]
        # The decoded polygons (the ring's bridged hole included) are the
        # seg label map's pixels of each instance, with the recorded area.
        label = cv2.imread(
            osp.join(root, 'seg', 'ann_dir', 'train',
                     osp.basename(out['img_path'])), cv2.IMREAD_UNCHANGED)
        masks = out['gt_masks'].to_ndarray()
        for mask, ann in zip(masks, mine):
            assert int(mask.sum()) == ann['area']
            assert (label[mask > 0] == ann['category_id']).all()


def test_loads_with_mmseg(demo):
    from mmseg.datasets import BaseSegDataset
    root, _ = demo
    meta = demo_metainfo('seg')
    assert meta['classes'] == ('background', ) + DEMO_CLASSES
    assert len(meta['palette']) == K + 1
    for split in ('train', 'val'):
        ds = BaseSegDataset(
            data_root=osp.join(root, 'seg'),
            data_prefix=dict(
                img_path=f'img_dir/{split}', seg_map_path=f'ann_dir/{split}'),
            img_suffix='.png',
            seg_map_suffix='.png',
            metainfo=meta)
        assert len(ds) == SMALL_DEMO[f'det_{split}']
        info = ds.get_data_info(0)
        assert osp.isfile(info['img_path']) and osp.isfile(
            info['seg_map_path'])


def test_rerun_is_noop_and_params_regenerate(tmp_path):
    root = str(tmp_path / 'demo')
    first = generate_demo_data(root, **SMALL_DEMO)
    mtimes = {
        k: os.stat(osp.join(root, k)).st_mtime_ns
        for k in _file_hashes(root)
    }
    assert generate_demo_data(root, **SMALL_DEMO) == first
    assert {
        k: os.stat(osp.join(root, k)).st_mtime_ns
        for k in _file_hashes(root)
    } == mtimes
    # Nothing but the root is left beside it.
    assert os.listdir(str(tmp_path)) == ['demo']

    # A damaged root (a file gone) is regenerated.
    os.remove(osp.join(root, 'cls', 'meta', 'val.txt'))
    assert generate_demo_data(root, **SMALL_DEMO) == first
    assert osp.isfile(osp.join(root, 'cls', 'meta', 'val.txt'))

    params = dict(SMALL_DEMO, det_train=3)
    other = generate_demo_data(root, **params)
    assert other['counts']['det']['train_images'] == 3
    assert other['content_hash'] != first['content_hash']
    assert len(os.listdir(osp.join(root, 'coco', 'train'))) == 3
    assert os.listdir(str(tmp_path)) == ['demo']


def test_errors(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a directory')
    with pytest.raises(DemoDataError, match='not a directory'):
        generate_demo_data(str(blocker / 'demo'), **SMALL_DEMO)
    with pytest.raises(DemoDataError, match='not a directory'):
        generate_demo_data(str(blocker), **SMALL_DEMO)
    user = tmp_path / 'user'
    user.mkdir()
    (user / 'precious.txt').write_text('keep me')
    with pytest.raises(DemoDataError, match='refusing'):
        generate_demo_data(str(user), **SMALL_DEMO)
    assert (user / 'precious.txt').read_text() == 'keep me'
    with pytest.raises(ValueError):
        generate_demo_data(str(tmp_path / 'x'), tasks=('cls', 'depth'))
    with pytest.raises(ValueError):
        generate_demo_data(str(tmp_path / 'x'), cls_train_per_class=0)


def test_cli(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        'generate_demo_data', osp.join(REPO, 'tools', 'generate_demo_data.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    root = str(tmp_path / 'demo')
    assert tool.main(['--root', root, '--seed', '3', '--small']) == 0
    with open(osp.join(root, 'manifest.json')) as f:
        manifest = json.load(f)
    assert manifest['seed'] == 3
    assert manifest['params']['cls_size'] == SMALL_DEMO['cls_size']
    assert tool.main(['--root', root, '--seed', '3', '--small']) == 0
    # a larger val set extends the default one (same first images)
    big = str(tmp_path / 'big')
    assert tool.main([
        '--root', big, '--seed', '3', '--small', '--tasks', 'cls',
        '--cls-val-per-class', '6'
    ]) == 0
    with open(osp.join(big, 'manifest.json')) as f:
        params = json.load(f)['params']
    assert params['cls_val_per_class'] == 6
    assert params['cls_train_per_class'] == SMALL_DEMO['cls_train_per_class']
    with open(osp.join(big, 'cls', 'meta', 'val.txt')) as f:
        val = f.read().splitlines()
    assert len(val) == 6 * len(DEMO_CLASSES)
    rel = val[0].split()[0]
    with open(osp.join(root, 'cls', 'val', rel),
              'rb') as a, open(osp.join(big, 'cls', 'val', rel), 'rb') as b:
        assert a.read() == b.read()
    capsys.readouterr()
    bad = str(tmp_path / 'bad')
    assert tool.main(['--root', bad, '--cls-val-per-class', '0']) == 1
    assert capsys.readouterr().err == (
        'error: cls_val_per_class must be >= 1, got 0\n')
    assert not osp.exists(bad)

    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    capsys.readouterr()
    assert tool.main(['--root', str(blocker / 'demo'), '--small']) == 1
    err = capsys.readouterr().err
    assert err == (f'error: cannot create demo data root {blocker}/demo: '
                   f'{blocker} is not a directory\n')


def test_cli_exit_code(tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    tool = osp.join(REPO, 'tools', 'generate_demo_data.py')
    cmd = [sys.executable, tool, '--root', str(blocker / 'demo'), '--small']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: cannot create demo data root')
    assert 'Traceback' not in proc.stderr
