"""Universal mode's shared BN under SyncBN: two gloo processes normalise every
width with the statistics of the global batch, exactly as one process does with
the whole batch (forward, gradients, running stats)."""
import os.path as osp

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from dspnet_mm import set_width
from dspnet_mm.models.layers import SlimmableBatchNorm
from tests.tools.test_train_tools import free_port

WORLD = 2
WIDTHS = (0.5, 1.0, 0.25)  # a sub-width, the full width, another


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 16, 3, 3, generator=g) * 2 + 0.5
    coef = torch.randn(8, 16, 3, 3, generator=g)
    return x, coef


def _bn(norm_type):
    torch.manual_seed(0)
    bn = SlimmableBatchNorm(16, norm_cfg=dict(type=norm_type))
    with torch.no_grad():
        bn.bn.weight.uniform_(0.5, 1.5)
        bn.bn.bias.uniform_(-0.5, 0.5)
    return bn.train()


def _run(bn, x, coef):
    """Per width: output, input gradient, weight and bias gradients."""
    out = {}
    for w in WIDTHS:
        set_width(bn, w)
        c = int(16 * w)
        xw = x[:, :c].clone().requires_grad_()
        bn.zero_grad()
        y = bn(xw)
        (y * coef[:, :c]).sum().backward()
        out[w] = dict(
            y=y.detach(),
            dx=xw.grad,
            dw=bn.bn.weight.grad.clone(),
            db=bn.bn.bias.grad.clone())
    out['running_mean'] = bn.bn.running_mean.clone()
    out['running_var'] = bn.bn.running_var.clone()
    return out


def _worker(rank, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=WORLD)
    try:
        x, coef = _data()
        part = slice(4 * rank, 4 * rank + 4)
        out = _run(_bn('SyncBN'), x[part], coef[part])
        for w in WIDTHS:  # the summed loss's parameter gradients
            for key in ('dw', 'db'):
                dist.all_reduce(out[w][key])
        torch.save(out, osp.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_process_on_the_global_batch(tmp_path):
    mp.spawn(
        _worker, args=(free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    x, coef = _data()
    ref = _run(_bn('BN'), x, coef)
    # float32 sums in another order: 1e-5 is ~100 ulps at these magnitudes
    tol = dict(rtol=1e-5, atol=1e-5)
    for rank in range(WORLD):
        got = torch.load(osp.join(tmp_path, f'rank{rank}.pth'))
        part = slice(4 * rank, 4 * rank + 4)
        for w in WIDTHS:
            torch.testing.assert_close(got[w]['y'], ref[w]['y'][part], **tol)
            torch.testing.assert_close(got[w]['dx'], ref[w]['dx'][part], **tol)
            torch.testing.assert_close(got[w]['dw'], ref[w]['dw'], **tol)
            torch.testing.assert_close(got[w]['db'], ref[w]['db'], **tol)
        # shared statistics, updated per width on the global batch
        torch.testing.assert_close(got['running_mean'], ref['running_mean'],
                                   **tol)
        torch.testing.assert_close(got['running_var'], ref['running_var'],
                                   **tol)
