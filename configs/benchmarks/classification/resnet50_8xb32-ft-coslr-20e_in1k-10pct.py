# ImageNet semi-supervised fine-tuning of one exported width on 10 % of the
# labels (the fixed SimCLR subset, 128 images per class).
#
# NOTE: the protocol of SimCLR (Chen et al. 2020, arXiv 2002.05709) as BYOL
# (Grill et al. 2020, arXiv 2006.07733, appendix on semi-supervised
# training) runs it: the whole network is fine-tuned with cross-entropy on
# the labelled subset, SGD with Nesterov momentum 0.9, no weight decay, only
# random crops and flips, 20 epochs on 10 % (30 on 1 %). BYOL chose the
# backbone and classifier learning rates separately by a small sweep and
# does not print one value for all models: lr 0.01 for the backbone and 10x
# for the new head at 8 x 32 = 256 images (the head/backbone ratio of
# OpenSelfSup's semi-supervised benchmarks) is our starting point; sweep it
# per width as BYOL did and report the sweep.
#
# The numbers below are width 1.0; every other width gets its depth,
# channels and head input from the exported file (README.md). Subset file
# layout: `<class dir>/<image> <label>` lines, see README.md for converting
# SimCLR's 10percent.txt.
_base_ = [
    'mmpretrain::_base_/models/resnet50.py',
    'mmpretrain::_base_/datasets/imagenet_bs32_pil_resize.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(
    imports=['dspnet_mm.evaluation'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=50,
        base_channels=64,
        stem_channels=64,
        init_cfg=dict(type='Pretrained', checkpoint='')),
    head=dict(in_channels=2048))

train_dataloader = dict(
    batch_size=32,
    dataset=dict(split='train', ann_file='meta/train_10percent.txt'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.9, nesterov=True, weight_decay=0.),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10)}))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=20, by_epoch=True, begin=0, end=20)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=20, val_interval=5)
val_cfg = dict()
test_cfg = dict()

custom_hooks = [dict(type='VerifyBackboneHook')]
default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2))
# NOTE: lr 0.01 (head 0.1) is for 8 x 32 = 256 images per step
auto_scale_lr = dict(base_batch_size=256)
