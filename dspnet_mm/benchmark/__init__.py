"""Every protocol for every width of one DSPNet checkpoint, in one call.

:func:`benchmark_widths` exports the widths, writes one concrete config per
(protocol, width) with :func:`dspnet_mm.slim.apply_width`, trains each with
``tools/train.py`` in a subprocess (the run a user would send to a cluster)
and collects the metrics; :mod:`.report` turns them into ``results.json``,
``results.md`` and ``results.png``. CLI: ``tools/benchmark_widths.py``.
"""
from .report import (COLUMNS, RESULT_KEYS, format_table, plot_results,
                     write_report)
from .runner import (PROTOCOLS, RUNS, BenchmarkError, benchmark_widths,
                     benchmark_configs, export_plain_resnet, shrink_schedule)

__all__ = [
    'BenchmarkError', 'COLUMNS', 'PROTOCOLS', 'RESULT_KEYS', 'RUNS',
    'benchmark_configs', 'benchmark_widths', 'export_plain_resnet',
    'format_table', 'plot_results', 'shrink_schedule', 'write_report'
]
