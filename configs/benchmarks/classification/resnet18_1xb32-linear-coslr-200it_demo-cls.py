# Linear probe of one exported width on the demo set (8 classes, 64 px):
# the ImageNet protocol of resnet50_8xb512-linear-coslr-90e_in1k.py at laptop
# scale (about a minute on one CPU core at width 1.0).
#
# The numbers below are width 1.0 of ResNet-18; every other width gets its
# depth, channels and head input from the exported file itself:
#   dspnet_mm.slim.apply_width(cfg, 'resnet18_w0.5.pth', 'mmpretrain')
# or the `mmpretrain --cfg-options` line tools/slim_checkpoint.py prints.
# VerifyBackboneHook stops the run if the backbone is not exactly that file
# (mmengine's Pretrained init would only warn).
_base_ = [
    'mmpretrain::_base_/default_runtime.py',
    '../../_base_/datasets/demo_cls.py'
]
custom_imports = dict(
    imports=['dspnet_mm.evaluation'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=64,
        stem_channels=64,
        out_indices=(3, ),
        # the linear protocol: no backbone weight and no BN statistic moves
        frozen_stages=4,
        norm_eval=True,
        # exported widths hold plain ResNet keys: no prefix
        init_cfg=dict(type='Pretrained', checkpoint='')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))

train_dataloader = dict(batch_size=32)

# NOTE: plain SGD with momentum, no weight decay, as the linear heads of
# mmpretrain's SSL benchmarks; lr 0.1 for 32 images (ImageNet uses LARS at
# 4096 images, which buys nothing for one 8-way head).
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=200, by_epoch=False, eta_min=0)
# NOTE: 200 iterations = 6.7 epochs of the 960 demo images
train_cfg = dict(by_epoch=False, max_iters=200, val_interval=200)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='VerifyBackboneHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(
        type='CheckpointHook', interval=200, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
