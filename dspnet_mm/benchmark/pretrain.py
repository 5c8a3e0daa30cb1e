"""The demo's DSPNet pretraining stage: run it, resume it, or reuse it.

The pretraining is ``tools/train.py`` in a subprocess. Its work dir keeps
``pretrain.json``: the key of the run (sha256 of the merged config and the
data's content hash), ``running`` while it trains, ``finished`` with the
final checkpoint's sha256 once that checkpoint has been loaded back and
holds the last iteration. Only a finished run of the same key is reused; a
stopped one of the same key resumes; a work dir with another key, or with
checkpoints but no ``pretrain.json`` (not made by this stage), is refused
with the fix, and nothing in it is touched.
"""
import json
import os
import os.path as osp
import sys
from dataclasses import dataclass, field
from typing import Callable, Optional

from ..slim import file_sha256
from ..utils.paths import config_path, tool_path
from .process import quote, rel, run_logged, subprocess_env
from .store import data_signature, run_key

__all__ = [
    'PRETRAIN_CONFIG', 'PretrainError', 'Pretraining', 'pretrain',
    'pretraining_state'
]

#: The DSPNet demo pretraining config (relative to ``configs/``).
PRETRAIN_CONFIG = ('dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_'
                   'demo-cls.py')
STAMP = 'pretrain.json'


class PretrainError(RuntimeError):
    """A pretraining that cannot run or did not finish."""


@dataclass
class Pretraining:
    """One demo pretraining.

    Args:
        work_dir (str): its work dir.
        data_root (str): the demo data (``cls/`` is read).
        options (dict): ``--cfg-options`` of the run.
        config (str): the config (default :data:`PRETRAIN_CONFIG`).
        python (str): the interpreter of the run.
        amp (bool): ``--amp`` (bfloat16 autocast on CPU, as the demo
            recipe was measured; float16 AMP on GPU).
    """
    work_dir: str
    data_root: str
    options: dict = field(default_factory=dict)
    config: str = field(default_factory=lambda: config_path(PRETRAIN_CONFIG))
    python: str = field(default_factory=lambda: sys.executable)
    amp: bool = True

    def prepare(self) -> tuple:
        """``(options, max_iters, key)`` of the run as it will be started."""
        from mmengine.config import Config
        options = dict(self.options)
        cls_root = osp.join(self.data_root, 'cls')
        # the config reads data/demo/cls (relative to the working directory)
        if osp.abspath(cls_root) != osp.abspath('data/demo/cls'):
            options['train_dataloader.dataset.data_root'] = osp.abspath(
                cls_root)
        # NOTE: the config trains by iteration but logs "Epoch(train)
        # [1][k/n]" with k beyond n; iteration lines read better
        options.setdefault('log_processor.by_epoch', False)
        cfg = Config.fromfile(self.config)
        cfg.merge_from_dict(options)
        text = json.dumps(
            dict(config=cfg.to_dict(), amp=self.amp),
            sort_keys=True,
            default=str)
        key = run_key(text, osp.abspath(cls_root),
                      data_signature(self.data_root))
        return options, int(cfg.train_cfg.max_iters), key


def _read_stamp(work_dir: str) -> Optional[dict]:
    try:
        with open(osp.join(work_dir, STAMP)) as f:
            stamp = json.load(f)
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _write_stamp(work_dir: str, stamp: dict) -> None:
    path = osp.join(work_dir, STAMP)
    with open(path + '.tmp', 'w') as f:
        json.dump(stamp, f, indent=2)
    os.replace(path + '.tmp', path)


def _complete(path: str, max_iters: int) -> bool:
    """Whether ``path`` loads and holds iteration ``max_iters``."""
    from ..utils.checkpoint import load_checkpoint_safely
    try:
        ckpt = load_checkpoint_safely(path)
    except (OSError, RuntimeError):
        return False
    if not isinstance(ckpt, dict):
        return False
    meta = ckpt.get('meta')
    return (isinstance(ckpt.get('state_dict'), dict)
            and isinstance(meta, dict) and meta.get('iter') == max_iters)


def _has_checkpoints(work_dir: str) -> bool:
    return osp.isdir(work_dir) and any(
        name.endswith('.pth') or name == 'last_checkpoint'
        for name in os.listdir(work_dir))


def pretraining_state(work_dir: str, key: str, max_iters: int) -> str:
    """``'finished'``, ``'stopped'`` (resume it) or ``'new'``.

    Raises:
        PretrainError: the work dir holds another run, or checkpoints this
            stage did not make.
    """
    stamp = _read_stamp(work_dir)
    fix = 'delete it or choose another --work-dir'
    if stamp is None:
        if _has_checkpoints(work_dir):
            raise PretrainError(
                f'{work_dir} holds checkpoints that this demo did not make '
                f'(no {STAMP}): {fix}')
        return 'new'
    if stamp.get('key') != key:
        raise PretrainError(
            f'{work_dir} holds the pretraining of another config or data '
            f'(its {STAMP} has another key): {fix}')
    final = osp.join(work_dir, f'iter_{max_iters}.pth')
    if (stamp.get('status') == 'finished' and osp.isfile(final)
            and stamp.get('sha256') == file_sha256(final)
            and _complete(final, max_iters)):
        return 'finished'
    return 'stopped'


def pretrain(run: Pretraining,
             log: Callable[[str], None] = print,
             echo: Optional[Callable[[str], None]] = None) -> str:
    """Run, resume or reuse the pretraining; returns the final checkpoint.

    Args:
        run (Pretraining): what to pretrain.
        log (callable): progress messages.
        echo (callable, optional): receives each line of the training
            subprocess.
    """
    cls_root = osp.join(run.data_root, 'cls')
    if not osp.isfile(osp.join(cls_root, 'meta', 'train.txt')):
        raise PretrainError(f'no demo data in {cls_root} (generate it: '
                            f'python tools/generate_demo_data.py --root '
                            f'{run.data_root})')
    options, max_iters, key = run.prepare()
    final = osp.join(run.work_dir, f'iter_{max_iters}.pth')
    state = pretraining_state(run.work_dir, key, max_iters)
    if state == 'finished':
        log(f'  found {rel(final)}: pretraining finished before with this '
            'config and data, skipped (delete it to pretrain again)')
        return final
    os.makedirs(run.work_dir, exist_ok=True)
    cmd = [
        run.python,
        tool_path('train.py'), run.config, '--work-dir', run.work_dir
    ]
    if run.amp:
        cmd.append('--amp')
    if state == 'stopped':
        cmd.append('--resume')
        log('  a stopped run of this config is in the work dir: resuming it')
    _write_stamp(run.work_dir, dict(key=key, status='running'))
    cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]
    shown = [
        'python', 'tools/train.py',
        rel(run.config), '--work-dir',
        rel(run.work_dir)
    ] + cmd[5:]
    log(f'  $ {quote(shown)}')
    log_path = osp.join(run.work_dir, 'train.log')
    # appended: a resumed run keeps the log of the stopped one
    code = run_logged(cmd, log_path, subprocess_env(), echo, append=True)
    if code != 0 or not _complete(final, max_iters):
        raise PretrainError(f'pretraining failed (exit code {code}); log: '
                            f'{rel(log_path)}')
    _write_stamp(run.work_dir,
                 dict(key=key, status='finished', sha256=file_sha256(final)))
    return final
