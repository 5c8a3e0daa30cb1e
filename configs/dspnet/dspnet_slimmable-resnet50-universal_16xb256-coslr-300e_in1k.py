# Universal mode: any width on the 1/64 channel grid in [0.25, 1.0] trains
# (sandwich rule: 1.0, 0.25 and 2 random grid widths per step). BNs are
# shared by all widths, so statistics are recalibrated per width before
# evaluation or export (tools/slim_checkpoint.py --config ... does it).
_base_ = './dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'

model = dict(backbone=dict(universal=True))
# NOTE: every sampled width slices the same parameters, so DDP sees every
# parameter used each step; no find_unused_parameters needed
