"""Check that the pinned OpenMMLab stack is installed and actually works.

Prints the versions of python, torch, torchvision, mmengine, mmcv,
mmpretrain, mmdet, mmseg and numpy against the pins in
``requirements/*.txt``, proves that mmcv's compiled ops are loaded and run
(``mmcv._ext`` + ``mmcv.ops.nms``), and builds and runs one tiny mmdet and one
tiny mmseg model on CPU. Exits 0 with a short summary, or 1 with one message
naming the failing check. Takes a few seconds.

``scripts/setup_env.sh`` runs this as its last step; it can also be run by
hand::

    python tools/check_env.py
"""
import importlib.metadata
import os
import platform
import sys
import time
import warnings

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REQUIREMENT_FILES = ('requirements/runtime.txt', 'requirements/tests.txt')

# distribution name -> import name, in the order they are reported
PACKAGES = (('torch', 'torch'), ('torchvision', 'torchvision'), ('mmengine',
                                                                 'mmengine'),
            ('mmcv', 'mmcv'), ('mmpretrain', 'mmpretrain'), ('mmdet', 'mmdet'),
            ('mmsegmentation', 'mmseg'), ('numpy', 'numpy'))


class EnvCheckError(RuntimeError):
    """Raised by a check with the one message ``main()`` prints."""


def read_pins(root=REPO_ROOT):
    """Read the ``name==version`` pins from the requirement files.

    Args:
        root (str): repository root.

    Returns:
        dict[str, str]: lower-case distribution name -> pinned version.
    """
    pins = {}
    for rel in REQUIREMENT_FILES:
        with open(os.path.join(root, rel), encoding='utf-8') as f:
            for line in f:
                line = line.split('#', 1)[0].strip()
                if '==' in line:
                    name, version = line.split('==', 1)
                    pins[name.strip().lower()] = version.strip()
    return pins


def _matches(installed, pinned):
    """PEP 440 ``==``: ``2.14.1+cu130`` satisfies a ``2.14.1`` pin."""
    from packaging.version import Version
    inst = Version(installed)
    pin = Version(pinned)
    if pin.local is None:
        return inst.public == pin.public
    return inst == pin


def collect_versions(root=REPO_ROOT):
    """Installed versions of the stack next to their pins.

    Reads distribution metadata only (nothing is imported), so it is cheap.

    Args:
        root (str): repository root holding ``requirements/``.

    Returns:
        dict[str, dict]: for ``python`` and each of :data:`PACKAGES`, a dict
        with ``installed`` (str or None), ``pinned`` (str or None) and ``ok``
        (True when installed and, if pinned, matching the pin).
    """
    pins = read_pins(root)
    info = {
        'python':
        dict(installed=platform.python_version(), pinned=None, ok=True)
    }
    for dist, _ in PACKAGES:
        try:
            installed = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        pinned = pins.get(dist)
        ok = installed is not None and (pinned is None
                                        or _matches(installed, pinned))
        info[dist] = dict(installed=installed, pinned=pinned, ok=ok)
    return info


def check_mmcv_ops():
    """Prove mmcv's compiled extension is loaded and its ops run.

    Returns:
        list[int]: indices kept by ``mmcv.ops.nms`` on three fixed boxes
        (``[0, 2]``: box 1 overlaps box 0 with IoU 0.68 > 0.5 and has a lower
        score; box 2 overlaps nothing).
    """
    import torch
    try:
        import mmcv._ext  # noqa: F401
        from mmcv.ops import nms
    except Exception as e:  # ImportError, or an undefined-symbol OSError
        raise EnvCheckError(
            f'mmcv has no working compiled ops (import mmcv._ext: {e}); '
            'mmcv must be the build with ops, see DEVELOPERS.md') from e
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    kept = keep.tolist()
    if kept != [0, 2] or tuple(dets.shape) != (2, 5):
        raise EnvCheckError(f'mmcv.ops.nms kept {kept}, expected [0, 2]')
    return kept


def _resnet18(**kwargs):
    return dict(
        type='ResNet',
        depth=18,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=dict(type='BN', requires_grad=True),
        init_cfg=None,
        **kwargs)


def check_mmdet(size=64):
    """Build a ResNet-18 RetinaNet with mmdet and run a tensor forward.

    No weights are downloaded (``init_cfg=None``).

    Args:
        size (int): side of the square input.

    Returns:
        list[tuple]: shapes of the classification score maps, one per FPN
        level.
    """
    import torch
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    from mmengine.registry import DefaultScope

    # Scope the build instead of setting a global default scope, which would
    # leak into whatever runs next in the same process (e.g. the tests).
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        model = _build_det(MODELS)
    model.eval()
    with torch.no_grad():
        cls_scores, bbox_preds = model(
            torch.rand(1, 3, size, size), mode='tensor')
    # 9 anchors x 3 classes per location; strides 8..128 on a 64px input
    shapes = [tuple(s.shape) for s in cls_scores]
    expected = [(1, 27, -(-size // s), -(-size // s))
                for s in (8, 16, 32, 64, 128)]
    if shapes != expected or len(bbox_preds) != 5:
        raise EnvCheckError(
            f'mmdet RetinaNet gave score maps {shapes}, expected {expected}')
    return shapes


def _build_det(MODELS):
    return MODELS.build(
        dict(
            type='RetinaNet',
            data_preprocessor=dict(
                type='DetDataPreprocessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True),
            backbone=_resnet18(style='pytorch'),
            neck=dict(
                type='FPN',
                in_channels=[64, 128, 256, 512],
                out_channels=64,
                start_level=1,
                add_extra_convs='on_input',
                num_outs=5),
            bbox_head=dict(
                type='RetinaHead',
                num_classes=3,
                in_channels=64,
                stacked_convs=1,
                feat_channels=64,
                anchor_generator=dict(
                    type='AnchorGenerator',
                    octave_base_scale=4,
                    scales_per_octave=3,
                    ratios=[0.5, 1.0, 2.0],
                    strides=[8, 16, 32, 64, 128]),
                bbox_coder=dict(
                    type='DeltaXYWHBBoxCoder',
                    target_means=[.0, .0, .0, .0],
                    target_stds=[1.0, 1.0, 1.0, 1.0]),
                loss_cls=dict(
                    type='FocalLoss',
                    use_sigmoid=True,
                    gamma=2.0,
                    alpha=0.25,
                    loss_weight=1.0),
                loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
            test_cfg=dict(
                nms_pre=100,
                min_bbox_size=0,
                score_thr=0.05,
                nms=dict(type='nms', iou_threshold=0.5),
                max_per_img=10)))


def check_mmseg(size=64):
    """Build a ResNet-18 + FCNHead EncoderDecoder with mmseg and run it.

    Args:
        size (int): side of the square input.

    Returns:
        tuple: shape of the segmentation logits (``mode='tensor'``).
    """
    import torch
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with warnings.catch_warnings(), \
            DefaultScope.overwrite_default_scope('mmseg'):
        # mmseg 1.2.2 warns about its own deprecated build_loss / loss defaults
        warnings.simplefilter('ignore', UserWarning)
        model = _build_seg(MODELS, size)
    model.eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, size, size), mode='tensor')
    shape = tuple(logits.shape)
    expected = (1, 4, size // 32, size // 32)  # FCN on the stride-32 stage
    if shape != expected:
        raise EnvCheckError(
            f'mmseg EncoderDecoder gave logits {shape}, expected {expected}')
    return shape


def _build_seg(MODELS, size):
    return MODELS.build(
        dict(
            type='EncoderDecoder',
            data_preprocessor=dict(
                type='SegDataPreProcessor',
                mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375],
                bgr_to_rgb=True,
                size=(size, size)),
            backbone=_resnet18(),
            decode_head=dict(
                type='FCNHead',
                in_channels=512,
                in_index=3,
                channels=64,
                num_convs=1,
                concat_input=False,
                num_classes=4,
                norm_cfg=dict(type='BN', requires_grad=True),
                loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False)),
            train_cfg=dict(),
            test_cfg=dict(mode='whole')))


def main():
    """Run every check; print a report.

    Returns the exit code.
    """
    start = time.time()
    versions = collect_versions()
    print(f'python      {sys.version.split()[0]} ({sys.executable})')
    for dist, info in versions.items():
        if dist == 'python':
            continue
        pin = f"pin {info['pinned']}" if info['pinned'] else 'not pinned'
        state = 'ok' if info['ok'] else 'MISMATCH'
        print(f"{dist:<15} {info['installed'] or 'MISSING':<16} "
              f'{pin:<16} {state}')
    bad = [d for d, i in versions.items() if not i['ok']]
    step = 'versions'
    try:
        if bad:
            raise EnvCheckError(
                'installed versions do not match requirements/*.txt: ' +
                ', '.join(f"{d} {versions[d]['installed']} "
                          f"(pin {versions[d]['pinned']})" for d in bad))
        step = 'mmcv ops'
        kept = check_mmcv_ops()
        print(f'mmcv._ext   loaded; mmcv.ops.nms kept {kept}')
        step = 'mmdet model'
        det = check_mmdet()
        print(f'mmdet       RetinaNet R-18 forward ok, scores {det[0]}...')
        step = 'mmseg model'
        seg = check_mmseg()
        print(f'mmseg       EncoderDecoder R-18 + FCNHead forward ok, {seg}')
    except EnvCheckError as e:
        print(f'check_env: FAILED: {e}', file=sys.stderr)
        return 1
    except Exception as e:  # anything unexpected inside a check
        print(
            f'check_env: FAILED ({step}): {type(e).__name__}: {e}',
            file=sys.stderr)
        return 1
    print(f'check_env: OK: pinned stack, mmcv ops, mmdet and mmseg models '
          f'work ({time.time() - start:.1f}s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
