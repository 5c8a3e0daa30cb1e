"""Turn a class-folder image set into an ImageNet-style root.

Reads the Imagenette / Imagewoof / ImageNet layout (``<src>/train/<class>/``
and ``<src>/val/<class>/``) or a single folder of class folders split into
train and val here, and writes the root that mmpretrain's ``CustomDataset``,
our configs and :func:`dspnet_mm.evaluation.imagenet_style_dataset` read:

.. code-block:: none

    <out>/train/<class>/<name>       images
    <out>/val/<class>/<name>
    <out>/meta/train.txt             "<class>/<name> <label>" per line
    <out>/meta/val.txt
    <out>/meta/classes.txt           one class per line, label order
    <out>/classes.txt                the same
    <out>/meta/class_names.txt       "<class> <readable name>" (optional)
    <out>/manifest.json              options, counts, skipped files, hashes

Labels number the classes in sorted order. Images are copied byte for byte
unless a resize (``short_side``), a centre crop (``crop``) or ``reencode``
is asked for; then each is decoded, turned upright by its EXIF orientation,
converted to RGB (alpha composited on white, 16-bit scaled to 8 bits),
resized with Lanczos so the short side is ``short_side`` (up or down),
centre-cropped to ``crop`` x ``crop`` and saved as ``<stem>.jpg`` (baseline
JPEG, fixed quality, 4:2:0, no metadata or colour profile).

Choices:

- Deterministic: listings are sorted, the val split of a single root draws
  per class by a hash of ``(seed, class, file name)`` (not the listing
  order), and the encoder settings are fixed, so the same input and options
  give byte-identical output (with the same Pillow).
- Unreadable images (cannot be opened or fully decoded) are skipped: each is
  named in ``manifest['skipped']`` and counted. ``strict=True`` refuses the
  first one instead. A class left without images is an error either way.
- Safe to re-run: the root is built in a hidden temporary sibling and
  renamed into place at the end, replacing a previous output of this
  function (recognised by its ``manifest.json``). Any other non-empty
  directory is only replaced with ``overwrite=True``. A failure removes the
  temporary directory and leaves the old root as it was.
- Only JPEG, PNG, BMP, PPM/PGM, TIFF and WebP decoders are used (the
  extensions mmpretrain lists), never one that runs an external program.
"""
import hashlib
import json
import os
import os.path as osp
import shutil
import tempfile
from collections import Counter

import PIL

from .prepare_images import _map
from .prepare_source import (_SPLITS, IMG_EXTENSIONS, PrepareError, _plan,
                             _scan_source)

__all__ = [
    'IMG_EXTENSIONS', 'PrepareError', 'config_overrides', 'prepare_dataset'
]

_FORMAT = 'dspnet_mm prepared dataset'
_VERSION = 1


def _read_class_names(path, classes):
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PrepareError(f'cannot read class names {path}: {e}') from e
    names = {}
    for num, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2:
            raise PrepareError(f'{path}:{num}: expected "<class> <name>", '
                               f'got {line!r}')
        names[parts[0]] = parts[1].strip()
    missing = [c for c in classes if c not in names]
    if missing:
        raise PrepareError(
            f'{path} names no readable name for {len(missing)} class(es): '
            f'{", ".join(missing[:10])}{" ..." if len(missing) > 10 else ""}')
    return [f'{c} {names[c]}' for c in classes]


def _read_manifest(root):
    try:
        with open(osp.join(root, 'manifest.json')) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(manifest, dict) and manifest.get('format') == _FORMAT:
        return manifest
    return None


def _check_output(out, source, overwrite):
    real_out, real_src = osp.realpath(out), osp.realpath(source)
    if (real_out == real_src or real_src.startswith(real_out + os.sep)
            or real_out.startswith(real_src + os.sep)):
        raise PrepareError(
            f'output {out} and source {source} overlap (one is inside the '
            'other); write the output somewhere else')
    if not osp.lexists(out):
        return
    if not osp.isdir(out) or osp.islink(out):
        raise PrepareError(
            f'output {out} exists and is not a directory (or is a link); '
            'remove it or choose another output path')
    if overwrite or _read_manifest(out) is not None or not os.listdir(out):
        return
    raise PrepareError(
        f'output {out} is a non-empty directory that this tool did not write'
        ' (no manifest.json of a prepared dataset); pass --overwrite to '
        'replace it, or choose another output path')


def _stale_siblings(out):
    parent, base = osp.split(osp.abspath(out))
    prefixes = (f'.{base}.prepare-tmp-', f'.{base}.prepare-old-')
    try:
        names = os.listdir(parent)
    except OSError:
        return []
    return sorted(osp.join(parent, n) for n in names if n.startswith(prefixes))


def _remove_empty(dirs):
    for d in dirs:
        try:
            os.rmdir(d)
        except OSError:
            return


def _replace(tmp, out):
    """Rename ``tmp`` to ``out``, moving an old ``out`` aside first."""
    if not osp.lexists(out):
        os.rename(tmp, out)
        return
    trash = tempfile.mkdtemp(
        prefix=f'.{osp.basename(out)}.prepare-old-', dir=osp.dirname(out))
    old = osp.join(trash, 'root')
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old, out)  # put the previous root back
        os.rmdir(trash)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def config_overrides(out, num_classes):
    """``--cfg-options`` that point our configs at a prepared root.

    Args:
        out (str): the prepared root.
        num_classes (int): its number of classes.

    Returns:
        dict: ``'pretrain'`` (the self-supervised configs: train data only)
        and ``'classification'`` (linear / fine-tune configs: train and val
        data, head and data preprocessor sizes) lists of ``key=value``.
    """
    classes = osp.join(out, 'meta', 'classes.txt')
    data = [
        f'{loader}.dataset.{key}={value}'
        for loader in ('train_dataloader', 'val_dataloader')
        for key, value in (('data_root', out), ('classes', classes))
    ]
    return dict(
        pretrain=data[:2],
        classification=data + [
            f'model.head.num_classes={num_classes}',
            f'data_preprocessor.num_classes={num_classes}'
        ])


def prepare_dataset(source,
                    out,
                    short_side=0,
                    crop=0,
                    quality=90,
                    reencode=False,
                    val_fraction=None,
                    seed=0,
                    strict=False,
                    overwrite=False,
                    class_names=None,
                    workers=1,
                    progress=None):
    """Write the ImageNet-style root ``out`` from the class folders in
    ``source``.

    Args:
        source (str): ``<source>/{train,val}/<class>/<image>``, or with
            ``val_fraction`` a single ``<source>/<class>/<image>`` root.
        out (str): the root to write (replaced as a whole).
        short_side (int): resize so the short side has this many pixels
            (0: keep the size).
        crop (int): centre crop to ``crop`` x ``crop`` after the resize
            (0: no crop). An image smaller than the crop is an error.
        quality (int): JPEG quality (1-100) when images are re-encoded.
        reencode (bool): re-encode as RGB JPEG even without resize or crop
            (implied by either); otherwise files are copied unchanged.
        val_fraction (float, optional): split a single class-folder root,
            this fraction of each class (at least one image) going to val.
        seed (int): seed of that split.
        strict (bool): refuse an unreadable image instead of skipping it.
        overwrite (bool): replace ``out`` even if it is a non-empty directory
            that this function did not write.
        class_names (str, optional): file of ``<class> <readable name>``
            lines (e.g. ImageNet's ``LOC_synset_mapping.txt``); written as
            ``meta/class_names.txt`` for the classes present.
        workers (int): decoding/encoding processes (output is the same).
        progress (callable, optional): called as ``progress(done, total)``.

    Returns:
        dict: the manifest written to ``out/manifest.json``: ``classes``,
        ``counts`` (images per split), ``per_class`` counts, ``skipped``
        (``[source path, reason]`` pairs), ``ignored`` (non-image entries),
        ``converted`` (source modes turned into RGB and their counts),
        ``upscaled``, ``options``, ``num_files`` and ``content_hash``
        (sha256 over every other file's path and bytes).

    Raises:
        PrepareError: on bad options, a missing or unusable source, an empty
            class, classes that differ between the splits, an unreadable
            image with ``strict``, an image smaller than ``crop``, or an
            output that cannot or may not be replaced. Nothing is left
            behind.
    """
    short_side, crop, quality = int(short_side), int(crop), int(quality)
    if short_side < 0 or crop < 0:
        raise PrepareError('short side and crop must be >= 0')
    if short_side and crop > short_side:
        raise PrepareError(f'crop {crop} is larger than the short side '
                           f'{short_side}: the crop would not fit')
    if not 1 <= quality <= 100:
        raise PrepareError(f'JPEG quality must be in [1, 100], got {quality}')
    reencode = bool(reencode or short_side or crop)
    source, out = osp.abspath(source), osp.abspath(out)
    splits, ignored = _scan_source(source, val_fraction, seed)
    classes, jobs = _plan(splits, reencode)
    names_lines = (
        _read_class_names(class_names, classes) if class_names else None)
    _check_output(out, source, overwrite)

    parent = osp.dirname(out)
    created, missing = [], parent  # removed on failure, deepest first
    while not osp.lexists(missing):
        created.append(missing)
        missing = osp.dirname(missing)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(
            prefix=f'.{osp.basename(out)}.prepare-tmp-', dir=parent)
    except OSError as e:
        _remove_empty(created)
        raise PrepareError(
            f'cannot create output {out}: {e.strerror or e}') from e
    options = dict(
        short_side=short_side,
        crop=crop,
        quality=quality if reencode else None,
        reencode=reencode,
        val_fraction=val_fraction,
        seed=seed if val_fraction is not None else None,
        strict=bool(strict))
    try:
        # mkdtemp makes it private (0700): give the root the usual mode
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)
        manifest = _write(tmp, source, classes, jobs, options, names_lines,
                          ignored, workers, progress)
        _replace(tmp, out)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(created)
        if isinstance(e, OSError):
            where = f' ({e.filename})' if e.filename else ''
            raise PrepareError(
                f'cannot write {out}: {e.strerror or e}{where}') from e
        raise
    manifest['stale'] = _stale_siblings(out)
    return manifest


def _write(tmp, source, classes, jobs, options, names_lines, ignored, workers,
           progress):
    """Write every file of the root into ``tmp``; return the manifest."""
    for split in _SPLITS:
        for cls in classes:
            os.makedirs(osp.join(tmp, split, cls))
    digests = {}
    lines = {s: [] for s in _SPLITS}
    per_class = {s: Counter() for s in _SPLITS}
    skipped, converted, upscaled = [], Counter(), 0
    work = [(src, osp.join(tmp, split, rel), options)
            for split, _, _, src, rel in jobs]
    results = _map(work, workers)
    try:
        for i, res in enumerate(results):
            split, cls, label, src, rel = jobs[i]
            if res['status'] == 'small':
                raise PrepareError(
                    f'{src}: {res["reason"]}; pass a short side >= the '
                    f'crop (--short-side {options["crop"]}) to resize first')
            if res['status'] == 'bad':
                if options['strict']:
                    raise PrepareError(
                        f'unreadable image {src} ({res["reason"]}); remove '
                        'or replace it, or drop --strict to skip unreadable '
                        'images')
                skipped.append([osp.relpath(src, source), res['reason']])
            else:
                digests[f'{split}/{rel}'] = res['sha256']
                lines[split].append(f'{rel} {label}')
                per_class[split][cls] += 1
                upscaled += res['upscaled']
                if options['reencode'] and res['mode'] != 'RGB':
                    converted[res['mode']] += 1
            if progress is not None:
                progress(i + 1, len(jobs))
    finally:
        # stops a worker pool before the caller removes the directory
        results.close()
    empty = [
        f'{split}/{cls}' for split in _SPLITS for cls in classes
        if not per_class[split][cls]
    ]
    if empty:
        raise PrepareError(
            f'no readable image left in {", ".join(empty)} of {source} '
            f'({len(skipped)} unreadable skipped); replace the broken files')

    def text(rel, rows):
        data = ''.join(f'{row}\n' for row in rows).encode()
        with open(osp.join(tmp, rel), 'xb') as f:
            f.write(data)
        digests[rel] = hashlib.sha256(data).hexdigest()

    os.makedirs(osp.join(tmp, 'meta'))
    for split in _SPLITS:
        text(f'meta/{split}.txt', lines[split])
    text('meta/classes.txt', classes)
    text('classes.txt', classes)
    if names_lines is not None:
        text('meta/class_names.txt', names_lines)
    content = hashlib.sha256()
    for rel in sorted(digests):
        content.update(f'{rel}\0{digests[rel]}\n'.encode())
    manifest = dict(
        format=_FORMAT,
        version=_VERSION,
        source=source,
        options=options,
        pillow=PIL.__version__,
        classes=classes,
        counts={s: len(lines[s])
                for s in _SPLITS},
        per_class={s: [per_class[s][c] for c in classes]
                   for s in _SPLITS},
        skipped=skipped,
        ignored=ignored,
        converted=dict(sorted(converted.items())),
        upscaled=upscaled,
        num_files=len(digests),
        content_hash=content.hexdigest())
    with open(osp.join(tmp, 'manifest.json'), 'x') as f:
        json.dump(manifest, f, indent=2)
        f.write('\n')
    return manifest
