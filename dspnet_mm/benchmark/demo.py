"""The README's main demo job: data -> DSPNet pretraining -> every width.

Four stages under one work dir, each skipped when its output is there:

1. the embedded demo data (:func:`dspnet_mm.datasets.generate_demo_data`);
2. DSPNet pretraining of a slimmable ResNet-18 with the demo's seed
   (:mod:`.pretrain`: a ``tools/train.py`` subprocess whose progress lines
   are echoed; a stopped run resumes, a finished one of the same config,
   seed and data is reused);
3. the evidence table of every width (:mod:`dspnet_mm.evaluation.evidence`):
   kNN (k = 20, 200) and the cached-feature linear probe of the exported
   width next to its random-init twin of the same seed;
4. :func:`benchmark_widths` on the final checkpoint: detection and
   segmentation for the transfer widths (and any mmpretrain protocols
   asked for).

CLI: ``tools/demo.py`` (``scripts/run_demo.sh``).
"""
import json
import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from .plan import BenchmarkSpec, RunOptions, width_list
from .pretrain import PRETRAIN_CONFIG, Pretraining, pretrain
from .process import fmt_time, line_echo, quote, rel
from .report import RESULT_KEYS, format_table

#: The result keys that a benchmark run fills (not params / FLOPs).
RUN_KEYS = tuple(
    k for k in RESULT_KEYS if k not in ('width', 'depth', 'params', 'flops'))

__all__ = ['DemoSpec', 'QUICK', 'default_work_dir', 'run_demo']

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
        work_dir (str, optional): everything goes here (``pretrain/``,
            ``evidence/``, ``benchmark/``; with ``quick`` also ``data/``);
            default ``work_dirs/demo/seed<seed>`` (``quick``:
            ``work_dirs/demo_quick/seed<seed>``).
        seed (int): seed of the pretraining (``randomness.seed``) and of
            the random-init twins.
        data_root (str, optional): the demo data; ``data/demo`` (``quick``:
            ``<work_dir>/data``).
        quick (bool): :data:`dspnet_mm.datasets.SMALL_DEMO` data and a few
            iterations in every run (:data:`QUICK`).
        checkpoint (str, optional): a DSPNet checkpoint: skip pretraining.
        widths: widths to benchmark (``'all'`` or a list).
        protocols (Sequence[str]): mmpretrain runs for every width
            (``linear``, ``knn``, ``semi``...; none by default: stage 3
            already gives kNN and a converged linear probe).
        transfer_protocols (Sequence[str]): run for ``transfer_widths`` only.
        transfer_widths (Sequence[float]): see above.
        runs (RunOptions): benchmark run options; ``quick`` sets
            ``max_iters=2`` when unset.
        stream (str): ``progress``, ``all`` or ``none``.
    """
    work_dir: Optional[str] = None
    seed: int = 0
    data_root: Optional[str] = None
    quick: bool = False
    checkpoint: Optional[str] = None
    widths: object = 'all'
    protocols: Sequence[str] = ()
    transfer_protocols: Sequence[str] = ('det', 'seg')
    transfer_widths: Sequence[float] = (0.5, )
    runs: RunOptions = field(default_factory=RunOptions)
    stream: str = 'progress'


def _data(spec: DemoSpec, data_root: str, log) -> None:
    from ..datasets import SMALL_DEMO, generate_demo_data
    log(f'[demo 1/4] demo data -> {rel(data_root)}')
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
        log(f'[demo 2/4] pretraining skipped: --skip-pretrain '
            f'{spec.checkpoint}')
        if not osp.isfile(spec.checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {spec.checkpoint}')
        return spec.checkpoint
    t0 = time.perf_counter()
    options = dict(QUICK['pretrain_options']) if spec.quick else {}
    options['randomness.seed'] = spec.seed
    run = Pretraining(osp.join(work_dir, 'pretrain'), data_root, options)
    log(f'[demo 2/4] DSPNet pretraining (configs/{PRETRAIN_CONFIG}) -> '
        f'{rel(run.work_dir)}')
    checkpoint = pretrain(run, log, line_echo(log, spec.stream))
    log(f'  checkpoint: {rel(checkpoint)} '
        f'({fmt_time(time.perf_counter() - t0)})')
    return checkpoint


def _evidence(spec: DemoSpec, checkpoint: str, data_root: str, log) -> dict:
    from ..evaluation.evidence import build_evidence, write_evidence
    cls_root = osp.join(data_root, 'cls')
    out_dir = osp.join(spec.work_dir, 'evidence')
    widths = width_list(spec.widths)
    widths = None if widths == 'all' else widths
    command = [
        'python', 'tools/analysis/evidence_table.py', '--data-root',
        rel(cls_root), '--dspnet',
        rel(checkpoint), '--random-seeds',
        str(spec.seed), '--out-dir',
        rel(out_dir)
    ]
    if widths:
        command += ['--widths'] + [str(w) for w in widths]
    log(f'[demo 3/4] kNN and linear probe of every width next to its '
        f'random-init twin (seed {spec.seed}) -> {rel(out_dir)}')
    log(f'  $ {quote(command)}')
    records = build_evidence(
        cls_root,
        out_dir,
        dspnet=[checkpoint],
        random_seeds=[spec.seed],
        widths=widths,
        log=lambda msg: log('  ' + msg))
    summary, text = write_evidence(records, out_dir, quote(command))
    return dict(
        summary=summary,
        markdown=text,
        paths=[
            osp.join(out_dir, f'evidence.{ext}')
            for ext in ('md', 'json', 'png')
        ])


def _benchmark(spec: DemoSpec, checkpoint: str, data_root: str,
               log) -> Optional[dict]:
    from .runner import benchmark_widths
    bench_dir = osp.join(spec.work_dir, 'benchmark')
    plan = []
    if spec.protocols:
        plan.append(f'{" + ".join(spec.protocols)} for every width')
    if spec.transfer_protocols:
        plan.append(f'{" + ".join(spec.transfer_protocols)} for width(s) '
                    f'{", ".join(str(w) for w in spec.transfer_widths)}')
    if not plan:
        log('[demo 4/4] no mmpretrain / mmdet / mmseg runs asked for')
        return None
    log(f'[demo 4/4] {", ".join(plan)} -> {rel(bench_dir)}')
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
    log(f'DSPNet widths vs their random-init twins (seed '
        f'{results["seed"]}):')
    log('')
    log(results['evidence']['markdown'])
    bench = results['benchmark']
    if bench is not None:
        ran = [
            row for row in bench['widths']
            if any(row[k] is not None for k in RUN_KEYS)
        ]
        log(format_table(ran))
        log('')
    log(f'work dir:    {rel(results["work_dir"])}')
    log(f'checkpoint:  {rel(results["checkpoint"])}')
    log('evidence:    ' +
        ', '.join(rel(p) for p in results['evidence']['paths']))
    if bench is not None:
        report = bench['report']
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


def default_work_dir(seed: int = 0, quick: bool = False) -> str:
    """The demo's work dir: ``work_dirs/demo/seed<seed>``, or with ``quick``
    ``work_dirs/demo_quick/seed<seed>``."""
    return osp.join('work_dirs', 'demo_quick' if quick else 'demo',
                    f'seed{seed}')


def run_demo(spec: DemoSpec,
             log: Optional[Callable[[str], None]] = None) -> dict:
    """Data, pretraining, evidence and transfer runs; returns the results.

    Returns:
        dict: ``seed``, ``evidence`` (``summary``, ``markdown``, ``paths``),
        ``benchmark`` (:func:`benchmark_widths`'s results, or None when no
        run was asked for), ``errors`` (failed benchmark runs), ``stages``
        (seconds per stage), ``checkpoint`` and ``work_dir``; ``demo.json``
        in the work dir summarises them.
    """
    if log is None:

        def log(msg):
            print(msg, flush=True)

    start = time.perf_counter()
    stages = {}
    work_dir = osp.abspath(
        spec.work_dir or default_work_dir(spec.seed, spec.quick))
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
    evidence = _evidence(spec, checkpoint, data_root, log)
    stages['evidence'] = time.perf_counter() - t0
    t0 = time.perf_counter()
    bench = _benchmark(spec, checkpoint, data_root, log)
    stages['benchmark'] = time.perf_counter() - t0
    stages['total'] = time.perf_counter() - start
    results = dict(
        seed=spec.seed,
        evidence=evidence,
        benchmark=bench,
        errors=bench['errors'] if bench is not None else [],
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
                seed=spec.seed,
                stages=results['stages'],
                checkpoint=results['checkpoint'],
                data_root=data_root,
                evidence=evidence['paths'],
                report=bench['report'] if bench is not None else None,
                errors=results['errors']),
            f,
            indent=2)
    return results
