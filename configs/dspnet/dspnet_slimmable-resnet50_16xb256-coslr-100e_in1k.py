# The 100-epoch variant: same recipe, shorter cosine schedule.
_base_ = './dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'

max_epochs = 100
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
