# Semi-supervised fine-tuning of one exported width on 10 % of the demo
# labels (meta/train_10percent.txt: 12 images per class, 96 in all): the
# ImageNet protocol of resnet50_8xb32-ft-coslr-20e_in1k-10pct.py at laptop
# scale (about a minute on one CPU core at width 1.0).
#
# The numbers below are width 1.0 of ResNet-18; every other width gets its
# depth, channels and head input from the exported file itself:
#   dspnet_mm.slim.apply_width(cfg, 'resnet18_w0.5.pth', 'mmpretrain')
# or the `mmpretrain --cfg-options` line tools/slim_checkpoint.py prints.
# VerifyBackboneHook stops the run if the backbone is not exactly that file.
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
        # the whole network is fine-tuned, BN in training mode
        init_cfg=dict(type='Pretrained', checkpoint='')),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))

# NOTE: an infinite sampler draws full batches of 32 from a subset this
# small (the 1 % subset has 8 images) instead of one short batch per epoch.
train_dataloader = dict(
    batch_size=32,
    dataset=dict(ann_file='meta/train_10percent.txt'),
    sampler=dict(type='InfiniteSampler', shuffle=True))

# NOTE: the recipe of the ImageNet configs (SGD with Nesterov momentum, no
# weight decay, head lr 10x the backbone's, cosine decay); the lr itself is
# larger for the short demo schedule.
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=100, by_epoch=False, eta_min=0)
# NOTE: 100 iterations x 32 = 33 passes over the 96 labelled images
train_cfg = dict(by_epoch=False, max_iters=100, val_interval=100)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='VerifyBackboneHook')]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20),
    checkpoint=dict(
        type='CheckpointHook', interval=100, by_epoch=False, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
