"""Write a stock mmdet / mmseg / mmpretrain config for an exported width.

Fills every width-dependent field of BASE_CFG from the exported checkpoint's
meta (:func:`dspnet_mm.slim.apply_width`) and dumps a plain config that
stock tools train without importing dspnet_mm.

Examples:
    B=configs/benchmarks/mmdet
    python tools/transfer_config.py \
        $B/mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py \
        work_dirs/dspnet/slim/resnet50_w0.5.pth --task mmdet \
        --out work_dirs/transfer/mask-rcnn_w0.5.py --verify
    bash tools/dist_train.sh work_dirs/transfer/mask-rcnn_w0.5.py 8
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import Config, DictAction

from dspnet_mm.slim import (TRANSFER_TASKS, TransferError, apply_width,
                            read_export_meta, verify_backbone_loaded)
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Point a stock downstream config at an exported width '
        '(backbone, checkpoint, neck / head input channels) and write it '
        'as a plain config.')
    parser.add_argument('config', help='base config (a stock-based model)')
    parser.add_argument(
        'checkpoint', help='an exported width, resnet{D}_w{W}.pth')
    parser.add_argument(
        '--task', required=True, choices=TRANSFER_TASKS, help='framework')
    parser.add_argument('--out', required=True, help='config file to write')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='key=value overrides, merged before the width is applied')
    parser.add_argument(
        '--verify',
        action='store_true',
        help='build the model from the written config, run init_weights '
        'and check that its backbone holds exactly the exported tensors')
    return parser.parse_args(argv)


def _registry(task: str):
    """The task's MODELS registry, with all its modules registered."""
    if task == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    elif task == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    return MODELS


def verify(path: str, checkpoint: str, task: str) -> int:
    """Build the model of config ``path``, init it, check its backbone."""
    from mmengine.logging import MMLogger

    # init_weights reports every parameter at INFO; keep warnings only
    MMLogger.get_instance('transfer_config', log_level='WARNING')
    cfg = Config.fromfile(path)
    model = _registry(task).build(cfg.model)
    model.init_weights()
    return verify_backbone_loaded(model, checkpoint)


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    checkpoint = osp.abspath(args.checkpoint)
    try:
        meta = read_export_meta(checkpoint)
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        applied = apply_width(cfg, checkpoint, args.task)
    except TransferError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    if cfg.get('custom_imports'):
        print(
            'warning: the config keeps custom_imports '
            f'{cfg.custom_imports.get("imports")}; stock tools need them',
            file=sys.stderr)
    out_dir = osp.dirname(osp.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    cfg.dump(args.out)
    print(f'ResNet-{meta["depth"]} width {meta["width"]} (stage channels '
          f'{meta["stage_channels"]}) -> {args.out}')
    for line in applied:
        print(f'  {line}')
    if args.verify:
        try:
            n = verify(args.out, checkpoint, args.task)
        except ValueError as e:
            print(f'error: {e}', file=sys.stderr)
            return 1
        print(f'verified: the built backbone holds all {n} tensors of '
              f'{checkpoint}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
