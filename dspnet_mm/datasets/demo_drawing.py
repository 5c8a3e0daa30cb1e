"""Drawing of the embedded demo data: shapes, textures, scenes.

Pure functions of a ``numpy`` generator (:mod:`.demo_data` seeds one per
sample and writes the files). The label of a classification image is a
matter of geometry only: position, scale, aspect, rotation, fill colour and
texture are drawn independently of the class.
"""
import math
import warnings

import cv2
import numpy as np

# Sorted alphabetically: mmpretrain's ``CustomDataset`` without an ann file
# numbers the class folders in sorted order, and the meta files must agree.
DEMO_CLASSES = ('circle', 'crescent', 'cross', 'heart', 'ring', 'square',
                'star', 'triangle')

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
