"""Run planning: what the width benchmark runs, for which networks.

* A *run* (:data:`RUNS`) is one evaluation of one network: a training
  config of a framework (``linear``, ``semi1``, ``semi10``, ``det``,
  ``seg``) or an in-process protocol (``knn``, see :mod:`.protocols`).
  Users choose *protocols* (:data:`PROTOCOLS`); ``semi`` is two runs.
* A *subject* is one network to evaluate: an exported width with its
  ``meta``, from a *source* (:mod:`.sources`): the DSPNet checkpoint's
  widths, one-by-one baselines, and whatever source is added there (each
  may come in several seeds).
* A *job* is one run of one subject, with its own folder.

:class:`BenchmarkSpec` holds everything a benchmark is asked to do;
:func:`plan_jobs` orders the jobs (cheap classification first, transfer
last, subject by subject).
"""
import os.path as osp
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

from ..models.layers import GRID, width_tag
from .process import Launch

__all__ = [
    'BenchmarkError', 'BenchmarkSpec', 'DATA_LAYOUT', 'DataRoots', 'Job',
    'PROTOCOLS', 'RUNS', 'RunOptions', 'RunSpec', 'Subject',
    'expand_protocols', 'parse_max_iters', 'per_run', 'plan_jobs',
    'resolve_data', 'split_cfg_options'
]


class BenchmarkError(ValueError):
    """Inputs that make the whole benchmark impossible (nothing is run)."""


@dataclass(frozen=True)
class RunSpec:
    """One kind of run.

    Args:
        label (str): how logs and errors name it.
        task (str): the framework whose data and config it uses
            (``mmpretrain``, ``mmdet``, ``mmseg``).
        metrics (dict): result key -> ``(metric in scalars.json, factor to
            percent)``; the first is required, the others optional (e.g.
            no segm AP for Faster R-CNN).
        in_process (bool): run by a function of :mod:`.protocols` instead
            of a training subprocess.
    """
    label: str
    task: str
    metrics: Dict[str, tuple]
    in_process: bool = False


#: Every run, in the order they are run for a subject.
RUNS = OrderedDict(
    linear=RunSpec('linear', 'mmpretrain',
                   {'linear_top1': ('accuracy/top1', 1.)}),
    knn=RunSpec('knn', 'mmpretrain', {'knn_top1': ('top1', 1.)}, True),
    semi1=RunSpec('semi-1%', 'mmpretrain',
                  {'semi1_top1': ('accuracy/top1', 1.)}),
    semi10=RunSpec('semi-10%', 'mmpretrain',
                   {'semi10_top1': ('accuracy/top1', 1.)}),
    # NOTE: mmdet's CocoMetric reports AP as a fraction; tables use percent
    det=RunSpec('det', 'mmdet', {
        'box_ap': ('coco/bbox_mAP', 100.),
        'mask_ap': ('coco/segm_mAP', 100.)
    }),
    seg=RunSpec('seg', 'mmseg', {'miou': ('mIoU', 1.)}),
)
#: Protocols the user chooses, and the runs of each.
PROTOCOLS = ('linear', 'knn', 'semi', 'det', 'seg')
_PROTOCOL_RUNS = OrderedDict(
    linear=('linear', ),
    knn=('knn', ),
    semi=('semi1', 'semi10'),
    semi1=('semi1', ),
    semi10=('semi10', ),
    det=('det', ),
    seg=('seg', ))
#: Default data root per scale and the sub-folder each framework reads.
DATA_LAYOUT = dict(
    demo=('data/demo', dict(mmpretrain='cls', mmdet='coco', mmseg='seg')),
    imagenet=('data',
              dict(mmpretrain='imagenet', mmdet='coco', mmseg='cityscapes')),
)


def expand_protocols(protocols: Sequence[str]) -> List[str]:
    """Protocols -> run names, in :data:`RUNS` order."""
    runs = []
    for p in protocols:
        if p not in _PROTOCOL_RUNS:
            raise BenchmarkError(f'unknown protocol {p!r}; choose from '
                                 f'{", ".join(_PROTOCOL_RUNS)}')
        runs += [r for r in _PROTOCOL_RUNS[p] if r not in runs]
    return [r for r in RUNS if r in runs]


def per_run(value, run: str):
    """``value`` for ``run`` from an int/dict given for all or per run."""
    if isinstance(value, dict):
        return value.get(run, value.get('*'))
    return value


def parse_max_iters(values: Optional[Sequence[str]]):
    """``['100']`` -> ``{'*': 100}``; ``['linear=100', 'det=20']`` -> dict.

    The command-line form of ``max_iters`` (``--max-iters [RUN=]N``).
    """
    if not values:
        return None
    out = {}
    for item in values:
        name, sep, n = str(item).rpartition('=')
        if not n.isdigit() or (sep and name not in RUNS and name != '*'):
            raise BenchmarkError(f'--max-iters takes N or RUN=N with RUN in '
                                 f'{", ".join(RUNS)}, got {item!r}')
        out[name if sep else '*'] = int(n)
    return out


def split_cfg_options(options: Optional[dict]) -> Dict[str, dict]:
    """``{'run:key': v, 'key': v}`` -> per-run overrides.

    ``RUN:key=value`` (RUN one of :data:`RUNS`) changes that run's config
    only, a plain ``key=value`` every run's; the result maps each run with
    overrides (and ``'*'``) to its merged dict.
    """
    out = {}
    for key, value in (options or {}).items():
        run, sep, rest = key.partition(':')
        if sep and run in RUNS:
            out.setdefault(run, {})[rest] = value
        else:
            out.setdefault('*', {})[key] = value
    common = out.get('*', {})
    return {
        run: {
            **common,
            **out.get(run, {})
        }
        for run in list(RUNS) + ['*'] if out.get(run) or common
    }


@dataclass
class RunOptions:
    """Changes to the runs' configs.

    Args:
        configs (dict): run name -> config replacing the scale's default.
        cfg_options (dict): run name (or ``'*'``) -> overrides, merged
            before the width is applied (:func:`split_cfg_options`).
        max_iters (int | dict, optional): shrink iteration-based runs (an
            int for all, or run name / ``'*'`` -> int).
        knn_k (int): neighbours of the kNN protocol.
    """
    configs: Dict[str, str] = field(default_factory=dict)
    cfg_options: Dict[str, dict] = field(default_factory=dict)
    max_iters: Union[int, Dict[str, int], None] = None
    knn_k: int = 20


@dataclass
class BenchmarkSpec:
    """Everything one width benchmark is asked to do.

    Args:
        checkpoint (str): a DSPNet (or SlimmableResNet) checkpoint.
        work_dir (str): everything goes here: ``slim/``, ``baselines/``,
            ``<run>/w<W>/`` (config, log, mmengine work dir,
            ``result.json``) and ``results.{json,md,png}``.
        protocols (Sequence[str]): any of :data:`PROTOCOLS` (and ``semi1``
            / ``semi10`` alone).
        widths (str | Sequence[float]): ``'all'`` trained widths or a list.
        scale (str): ``'demo'`` (the CPU demo configs and data) or
            ``'imagenet'`` (ImageNet, COCO and Cityscapes configs).
        data_root (str, optional): holds ``cls/ coco/ seg/`` (demo; default
            ``data/demo``) or ``imagenet/ coco/ cityscapes/`` (default
            ``data``).
        baselines (dict): width -> checkpoint of a network of that width
            pretrained one by one (plain ResNet, mmpretrain BYOL checkpoint
            or exported width); evaluated with the same runs.
        transfer_widths (Sequence[float], optional): run ``det`` and ``seg``
            only for these widths (default: every width).
        runs (RunOptions): changes to the runs' configs.
        launch (Launch): how training runs start.
        stream (str): ``'progress'`` echoes the runs' iteration lines,
            ``'all'`` every line, ``'none'`` nothing (logs are kept).
    """
    checkpoint: str
    work_dir: str
    protocols: Sequence[str] = ('linear', 'knn')
    widths: Union[str, Sequence[float]] = 'all'
    scale: str = 'demo'
    data_root: Optional[str] = None
    baselines: Dict[float, str] = field(default_factory=dict)
    transfer_widths: Optional[Sequence[float]] = None
    runs: RunOptions = field(default_factory=RunOptions)
    launch: Launch = field(default_factory=Launch)
    stream: str = 'progress'

    def check(self) -> List[str]:
        """Validate the choices; returns the run names to run."""
        if self.scale not in DATA_LAYOUT:
            raise BenchmarkError(f'scale must be one of '
                                 f'{sorted(DATA_LAYOUT)}, got {self.scale!r}')
        if self.launch.launcher not in ('none', 'pytorch'):
            raise BenchmarkError(f'launcher must be "none" or "pytorch", '
                                 f'got {self.launch.launcher!r}')
        if self.stream not in ('progress', 'all', 'none'):
            raise BenchmarkError(f'stream must be progress, all or none, '
                                 f'got {self.stream!r}')
        runs = expand_protocols(self.protocols)
        if not runs:
            raise BenchmarkError('no protocol to run')
        if not osp.isfile(self.checkpoint):
            raise BenchmarkError(f'checkpoint not found: {self.checkpoint}')
        return runs

    def width_list(self) -> Union[str, List[float]]:
        return width_list(self.widths)


def width_list(widths) -> Union[str, List[float]]:
    """``'all'`` (None, ``'all'`` or ``['all']``) or the widths as floats."""
    if widths is None or widths == 'all' or list(widths) == ['all']:
        return 'all'
    return [float(w) for w in widths]


@dataclass
class Subject:
    """One network to evaluate: an exported width and where it is from.

    Args:
        source (str): the source kind (:data:`.sources.SOURCES`).
        path (str): the exported width.
        meta (dict): its ``meta``.
        seed (int, optional): for sources with several seeds per width.
    """
    source: str
    path: str
    meta: dict
    seed: Optional[int] = None

    @property
    def width(self) -> float:
        return float(self.meta['width'])

    @property
    def tag(self) -> str:
        tag = f'w{width_tag(self.width)}'
        return tag if self.seed is None else f'{tag}/seed{self.seed}'


@dataclass
class Job:
    """One run of one subject.

    Args:
        subject (Subject): the network.
        run (str): the run name (:data:`RUNS`).
        run_dir (str): its folder (config, logs, ``result.json``).
        row (dict): the results row of the subject it fills.
    """
    subject: Subject
    run: str
    run_dir: str
    row: dict

    @property
    def spec(self) -> RunSpec:
        return RUNS[self.run]


def plan_jobs(subjects: Sequence[tuple], runs: Sequence[str],
              transfer_widths: Optional[Sequence[float]]) -> List[Job]:
    """Every (subject, run) to do, subject by subject.

    Args:
        subjects (Sequence[tuple]): ``(subject, row, folder)`` with the
            subject's results row and the folder its runs go under.
        runs (Sequence[str]): run names.
        transfer_widths (Sequence[float], optional): ``det`` / ``seg`` only
            for these widths.
    """
    transfer = (None if transfer_widths is None else
                {round(float(w) * GRID)
                 for w in transfer_widths})
    jobs = []
    for subject, row, folder in subjects:
        units = round(subject.width * GRID)
        for name in runs:
            if (RUNS[name].task in ('mmdet', 'mmseg') and transfer is not None
                    and units not in transfer):
                continue
            jobs.append(
                Job(subject, name, osp.join(folder, name, subject.tag), row))
    return jobs


@dataclass
class DataRoots:
    """The data a benchmark reads.

    Args:
        root (str): the data root.
        tasks (dict): framework -> its folder under ``root``.
        signature (str): what identifies the data in result keys
            (:func:`.store.data_signature`).
    """
    root: str
    tasks: Dict[str, str]
    signature: str


def resolve_data(spec: BenchmarkSpec, runs: Sequence[str]) -> DataRoots:
    """The data folders of ``runs``; every one must exist."""
    from .store import data_signature
    default_root, sub_dirs = DATA_LAYOUT[spec.scale]
    root = osp.abspath(spec.data_root or default_root)
    tasks = {task: osp.join(root, d) for task, d in sub_dirs.items()}
    for task in sorted({RUNS[r].task for r in runs}):
        if not osp.isdir(tasks[task]):
            hint = (' (generate it: python tools/generate_demo_data.py '
                    f'--root {root})' if spec.scale == 'demo' else '')
            raise BenchmarkError(f'data for {task} not found: '
                                 f'{tasks[task]}{hint}')
    return DataRoots(root, tasks, data_signature(root))
