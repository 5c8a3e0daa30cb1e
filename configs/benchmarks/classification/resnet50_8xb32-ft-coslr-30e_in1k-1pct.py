# ImageNet semi-supervised fine-tuning of one exported width on 1 % of the
# labels (the fixed SimCLR subset, 12 or 13 images per class): the 10 %
# config with 30 epochs (SimCLR / BYOL protocol, see its NOTE).
_base_ = ['./resnet50_8xb32-ft-coslr-20e_in1k-10pct.py']

train_dataloader = dict(dataset=dict(ann_file='meta/train_1percent.txt'))

param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=30, by_epoch=True, begin=0, end=30)
]
# NOTE: 12.8k images are 50 steps of 256: validate every 10 epochs
train_cfg = dict(max_epochs=30, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10))
