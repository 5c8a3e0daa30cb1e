"""Every protocol for every width of one DSPNet checkpoint, in one call.

:func:`benchmark_widths` (:mod:`.runner`) exports the networks to evaluate
(:mod:`.sources`), plans one job per (network, run) (:mod:`.plan`), runs
each (:mod:`.protocols`): a concrete config (:mod:`.configs`) trained with
``tools/train.py`` in a subprocess (:mod:`.process`), or kNN in process,
reuses finished results (:mod:`.store`), and writes ``results.json``,
``results.md`` and ``results.png`` (:mod:`.report`). CLI:
``tools/benchmark_widths.py``; the README's demo: :mod:`.demo`.
"""
from ..slim import export_plain_resnet
from .configs import benchmark_configs, shrink_schedule
from .plan import (PROTOCOLS, RUNS, BenchmarkError, BenchmarkSpec, RunOptions,
                   parse_max_iters, split_cfg_options)
from .process import Launch, progress_line
from .report import (COLUMNS, RESULT_KEYS, format_table, plot_results,
                     write_report)
from .runner import benchmark_widths

__all__ = [
    'BenchmarkError', 'BenchmarkSpec', 'COLUMNS', 'Launch', 'PROTOCOLS',
    'RESULT_KEYS', 'RUNS', 'RunOptions', 'benchmark_configs',
    'benchmark_widths', 'export_plain_resnet', 'format_table',
    'parse_max_iters', 'plot_results', 'progress_line', 'shrink_schedule',
    'split_cfg_options', 'write_report'
]
