# ImageNet linear probe of one exported width: mmpretrain's BYOL linear
# benchmark (byol/benchmarks/resnet50_8xb512-linear-coslr-90e_in1k.py: LARS
# lr 1.6, momentum 0.9, no weight decay, cosine over 90 epochs, 8 GPUs x 512
# images). It is the protocol of mmpretrain's BYOL model-zoo number (71.8
# top-1 for 200-epoch BYOL ResNet-50), so each DSPNet width compares with it
# and with its one-by-one BYOL twin as is.
#
# The numbers below are width 1.0; every other width gets its depth,
# channels and head input from the exported file itself (README.md):
#   dspnet_mm.slim.apply_width(cfg, 'resnet50_w0.5.pth', 'mmpretrain')
# or the `mmpretrain --cfg-options` line tools/slim_checkpoint.py prints.
# VerifyBackboneHook stops the run if the backbone is not exactly that file
# (mmengine's Pretrained init would only warn).
_base_ = [
    'mmpretrain::byol/benchmarks/resnet50_8xb512-linear-coslr-90e_in1k.py'
]
custom_imports = dict(
    imports=['dspnet_mm.evaluation'], allow_failed_imports=False)

model = dict(
    backbone=dict(
        depth=50,
        base_channels=64,
        stem_channels=64,
        # frozen_stages=4 (from the base) freezes stem and stages and keeps
        # their BN in eval mode; norm_eval states it for every BN
        frozen_stages=4,
        norm_eval=True,
        # exported widths hold plain ResNet keys: no 'backbone.' prefix
        init_cfg=dict(_delete_=True, type='Pretrained', checkpoint='')),
    head=dict(in_channels=2048))

custom_hooks = [dict(type='VerifyBackboneHook')]
# NOTE: lr 1.6 is for 8 x 512 = 4096 images per step; with another total
# batch pass --auto-scale-lr to tools/train.py
auto_scale_lr = dict(base_batch_size=4096)
