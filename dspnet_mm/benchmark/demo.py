"""The README's main demo job: data -> DSPNet pretraining -> every width.

Three stages under one work dir, each skipped when its output is there:

1. the embedded demo data (:func:`dspnet_mm.datasets.generate_demo_data`);
2. DSPNet pretraining of a slimmable ResNet-18 (:mod:`.pretrain`: a
   ``tools/train.py`` subprocess whose progress lines are echoed; a stopped
   run resumes, a finished one of the same config and data is reused);
3. :func:`benchmark_widths` on its final checkpoint: linear and kNN for
   every width, detection and segmentation for the transfer widths.

CLI: ``tools/demo.py`` (``scripts/run_demo.sh``).
"""
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .plan import BenchmarkSpec, RunOptions
from .pretrain import PRETRAIN_CONFIG, Pretraining, pretrain
from .process import fmt_time, line_echo, rel
from .report import format_table

__all__ = ['DemoSpec', 'QUICK', 'run_demo']

#: ``--quick``: tiny data and a few iterations everywhere (for tests).
QUICK = dict(
    pretrain_options={
        'train_cfg.max_iters': 4,
        'train_dataloader.batch_size': 8,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 4,
    },
    max_iters=2)


@dataclass
class DemoSpec:
    """What the demo runs.

    Args:
        work_dir (str): everything goes here (``pretrain/``,
            ``benchmark/``; with ``quick`` also ``data/``).
        data_root (str, optional): the demo data; ``data/demo`` (``quick``:
            ``<work_dir>/data``).
        quick (bool): :data:`dspnet_mm.datasets.SMALL_DEMO` data and a few
            iterations in every run (:data:`QUICK`).
        checkpoint (str, optional): a DSPNet checkpoint: skip pretraining.
        widths: widths to benchmark (``'all'`` or a list).
        protocols (Sequence[str]): run for every width.
        transfer_protocols (Sequence[str]): run for ``transfer_widths`` only.
        transfer_widths (Sequence[float]): see above.
        runs (RunOptions): benchmark run options; ``quick`` sets
            ``max_iters=2`` when unset.
        stream (str): ``progress``, ``all`` or ``none``.
    """
    work_dir: str = 'work_dirs/demo'
    data_root: Optional[str] = None
    quick: bool = False
    checkpoint: Optional[str] = None
    widths: object = 'all'
    protocols: Sequence[str] = ('linear', 'knn')
    transfer_protocols: Sequence[str] = ('det', 'seg')
    transfer_widths: Sequence[float] = (0.5, )
    runs: RunOptions = field(default_factory=RunOptions)
    stream: str = 'progress'


def _data(spec: DemoSpec, data_root: str, log) -> None:
    from ..datasets import SMALL_DEMO, generate_demo_data
    log(f'[demo 1/3] demo data -> {rel(data_root)}')
    manifest = osp.join(data_root, 'manifest.json')
    before = osp.getmtime(manifest) if osp.isfile(manifest) else None
    info = generate_demo_data(data_root, **(SMALL_DEMO if spec.quick else {}))
    after = osp.getmtime(manifest)
    counts = info['counts']
    log(f'  {"reused" if before == after else "generated"}: '
        f'cls {counts["cls"]["train"]} train / {counts["cls"]["val"]} val, '
        f'coco {counts["det"]["train_images"]} / '
        f'{counts["det"]["val_images"]}, seg {counts["seg"]["train"]} / '
        f'{counts["seg"]["val"]} images')


def _checkpoint(spec: DemoSpec, work_dir: str, data_root: str, log) -> str:
    if spec.checkpoint:
        log(f'[demo 2/3] pretraining skipped: --skip-pretrain '
            f'{spec.checkpoint}')
        if not osp.isfile(spec.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {spec.checkpoint}')
        return spec.checkpoint
    t0 = time.perf_counter()
    run = Pretraining(
        osp.join(work_dir, 'pretrain'), data_root,
        dict(QUICK['pretrain_options']) if spec.quick else {})
    log(f'[demo 2/3] DSPNet pretraining (configs/{PRETRAIN_CONFIG}) -> '
        f'{rel(run.work_dir)}')
    checkpoint = pretrain(run, log, line_echo(log, spec.stream))
    log(f'  checkpoint: {rel(checkpoint)} '
        f'({fmt_time(time.perf_counter() - t0)})')
    return checkpoint


def _benchmark(spec: DemoSpec, checkpoint: str, data_root: str, log) -> dict:
    from .runner import benchmark_widths
    bench_dir = osp.join(spec.work_dir, 'benchmark')
    plan = f'{" + ".join(spec.protocols)} for every width'
    if spec.transfer_protocols:
        plan += (f', {" + ".join(spec.transfer_protocols)} for width(s) '
                 f'{", ".join(str(w) for w in spec.transfer_widths)}')
    log(f'[demo 3/3] {plan} -> {rel(bench_dir)}')
    runs = spec.runs
    if spec.quick and runs.max_iters is None:
        runs = RunOptions(runs.configs, runs.cfg_options, QUICK['max_iters'],
                          runs.knn_k)
    return benchmark_widths(
        BenchmarkSpec(
            checkpoint,
            bench_dir,
            protocols=list(spec.protocols) + list(spec.transfer_protocols),
            widths=spec.widths,
            scale='demo',
            data_root=data_root,
            transfer_widths=spec.transfer_widths,
            runs=runs,
            stream=spec.stream), log)


def _summary(results: dict, log) -> None:
    log('')
    log(format_table(results['widths']))
    log('')
    report = results['report']
    log(f'work dir:    {rel(results["work_dir"])}')
    log(f'checkpoint:  {rel(results["checkpoint"])}')
    log(f'widths:      '
        f'{rel(osp.join(results["work_dir"], "benchmark", "slim"))}')
    log(f'results:     {rel(report["markdown"])}')
    log(f'             {rel(report["json"])}')
    log(f'             {rel(report["plot"])}')
    log('time:        ' + ', '.join(f'{k} {fmt_time(v)}'
                                    for k, v in results['stages'].items()))
    if results['errors']:
        log(f'{len(results["errors"])} run(s) failed:')
        for err in results['errors']:
            log(f'  {err["protocol"]} w{err["width"]}: {err["log"]}')


def run_demo(spec: DemoSpec,
             log: Optional[Callable[[str], None]] = None) -> dict:
    """Data, pretraining and the width benchmark; returns the results.

    Returns:
        dict: :func:`benchmark_widths`'s results plus ``stages`` (seconds
        per stage), ``checkpoint`` and ``work_dir``; ``demo.json`` in the
        work dir summarises them.
    """
    if log is None:

        def log(msg):
            print(msg, flush=True)

    start = time.perf_counter()
    stages = {}
    work_dir = osp.abspath(spec.work_dir)
    spec = DemoSpec(**{**spec.__dict__, 'work_dir': work_dir})
    data_root = spec.data_root or (osp.join(work_dir, 'data') if spec.quick
                                   else osp.join(os.getcwd(), 'data', 'demo'))
    data_root = osp.abspath(data_root)
    os.makedirs(work_dir, exist_ok=True)
    t0 = time.perf_counter()
    _data(spec, data_root, log)
    stages['data'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    checkpoint = _checkpoint(spec, work_dir, data_root, log)
    stages['pretrain'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = _benchmark(spec, checkpoint, data_root, log)
    stages['benchmark'] = time.perf_counter() - t0
    stages['total'] = time.perf_counter() - start
    results.update(
        stages={
            k: round(v, 1)
            for k, v in stages.items()
        },
        checkpoint=osp.abspath(checkpoint),
        work_dir=work_dir)
    _summary(results, log)
    with open(osp.join(work_dir, 'demo.json'), 'w') as f:
        json.dump(
            dict(
                stages=results['stages'],
                checkpoint=results['checkpoint'],
                data_root=data_root,
                report=results['report'],
                errors=results['errors']),
            f,
            indent=2)
    return results
