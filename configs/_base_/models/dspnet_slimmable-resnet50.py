# DSPNet on a slimmable ResNet-50: BYOL's projector/predictor (mmpretrain's
# byol_resnet50 recipe) with switchable BNs, widths 1.0/0.75/0.5/0.25.
model = dict(
    type='DSPNet',
    # NOTE: mmengine's EMA momentum is 1 - tau: 0.01 means the teacher's tau
    # goes from 0.99 to 1 with a cosine over training (BYOL, 300e recipe)
    base_momentum=0.01,
    # NOTE: sandwich rule: 1.0 and 0.25 every step plus 2 sampled -> with 4
    # widths every width trains every step (plain DDP, no unused params)
    num_sampled=2,
    distill_from='target',
    distill_weight=1.0,
    backbone=dict(
        type='SlimmableResNet',
        depth=50,
        widths=[0.25, 0.5, 0.75, 1.0],
        norm_cfg=dict(type='SyncBN'),
        zero_init_residual=False),
    neck=dict(
        type='SlimmableNonLinearNeck',
        in_channels=2048,  # full width; the input slice follows the width
        hid_channels=4096,
        out_channels=256,
        num_layers=2,
        with_bias=True,
        with_last_bn=False,
        with_avg_pool=True),
    head=dict(
        type='LatentPredictHead',
        predictor=dict(
            type='SlimmableNonLinearNeck',
            in_channels=256,
            hid_channels=4096,
            out_channels=256,
            num_layers=2,
            with_bias=True,
            with_last_bn=False,
            with_avg_pool=False),
        # NOTE: 2 - 2 cos(p, z) as in METHOD.md; mmpretrain's BYOL writes
        # 2 * (-cos - cos), the same gradient
        loss=dict(
            type='CosineSimilarityLoss', shift_factor=2.0, scale_factor=2.0)),
)
