"""CPUAmpOptimWrapper: bfloat16 autocast inside its context, none out."""
import pytest
import torch
import torch.nn as nn

from dspnet_mm.engine import CPUAmpOptimWrapper


def test_context_runs_bfloat16_and_steps_in_float32():
    conv = nn.Conv2d(3, 4, 3)
    wrapper = CPUAmpOptimWrapper(
        optimizer=torch.optim.SGD(conv.parameters(), lr=0.1))
    x = torch.randn(2, 3, 8, 8)
    with wrapper.optim_context(conv):
        y = conv(x)
    assert y.dtype == torch.bfloat16
    assert conv(x).dtype == torch.float32  # only inside the context
    before = conv.weight.detach().clone()
    wrapper.update_params(y.float().sum())
    assert conv.weight.dtype == torch.float32
    assert not torch.equal(before, conv.weight)
    with pytest.raises(ValueError, match='bfloat16 only'):
        CPUAmpOptimWrapper(
            dtype='float16',
            optimizer=torch.optim.SGD(conv.parameters(), lr=0.1))
