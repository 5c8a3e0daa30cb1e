# One-by-one baseline of the DSPNet demo's width 1.0: BYOL on a plain
# ResNet-18 with base_channels = stem_channels = 64, with the demo's data,
# augmentations, LARS (predictor x10), schedule, tau and projector sizes.
_base_ = '../dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py'

custom_imports = None
model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=64,
        stem_channels=64,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        # NOTE: 512 = 512 * 1.0, the last stage of this ResNet-18
        in_channels=512,
        hid_channels=512,
        out_channels=128,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True,
        norm_cfg=dict(type='BN1d')),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=128,
            hid_channels=512,
            out_channels=128,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)))
custom_hooks = [dict(type='TrainTimeHook')]
