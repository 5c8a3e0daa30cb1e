# DSPNet demo: slimmable ResNet-18 on the embedded demo data (32 px), one
# CPU process, about 5 minutes on 2 cores with OMP_NUM_THREADS=1 and --amp
# (bfloat16 autocast on CPU; 600 iterations x 16 images, 8 epochs of the
# 1200 demo images). tools/demo.py runs it with --amp. Generate the data
# first:
#   python tools/generate_demo_data.py
#   python tools/train.py <this file> --amp
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/datasets/demo_cls_byol.py',
    '../_base_/models/dspnet_slimmable-resnet50.py',
    '../_base_/schedules/lars_predictor-x10.py',
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
    # NOTE: tau 0.99 -> 1 (cosine), BYOL's ImageNet start value; 0.98 with
    # LARS lr 10 (the first demo recipe) put the wide widths below random
    # init in 2 of 3 seeds (configs/dspnet/README.md, demo recipe)
    base_momentum=0.01)

max_iters = 600
# NOTE: LARS moves each layer by at most lr * 0.001 of its norm per step.
# Of lr {1, 3, 10} at 600 iterations (tau 0.99, predictor x10), 3 was best:
# linear probe 12-24 points above random init at every width in 3 of 3
# seeds, kNN above it at widths 0.5 / 0.25 but not reliably at 1.0 / 0.75
# (1: too few steps for kNN; 10: below random); configs/dspnet/README.md,
# the CPU demo. Predictor x10: ../_base_/schedules/lars_predictor-x10.py
optim_wrapper = dict(optimizer=dict(lr=3.0))
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
custom_hooks = [
    dict(type='DSPNetDistillHook', weight=1.0),
    dict(type='TrainTimeHook'),
]
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
