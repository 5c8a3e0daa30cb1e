"""Run every evaluation protocol on every width of one DSPNet checkpoint.

One call of :func:`benchmark_widths`:

1. exports the networks to evaluate (:mod:`.sources`): the chosen widths
   into ``<work_dir>/slim``, one-by-one baselines into
   ``<work_dir>/baselines``;
2. runs each planned job (:mod:`.plan`) with :mod:`.protocols`: a
   training run per (protocol, width) with its concrete config in
   ``<work_dir>/<run>/w<W>/config.py`` (the command, and its cluster form,
   are printed), kNN in process;
3. writes ``results.json``, ``results.md`` and ``results.png``
   (:mod:`.report`) after every run.

A failing run is reported with its log and recorded as ``None`` plus an
entry in ``results['errors']``; the other runs go on. A run whose stored
result (:mod:`.store`) matches its config, source checkpoint and data is
not repeated.
"""
import os
import os.path as osp
import time
from typing import Callable, Optional

from .configs import benchmark_configs
from .plan import (RUNS, BenchmarkError, BenchmarkSpec, Job, plan_jobs,
                   resolve_data)
from .process import fmt_time, line_echo, rel, tail
from .protocols import RunContext, execute
from .report import RESULT_KEYS, write_report
from .sources import SOURCES, prepare_subjects

__all__ = ['benchmark_widths']


def _row(meta: dict) -> dict:
    row = dict.fromkeys(RESULT_KEYS)
    row.update(
        width=float(meta['width']),
        depth=meta['depth'],
        params=meta.get('params'),
        flops=meta.get('flops'))
    return row


def _stock_configs(spec: BenchmarkSpec, runs) -> dict:
    configs = benchmark_configs(spec.scale)
    for name, path in spec.runs.configs.items():
        if name not in RUNS or RUNS[name].in_process:
            raise BenchmarkError(f'no config to replace for run {name!r}')
        configs[name] = osp.abspath(path)
    for name in runs:
        if name in configs and not osp.isfile(configs[name]):
            raise BenchmarkError(f'config of {name} not found: '
                                 f'{configs[name]}')
    return configs


class _Progress:
    """Numbered progress lines with elapsed time."""

    def __init__(self, log: Callable[[str], None], total: int):
        self.log, self.total, self.start = log, total, time.perf_counter()

    def elapsed(self) -> str:
        return fmt_time(time.perf_counter() - self.start)

    def __call__(self, i: int, msg: str) -> None:
        self.log(f'[{i}/{self.total}] {msg}')


def _what(job: Job) -> str:
    label = SOURCES[job.subject.source].label
    return f'{label}{job.spec.label} {job.subject.tag}'


def _failed(job: Job, record: dict, error: Exception) -> dict:
    err = f'{type(error).__name__}: {error}'
    return dict(
        protocol=job.run,
        width=job.subject.width,
        baseline=job.subject.source == 'baseline',
        source=job.subject.source,
        error=err,
        log=record.get('log'))


def _run_job(i: int, job: Job, ctx: RunContext, progress: _Progress,
             results: dict) -> None:
    """One job: run it, log the outcome, record it in ``results``."""
    what = _what(job)
    os.makedirs(job.run_dir, exist_ok=True)
    progress(i, f'{what} ...  (elapsed {progress.elapsed()})')
    t0 = time.perf_counter()
    record = dict(
        protocol=job.run,
        width=job.subject.width,
        baseline=job.subject.source == 'baseline',
        source=job.subject.source,
        work_dir=job.run_dir)
    try:
        metrics, cached = execute(job, ctx, record)
    except Exception as e:  # one failing run must not stop the others
        seconds = time.perf_counter() - t0
        results['errors'].append(_failed(job, record, e))
        last = results['errors'][-1]['error'].strip().splitlines()
        progress(
            i, f'{what} FAILED after {fmt_time(seconds)}: '
            f'{last[-1] if last else type(e).__name__}')
        if record.get('log'):
            for line in tail(record['log']):
                ctx.log(f'      | {line[:200]}')
            ctx.log(f'      log: {rel(record["log"])}')
        record.update(status='failed', seconds=round(seconds, 1))
        results['runs'].append(record)
        return
    job.row.update({k: v for k, v in metrics.items() if k in job.row})
    seconds = time.perf_counter() - t0
    shown = ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()
                      if v is not None)
    progress(
        i, f'{what}: {shown} ({"cached result, " if cached else ""}'
        f'{fmt_time(seconds)}; elapsed {progress.elapsed()})')
    record.update(
        status='cached' if cached else 'ok',
        seconds=round(seconds, 1),
        metrics=metrics)
    results['runs'].append(record)


def benchmark_widths(spec: BenchmarkSpec,
                     log: Optional[Callable[[str], None]] = None) -> dict:
    """Export the networks of ``spec`` and run every protocol on each.

    Args:
        spec (BenchmarkSpec): what to run (checkpoint, protocols, widths,
            data, baselines, run options, launcher).
        log (callable, optional): prints progress (default ``print``).

    Returns:
        dict: the results written to ``results.json``: ``widths`` and
        ``baselines`` (rows of :data:`.report.RESULT_KEYS`), ``errors``,
        ``runs``, ``seconds`` and the paths of the report files.
    """
    if log is None:

        def log(msg):
            print(msg, flush=True)

    start = time.perf_counter()
    runs = spec.check()
    configs = _stock_configs(spec, runs)
    data = resolve_data(spec, runs)
    work_dir = osp.abspath(spec.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    subjects = prepare_subjects(spec, work_dir, log)

    results = dict(
        checkpoint=osp.abspath(spec.checkpoint),
        scale=spec.scale,
        data_root=data.root,
        protocols=list(spec.protocols))
    for kind in SOURCES.values():
        results[kind.results_key] = []
    results.update(errors=[], runs=[])
    planned = []
    for subject in subjects:
        kind = SOURCES[subject.source]
        row = _row(subject.meta)
        results[kind.results_key].append(row)
        planned.append((subject, row, osp.join(work_dir, kind.folder)))
    jobs = plan_jobs(planned, runs, spec.transfer_widths)
    ctx = RunContext(spec, data, configs, log, line_echo(log, spec.stream))
    progress = _Progress(log, len(jobs))
    for i, job in enumerate(jobs, 1):
        _run_job(i, job, ctx, progress, results)
        write_report(results, work_dir, plot=False)

    results['seconds'] = round(time.perf_counter() - start, 1)
    paths = write_report(results, work_dir)
    results['report'] = dict(json=paths[0], markdown=paths[1], plot=paths[2])
    write_report(results, work_dir, plot=False)
    return results
