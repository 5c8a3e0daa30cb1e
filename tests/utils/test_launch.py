import os

import pytest
import torch.distributed as dist

from dspnet_mm.utils.launch import finish_distributed


def test_finish_distributed_closes_the_process_group(tmp_path):
    """The tools close their gloo group themselves (an open one at exit let
    rank 0 abort in teardown) and do nothing without one."""
    finish_distributed()  # no group: a no-op
    assert not dist.is_initialized()
    store = dist.FileStore(os.fspath(tmp_path / 'store'), 1)
    dist.init_process_group('gloo', store=store, rank=0, world_size=1)
    assert dist.is_initialized()
    finish_distributed()
    assert not dist.is_initialized()
    with pytest.raises((RuntimeError, ValueError)):
        dist.barrier()
