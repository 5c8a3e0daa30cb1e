# The FCN-D8 transfer recipe of fcn_dspnet-r50-d8_4xb2-40k_cityscapes-
# 512x1024.py, shrunk to the embedded demo data (data/demo/seg: 128 px
# synthetic shapes, background + 8 classes) so that it trains and evaluates
# on a 2-core CPU in minutes:
#   python tools/generate_demo_data.py
#   python tools/transfer_config.py THIS_FILE slim/resnet18_w0.5.pth \
#       --task mmseg --out work_dirs/transfer/demo-fcn.py
#   python tools/train.py work_dirs/transfer/demo-fcn.py
# As for the cluster config, the width-dependent fields come from the
# exported file (configs/benchmarks/README.md).
_base_ = './fcn_dspnet-r50-d8_4xb2-40k_cityscapes-512x1024.py'

# label 0 is the background of the demo label maps, then
# dspnet_mm.datasets.DEMO_CLASSES, spelled out so the config needs no
# dspnet_mm import
classes = ('background', 'circle', 'crescent', 'cross', 'heart', 'ring',
           'square', 'star', 'triangle')
num_classes = len(classes)
# NOTE: one process on CPU: plain BN (SyncBN needs a process group); BN
# still trained (norm_eval=False), as in the recipe.
norm_cfg = dict(type='BN', requires_grad=True)
crop_size = (128, 128)  # the demo images' own size
data_preprocessor = dict(size=crop_size)
model = dict(
    data_preprocessor=data_preprocessor,
    backbone=dict(norm_cfg=norm_cfg),
    # NOTE: head widths 4x below the recipe's 512 / 256: its 3x3 convs at
    # stride 8 would take most of the CPU time. Not width-dependent fields:
    # the heads' in_channels still come from the exported file.
    decode_head=dict(channels=128, num_classes=num_classes, norm_cfg=norm_cfg),
    auxiliary_head=dict(
        channels=64, num_classes=num_classes, norm_cfg=norm_cfg))

data_root = 'data/demo/seg'
dataset_type = 'BaseSegDataset'
metainfo = dict(classes=classes)
# NOTE: flips only: the recipe's 0.5-2x rescale, crop and photometric
# distortion pay off over 40k iterations, not over a few dozen.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(
            img_path='img_dir/train', seg_map_path='ann_dir/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        metainfo=metainfo,
        img_suffix='.png',
        seg_map_suffix='.png',
        data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

max_iters = 50
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# NOTE: lr 0.01 for 4 crops as in the recipe (8 crops) without linear
# scaling: a few dozen steps need the full rate.
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(
        type='PolyLR',
        eta_min=1e-4,
        power=0.9,
        begin=0,
        end=max_iters,
        by_epoch=False)
]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
randomness = dict(seed=0)
