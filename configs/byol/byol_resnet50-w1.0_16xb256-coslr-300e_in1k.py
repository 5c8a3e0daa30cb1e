# One-by-one baseline of DSPNet width 1.0: BYOL on a plain ResNet-50. It
# inherits the DSPNet config so data, augmentations, LARS, schedule, epochs
# and batch are the same by construction; only the model differs.
# The narrower baselines (byol_resnet50-w{0.25,0.5,0.75}_...) inherit this.
_base_ = '../dspnet/dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'

custom_imports = None
custom_hooks = []
model = dict(
    _delete_=True,
    type='BYOL',
    base_momentum=0.01,
    backbone=dict(
        type='ResNet',
        depth=50,
        base_channels=64,
        stem_channels=64,
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=False),
    neck=dict(
        type='NonLinearNeck',
        in_channels=2048,
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='NonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False),
        # NOTE: 2 - 2 cos, the loss DSPNet uses (mmpretrain's default -cos
        # times its factor 2 gives the same gradient)
        loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)))
