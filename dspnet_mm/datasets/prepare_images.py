"""The image side of :func:`.prepare.prepare_dataset`: decode with the allowed
decoders only, turn upright, convert to RGB, resize, centre-crop and encode,
one job per image, in worker processes if asked."""
import hashlib
import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# The Pillow decoders those extensions need (JPEG's also opens phones'
# multi-picture MPO files). Restricting Image.open keeps e.g. the EPS plugin,
# which runs Ghostscript, out of reach of a file that claims to be an image.
_FORMATS = ('JPEG', 'PNG', 'BMP', 'PPM', 'TIFF', 'WEBP')
# Pillow's 4:2:0 chroma subsampling code; fixed so defaults cannot move it.
_SUBSAMPLING_420 = 2


def _to_rgb(img):
    """An RGB copy: alpha on white, 16/32-bit gray scaled to 8 bits."""
    if img.mode == 'RGB':
        return img
    if img.mode in ('I', 'F') or img.mode.startswith('I;16'):
        # 16-bit PNG/TIFF gray: Pillow's convert would clip at 255. 'I'/'F'
        # carry no bit depth: taken as 16-bit when a value exceeds 255.
        arr = np.asarray(img, dtype=np.float64)
        sixteen = img.mode.startswith('I;16') or arr.max() > 255
        scale = 255 / 65535 if sixteen else 1.0
        arr = np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, 'L').convert('RGB')
    if img.mode == 'P' and 'transparency' in img.info:
        img = img.convert('RGBA')
    if img.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La'):
        rgba = img.convert('RGBA')
        canvas = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert('RGB')
    return img.convert('RGB')


def _transform(img, short_side, crop):
    """Resize the short side to ``short_side``, then centre-crop ``crop``."""
    w, h = img.size
    if short_side:
        if w <= h:
            w, h = short_side, max(short_side, int(h * short_side / w + .5))
        else:
            w, h = max(short_side, int(w * short_side / h + .5)), short_side
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if crop:
        left, top = (w - crop) // 2, (h - crop) // 2
        img = img.crop((left, top, left + crop, top + crop))
    return img


def _process(job):
    """Read, check and write one image; runs in a worker process.

    Args:
        job (tuple): ``(source path, destination path, options dict)``.

    Returns:
        dict: ``status`` (``'ok'``, ``'bad'`` or ``'small'``), ``mode`` and
        ``size`` of the decoded source, ``sha256`` of the written bytes, or
        ``reason`` when not ``'ok'``.
    """
    src, dst, opts = job
    try:
        with open(src, 'rb') as f:
            data = f.read()
    except OSError as e:
        return dict(status='bad', reason=f'cannot read: {e.strerror or e}')
    reencode = opts['reencode']
    try:
        with Image.open(io.BytesIO(data), formats=_FORMATS) as img:
            # decode every pixel: a truncated or corrupt file fails here
            img.load()
            mode, size = img.mode, img.size
            if reencode:
                img = _to_rgb(ImageOps.exif_transpose(img))
    except UnidentifiedImageError:
        # its message names the BytesIO's address: not reproducible
        return dict(status='bad', reason='not an image in a known format')
    except Exception as e:  # noqa: BLE001 (decoders raise many types)
        return dict(status='bad', reason=f'{type(e).__name__}: {e}')
    if reencode:
        w, h = img.size
        crop, short = opts['crop'], opts['short_side']
        if crop and not short and min(w, h) < crop:
            return dict(
                status='small',
                reason=f'{w}x{h} is smaller than the {crop} px crop')
        img = _transform(img, short, crop)
        buf = io.BytesIO()
        img.save(
            buf,
            'JPEG',
            quality=opts['quality'],
            subsampling=_SUBSAMPLING_420,
            optimize=False,
            progressive=False)
        data = buf.getvalue()
        upscaled = bool(short) and short > min(w, h)
    else:
        upscaled = False
    with open(dst, 'xb') as f:
        f.write(data)
    return dict(
        status='ok',
        mode=mode,
        size=size,
        upscaled=upscaled,
        sha256=hashlib.sha256(data).hexdigest())


def _map(jobs, workers, per_worker=64):
    """``_process`` over ``jobs`` in order, in ``workers`` processes.

    The pool maps one block of jobs at a time, so when the caller stops
    (an error or ``strict``) no task is in flight and the pool closes
    cleanly; ``Pool.terminate`` with tasks queued can hang (seen here in
    the task handler's put), so it is kept for an interrupt inside a map.
    """
    if workers <= 1:
        yield from map(_process, jobs)
        return
    import multiprocessing
    pool = multiprocessing.Pool(workers)
    step = per_worker * workers
    busy = False
    try:
        for start in range(0, len(jobs), step):
            busy = True
            results = pool.map(_process, jobs[start:start + step], 8)
            busy = False
            yield from results
    finally:
        if busy:
            pool.terminate()
        else:
            pool.close()
        pool.join()
