"""How each run of a job is done: a training subprocess or in process.

:func:`execute` runs one :class:`~.plan.Job` and returns its metrics and
whether they came from the result store. Training runs (``linear``,
``semi*``, ``det``, ``seg``) write their concrete config (:mod:`.configs`)
and train it with ``tools/train.py`` (:mod:`.process`). In-process
protocols are functions in :data:`IN_PROCESS` (``knn`` here); a new one
(e.g. a linear probe on cached features) is a function
``(job, ctx, record) -> (metrics, cached)``, an entry there and a
:class:`~.plan.RunSpec` with ``in_process=True``.
"""
import json
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Dict, Optional

from .configs import RunConfig, write_run_config
from .plan import BenchmarkSpec, DataRoots, Job, per_run
from .process import quote, rel, run_logged, tail, train_command
from .store import (load_result, metrics_from_scalars, read_scalars, run_key,
                    save_result)

__all__ = ['IN_PROCESS', 'KNN_VIEWS', 'RunContext', 'execute']

#: kNN image views per scale (short-edge resize, centre crop; 0: as
#: stored) and loader workers.
KNN_VIEWS = dict(
    demo=dict(resize=0, crop=0, workers=0),
    imagenet=dict(resize=256, crop=224, workers=4))


@dataclass
class RunContext:
    """What every job of one benchmark shares.

    Args:
        spec (BenchmarkSpec): the benchmark.
        data (DataRoots): its data.
        configs (dict): run name -> stock config.
        log (callable): progress messages.
        echo (callable, optional): receives each line of a training
            subprocess (:func:`.process.line_echo`).
    """
    spec: BenchmarkSpec
    data: DataRoots
    configs: Dict[str, str]
    log: Callable[[str], None]
    echo: Optional[Callable[[str], None]] = None


def _reuse(ctx: RunContext, job: Job, key: str) -> Optional[dict]:
    found = load_result(job.run_dir, key)
    if found is not None:
        ctx.log('      finished before with this config, checkpoint and '
                f'data: {rel(osp.join(job.run_dir, "result.json"))}')
    return found


def train_run(job: Job, ctx: RunContext, record: dict) -> tuple:
    """Write the config of one run, train it, read its metrics."""
    spec, opts, launch = job.spec, ctx.spec.runs, ctx.spec.launch
    config = osp.join(job.run_dir, 'config.py')
    text = write_run_config(
        RunConfig(
            base=ctx.configs[job.run],
            checkpoint=job.subject.path,
            task=spec.task,
            data_root=ctx.data.tasks[spec.task],
            options=per_run(opts.cfg_options, job.run) or {},
            max_iters=per_run(opts.max_iters, job.run)), config)
    cmd, env, shown, cluster = train_command(config, job.run_dir, launch)
    key = run_key(text, job.subject.meta.get('source_sha256'), launch.launcher,
                  launch.gpus, ctx.data.signature)
    record.update(
        config=config,
        command=quote(cmd),
        log=osp.join(job.run_dir, 'train.log'))
    cached = _reuse(ctx, job, key)
    if cached is not None:
        return cached['metrics'], True
    ctx.log(f'      $ {shown}')
    if launch.launcher == 'none':
        ctx.log(f'      (cluster: {cluster})')
    code = run_logged(cmd, record['log'], env, ctx.echo)
    if code != 0:
        lines = tail(record['log'], 1)
        raise RuntimeError(f'tools/train.py exited with code {code}' +
                           (f' ({lines[-1][:200]})' if lines else ''))
    metrics = metrics_from_scalars(
        read_scalars(job.run_dir), spec.metrics, rel(job.run_dir))
    save_result(
        job.run_dir,
        dict(key=key, metrics=metrics, command=quote(cmd), config=config))
    return metrics, False


def knn_run(job: Job, ctx: RunContext, record: dict) -> tuple:
    """KNN of one exported width, in process."""
    from ..evaluation import imagenet_style_dataset, knn_eval
    view, k = KNN_VIEWS[ctx.spec.scale], ctx.spec.runs.knn_k
    cls_root, path = ctx.data.tasks['mmpretrain'], job.subject.path
    key = run_key('knn', path, job.subject.meta.get('source_sha256'), cls_root,
                  view, k, ctx.data.signature)
    cached = _reuse(ctx, job, key)
    if cached is not None:
        return cached['metrics'], True
    out = osp.join(job.run_dir, 'knn.json')
    cmd = [
        'python', 'tools/knn_eval.py',
        rel(path), '--data-root',
        rel(cls_root), '--k',
        str(k), '--resize',
        str(view['resize']), '--crop',
        str(view['crop']), '--num-workers',
        str(view['workers']), '--out',
        rel(out)
    ]
    record.update(command=quote(cmd))
    ctx.log(f'      $ {quote(cmd)}  (run in process)')
    data = [
        imagenet_style_dataset(
            cls_root, split, resize=view['resize'], crop=view['crop'])
        for split in ('train', 'val')
    ]
    rec = knn_eval(path, data[0], data[1], k=k, num_workers=view['workers'])
    with open(out, 'w') as f:
        json.dump(rec, f, indent=2)
    metrics = dict(knn_top1=float(rec['results'][0]['top1']))
    save_result(job.run_dir, dict(key=key, metrics=metrics))
    return metrics, False


#: In-process protocols: run name -> ``(job, ctx, record) -> (metrics,
#: cached)``.
IN_PROCESS = dict(knn=knn_run)


def execute(job: Job, ctx: RunContext, record: dict) -> tuple:
    """Run ``job``; returns ``(metrics, cached)``.

    ``record`` receives what identifies the run (config, command, log) as
    soon as it is known, so that a failure can point at its log.
    """
    if job.spec.in_process:
        return IN_PROCESS[job.run](job, ctx, record)
    return train_run(job, ctx, record)
