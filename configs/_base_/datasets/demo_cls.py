# The embedded demo classification set (ImageNet-style folders + ann files),
# generated at run time by `python tools/generate_demo_data.py` (a fresh
# clone has none; tools/train.py says so if it is missing). Real data is a
# path change: point data_root at an ImageNet-style root.
dataset_type = 'CustomDataset'
data_root = 'data/demo/cls'
# NOTE: must equal dspnet_mm.datasets.DEMO_CLASSES (a test checks it)
demo_classes = ('circle', 'crescent', 'cross', 'heart', 'ring', 'square',
                'star', 'triangle')

data_preprocessor = dict(
    num_classes=len(demo_classes),
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32, crop_ratio_range=(0.5, 1.0)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        classes=demo_classes,
        pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/val.txt',
        data_prefix='val',
        classes=demo_classes,
        pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator
