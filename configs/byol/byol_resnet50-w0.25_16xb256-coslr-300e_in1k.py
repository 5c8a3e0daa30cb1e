# One-by-one baseline of DSPNet width 0.25: BYOL on a plain ResNet-50 with
# base_channels = stem_channels = 64 * 0.25 = 16, same data, LARS, schedule
# and epochs as configs/dspnet/dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py.
# Its backbone exports with tools/slim_checkpoint.py-compatible metadata via
# tools/benchmark_widths.py --baseline 0.25=CKPT.
_base_ = 'mmpretrain::byol/byol_resnet50_16xb256-coslr-200e_in1k.py'

model = dict(
    base_momentum=0.01,
    backbone=dict(base_channels=16, stem_channels=16),
    # NOTE: 512 = 2048 * 0.25, the last stage of this ResNet-50
    neck=dict(in_channels=512),
    # NOTE: 2 - 2 cos, the loss DSPNet uses (mmpretrain's default -cos times
    # its factor 2 gives the same gradient)
    head=dict(
        loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)))

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
