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
import math
import os
import os.path as osp
import shutil
import tempfile
import warnings

import cv2
import numpy as np

__all__ = [
    'DEMO_CLASSES', 'SMALL_DEMO', 'DemoDataError', 'demo_metainfo',
    'generate_demo_data'
]

# Sorted alphabetically: mmpretrain's ``CustomDataset`` without an ann file
# numbers the class folders in sorted order, and the meta files must agree.
DEMO_CLASSES = ('circle', 'crescent', 'cross', 'heart', 'ring', 'square',
                'star', 'triangle')

# A tiny size for tests: ``generate_demo_data(root, **SMALL_DEMO)``.
SMALL_DEMO = dict(
    cls_train_per_class=10,
    cls_val_per_class=4,
    cls_size=32,
    det_train=8,
    det_val=4,
    det_size=64)

# Bump whenever the drawn content changes, so stale roots get regenerated.
GENERATOR_VERSION = 2

_TASKS = ('cls', 'det', 'seg')
_SPLITS = ('train', 'val')
# Stream ids that keep the per-sample seeds of tasks and splits apart.
_STREAM = dict(cls=1, scene=2, subset=3)
_SUBSETS = (('train_1percent', 0.01), ('train_10percent', 0.1))
# fillPoly works on fixed-point vertices with this many fractional bits.
_SHIFT = 4
# Minimum luminance gap between an object's fill and the background under it,
# so the shape stays visible after the grayscale augmentation.
_MIN_CONTRAST = 0.35
# Difficulty knobs, tuned with tools/analysis/demo_data_baseline.py and a
# from-scratch supervised ResNet-18 (it must learn the labels from ~1k
# images). Strong or blended backgrounds would also let BYOL match its two
# views by background texture instead of shape, so they stay subdued.
_BG_STRENGTH = (0.05, 0.3)  # contrast of the background texture
_BG_BLEND_P = 0.15  # chance of blending a second texture in
_FLAT_FILL_P = 0.75  # chance of a flat fill (else a low-contrast texture)
_CLS_RADIUS = (0.3, 0.46)  # object radius / image side, classification
_CLS_STROKES = 1  # at most this many distractor strokes before the object

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
# Shapes: one closed polygon each, centred at 0, farthest vertex at radius 1.
# --------------------------------------------------------------------------


def _circle_pts(num, radius=1.0, start=0.0, stop=None, center=(0, 0)):
    stop = start + 2 * math.pi if stop is None else stop
    t = np.linspace(start, stop, num, endpoint=False)
    return np.stack(
        [center[0] + radius * np.cos(t), center[1] + radius * np.sin(t)], 1)


def _regular(num, rng, jitter=0.06):
    pts = _circle_pts(num, start=-math.pi / 2)
    return pts + rng.uniform(-jitter, jitter, pts.shape)


def _shape_circle(rng):
    return _circle_pts(40)


def _shape_square(rng):
    return _regular(4, rng)


def _shape_triangle(rng):
    return _regular(3, rng)


def _shape_star(rng):
    inner = rng.uniform(0.38, 0.5)
    pts = _circle_pts(10, start=-math.pi / 2)
    pts[1::2] *= inner
    return pts


def _shape_ring(rng):
    # One polygon with a zero-width bridge: outer contour counter-clockwise,
    # inner one clockwise, so fillPoly and pycocotools both leave the hole.
    inner = rng.uniform(0.5, 0.65)
    outer = _circle_pts(40)
    hole = _circle_pts(32, radius=inner)[::-1]
    hole = np.concatenate([hole[-1:], hole[:-1]])
    return np.concatenate([outer, outer[:1], hole, hole[:1]])


def _shape_cross(rng):
    a = rng.uniform(0.2, 0.3)  # half arm width
    b = math.sqrt(1 - a * a)  # arm tip, so the tip corners sit at radius 1
    q = np.array([[a, -b], [a, -a], [b, -a]])
    pts = []
    rot = np.array([[0., -1.], [1., 0.]])
    for _ in range(4):
        pts.append(q)
        q = q @ rot.T
    return np.concatenate(pts)


def _shape_crescent(rng):
    # The unit disk minus a disk of radius r centred at (d, 0).
    r = rng.uniform(0.75, 0.9)
    d = rng.uniform(0.4, 0.55)
    x = (1 + d * d - r * r) / (2 * d)
    y = math.sqrt(max(1 - x * x, 1e-6))
    a_out = math.atan2(y, x)
    a_in = math.atan2(y, x - d)
    outer = _circle_pts(30, start=a_out, stop=2 * math.pi - a_out)
    inner = _circle_pts(
        24, radius=r, center=(d, 0), start=2 * math.pi - a_in, stop=a_in)
    return np.concatenate([outer, [[x, -y]], inner])


def _shape_heart(rng):
    t = np.linspace(0, 2 * math.pi, 48, endpoint=False)
    x = 16 * np.sin(t)**3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) -
          np.cos(4 * t))
    pts = np.stack([x, y], 1)
    pts -= (pts.max(0) + pts.min(0)) / 2
    return pts


_SHAPES = dict(
    circle=_shape_circle,
    crescent=_shape_crescent,
    cross=_shape_cross,
    heart=_shape_heart,
    ring=_shape_ring,
    square=_shape_square,
    star=_shape_star,
    triangle=_shape_triangle)
assert tuple(sorted(_SHAPES)) == DEMO_CLASSES


def _shape_polygon(label, rng, center, radius):
    """Unit shape of class ``label``, jittered and placed in the image.

    The polygon is centred on its bounding box, then stretched (aspect up to
    1.2), rotated uniformly and scaled so its farthest vertex lies at
    ``radius`` from ``center``. Vertices are quantised to fillPoly's fixed
    point so that the stored (COCO) polygon is exactly what was drawn.
    """
    pts = _SHAPES[DEMO_CLASSES[label]](rng).astype(np.float64)
    pts -= (pts.max(0) + pts.min(0)) / 2
    aspect = math.exp(rng.uniform(-0.18, 0.18))
    pts *= np.array([aspect, 1 / aspect])
    theta = rng.uniform(0, 2 * math.pi)
    c, s = math.cos(theta), math.sin(theta)
    pts = pts @ np.array([[c, -s], [s, c]]).T
    pts *= radius / np.linalg.norm(pts, axis=1).max()
    pts += np.asarray(center, np.float64)
    return np.round(pts * (1 << _SHIFT)) / (1 << _SHIFT)


def _coverage(size, poly):
    """Anti-aliased coverage in [0, 1] of ``poly``, float32 HxWx1.

    COCO puts pixel ``i`` on ``[i, i + 1)``, OpenCV on ``[i - 0.5, i + 0.5)``:
    the half-pixel shift keeps the drawing on the annotated mask.
    """
    canvas = np.zeros((size, size), np.uint8)
    fixed = np.round((poly - 0.5) * (1 << _SHIFT)).astype(np.int32)
    cv2.fillPoly(canvas, [fixed], 255, cv2.LINE_AA, _SHIFT)
    return canvas.astype(np.float32)[..., None] / 255


def _label_mask(size, poly):
    """Binary uint8 mask of ``poly`` exactly as pycocotools decodes it.

    Using the COCO rasteriser itself makes the mmseg label map agree pixel for
    pixel with the masks mmdet decodes from the JSON polygons.
    """
    from pycocotools import mask as mask_util
    rles = mask_util.frPyObjects([poly.reshape(-1).tolist()], size, size)
    with warnings.catch_warnings():
        # pycocotools' decode trips a numpy 2 copy=False deprecation.
        warnings.simplefilter('ignore', DeprecationWarning)
        return np.ascontiguousarray(mask_util.decode(rles)[..., 0])


# --------------------------------------------------------------------------
# Textures and scene composition (float32 HxWx3 images in [0, 1], BGR).
# --------------------------------------------------------------------------


def _luma(img):
    return img[..., 0] * 0.114 + img[..., 1] * 0.587 + img[..., 2] * 0.299


def _texture(rng, size, strength=1.0):
    """A random texture: smooth colour noise, stripes, checks or speckle."""
    kind = rng.integers(4)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 0:
        grid = int(rng.integers(2, 7))
        tex = cv2.resize(
            rng.random((grid, grid, 3)).astype(np.float32), (size, size),
            interpolation=cv2.INTER_CUBIC)
    else:
        c0, c1 = rng.random((2, 3)).astype(np.float32)
        if kind == 1:
            ang = rng.uniform(0, math.pi)
            freq = rng.uniform(2, 9)
            phase = rng.uniform(0, 2 * math.pi)
            t = 0.5 + 0.5 * np.sin(2 * math.pi * freq *
                                   (xx * math.cos(ang) + yy * math.sin(ang)) +
                                   phase)
        elif kind == 2:
            freq = rng.uniform(2, 7)
            t = ((np.floor(xx * freq) + np.floor(yy * freq)) % 2)
            t = cv2.GaussianBlur(t.astype(np.float32), (0, 0), 0.8)
        else:
            grid = max(2, size // int(rng.integers(2, 5)))
            t = cv2.resize(
                rng.random((grid, grid)).astype(np.float32), (size, size),
                interpolation=cv2.INTER_LINEAR)
        tex = c0 + (c1 - c0) * t[..., None]
    mean = tex.mean((0, 1), keepdims=True)
    return np.clip(mean + (tex - mean) * strength, 0, 1).astype(np.float32)


def _background(rng, size):
    img = _texture(rng, size, strength=rng.uniform(*_BG_STRENGTH))
    if rng.random() < _BG_BLEND_P:
        w = rng.uniform(0.2, 0.5)
        img = (1 - w) * img + w * _texture(rng, size)
    return img


def _strokes(rng, img, num, size):
    """Open random polylines: clutter that belongs to no class."""
    for _ in range(num):
        k = int(rng.integers(2, 5))
        start = rng.uniform(0, size, 2)
        steps = rng.normal(0, size * 0.18, (k - 1, 2))
        pts = np.concatenate([start[None], start + np.cumsum(steps, 0)])
        fixed = np.round(pts * (1 << _SHIFT)).astype(np.int32)
        color = tuple(float(c) for c in rng.random(3))
        thickness = int(rng.integers(1, 3))
        cv2.polylines(img, [fixed], False, color, thickness, cv2.LINE_AA,
                      _SHIFT)


def _paint(rng, img, poly):
    """Composite one object; the fill contrasts in luminance with ``img``."""
    size = img.shape[0]
    alpha = _coverage(size, poly)
    weight = alpha[..., 0] / max(float(alpha.sum()), 1.0)
    bg_luma = float((_luma(img) * weight).sum())
    if rng.random() < _FLAT_FILL_P:
        fill = np.ones_like(img) * rng.random(3).astype(np.float32)
    else:
        fill = _texture(rng, size, strength=rng.uniform(0.2, 0.5))
    gap = float((_luma(fill) * weight).sum()) - bg_luma
    if abs(gap) < _MIN_CONTRAST:
        # Shift the fill brightness away from the background's (towards
        # whichever side has room) instead of resampling: fewer draws.
        direction = 1.0 if bg_luma < 0.5 else -1.0
        shift = _MIN_CONTRAST - gap * direction
        fill = np.clip(fill + direction * shift, 0, 1)
    img *= 1 - alpha
    img += alpha * fill


def _finish(rng, img):
    """Camera-ish degradations: blur, pixel noise, 8-bit quantisation."""
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 0.8))
    img = img + rng.normal(0, rng.uniform(0.0, 0.05), img.shape).astype(
        np.float32)
    return np.round(np.clip(img, 0, 1) * 255).astype(np.uint8)


def _cls_image(rng, label, size):
    img = _background(rng, size)
    _strokes(rng, img, int(rng.integers(0, _CLS_STROKES + 1)), size)
    radius = rng.uniform(*_CLS_RADIUS) * size
    lo, hi = radius + 1, size - radius - 2
    center = rng.uniform(lo, hi, 2) if hi > lo else np.full(2, size / 2)
    _paint(rng, img, _shape_polygon(label, rng, center, radius))
    _strokes(rng, img, int(rng.integers(0, 2)), size)
    return _finish(rng, img)


def _scene(rng, size, max_objects=4, tries=40):
    """A detection/segmentation scene with 1..``max_objects`` shapes.

    Objects lie fully inside the image and their masks (dilated by 2 px) do
    not overlap, so the label map agrees with every COCO polygon; bounding
    boxes may still overlap a little.

    Returns:
        tuple: ``(image uint8 HxWx3, label map uint8 HxW, objects)`` where
        ``objects`` is a list of ``(label, polygon (N, 2), pixel area)``.
    """
    img = _background(rng, size)
    _strokes(rng, img, int(rng.integers(0, 4)), size)
    label_map = np.zeros((size, size), np.uint8)
    occupied = np.zeros((size, size), np.uint8)
    kernel = np.ones((5, 5), np.uint8)
    objects = []
    num = int(rng.integers(1, max_objects + 1))
    for _ in range(tries):
        if len(objects) == num:
            break
        label = int(rng.integers(len(DEMO_CLASSES)))
        radius = rng.uniform(0.08, 0.2) * size
        center = rng.uniform(radius + 1, size - radius - 2, 2)
        poly = _shape_polygon(label, rng, center, radius)
        mask = _label_mask(size, poly)
        if (cv2.dilate(mask, kernel) & occupied).any() or not mask.any():
            continue
        occupied |= mask
        label_map[mask > 0] = label + 1
        _paint(rng, img, poly)
        objects.append((label, poly, int(mask.sum())))
    _strokes(rng, img, int(rng.integers(0, 2)), size)
    return _finish(rng, img), label_map, objects


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
