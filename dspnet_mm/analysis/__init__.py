"""Speed, FLOPs and memory of slimmable training against the static networks it
replaces (``tools/analysis/benchmark_speed.py``).

:mod:`.timing` (the interleaved CPU-time harness), :mod:`.counting`
(params and FLOPs a width uses), and the parts: :mod:`.p1` (slimmable vs
static per width, and ``cx``), :mod:`.memory`, :mod:`.p2` (DSPNet vs
one-by-one BYOL), :mod:`.p3` (GPU), :mod:`.p4` (export);
:func:`run_speed_benchmark` (:mod:`.speed`) runs them.
"""
from .counting import active_param_count, flop_count, static_resnet
from .options import SpeedOptions
from .speed import run_speed_benchmark
from .timing import interleaved

__all__ = [
    'SpeedOptions', 'active_param_count', 'flop_count', 'interleaved',
    'run_speed_benchmark', 'static_resnet'
]
