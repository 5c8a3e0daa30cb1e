# One-by-one baseline of DSPNet's width 1.0 on Imagenette at 64 px: BYOL on
# a plain ResNet-18 with base_channels = stem_channels = 64, with the DSPNet
# recipe's data, augmentations, LARS, schedule, tau and projector sizes.
_base_ = ('../dspnet/dspnet_slimmable-resnet18_1xb64-lars-3000it_'
          'imagenette64.py')

width_channels = 64  # 64 * width
model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=18,
        base_channels=width_channels,
        stem_channels=width_channels,
        norm_cfg=dict(type='BN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        # NOTE: the last stage of a ResNet-18 has 8 * base_channels
        in_channels=8 * width_channels,
        hid_channels=1024,
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
            hid_channels=1024,
            out_channels=128,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False,
            norm_cfg=dict(type='BN1d')),
        loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)))
# the distillation hook schedules DSPNet only; the cost is recorded alike
custom_hooks = [dict(type='TrainTimeHook')]
