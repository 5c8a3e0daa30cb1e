# DSPNet demo: slimmable ResNet-18 on the embedded demo data (32 px), one
# CPU process, about 5 minutes on 2 cores with OMP_NUM_THREADS=1 (600
# iterations x 16 images, 8 epochs of the 1200 demo images). Generate the
# data first:
#   python tools/generate_demo_data.py
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/datasets/demo_cls_byol.py',
    '../_base_/models/dspnet_slimmable-resnet50.py',
]
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(depth=18, norm_cfg=dict(type='BN')),
    # NOTE: small MLPs for a CPU demo (ImageNet: 4096 hidden, 256 out)
    neck=dict(
        in_channels=512,
        hid_channels=512,
        out_channels=128,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        predictor=dict(
            in_channels=128,
            hid_channels=512,
            out_channels=128,
            norm_cfg=dict(type='BN1d'))),
    # NOTE: tau from 0.98 on a 600-iteration run (BYOL uses 0.99-0.996 over
    # 100k+ iterations; a short run needs a faster teacher)
    base_momentum=0.02)

max_iters = 600
optim_wrapper = dict(
    type='OptimWrapper',
    # NOTE: LARS moves each layer by lr * eta (eta = 0.001) of its norm per
    # step: ImageNet's 4.8 over 100k+ steps, a short run needs more. Of
    # {1 (240 it), 10 (240 / 600 / 900 it)}, 10 at 600 iterations gave the
    # best demo kNN (configs/dspnet/README.md, demo evidence)
    optimizer=dict(type='LARS', lr=10.0, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=False, begin=0, end=20),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - 20,
        by_epoch=False,
        begin=20,
        end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters)
custom_hooks = [dict(type='DSPNetDistillHook', weight=1.0)]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook', interval=200, by_epoch=False, max_keep_ckpts=2))
# NOTE: 16 images per step: on a 2-core CPU one step trains 4 widths on 2
# views, so a step of 16 costs about 0.5 s with one thread
train_dataloader = dict(batch_size=16)
randomness = dict(seed=0, deterministic=True)
auto_scale_lr = dict(base_batch_size=16)
log_processor = dict(by_epoch=False)
