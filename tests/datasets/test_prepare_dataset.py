import functools
import hashlib
import importlib.util
import io
import json
import multiprocessing
import os
import os.path as osp
import re
import zlib

import numpy as np
import pytest
from PIL import Image

from dspnet_mm.datasets import PrepareError, config_overrides
from dspnet_mm.datasets import prepare as prepare_mod
from dspnet_mm.datasets import prepare_dataset
from dspnet_mm.datasets import prepare_images as images_mod

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# created in this (unsorted) order; labels must follow the sorted order
CLASSES = ('zebra', 'ant', 'moth')
SORTED = ('ant', 'moth', 'zebra')


def _pixels(key, size=(40, 30)):
    # content depends on the file's identity only, not on creation order
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    return rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)


def _gradient():
    y, x = np.mgrid[0:30, 0:40]
    return np.stack([x * 6, y * 8, np.full_like(x, 128)], -1).astype(np.uint8)


def _make_tree(root, spec, reverse=False, size=(40, 30)):
    """``spec``: ``{rel dir: number of images}``; files ``img{i}.jpg``."""
    items = [(d, i) for d, n in spec.items() for i in range(n)]
    for d, i in (reversed(items) if reverse else items):
        os.makedirs(osp.join(root, d), exist_ok=True)
        path = osp.join(root, d, f'img{i}.jpg')
        Image.fromarray(_pixels(f'{d}/{i}', size)).save(path, quality=95)
    return str(root)


def _split_spec(train=(3, 2, 4), val=(2, 1, 2)):
    spec = {}
    for split, counts in (('train', train), ('val', val)):
        for cls, n in zip(CLASSES, counts):
            spec[f'{split}/{cls}'] = n
    return spec


def _files(root):
    """``{rel path: bytes}`` of every file under ``root``."""
    out = {}
    for d, _, names in os.walk(root):
        for name in names:
            path = osp.join(d, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, root)] = f.read()
    return out


def _lines(path):
    with open(path) as f:
        return f.read().splitlines()


def _siblings(path):
    return sorted(os.listdir(osp.dirname(path)))


def test_split_layout_meta_labels_and_copy(tmp_path):
    src = _make_tree(tmp_path / 'src', _split_spec())
    # entries that are not images: hidden (not counted), text, a nested dir
    (tmp_path / 'src/train/ant/.DS_Store').write_bytes(b'x')
    (tmp_path / 'src/train/ant/notes.txt').write_text('x')
    os.makedirs(tmp_path / 'src/val/moth/sub')
    (tmp_path / 'src/train/README').write_text('x')
    os.makedirs(tmp_path / 'src/train/.hidden_class')
    out = str(tmp_path / 'out')
    manifest = prepare_dataset(src, out)

    assert _lines(f'{out}/classes.txt') == list(SORTED)
    assert _lines(f'{out}/meta/classes.txt') == list(SORTED)
    assert _lines(f'{out}/meta/train.txt') == [
        'ant/img0.jpg 0', 'ant/img1.jpg 0', 'moth/img0.jpg 1',
        'moth/img1.jpg 1', 'moth/img2.jpg 1', 'moth/img3.jpg 1',
        'zebra/img0.jpg 2', 'zebra/img1.jpg 2', 'zebra/img2.jpg 2'
    ]
    assert _lines(f'{out}/meta/val.txt') == [
        'ant/img0.jpg 0', 'moth/img0.jpg 1', 'moth/img1.jpg 1',
        'zebra/img0.jpg 2', 'zebra/img1.jpg 2'
    ]
    assert not osp.exists(f'{out}/meta/class_names.txt')
    # no resize asked: the source bytes, unchanged
    files = _files(out)
    for split in ('train', 'val'):
        for line in _lines(f'{out}/meta/{split}.txt'):
            rel = f'{split}/{line.split()[0]}'
            with open(osp.join(src, rel), 'rb') as f:
                assert files[rel] == f.read()
    assert sorted(files) == sorted(
        [
            'classes.txt', 'manifest.json', 'meta/classes.txt',
            'meta/train.txt', 'meta/val.txt'
        ] + [f'train/{x.split()[0]}'
             for x in _lines(f'{out}/meta/train.txt')] +
        [f'val/{x.split()[0]}' for x in _lines(f'{out}/meta/val.txt')])

    with open(f'{out}/manifest.json') as f:
        assert json.load(f) == {
            k: v
            for k, v in manifest.items() if k != 'stale'
        }
    assert manifest['classes'] == list(SORTED)
    assert manifest['counts'] == dict(train=9, val=5)
    assert manifest['per_class'] == dict(train=[2, 4, 3], val=[1, 2, 2])
    assert manifest['skipped'] == []
    assert manifest['ignored'] == 3  # notes.txt, sub/, README
    assert manifest['options']['reencode'] is False
    assert manifest['num_files'] == len(files) - 1
    digest = hashlib.sha256()
    for rel in sorted(files):
        if rel != 'manifest.json':
            digest.update(
                f'{rel}\0{hashlib.sha256(files[rel]).hexdigest()}\n'.encode())
    assert manifest['content_hash'] == digest.hexdigest()
    assert manifest['stale'] == []
    assert _siblings(out) == ['out', 'src']


def test_resize_crop_and_reencode(tmp_path):
    src = _make_tree(tmp_path / 'src', _split_spec(), size=(40, 30))
    # a portrait image: the short side is the width
    Image.fromarray(_pixels('portrait', (20, 50))).save(
        tmp_path / 'src/train/ant/tall.png')
    Image.fromarray(_gradient()).save(tmp_path / 'src/train/ant/grad.png')
    cases = {
        'resized': dict(short_side=16),  # 40x30 -> 21x16, 20x50 -> 16x40
        'cropped': dict(short_side=16, crop=12),
        'crop_only': dict(crop=18),
        'reencoded': dict(reencode=True, quality=80),
    }
    for name, kwargs in cases.items():
        out = str(tmp_path / name)
        manifest = prepare_dataset(src, out, **kwargs)
        assert manifest['options']['reencode'] is True
        assert 'ant/tall.jpg 0' in _lines(f'{out}/meta/train.txt')
        sizes = {}
        for rel, data in _files(out).items():
            if rel.startswith(('train/', 'val/')):
                assert rel.endswith('.jpg')
                img = Image.open(io.BytesIO(data))
                assert (img.format, img.mode) == ('JPEG', 'RGB')
                sizes[rel] = img.size
        assert len(sizes) == 16
        tall = sizes.pop('train/ant/tall.jpg')
        expect = {
            'resized': ((16, 40), (21, 16)),
            'cropped': ((12, 12), (12, 12)),
            'crop_only': ((18, 18), (18, 18)),
            'reencoded': ((20, 50), (40, 30)),
        }[name]
        assert tall == expect[0]
        assert set(sizes.values()) == {expect[1]}
    # the crop is the centre: 40x30 cropped to 18 starts at (11, 6)
    with Image.open(tmp_path / 'crop_only/train/ant/grad.jpg') as img:
        got = np.asarray(img, np.float64)
    assert np.abs(got - _gradient()[6:24, 11:29]).mean() < 2
    # and exactly so before the JPEG encoding
    img = Image.fromarray(_pixels('x', (40, 30)))
    assert np.array_equal(
        np.asarray(images_mod._transform(img, 0, 18)),
        _pixels('x', (40, 30))[6:24, 11:29])
    resized = images_mod._transform(img, 16, 0)
    assert resized.size == (21, 16)
    assert np.array_equal(
        np.asarray(resized), np.asarray(img.resize((21, 16), Image.LANCZOS)))


def test_modes_and_orientation_become_upright_rgb(tmp_path):
    d = tmp_path / 'src'
    for split in ('train', 'val'):
        os.makedirs(d / split / 'a')
        Image.fromarray(_pixels(split)).save(d / split / 'a/rgb.jpg')
    base = d / 'train/a'
    Image.new('L', (8, 6), 77).save(base / 'gray.png')
    Image.new('CMYK', (8, 6), (0, 0, 0, 0)).save(base / 'cmyk.jpg')
    rgba = Image.new('RGBA', (8, 6), (10, 20, 30, 255))
    rgba.putpixel((0, 0), (0, 0, 0, 0))  # transparent: white after
    rgba.save(base / 'alpha.png')
    pal = Image.new('P', (8, 6), 1)
    pal.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    pal.putpixel((0, 0), 0)
    pal.save(base / 'pal.png', transparency=0)
    Image.fromarray(np.full((6, 8), 128 * 257,
                            np.uint16)).save(base / 'g16.png')
    # EXIF orientation 6: stored 40x30, shown rotated to 30x40
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_pixels('o')).save(base / 'turned.jpg', exif=exif)

    out = str(tmp_path / 'out')
    manifest = prepare_dataset(str(d), out, reencode=True, quality=95)
    assert manifest['converted'] == {
        'CMYK': 1,
        'I;16': 1,
        'L': 1,
        'P': 1,
        'RGBA': 1
    }

    def px(name):
        with Image.open(f'{out}/train/a/{name}.jpg') as img:
            assert img.mode == 'RGB'
            return np.asarray(img).astype(int)

    assert np.abs(px('gray') - 77).max() <= 2
    assert np.abs(px('cmyk') - 255).max() <= 2  # no ink: white
    assert np.abs(px('g16') - 128).max() <= 2  # 16-bit gray, not clipped
    alpha = px('alpha')
    assert alpha[0,
                 0].min() > 150 and abs(alpha[3, 5] - [10, 20, 30]).max() < 25
    pal = px('pal')
    assert pal[0, 0].min() > 150 and abs(pal[3, 5] - [200, 0, 0]).max() < 30
    assert px('turned').shape == (40, 30, 3)


def test_deterministic_and_order_independent(tmp_path, monkeypatch):
    spec = _split_spec()
    a = _make_tree(tmp_path / 'a', spec)
    b = _make_tree(tmp_path / 'b', spec, reverse=True)
    # worker processes mapping blocks of 2 images
    monkeypatch.setattr(prepare_mod, '_map',
                        functools.partial(prepare_mod._map, per_worker=1))
    runs = {}
    for name, src, workers in (('a1', a, 1), ('a2', a, 2), ('b1', b, 1)):
        m = prepare_dataset(
            src, str(tmp_path / name), short_side=16, crop=16, workers=workers)
        runs[name] = (m, _files(tmp_path / name))
    # same input: byte-identical, manifest included
    assert runs['a1'][1] == runs['a2'][1]
    # same files created in the opposite order elsewhere: the same data
    fa, fb = runs['a1'][1], runs['b1'][1]
    assert fa.keys() == fb.keys()
    assert all(fa[k] == fb[k] for k in fa if k != 'manifest.json')
    ma, mb = runs['a1'][0], runs['b1'][0]
    assert ma['content_hash'] == mb['content_hash']
    assert ma['source'] != mb['source']
    # another quality changes every image
    m = prepare_dataset(
        a, str(tmp_path / 'q'), short_side=16, crop=16, quality=50)
    assert m['content_hash'] != ma['content_hash']


def test_val_fraction_split(tmp_path):
    spec = {'zebra': 10, 'ant': 7, 'moth': 2}
    a = _make_tree(tmp_path / 'a', spec)
    b = _make_tree(tmp_path / 'b', spec, reverse=True)
    m = prepare_dataset(a, str(tmp_path / 'oa'), val_fraction=0.3, seed=0)
    # round(n * 0.3), at least one image in each split
    assert m['per_class'] == dict(train=[5, 1, 7], val=[2, 1, 3])
    assert m['options']['val_fraction'] == 0.3
    assert m['options']['seed'] == 0
    train = _lines(tmp_path / 'oa/meta/train.txt')
    val = _lines(tmp_path / 'oa/meta/val.txt')
    assert not set(train) & set(val)
    assert sorted(train + val) == sorted(f'{c}/img{i}.jpg {SORTED.index(c)}'
                                         for c, n in spec.items()
                                         for i in range(n))
    # stable under creation order, changes with the seed
    prepare_dataset(b, str(tmp_path / 'ob'), val_fraction=0.3, seed=0)
    assert _lines(tmp_path / 'ob/meta/val.txt') == val
    prepare_dataset(a, str(tmp_path / 'oc'), val_fraction=0.3, seed=1)
    assert _lines(tmp_path / 'oc/meta/val.txt') != val
    # a new image moves no other image between the splits
    _make_tree(tmp_path / 'a', {'zebra': 11})
    prepare_dataset(a, str(tmp_path / 'od'), val_fraction=0.3, seed=0)
    new_val = _lines(tmp_path / 'od/meta/val.txt')
    assert len(set(new_val) ^ set(val)) <= 2


def test_unreadable_images_skipped_or_refused(tmp_path, monkeypatch):
    src = _make_tree(tmp_path / 'src', _split_spec())
    good = (tmp_path / 'src/train/moth/img0.jpg').read_bytes()
    # cut in the header, and in the pixel data
    (tmp_path / 'src/train/moth/cut.jpg').write_bytes(good[:300])
    (tmp_path / 'src/train/zebra/cut2.jpg').write_bytes(good[:-300])
    (tmp_path / 'src/val/ant/text.JPEG').write_text('not an image')
    out = str(tmp_path / 'out')
    for kwargs in (dict(), dict(short_side=16)):
        m = prepare_dataset(src, out, **kwargs)
        assert m['counts'] == dict(train=9, val=5)
        assert [p for p, _ in m['skipped']] == [
            'train/moth/cut.jpg', 'train/zebra/cut2.jpg', 'val/ant/text.JPEG'
        ]
        reasons = [r for _, r in m['skipped']]
        assert reasons[0] == 'OSError: Truncated File Read'
        assert re.fullmatch(
            r'OSError: image file is truncated \(\d+ bytes not processed\)',
            reasons[1])
        assert reasons[2] == 'not an image in a known format'
        names = _lines(f'{out}/meta/train.txt') + _lines(f'{out}/meta/val.txt')
        assert not [n for n in names if 'cut' in n or 'text' in n]
    before = _files(out)
    with pytest.raises(PrepareError, match='unreadable image .*cut.jpg'):
        prepare_dataset(src, out, strict=True)
    with pytest.raises(PrepareError, match='unreadable image .*cut.jpg'):
        prepare_dataset(src, str(tmp_path / 'new'), strict=True)
    # folders made for a nested output go too
    with pytest.raises(PrepareError, match='unreadable image .*cut.jpg'):
        prepare_dataset(src, str(tmp_path / 'x/y/new'), strict=True)
    # with worker processes: the pool is gone before the temporary root
    workers_at_cleanup = []
    rmtree = prepare_mod.shutil.rmtree

    def counting_rmtree(path, **kwargs):
        workers_at_cleanup.append(len(multiprocessing.active_children()))
        rmtree(path, **kwargs)

    monkeypatch.setattr(prepare_mod.shutil, 'rmtree', counting_rmtree)
    with pytest.raises(PrepareError, match='unreadable image .*cut.jpg'):
        prepare_dataset(src, str(tmp_path / 'new'), strict=True, workers=2)
    assert workers_at_cleanup == [0]
    monkeypatch.undo()
    assert _files(out) == before
    assert _siblings(out) == ['out', 'src']
    # a class whose only image is unreadable is an error, not an empty class
    for f in os.listdir(tmp_path / 'src/val/ant'):
        os.remove(tmp_path / 'src/val/ant' / f)
    (tmp_path / 'src/val/ant/bad.png').write_bytes(b'\x89PNG broken')
    with pytest.raises(
            PrepareError,
            match=r'no readable image left in '
            r'val/ant of .*\(3 unreadable skipped\)'):
        prepare_dataset(src, str(tmp_path / 'new'))
    assert _siblings(out) == ['out', 'src']


def test_bad_source_errors(tmp_path):
    out = str(tmp_path / 'out')
    src = tmp_path / 'src'
    with pytest.raises(PrepareError, match=f'source {src} does not exist'):
        prepare_dataset(str(src), out)
    os.makedirs(src)
    with pytest.raises(
            PrepareError, match='has no train/ or val/ folder.*'
            '--val-fraction'):
        prepare_dataset(str(src), out)
    with pytest.raises(PrepareError, match='no class folders in'):
        prepare_dataset(str(src), out, val_fraction=0.3)
    _make_tree(src, _split_spec())
    os.makedirs(src / 'train/empty')
    (src / 'train/empty/readme.txt').write_text('x')
    with pytest.raises(
            PrepareError,
            match=r'1 empty class folder\(s\) .*: '
            f'{src}/train/empty; add images or remove'):
        prepare_dataset(str(src), out)
    os.rename(src / 'train/empty', src / 'train/bee')
    _make_tree(src, {'train/bee': 1, 'val/wasp': 1, 'val/fly': 1})
    with pytest.raises(
            PrepareError,
            match='differ \\(only in train/: bee; '
            'only in val/: fly, wasp\\); both splits need'):
        prepare_dataset(str(src), out)
    with pytest.raises(
            PrepareError,
            match='--val-fraction splits one '
            'folder .* has train/ and val/'):
        prepare_dataset(str(src), out, val_fraction=0.3)
    single = _make_tree(tmp_path / 'single', {'a': 3, 'b': 1})
    with pytest.raises(PrepareError, match='single image: .*single/b'):
        prepare_dataset(single, out, val_fraction=0.3)
    with pytest.raises(PrepareError, match='val fraction must be in'):
        prepare_dataset(single, out, val_fraction=1.0)
    assert sorted(os.listdir(tmp_path)) == ['single', 'src']


def test_bad_options_and_names(tmp_path):
    src = _make_tree(tmp_path / 'src', _split_spec())
    out = str(tmp_path / 'out')
    with pytest.raises(PrepareError, match='crop 32 is larger than'):
        prepare_dataset(src, out, short_side=16, crop=32)
    with pytest.raises(PrepareError, match='quality must be in'):
        prepare_dataset(src, out, quality=0)
    # an image smaller than the crop, with no resize asked
    with pytest.raises(
            PrepareError,
            match=r'img0.jpg: 40x30 is smaller '
            r'than the 31 px crop; .*--short-side 31'):
        prepare_dataset(src, out, crop=31)
    # two files that would become the same .jpg
    Image.fromarray(_pixels('p')).save(tmp_path / 'src/val/ant/img0.png')
    with pytest.raises(
            PrepareError,
            match='img0.jpg and .*img0.png would '
            'both be written as val/ant/img0.jpg'):
        prepare_dataset(src, out, short_side=16)
    assert prepare_dataset(src, out)['counts']['val'] == 6  # copies: fine
    os.remove(tmp_path / 'src/val/ant/img0.png')
    # spaces inside names are fine, line breaks and leading class ones not
    Image.fromarray(_pixels('s')).save(tmp_path / 'src/val/ant/ x .jpg')
    prepare_dataset(src, out)
    assert 'ant/ x .jpg 0' in _lines(f'{out}/meta/val.txt')
    for bad in ('val/ant/x\ny.jpg', 'train/ lead/a.jpg'):
        os.makedirs(osp.dirname(osp.join(src, bad)), exist_ok=True)
        Image.fromarray(_pixels('s')).save(osp.join(src, bad))
        with pytest.raises(
                PrepareError,
                match='line break, or a class name '
                'starting with whitespace'):
            prepare_dataset(src, out)
        os.remove(osp.join(src, bad))
    os.rmdir(osp.join(src, 'train', ' lead'))
    with pytest.raises(PrepareError, match='overlap'):
        prepare_dataset(src, osp.join(src, 'prepared'))
    with pytest.raises(PrepareError, match='overlap'):
        prepare_dataset(src, src, overwrite=True)


def test_class_names(tmp_path):
    src = _make_tree(tmp_path / 'src', _split_spec())
    names = tmp_path / 'names.txt'
    names.write_text('# wnid name\nzebra striped horse\nant  Ant\n'
                     'moth moth, lepidoptera\nbee unused\n')
    out = str(tmp_path / 'out')
    prepare_dataset(src, out, class_names=str(names))
    assert _lines(f'{out}/meta/class_names.txt') == [
        'ant Ant', 'moth moth, lepidoptera', 'zebra striped horse'
    ]
    names.write_text('ant Ant\nmoth\n')
    with pytest.raises(
            PrepareError,
            match=r'names.txt:2: expected '
            r'"<class> <name>", got \'moth\''):
        prepare_dataset(src, str(tmp_path / 'o2'), class_names=str(names))
    names.write_text('ant Ant\n')
    with pytest.raises(
            PrepareError,
            match=r'no readable name for 2 '
            r'class\(es\): moth, zebra'):
        prepare_dataset(src, str(tmp_path / 'o2'), class_names=str(names))


def test_rerun_replaces_own_output_only(tmp_path, monkeypatch):
    src = _make_tree(tmp_path / 'src', _split_spec())
    out = tmp_path / 'out'
    m1 = prepare_dataset(str(src), str(out))
    # a re-run replaces a previous output of the tool as a whole
    (out / 'train/ant/stray.jpg').write_bytes(b'x')
    m2 = prepare_dataset(str(src), str(out), short_side=16)
    assert not (out / 'train/ant/stray.jpg').exists()
    assert m2['content_hash'] != m1['content_hash']
    assert _siblings(out) == ['out', 'src']
    # the root and its folders get the umask's mode, not mkdtemp's 0700
    umask = os.umask(0)
    os.umask(umask)
    for d in (out, out / 'meta', out / 'train/ant'):
        assert os.stat(d).st_mode & 0o777 == 0o777 & ~umask
    # a failed swap puts the previous root back
    real_rename = os.rename

    def failing_rename(a, b):
        if osp.basename(a).startswith('.out.prepare-tmp-'):
            raise OSError(13, 'Permission denied', a)
        real_rename(a, b)

    before = _files(out)
    monkeypatch.setattr(prepare_mod.os, 'rename', failing_rename)
    with pytest.raises(
            PrepareError,
            match=f'cannot write {out}: '
            r'Permission denied \(.*\.out\.prepare-tmp-'):
        prepare_dataset(str(src), str(out))
    monkeypatch.undo()
    assert _files(out) == before
    assert _siblings(out) == ['out', 'src']
    # leftovers of a killed run are reported, not touched
    os.makedirs(tmp_path / '.out.prepare-tmp-killed')
    m = prepare_dataset(str(src), str(out))
    assert m['stale'] == [str(tmp_path / '.out.prepare-tmp-killed')]
    os.rmdir(tmp_path / '.out.prepare-tmp-killed')
    # an empty directory is fine; a foreign non-empty one needs overwrite
    os.makedirs(tmp_path / 'empty')
    prepare_dataset(str(src), str(tmp_path / 'empty'))
    foreign = tmp_path / 'mine'
    os.makedirs(foreign)
    (foreign / 'precious.txt').write_text('keep')
    (tmp_path / 'a_file').write_text('')
    with pytest.raises(
            PrepareError,
            match='mine is a non-empty directory '
            'that this tool did not write .* pass --overwrite'):
        prepare_dataset(str(src), str(foreign))
    with pytest.raises(PrepareError, match='a_file exists and is not a dir'):
        prepare_dataset(str(src), str(tmp_path / 'a_file'), overwrite=True)
    assert (foreign / 'precious.txt').read_text() == 'keep'
    prepare_dataset(str(src), str(foreign), overwrite=True)
    assert not (foreign / 'precious.txt').exists()
    assert _lines(foreign / 'classes.txt') == list(SORTED)
    # the demo data root is not ours either
    demo = tmp_path / 'demo'
    os.makedirs(demo)
    (demo / 'manifest.json').write_text('{"format": "dspnet_mm demo data"}')
    with pytest.raises(PrepareError, match='did not write'):
        prepare_dataset(str(src), str(demo))


@pytest.mark.parametrize('error', [RuntimeError, OSError, KeyboardInterrupt])
def test_failure_midway_keeps_previous_output(tmp_path, monkeypatch, error):
    src = _make_tree(tmp_path / 'src', _split_spec())
    out = str(tmp_path / 'out')
    prepare_dataset(src, out)
    before = _files(out)
    real = images_mod._process
    calls = []

    def flaky(job):
        calls.append(job[0])
        if len(calls) == 7:
            raise error(28, 'No space left on device') if (
                error is OSError) else error('killed')
        return real(job)

    monkeypatch.setattr(images_mod, '_process', flaky)
    expect = PrepareError if error is OSError else error
    with pytest.raises(expect) as info:
        prepare_dataset(src, out, short_side=16)
    if error is OSError:
        assert str(info.value) == f'cannot write {out}: No space left on ' \
            'device'
    assert len(calls) == 7
    assert _files(out) == before  # the old root, untouched
    assert _siblings(out) == ['out', 'src']  # no temporary left
    # and nothing at all where there was no output before
    calls.clear()
    with pytest.raises(expect):
        prepare_dataset(src, str(tmp_path / 'new'), short_side=16)
    assert _siblings(out) == ['out', 'src']
    # an interrupted write of the meta files is no different
    monkeypatch.setattr(images_mod, '_process', real)
    monkeypatch.setattr(prepare_mod, '_read_class_names', lambda *a: ['oops'])

    def broken_dump(*args, **kwargs):
        raise error('killed')

    monkeypatch.setattr(prepare_mod.json, 'dump', broken_dump)
    with pytest.raises(PrepareError if error is OSError else error):
        prepare_dataset(src, out, short_side=16, class_names='x')
    assert _files(out) == before
    assert _siblings(out) == ['out', 'src']


def _tool():
    spec = importlib.util.spec_from_file_location(
        'prepare_dataset', osp.join(REPO, 'tools', 'prepare_dataset.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def test_cli(tmp_path, capsys):
    tool = _tool()
    src = _make_tree(tmp_path / 'src', _split_spec())
    (tmp_path / 'src/val/moth/img1.jpg').write_bytes(b'broken')
    out = str(tmp_path / 'out')
    argv = [src, out, '--short-side', '20', '--crop', '16', '--quiet']
    assert tool.main(argv) == 0
    std = capsys.readouterr()
    assert std.err == ('warning: skipped unreadable image val/moth/img1.jpg:'
                       ' not an image in a known format\n')
    lines = std.out.splitlines()
    assert lines[0].startswith(f'prepared {out} from {src} in ')
    assert lines[1:5] == [
        '  classes: 3; train: 9 images, val: 4 images (train/val folders '
        'of the source)',
        '  skipped unreadable: 1; ignored non-image entries: 0',
        '  images: JPEG quality 90, short side 20, centre crop 16',
        'use it with:',
    ]
    assert lines[5] == ('  pretraining configs: --cfg-options '
                        f'train_dataloader.dataset.data_root={out} '
                        'train_dataloader.dataset.classes='
                        f'{out}/meta/classes.txt')
    assert lines[6].endswith(' model.head.num_classes=3 '
                             'data_preprocessor.num_classes=3')
    assert lines[7] == ('  python tools/knn_eval.py CHECKPOINTS --data-root '
                        f'{out} --resize 0 --crop 0')
    with Image.open(f'{out}/val/zebra/img0.jpg') as img:
        assert img.size == (16, 16)
    # the same command again: byte-identical
    before = _files(out)
    assert tool.main(argv) == 0
    assert _files(out) == before
    # bad input: one error line, exit code 1
    capsys.readouterr()
    assert tool.main([src, out, '--strict', '--quiet']) == 1
    std = capsys.readouterr()
    assert std.out == ''
    assert std.err.startswith(f'error: unreadable image {src}/val/moth/'
                              'img1.jpg (not an image in a known format); '
                              'remove or replace it, or drop --strict')
    assert std.err.count('\n') == 1
    assert tool.main([str(tmp_path / 'nope'), out]) == 1
    assert capsys.readouterr().err == (
        f'error: source {tmp_path}/nope does not exist\n')
    assert _files(out) == before


def test_output_reads_as_mmpretrain_dataset(tmp_path):
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS

    from dspnet_mm.evaluation import imagenet_style_dataset
    src = _make_tree(tmp_path / 'src', _split_spec())
    out = str(tmp_path / 'out')
    prepare_dataset(src, out, short_side=16, crop=16)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for split, labels in (('train', [0] * 2 + [1] * 4 + [2] * 3),
                              ('val', [0] + [1] * 2 + [2] * 2)):
            cfg = imagenet_style_dataset(out, split, resize=0, crop=0)
            assert cfg['classes'] == osp.join(out, 'meta', 'classes.txt')
            ds = DATASETS.build(cfg)
            assert len(ds) == len(labels)
            assert ds.get_gt_labels().tolist() == labels
            assert ds.metainfo['classes'] == SORTED
            sample = ds[len(ds) - 1]
            assert tuple(sample['inputs'].shape) == (3, 16, 16)
            assert sample['data_samples'].gt_label.tolist() == [2]


def test_config_overrides_apply_to_our_configs(tmp_path):
    from mmengine.config import Config, DictAction
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import DATASETS
    src = _make_tree(tmp_path / 'src', _split_spec())
    out = str(tmp_path / 'out')
    prepare_dataset(src, out, short_side=32, crop=32)
    overrides = config_overrides(out, 3)
    for name, key in (('dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_'
                       'demo-cls.py', 'pretrain'),
                      ('benchmarks/classification/resnet18_1xb32-linear-'
                       'coslr-200it_demo-cls.py', 'classification')):
        cfg = Config.fromfile(osp.join(REPO, 'configs', name))
        # parsed as `--cfg-options` parses them
        cfg.merge_from_dict({
            k: DictAction._parse_iterable(v)
            for k, v in (kv.split('=', 1) for kv in overrides[key])
        })
        loaders = ['train_dataloader']
        if key == 'classification':
            loaders.append('val_dataloader')
            assert cfg.model.head.num_classes == 3
            assert cfg.data_preprocessor.num_classes == 3
        with DefaultScope.overwrite_default_scope('mmpretrain'):
            for loader, n in zip(loaders, (9, 5)):
                ds = DATASETS.build(cfg[loader].dataset)
                assert len(ds) == n
                assert ds.metainfo['classes'] == SORTED
                assert ds[0]['inputs'] is not None
