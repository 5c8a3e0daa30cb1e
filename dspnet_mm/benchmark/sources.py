"""Sources of the networks a width benchmark evaluates.

Each source kind turns part of a :class:`~.plan.BenchmarkSpec` into
:class:`~.plan.Subject` s (exported widths, written through
:mod:`dspnet_mm.slim`), and says where its rows and runs go:

* ``dspnet``: every chosen width of the DSPNet checkpoint
  (:func:`dspnet_mm.slim.export_widths`) -> ``results['widths']``, runs
  under ``<work_dir>/<run>/w<W>``;
* ``baseline``: networks pretrained one by one
  (:func:`dspnet_mm.slim.export_plain_resnet`) -> ``results['baselines']``,
  runs under ``<work_dir>/baselines/<run>/w<W>``.

A new kind (e.g. a random-init twin per width and seed) is a function
``prepare(spec, work_dir, log) -> [Subject]`` and one :data:`SOURCES` entry.
"""
import logging
import os.path as osp
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, List

from ..slim import ExportError, export_plain_resnet, export_widths
from .plan import BenchmarkError, BenchmarkSpec, Subject
from .process import rel

__all__ = ['SOURCES', 'SourceKind', 'prepare_subjects']


@contextmanager
def quiet_complexity():
    """Hide mmengine's "Unsupported operator" warnings of FLOP counting
    (pooling, BN and additions are not counted: the reported FLOPs are those of
    convolutions and linear layers, mmengine's convention)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def dspnet_widths(spec: BenchmarkSpec, work_dir: str,
                  log: Callable[[str], None]) -> List[Subject]:
    widths = spec.width_list()
    shown = widths if widths == 'all' else ', '.join(map(str, widths))
    out_dir = osp.join(work_dir, 'slim')
    log(f'exporting widths {shown} of {rel(spec.checkpoint)} -> '
        f'{rel(out_dir)}')
    try:
        with quiet_complexity():
            exported = export_widths(spec.checkpoint, widths, out_dir)
    except ExportError as e:
        raise BenchmarkError(str(e)) from None
    subjects = []
    for res in exported:
        m = res['meta']
        log(f'  w{m["width"]}: {rel(res["path"])} ({m["params"] / 1e6:.2f}M '
            f'params, {m["flops"] / 1e9:.2f}G FLOPs)')
        subjects.append(Subject('dspnet', res['path'], res['meta']))
    return subjects


def baselines(spec: BenchmarkSpec, work_dir: str,
              log: Callable[[str], None]) -> List[Subject]:
    subjects = []
    for w, path in sorted(spec.baselines.items()):
        try:
            with quiet_complexity():
                res = export_plain_resnet(path,
                                          osp.join(work_dir, 'baselines'), w)
        except ExportError as e:
            raise BenchmarkError(str(e)) from None
        log(f'  baseline w{res["meta"]["width"]}: {rel(res["path"])} (from '
            f'{rel(path)})')
        subjects.append(Subject('baseline', res['path'], res['meta']))
    return subjects


@dataclass(frozen=True)
class SourceKind:
    """A kind of network the benchmark evaluates.

    Args:
        prepare (callable): ``(spec, work_dir, log) -> [Subject]``.
        results_key (str): the results list its rows go to.
        folder (str): its runs' folder under the work dir ('' for the top).
        label (str): prefix of its runs in logs and errors.
    """
    prepare: Callable
    results_key: str
    folder: str
    label: str


#: The source kinds, in the order their subjects are run.
SOURCES = dict(
    dspnet=SourceKind(dspnet_widths, 'widths', '', ''),
    baseline=SourceKind(baselines, 'baselines', 'baselines', 'baseline '),
)


def prepare_subjects(spec: BenchmarkSpec, work_dir: str,
                     log: Callable[[str], None]) -> List[Subject]:
    """The subjects of every source kind, exported and checked."""
    subjects = []
    for kind in SOURCES.values():
        subjects += kind.prepare(spec, work_dir, log)
    return subjects
