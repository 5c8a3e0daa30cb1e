# Semi-supervised fine-tuning of one exported width on 1 % of the demo
# labels (meta/train_1percent.txt: one image per class). Everything else is
# the 10 % config; see it for the per-width usage.
_base_ = ['./resnet18_1xb32-ft-coslr-100it_demo-cls-10pct.py']

train_dataloader = dict(dataset=dict(ann_file='meta/train_1percent.txt'))

param_scheduler = dict(T_max=60)
# NOTE: 60 iterations x 32 = 240 passes over the 8 labelled images
train_cfg = dict(max_iters=60, val_interval=60)
default_hooks = dict(checkpoint=dict(interval=60))
