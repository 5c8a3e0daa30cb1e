from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmpretrain.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """Mixed precision on CPU: bfloat16 autocast, no loss scaling.

    mmengine's ``AmpOptimWrapper`` asserts a GPU (it needs CUDA's float16
    ``GradScaler``). On CPU, autocast runs in bfloat16, whose exponent range
    is float32's, so gradients need no scaling. ``tools/train.py --amp``
    selects this wrapper when no GPU is visible.

    Args:
        dtype (str): autocast dtype; only ``'bfloat16'`` is supported on CPU.
        **kwargs: see :class:`mmengine.optim.OptimWrapper`.
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(
                f'CPU autocast supports bfloat16 only, got dtype={dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = torch.bfloat16

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast(
                device_type='cpu', dtype=self.cast_dtype):
            yield
