# A small supervised run of SlimmableResNet on the demo classification set:
# it proves the runner path (train / resume / dist / export) on a laptop CPU.
# It trains the full width only; DSPNet (configs/dspnet) trains every width.
_base_ = [
    'mmpretrain::_base_/default_runtime.py', '../_base_/datasets/demo_cls.py'
]
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='SlimmableResNet', depth=18, widths=[0.25, 0.5, 0.75, 1.0]),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=8,
        in_channels=512,
        loss=dict(type='CrossEntropyLoss'),
        topk=(1, )))

optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = dict(
    type='CosineAnnealingLR', T_max=20, by_epoch=False, eta_min=0)
train_cfg = dict(by_epoch=False, max_iters=20, val_interval=10)
val_cfg = dict()
test_cfg = dict()

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=1),
    checkpoint=dict(
        type='CheckpointHook', interval=10, by_epoch=False, max_keep_ckpts=2))
# NOTE: deterministic CPU kernels so a resumed run repeats the losses
randomness = dict(seed=0, deterministic=True)
# NOTE: base lr 0.05 is for 1 process x 16 images
auto_scale_lr = dict(base_batch_size=16)
# NOTE: this run trains the full width only, so the other widths' BNs get no
# gradient; DDP must be told (DSPNet trains every width every step and
# does not need it).
find_unused_parameters = True
