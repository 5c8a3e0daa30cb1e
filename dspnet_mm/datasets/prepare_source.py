"""The source side of :func:`.prepare.prepare_dataset`: list the class folders
of a source, split a single root into train and val, and plan the output files
(names checked, sorted, labelled)."""
import hashlib
import math
import os
import os.path as osp

#: File extensions taken as images (case-insensitive), as mmpretrain's.
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.ppm', '.bmp', '.pgm', '.tif',
                  '.tiff', '.webp')
_SPLITS = ('train', 'val')


class PrepareError(RuntimeError):
    """The source cannot be turned into a dataset root; nothing was written."""


def _list_dir(path):
    """Sorted names in ``path`` without hidden entries."""
    try:
        names = os.listdir(path)
    except OSError as e:
        raise PrepareError(f'cannot list {path}: {e.strerror or e}') from e
    return sorted(n for n in names if not n.startswith('.'))


def _check_name(path, name, is_class=False):
    # meta lines are "<class>/<name> <label>", read back with strip() and
    # rsplit(' ', 1): a line break anywhere or a space opening the line
    # would change what mmpretrain reads.
    if '\n' in name or '\r' in name or (is_class and name != name.lstrip()):
        raise PrepareError(
            f'{path!r}: a name with a line break, or a class name starting '
            'with whitespace, cannot be written to the meta files; rename it')


def _scan_split(split_dir):
    """``({class: [file names]}, ignored)`` of one folder of class folders.

    Non-hidden files in class folders whose extension is not an image one,
    nested folders and files beside the class folders are ignored (and
    counted).
    """
    classes, ignored = {}, 0
    for cls in _list_dir(split_dir):
        cls_dir = osp.join(split_dir, cls)
        if not osp.isdir(cls_dir):
            ignored += 1
            continue
        _check_name(cls_dir, cls, is_class=True)
        files = []
        for name in _list_dir(cls_dir):
            path = osp.join(cls_dir, name)
            if (osp.isfile(path)
                    and osp.splitext(name)[1].lower() in IMG_EXTENSIONS):
                _check_name(path, name)
                files.append(name)
            else:
                ignored += 1
        classes[cls] = files
    return classes, ignored


def _require_images(classes, where):
    if not classes:
        raise PrepareError(
            f'no class folders in {where}: expected {where}/<class>/<image> '
            f'(image extensions: {", ".join(IMG_EXTENSIONS)})')
    empty = [c for c, files in classes.items() if not files]
    if empty:
        paths = ', '.join(osp.join(where, c) for c in empty)
        raise PrepareError(
            f'{len(empty)} empty class folder(s) (no image with one of '
            f'the extensions {", ".join(IMG_EXTENSIONS)}): {paths}; add '
            'images or remove the folder(s)')


def _val_count(num, fraction):
    """Val images of a class of ``num``: round(num * fraction) in [1, n-1]."""
    return min(num - 1, max(1, math.floor(num * fraction + 0.5)))


def _split_class(cls, files, fraction, seed):
    """Stratified split of one class, independent of the listing order.

    Each file is ranked by a hash of ``(seed, class, name)``; the
    ``_val_count`` smallest go to val. Adding a file to a class moves at
    most one other file between the splits.
    """

    def key(name):
        return hashlib.sha256(f'{seed}\0{cls}\0{name}'.encode()).digest()

    ranked = sorted(files, key=key)
    num_val = _val_count(len(files), fraction)
    return sorted(ranked[num_val:]), sorted(ranked[:num_val])


def _scan_source(source, val_fraction, seed):
    """``{split: {class: [source paths]}}`` and the ignored-entry count."""
    if not osp.exists(source):
        raise PrepareError(f'source {source} does not exist')
    if not osp.isdir(source):
        raise PrepareError(f'source {source} is not a directory')
    has = {s: osp.isdir(osp.join(source, s)) for s in _SPLITS}
    out = {}
    if val_fraction is None:
        missing = [f'{s}/' for s in _SPLITS if not has[s]]
        if missing:
            raise PrepareError(
                f'source {source} has no {" or ".join(missing)} folder: '
                f'expected {source}/train/<class>/ and {source}/val/<class>/'
                ' (the Imagenette / ImageNet layout); to split one folder '
                'of class folders into train and val, pass a val fraction '
                '(--val-fraction 0.3)')
        ignored = 0
        for split in _SPLITS:
            where = osp.join(source, split)
            classes, n = _scan_split(where)
            _require_images(classes, where)
            ignored += n
            out[split] = {
                c: [osp.join(where, c, f) for f in files]
                for c, files in classes.items()
            }
        only = [(s, sorted(set(out[s]) - set(out[o])))
                for s, o in (('train', 'val'), ('val', 'train'))]
        if any(names for _, names in only):
            detail = '; '.join(f'only in {s}/: {", ".join(names)}'
                               for s, names in only if names)
            raise PrepareError(
                f'the class folders of {source}/train and {source}/val '
                f'differ ({detail}); both splits need the same classes: '
                'add the missing folders or remove the extra ones')
        return out, ignored

    if any(has.values()):
        found = ' and '.join(f'{s}/' for s in _SPLITS if has[s])
        raise PrepareError(
            f'--val-fraction splits one folder of class folders, but '
            f'{source} has {found}: drop --val-fraction to keep its split, '
            f'or point the source at {osp.join(source, "train")} to split '
            'that')
    if not 0 < val_fraction < 1:
        raise PrepareError(
            f'val fraction must be in (0, 1), got {val_fraction}')
    classes, ignored = _scan_split(source)
    _require_images(classes, source)
    few = [c for c, files in classes.items() if len(files) < 2]
    if few:
        raise PrepareError(
            f'class folder(s) with a single image: '
            f'{", ".join(osp.join(source, c) for c in few)}; a train/val '
            'split needs at least 2 images per class')
    out = {s: {} for s in _SPLITS}
    for cls, files in classes.items():
        train, val = _split_class(cls, files, val_fraction, seed)
        for split, names in (('train', train), ('val', val)):
            out[split][cls] = [osp.join(source, cls, n) for n in names]
    return out, ignored


def _out_name(path, reencode):
    name = osp.basename(path)
    return osp.splitext(name)[0] + '.jpg' if reencode else name


def _plan(splits, reencode):
    """Jobs ``(split, class, label, source path, output rel path)``, sorted."""
    classes = sorted(splits['train'])
    jobs = []
    for split in _SPLITS:
        for label, cls in enumerate(classes):
            taken = {}
            for src in splits[split][cls]:
                name = _out_name(src, reencode)
                if name in taken:
                    raise PrepareError(
                        f'{taken[name]} and {src} would both be written as '
                        f'{split}/{cls}/{name}; rename one of them')
                taken[name] = src
            for name in sorted(taken):
                jobs.append((split, cls, label, taken[name], f'{cls}/{name}'))
    return classes, jobs
