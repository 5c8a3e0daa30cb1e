"""How learnable is the demo classification set without pretraining?

Generates (or reuses) the default demo data, then reports val top-1 of a
cosine kNN (k=20) and of a linear probe (multinomial logistic regression) on

* global-pooled features of a randomly initialised mmpretrain ResNet-18
  (eval mode, ImageNet-normalised 64 px inputs), averaged over init seeds;
* raw pixels downsampled to 16x16 RGB;
* colour statistics (per-channel 8-bin histograms of the whole image).

Random-init features should land above chance but far from perfect, so that
self-supervised pretraining has room to show a gain; the raw-pixel and colour
rows show the labels are not readable off pixels or colours. With
``--supervised-epochs N`` it also trains a ResNet-18 from scratch on the
labels (flips and shifts), to show that they are learnable from this data.

Example:
    python tools/analysis/demo_data_baseline.py --root data/demo
"""
import argparse
import logging
import os.path as osp
import time

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dspnet_mm.datasets.demo_data import DEMO_CLASSES, generate_demo_data
from dspnet_mm.evaluation import knn_classify
from dspnet_mm.utils.quiet import filter_upstream_warnings

MEAN = np.array([123.675, 116.28, 103.53], np.float32)
STD = np.array([58.395, 57.12, 57.375], np.float32)


def load_split(cls_root, split):
    """Images (N, H, W, 3 RGB uint8) and labels of one meta file."""
    imgs, labels = [], []
    with open(osp.join(cls_root, 'meta', f'{split}.txt')) as f:
        for line in f:
            rel, label = line.split()
            img = cv2.imread(osp.join(cls_root, split, rel), cv2.IMREAD_COLOR)
            imgs.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            labels.append(int(label))
    return np.stack(imgs), torch.tensor(labels)


@torch.no_grad()
def resnet_features(imgs, seed, batch_size=64):
    """Global-pooled layer4 features of a random-init ResNet-18."""
    from mmpretrain.models import ResNet
    torch.manual_seed(seed)
    model = ResNet(depth=18)
    model.init_weights()
    model.eval()
    x = _to_tensor(imgs)
    feats = [
        model(x[i:i + batch_size])[-1].mean((2, 3))
        for i in range(0, len(x), batch_size)
    ]
    return torch.cat(feats)


def pixel_features(imgs, size=16):
    small = [
        cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA)
        for im in imgs
    ]
    return torch.from_numpy(np.stack(small).reshape(len(imgs), -1)).float()


def colour_features(imgs, bins=8):
    hist = [
        np.concatenate(
            [np.histogram(im[..., c], bins, (0, 256))[0] for c in range(3)])
        for im in imgs
    ]
    return torch.from_numpy(np.stack(hist)).float()


def knn_top1(train_x, train_y, val_x, val_y, k=20):
    """Top-1 (a fraction) of the package's weighted cosine kNN
    (:func:`dspnet_mm.evaluation.knn_classify`, T = 0.07)."""
    return knn_classify(train_x, train_y, val_x, val_y, k=k)['top1'] / 100


def _fit_logreg(x, y, num_classes, weight_decay, steps=200):
    linear = torch.nn.Linear(x.shape[1], num_classes)
    opt = torch.optim.LBFGS(
        linear.parameters(),
        lr=1,
        max_iter=steps,
        history_size=20,
        line_search_fn='strong_wolfe')

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(linear(x), y)
        loss = loss + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return linear


def linear_top1(train_x, train_y, val_x, val_y, seed=0):
    """Logistic regression on standardised features.

    The L2 strength is picked on a 20 % hold-out of train, then the probe is
    refit on all of train; val is only scored once.
    """
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    train_x, val_x = (train_x - mean) / std, (val_x - mean) / std
    num_classes = int(train_y.max()) + 1
    perm = torch.randperm(
        len(train_x), generator=torch.Generator().manual_seed(seed))
    cut = len(perm) // 5
    hold, fit = perm[:cut], perm[cut:]
    best = None
    for wd in (1e-4, 1e-3, 1e-2, 1e-1):
        probe = _fit_logreg(train_x[fit], train_y[fit], num_classes, wd)
        with torch.no_grad():
            acc = (probe(train_x[hold]).argmax(1) == train_y[hold]).float()
        if best is None or acc.mean() > best[0]:
            best = (acc.mean(), wd)
    probe = _fit_logreg(train_x, train_y, num_classes, best[1])
    with torch.no_grad():
        return (probe(val_x).argmax(1) == val_y).float().mean().item()


def supervised_top1(train, val, epochs, seed=0):
    """Val top-1 of a ResNet-18 trained from scratch (SGD, one-cycle).

    ``train`` and ``val`` are ``(images, labels)`` pairs.
    """
    (train_imgs, train_y), (val_imgs, val_y) = train, val
    from mmpretrain.models import ResNet
    torch.manual_seed(seed)
    backbone = ResNet(depth=18)
    backbone.init_weights()
    model = torch.nn.Sequential(backbone, _LastPooled(),
                                torch.nn.Linear(512, len(DEMO_CLASSES)))
    x_train, x_val = _to_tensor(train_imgs), _to_tensor(val_imgs)
    batch = 64
    steps = epochs * (len(x_train) // batch)
    opt = torch.optim.SGD(
        model.parameters(),
        lr=0.1,
        momentum=0.9,
        weight_decay=5e-4,
        nesterov=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=steps)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(x_train))
        for i in range(0, len(x_train) - batch + 1, batch):
            idx = perm[i:i + batch]
            x = x_train[idx]
            flip = torch.rand(len(x)) < 0.5
            x[flip] = x[flip].flip(3)
            dx, dy = torch.randint(0, 13, (2, )).tolist()
            x = F.pad(x, (6, 6, 6, 6), mode='reflect')
            x = x[:, :, dy:dy + x_train.shape[2], dx:dx + x_train.shape[3]]
            loss = F.cross_entropy(model(x), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.no_grad():
        pred = torch.cat([
            model(x_val[i:i + batch]).argmax(1)
            for i in range(0, len(x_val), batch)
        ])
    return (pred == val_y).float().mean().item()


class _LastPooled(torch.nn.Module):

    def forward(self, outs):
        return outs[-1].mean((2, 3))


def _to_tensor(imgs):
    x = torch.from_numpy((imgs.astype(np.float32) - MEAN) / STD)
    return x.permute(0, 3, 1, 2).contiguous()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', default='data/demo')
    parser.add_argument('--seed', type=int, default=0, help='data seed')
    parser.add_argument(
        '--init-seeds',
        type=int,
        nargs='+',
        default=[0, 1, 2],
        help='seeds of the random-init ResNet-18')
    parser.add_argument(
        '--supervised-epochs',
        type=int,
        default=0,
        help='also train a ResNet-18 from scratch this long (0: skip)')
    return parser.parse_args(argv)


def main(argv=None):
    filter_upstream_warnings()
    args = parse_args(argv)
    torch.set_num_threads(1)
    # mmengine logs every parameter's init at INFO level.
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    t0 = time.time()
    manifest = generate_demo_data(args.root, seed=args.seed)
    print(f'data: {args.root} ({manifest["counts"]["cls"]}), '
          f'ready in {time.time() - t0:.1f}s')
    cls_root = osp.join(args.root, 'cls')
    train_imgs, train_y = load_split(cls_root, 'train')
    val_imgs, val_y = load_split(cls_root, 'val')
    print(f'chance: {1 / len(DEMO_CLASSES):.3f}')

    rows = []
    knn, lin = [], []
    for seed in args.init_seeds:
        t0 = time.time()
        tr = resnet_features(train_imgs, seed)
        va = resnet_features(val_imgs, seed)
        knn.append(knn_top1(tr, train_y, va, val_y))
        lin.append(linear_top1(tr, train_y, va, val_y))
        print(f'  init seed {seed}: knn {knn[-1]:.3f} linear {lin[-1]:.3f} '
              f'({time.time() - t0:.0f}s)')
    rows.append(('random-init ResNet-18', np.mean(knn), np.mean(lin)))
    for name, fn in (('raw pixels 16x16', pixel_features),
                     ('colour histograms', colour_features)):
        tr, va = fn(train_imgs), fn(val_imgs)
        rows.append(
            (name, knn_top1(tr, train_y, va,
                            val_y), linear_top1(tr, train_y, va, val_y)))
    print(f'{"features":<24}{"kNN@20":>8}{"linear":>8}')
    for name, k, lin_acc in rows:
        print(f'{name:<24}{k:>8.3f}{lin_acc:>8.3f}')
    if args.supervised_epochs:
        t0 = time.time()
        acc = supervised_top1((train_imgs, train_y), (val_imgs, val_y),
                              args.supervised_epochs)
        print(f'supervised ResNet-18 from scratch, {args.supervised_epochs} '
              f'epochs: val top-1 {acc:.3f} ({time.time() - t0:.0f}s)')


if __name__ == '__main__':
    main()
