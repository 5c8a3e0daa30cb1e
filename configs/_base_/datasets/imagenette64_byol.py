# BYOL's two asymmetric views (mmpretrain imagenet_bs32_byol), cropped at
# 32 px from an ImageNet-style root of 64x64 photos: Imagenette prepared
# with `python tools/prepare_dataset.py SRC data/imagenette-64 --short-side
# 64 --crop 64` (labels unused by pretraining). Evaluation reads the 64 px
# images whole (tools/benchmark_widths.py).
dataset_type = 'CustomDataset'
data_root = 'data/imagenette-64'
# NOTE: 32 px crops of the 64 px photos. At the same wall time, 40 epochs
# at 32 px beat 10 epochs at 64 px by +6 kNN / +9 linear points at width 0.5
# (configs/dspnet/README.md, recipe search); the networks are evaluated on
# the whole 64 px images (train small, test large: Touvron et al., FixRes)
crop_size = 32

data_preprocessor = dict(
    type='SelfSupDataPreprocessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    to_rgb=True)

# NOTE: no Gaussian blur: BYOL blurs 224 px crops with sigma 0.1-2.0 px; at
# 32 px the same blur relative to the image is below one pixel
view_pipeline1 = [
    dict(
        type='RandomResizedCrop',
        scale=crop_size,
        crop_ratio_range=(0.2, 1.0),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomApply',
        transforms=[
            dict(
                type='ColorJitter',
                brightness=0.4,
                contrast=0.4,
                saturation=0.2,
                hue=0.1)
        ],
        prob=0.8),
    dict(
        type='RandomGrayscale',
        prob=0.2,
        keep_channels=True,
        channel_weights=(0.114, 0.587, 0.2989)),
]
view_pipeline2 = view_pipeline1 + [dict(type='Solarize', thr=128, prob=0.2)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='MultiView',
        num_views=[1, 1],
        transforms=[view_pipeline1, view_pipeline2]),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=64,
    num_workers=0,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='meta/train.txt',
        data_prefix='train',
        pipeline=train_pipeline))
