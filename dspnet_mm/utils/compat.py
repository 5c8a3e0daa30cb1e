"""A numpy 2 fix for mmcv 2.1.0's ``adjust_hue`` (BYOL's ColorJitter).

mmcv 2.1.0 shifts the hue channel with ``h += np.uint8(hue_factor * 255)``
and relies on numpy 1.x wrapping a negative value around. numpy 2 raises
``OverflowError`` instead, so every ColorJitter with a negative hue draw
(half of them in BYOL's pipeline) crashes. This is the only numpy-2
incompatibility of the pinned stack on our code paths (searched for
removed numpy aliases in mmcv/mmengine/mmpretrain/mmdet/mmseg). We replace
``mmcv.adjust_hue`` with the same algorithm, the shift taken modulo 256 as
numpy 1.x did; mmpretrain looks the function up on ``mmcv`` at call time.
"""
import cv2
import mmcv
import mmcv.image
import mmcv.image.photometric as photometric
import numpy as np
from PIL import Image

_original_adjust_hue = photometric.adjust_hue


def adjust_hue(img: np.ndarray, hue_factor: float, backend=None) -> np.ndarray:
    """:func:`mmcv.adjust_hue`, numpy-2 safe (same arguments and results)."""
    if backend is None:
        backend = photometric.imread_backend
    if backend not in ['cv2', 'pillow']:
        raise ValueError(f'backend: {backend} is not supported.'
                         f"Supported backends are 'cv2', 'pillow'")
    if not (-0.5 <= hue_factor <= 0.5):
        raise ValueError(f'hue_factor:{hue_factor} is not in [-0.5, 0.5].')
    if not (isinstance(img, np.ndarray) and (img.ndim in {2, 3})):
        raise TypeError('img should be ndarray with dim=[2 or 3].')
    # numpy 1.x: np.uint8(-14.x) == 242, a rotation of the hue circle
    shift = np.uint8(int(hue_factor * 255) % 256)
    if backend == 'pillow':
        assert img.dtype == np.uint8, 'Pillow backend only support uint8 type'
        pil_image = Image.fromarray(img[..., ::-1], mode='RGB')
        input_mode = pil_image.mode
        if input_mode in {'L', '1', 'I', 'F'}:
            return pil_image
        h, s, v = pil_image.convert('HSV').split()
        np_h = np.array(h, dtype=np.uint8)
        np_h += shift  # uint8 addition wraps around the hue circle
        h = Image.fromarray(np_h, 'L')
        pil_image = Image.merge('HSV', (h, s, v)).convert(input_mode)
        return np.array(pil_image, dtype=img.dtype)[..., ::-1]
    dtype = img.dtype
    img = img.astype(np.uint8)
    hsv_img = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)
    h, s, v = cv2.split(hsv_img)
    h = h.astype(np.uint8)
    h += shift
    hsv_img = cv2.merge([h, s, v])
    return cv2.cvtColor(hsv_img, cv2.COLOR_HSV2BGR_FULL).astype(dtype)


def _install() -> None:
    if int(np.__version__.split('.')[0]) < 2:
        return
    for module in (mmcv, mmcv.image, photometric):
        module.adjust_hue = adjust_hue


_install()
