"""Embedded synthetic demo data for classification, detection, segmentation.

One scene generator draws filled shapes of ``len(DEMO_CLASSES)`` classes on
textured, noisy backgrounds with stroke distractors. Position, scale, aspect,
rotation, fill colour and fill texture are drawn independently of the class,
so the label is a matter of geometry only: it survives the BYOL augmentations
(colour jitter, grayscale, flips, moderate crops, blur) and cannot be read off
colour statistics, which leaves a self-supervised backbone something to learn.

Everything is written in the standard on-disk formats, so pointing a config
at real data is a path change:

.. code-block:: none

    <root>/manifest.json
    <root>/cls/{train,val}/<class_name>/<class_name>_0000.png   ImageNet-style
    <root>/cls/meta/{train,val,train_1percent,train_10percent}.txt
    <root>/cls/meta/classes.txt
    <root>/coco/{train,val}/<split>_00000.png                   COCO instances
    <root>/coco/annotations/instances_{train,val}.json
    <root>/seg/img_dir/{train,val}/<split>_00000.png            mmseg style
    <root>/seg/ann_dir/{train,val}/<split>_00000.png

Every sample draws from its own ``numpy`` generator seeded by
``(seed, task, split, class, index)``, so the output is byte-identical for the
same seed and parameters, and a larger set extends a smaller one.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile

import cv2
import numpy as np

from .demo_drawing import DEMO_CLASSES, _cls_image, _scene

__all__ = [
    'DEMO_CLASSES', 'SMALL_DEMO', 'DemoDataError', 'demo_metainfo',
    'generate_demo_data'
]

# A tiny size for tests: ``generate_demo_data(root, **SMALL_DEMO)``.
SMALL_DEMO = dict(
    cls_train_per_class=10,
    cls_val_per_class=4,
    cls_size=32,
    det_train=8,
    det_val=4,
    det_size=64)

# Bump whenever the drawn content (.demo_drawing) changes, so that stale
# roots get regenerated.
GENERATOR_VERSION = 2

_TASKS = ('cls', 'det', 'seg')
_SPLITS = ('train', 'val')
# Stream ids that keep the per-sample seeds of tasks and splits apart.
_STREAM = dict(cls=1, scene=2, subset=3)
_SUBSETS = (('train_1percent', 0.01), ('train_10percent', 0.1))

_PALETTE = ((0, 0, 0), (230, 25, 75), (60, 180, 75), (255, 225, 25),
            (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
            (240, 50, 230), (210, 245, 60), (250, 190, 212))


class DemoDataError(RuntimeError):
    """The demo data root cannot be created or would overwrite user data."""


def demo_metainfo(task):
    """Dataset ``metainfo`` for the demo data of one task.

    Args:
        task (str): ``'cls'``, ``'det'`` or ``'seg'``.

    Returns:
        dict: ``classes`` (and ``palette``); for ``'seg'`` the classes start
        with ``'background'``, matching label value 0 of the label maps.
    """
    if task not in _TASKS:
        raise ValueError(f'task must be one of {_TASKS}, got {task!r}')
    if task == 'cls':
        return dict(classes=DEMO_CLASSES)
    palette = [list(c) for c in _PALETTE[:len(DEMO_CLASSES) + 1]]
    if task == 'det':
        return dict(classes=DEMO_CLASSES, palette=palette[1:])
    return dict(classes=('background', ) + DEMO_CLASSES, palette=palette)


# --------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------


class _Writer:
    """Writes files under a root and hashes their bytes as it goes."""

    def __init__(self, root):
        self.root = root
        self.digests = {}

    def write(self, rel, data):
        path = osp.join(self.root, rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
        self.digests[rel] = hashlib.sha256(data).hexdigest()

    def png(self, rel, img):
        ok, buf = cv2.imencode('.png', img)
        assert ok, rel
        self.write(rel, buf.tobytes())

    def text(self, rel, lines):
        self.write(rel, ''.join(f'{line}\n' for line in lines).encode())

    def json(self, rel, obj):
        self.write(rel, json.dumps(obj, separators=(',', ':')).encode())

    def content_hash(self):
        h = hashlib.sha256()
        for rel in sorted(self.digests):
            h.update(f'{rel}\0{self.digests[rel]}\n'.encode())
        return h.hexdigest()


def _rng(*key):
    return np.random.default_rng([int(k) for k in key])


def _write_cls(w, p):
    seed, size = p['seed'], p['cls_size']
    counts = {}
    lines = {}
    for split_id, split in enumerate(_SPLITS):
        per_class = p[f'cls_{split}_per_class']
        lines[split] = []
        for label, name in enumerate(DEMO_CLASSES):
            for i in range(per_class):
                img = _cls_image(
                    _rng(seed, _STREAM['cls'], split_id, label, i), label,
                    size)
                rel = f'{name}/{name}_{i:04d}.png'
                w.png(f'cls/{split}/{rel}', img)
                lines[split].append(f'{rel} {label}')
        w.text(f'cls/meta/{split}.txt', lines[split])
        counts[split] = len(lines[split])
    # Per-class subsets; the 1 % subset is a prefix of the 10 % one's draw.
    n = p['cls_train_per_class']
    subsets = {name: [] for name, _ in _SUBSETS}
    for label in range(len(DEMO_CLASSES)):
        order = _rng(seed, _STREAM['subset'], label).permutation(n)
        for name, frac in _SUBSETS:
            keep = sorted(order[:max(1, int(round(n * frac)))])
            subsets[name] += [lines['train'][label * n + i] for i in keep]
    for name, _ in _SUBSETS:
        w.text(f'cls/meta/{name}.txt', subsets[name])
        counts[name] = len(subsets[name])
    w.text('cls/meta/classes.txt', DEMO_CLASSES)
    return counts


def _coco(scenes, split, size):
    images, annotations = [], []
    for img_id, (_, _, objects) in enumerate(scenes, 1):
        images.append(
            dict(
                id=img_id,
                file_name=f'{split}_{img_id - 1:05d}.png',
                width=size,
                height=size))
        for label, poly, area in objects:
            x0, y0 = poly.min(0)
            x1, y1 = poly.max(0)
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=img_id,
                    category_id=label + 1,
                    bbox=[float(v) for v in (x0, y0, x1 - x0, y1 - y0)],
                    area=area,
                    segmentation=[[float(v) for v in poly.reshape(-1)]],
                    iscrowd=0))
    categories = [
        dict(id=i + 1, name=name, supercategory='shape')
        for i, name in enumerate(DEMO_CLASSES)
    ]
    return dict(
        info=dict(description='dspnet_mm synthetic shapes demo data'),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=categories)


def _write_scenes(w, p, tasks):
    seed, size = p['seed'], p['det_size']
    counts = {task: {} for task in ('det', 'seg') if task in tasks}
    for split_id, split in enumerate(_SPLITS):
        scenes = [
            _scene(_rng(seed, _STREAM['scene'], split_id, i), size)
            for i in range(p[f'det_{split}'])
        ]
        for i, (img, label_map, _) in enumerate(scenes):
            name = f'{split}_{i:05d}.png'
            if 'det' in tasks:
                w.png(f'coco/{split}/{name}', img)
            if 'seg' in tasks:
                w.png(f'seg/img_dir/{split}/{name}', img)
                w.png(f'seg/ann_dir/{split}/{name}', label_map)
        if 'det' in tasks:
            coco = _coco(scenes, split, size)
            w.json(f'coco/annotations/instances_{split}.json', coco)
            counts['det'][f'{split}_images'] = len(coco['images'])
            counts['det'][f'{split}_instances'] = len(coco['annotations'])
        if 'seg' in tasks:
            counts['seg'][split] = len(scenes)
    return counts


def _read_manifest(root):
    try:
        with open(osp.join(root, 'manifest.json')) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _count_files(root):
    return sum(len(files) for _, _, files in os.walk(root))


def generate_demo_data(root='data/demo',
                       seed=0,
                       cls_train_per_class=150,
                       cls_val_per_class=30,
                       cls_size=32,
                       det_train=200,
                       det_val=50,
                       det_size=128,
                       tasks=_TASKS):
    """Generate the demo data under ``root`` (a no-op if already there).

    The data is written into a temporary directory beside ``root`` and renamed
    into place at the end, so an interrupted run never leaves a half-written
    root. A root whose ``manifest.json`` records the same parameters and file
    count is reused as is; a demo root made with other parameters is
    replaced; a non-empty directory without a manifest is never touched.

    Args:
        root (str): Output directory.
        seed (int): Seed of every random draw; same seed and parameters give
            byte-identical files.
        cls_train_per_class (int): Classification train images per class.
        cls_val_per_class (int): Classification val images per class.
        cls_size (int): Classification image side in pixels.
        det_train (int): Detection/segmentation train scenes.
        det_val (int): Detection/segmentation val scenes.
        det_size (int): Detection/segmentation image side in pixels.
        tasks (Sequence[str]): Any of ``'cls'``, ``'det'``, ``'seg'``.

    Returns:
        dict: The manifest: ``seed``, ``params``, ``counts``, ``classes``,
        ``num_files`` and ``content_hash`` (sha256 over all file paths and
        bytes except the manifest itself).

    Raises:
        DemoDataError: If ``root`` cannot be created or written, or is a
            non-empty directory that is not a demo data root.
    """
    bad = set(tasks) - set(_TASKS)
    if bad or not tasks:
        raise ValueError(f'tasks must be a non-empty subset of {_TASKS}, '
                         f'got {tasks!r}')
    tasks = tuple(t for t in _TASKS if t in tasks)
    params = dict(
        version=GENERATOR_VERSION,
        seed=int(seed),
        cls_train_per_class=int(cls_train_per_class),
        cls_val_per_class=int(cls_val_per_class),
        cls_size=int(cls_size),
        det_train=int(det_train),
        det_val=int(det_val),
        det_size=int(det_size),
        tasks=list(tasks))
    for key in ('cls_train_per_class', 'cls_val_per_class', 'det_train',
                'det_val'):
        if params[key] < 1:
            raise ValueError(f'{key} must be >= 1, got {params[key]}')
    for key in ('cls_size', 'det_size'):
        if params[key] < 16:
            raise ValueError(f'{key} must be >= 16 px, got {params[key]}')

    root = osp.abspath(root)
    old = _read_manifest(root)
    if (old is not None and old.get('params') == params
            and old.get('num_files') == _count_files(root) - 1):
        return old
    if osp.exists(root):
        if not osp.isdir(root):
            raise DemoDataError(f'demo data root {root} exists and is not a '
                                'directory')
        if old is None and os.listdir(root):
            raise DemoDataError(
                f'demo data root {root} is a non-empty directory without a '
                'manifest.json; refusing to overwrite it (remove it or pick '
                'another --root)')
    parent = osp.dirname(root)
    ancestor = parent
    while not osp.exists(ancestor):
        ancestor = osp.dirname(ancestor)
    if not osp.isdir(ancestor):
        raise DemoDataError(f'cannot create demo data root {root}: '
                            f'{ancestor} is not a directory')
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(
            prefix=f'.{osp.basename(root)}.tmp-', dir=parent)
    except OSError as e:
        raise DemoDataError(
            f'cannot create demo data root {root}: {e.strerror or e}') from e

    try:
        w = _Writer(tmp)
        counts = {}
        if 'cls' in tasks:
            counts['cls'] = _write_cls(w, params)
        if 'det' in tasks or 'seg' in tasks:
            counts.update(_write_scenes(w, params, tasks))
        manifest = dict(
            format='dspnet_mm demo data',
            seed=params['seed'],
            params=params,
            classes=list(DEMO_CLASSES),
            counts=counts,
            num_files=len(w.digests),
            content_hash=w.content_hash())
        with open(osp.join(tmp, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write('\n')
        if osp.isdir(root):
            # Move the stale root aside first so the swap is two renames.
            trash = tempfile.mkdtemp(
                prefix=f'.{osp.basename(root)}.old-', dir=parent)
            os.rename(root, osp.join(trash, 'root'))
            os.rename(tmp, root)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest
