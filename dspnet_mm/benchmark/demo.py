"""The README's main demo job: data -> DSPNet pretraining -> every width.

Three stages under one work dir, each skipped when its output is there:

1. the embedded demo data (:func:`dspnet_mm.datasets.generate_demo_data`);
2. DSPNet pretraining of a slimmable ResNet-18 with ``tools/train.py`` (a
   subprocess whose progress lines are echoed; an interrupted run resumes);
3. :func:`benchmark_widths` on its final checkpoint: linear and kNN for
   every width, detection and segmentation for the transfer widths.

CLI: ``tools/demo.py`` (``scripts/run_demo.sh``).
"""
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, Optional, Sequence

from .report import format_table
from .runner import REPO_ROOT, _fmt_time, _quote, _rel, run_logged

__all__ = ['PRETRAIN_CONFIG', 'QUICK', 'run_demo']

#: The DSPNet demo pretraining config.
PRETRAIN_CONFIG = osp.join(
    REPO_ROOT, 'configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-'
    '600it_demo-cls.py')

#: ``--quick``: tiny data and a few iterations everywhere (for tests).
QUICK = dict(
    pretrain_options={
        'train_cfg.max_iters': 4,
        'train_dataloader.batch_size': 8,
        'default_hooks.logger.interval': 1,
        'default_hooks.checkpoint.interval': 4,
    },
    max_iters=2)


def _final_checkpoint(config: str, options: dict) -> str:
    """File name of the last checkpoint the pretraining run writes."""
    from mmengine.config import Config
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(options)
    return f'iter_{cfg.train_cfg.max_iters}.pth'


def _option_args(options: dict):
    return [f'{k}={v}' for k, v in options.items()]


def pretrain(work_dir: str,
             data_root: str,
             options: Optional[dict] = None,
             config: str = PRETRAIN_CONFIG,
             python: Optional[str] = None,
             log: Callable[[str], None] = print,
             echo: bool = True) -> str:
    """Run (or resume, or skip) the DSPNet demo pretraining.

    Returns:
        str: the final checkpoint.
    """
    options = dict(options or {})
    cls_root = osp.join(data_root, 'cls')
    # the config reads data/demo/cls (relative to the working directory)
    if osp.abspath(cls_root) != osp.abspath(osp.join('data', 'demo', 'cls')):
        options['train_dataloader.dataset.data_root'] = osp.abspath(cls_root)
    # NOTE: the config trains by iteration but logs "Epoch(train) [1][k/n]"
    # with k beyond n; iteration lines read better
    options.setdefault('log_processor.by_epoch', False)
    final = osp.join(work_dir, _final_checkpoint(config, options))
    if osp.isfile(final):
        log(f'  found {_rel(final)}: pretraining finished before, skipped '
            '(delete it to pretrain again)')
        return final
    cmd = [
        python or sys.executable,
        osp.join(REPO_ROOT, 'tools', 'train.py'), config, '--work-dir',
        work_dir
    ]
    if osp.isfile(osp.join(work_dir, 'last_checkpoint')):
        cmd.append('--resume')
        log('  an interrupted run is in the work dir: resuming it')
    cmd += ['--cfg-options'] + _option_args(options)
    shown = [
        'python', 'tools/train.py',
        _rel(config), '--work-dir',
        _rel(work_dir)
    ] + cmd[cmd.index(work_dir) + 1:]
    log(f'  $ {_quote(shown)}')
    os.makedirs(work_dir, exist_ok=True)
    log_path = osp.join(work_dir, 'train.log')
    # appended: a resumed run keeps the log of the interrupted one
    code = run_logged(
        cmd, log_path, dict(os.environ), log if echo else None, append=True)
    if code != 0 or not osp.isfile(final):
        raise RuntimeError(f'pretraining failed (exit code {code}); log: '
                           f'{_rel(log_path)}')
    return final


def run_demo(work_dir: str = 'work_dirs/demo',
             data_root: Optional[str] = None,
             quick: bool = False,
             checkpoint: Optional[str] = None,
             widths='all',
             protocols: Sequence[str] = ('linear', 'knn'),
             transfer_protocols: Sequence[str] = ('det', 'seg'),
             transfer_widths: Sequence[float] = (0.5, ),
             max_iters=None,
             cfg_options: Optional[Dict[str, dict]] = None,
             log: Optional[Callable[[str], None]] = None,
             stream: str = 'progress') -> dict:
    """Data, pretraining and the width benchmark; returns the results.

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
        max_iters (int | dict, optional): shrink the benchmark runs (see
            :func:`benchmark_widths`); ``quick`` sets 2.
        cfg_options (dict, optional): per-run config overrides (see
            :func:`benchmark_widths`).
        log (callable, optional): prints progress (default ``print``).
        stream (str): ``progress``, ``all`` or ``none`` (see
            :func:`benchmark_widths`).

    Returns:
        dict: :func:`benchmark_widths`'s results plus ``stages`` (seconds
        per stage), ``checkpoint`` and ``work_dir``.
    """
    from ..datasets import SMALL_DEMO, generate_demo_data
    from .runner import benchmark_widths
    if log is None:

        def log(msg):
            print(msg, flush=True)

    start = time.perf_counter()
    stages = {}
    work_dir = osp.abspath(work_dir)
    if data_root is None:
        data_root = (
            osp.join(work_dir, 'data') if quick else osp.join(
                os.getcwd(), 'data', 'demo'))
    data_root = osp.abspath(data_root)
    os.makedirs(work_dir, exist_ok=True)

    log(f'[demo 1/3] demo data -> {_rel(data_root)}')
    t0 = time.perf_counter()
    manifest = osp.join(data_root, 'manifest.json')
    before = osp.getmtime(manifest) if osp.isfile(manifest) else None
    info = generate_demo_data(data_root, **(SMALL_DEMO if quick else {}))
    after = osp.getmtime(manifest)
    counts = info['counts']
    log(f'  {"reused" if before == after else "generated"}: '
        f'cls {counts["cls"]["train"]} train / {counts["cls"]["val"]} val, '
        f'coco {counts["det"]["train_images"]} / '
        f'{counts["det"]["val_images"]}, seg {counts["seg"]["train"]} / '
        f'{counts["seg"]["val"]} images')
    stages['data'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if checkpoint:
        log(f'[demo 2/3] pretraining skipped: --skip-pretrain {checkpoint}')
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    else:
        log(f'[demo 2/3] DSPNet pretraining ({_rel(PRETRAIN_CONFIG)}) -> '
            f'{_rel(osp.join(work_dir, "pretrain"))}')
        checkpoint = pretrain(
            osp.join(work_dir, 'pretrain'),
            data_root,
            QUICK['pretrain_options'] if quick else None,
            log=log,
            echo=stream != 'none')
        log(f'  checkpoint: {_rel(checkpoint)} '
            f'({_fmt_time(time.perf_counter() - t0)})')
    stages['pretrain'] = time.perf_counter() - t0

    t0 = time.perf_counter()
    bench_dir = osp.join(work_dir, 'benchmark')
    plan = f'{" + ".join(protocols)} for every width'
    if transfer_protocols:
        plan += (f', {" + ".join(transfer_protocols)} for width(s) '
                 f'{", ".join(str(w) for w in transfer_widths)}')
    log(f'[demo 3/3] {plan} -> {_rel(bench_dir)}')
    if quick and max_iters is None:
        max_iters = QUICK['max_iters']
    results = benchmark_widths(
        checkpoint,
        bench_dir,
        protocols=list(protocols) + list(transfer_protocols),
        widths=widths,
        scale='demo',
        data_root=data_root,
        transfer_widths=transfer_widths,
        cfg_options=cfg_options,
        max_iters=max_iters,
        log=log,
        stream=stream)
    stages['benchmark'] = time.perf_counter() - t0
    stages['total'] = time.perf_counter() - start

    log('')
    log(format_table(results['widths']))
    log('')
    report = results['report']
    log(f'work dir:    {_rel(work_dir)}')
    log(f'checkpoint:  {_rel(checkpoint)}')
    log(f'widths:      {_rel(osp.join(bench_dir, "slim"))}')
    log(f'results:     {_rel(report["markdown"])}')
    log(f'             {_rel(report["json"])}')
    log(f'             {_rel(report["plot"])}')
    log('time:        ' + ', '.join(f'{k} {_fmt_time(v)}'
                                    for k, v in stages.items()))
    if results['errors']:
        log(f'{len(results["errors"])} run(s) failed:')
        for err in results['errors']:
            log(f'  {err["protocol"]} w{err["width"]}: {err["log"]}')
    results.update(
        stages={
            k: round(v, 1)
            for k, v in stages.items()
        },
        checkpoint=osp.abspath(checkpoint),
        work_dir=work_dir)
    with open(osp.join(work_dir, 'demo.json'), 'w') as f:
        json.dump(
            dict(
                stages=results['stages'],
                checkpoint=results['checkpoint'],
                data_root=data_root,
                report=report,
                errors=results['errors']),
            f,
            indent=2)
    return results
