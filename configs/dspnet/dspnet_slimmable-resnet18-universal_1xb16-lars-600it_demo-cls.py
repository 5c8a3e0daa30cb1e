# Universal-mode DSPNet demo: any width on the 1/64 grid in [0.25, 1.0].
# Export recalibrates BN per width:
#   python tools/slim_checkpoint.py CKPT --widths 0.375 0.625 --out-dir DIR \
#       --config configs/dspnet/<this file>
_base_ = './dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py'

model = dict(backbone=dict(universal=True))
