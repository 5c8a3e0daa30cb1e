# DSPNet, slimmable ResNet-50 (widths 1.0/0.75/0.5/0.25), ImageNet-1k,
# 300 epochs, 16 GPUs x 256 images. Augmentations, LARS and schedule are
# mmpretrain's BYOL recipe (byol_resnet50_16xb256-coslr-200e_in1k).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32_byol.py',
    'mmpretrain::_base_/schedules/imagenet_lars_coslr_200e.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/models/dspnet_slimmable-resnet50.py',
]
custom_imports = dict(imports=['dspnet_mm'], allow_failed_imports=False)

train_dataloader = dict(batch_size=256)

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=4.8, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            # every BN (per-width ones included: their names contain 'bn')
            'bn': dict(decay_mult=0, lars_exclude=True),
            'bias': dict(decay_mult=0, lars_exclude=True),
            # bn layer in ResNet block downsample module
            'downsample.1': dict(decay_mult=0, lars_exclude=True),
        }),
)
max_epochs = 300
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-4,
        by_epoch=True,
        begin=0,
        end=10,
        convert_to_iter_based=True),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 10,
        by_epoch=True,
        begin=10,
        end=max_epochs)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)

custom_hooks = [dict(type='DSPNetDistillHook', weight=1.0)]
default_hooks = dict(checkpoint=dict(max_keep_ckpts=3))

# NOTE: lr 4.8 is for 16 x 256 = 4096 images per step; --auto-scale-lr
# scales it linearly to the actual total batch size
auto_scale_lr = dict(base_batch_size=4096)
