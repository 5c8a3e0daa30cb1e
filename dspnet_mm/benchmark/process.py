"""Process running and logs: the training subprocess of a benchmark run.

A run is ``tools/train.py`` (or ``tools/dist_train.sh``) of the shipped
tools (:mod:`dspnet_mm.utils.paths`) in a subprocess; its output goes to a
log file, and its progress lines are echoed in a compact form.
"""
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

from ..utils.paths import package_dir, tool_path

__all__ = [
    'Launch', 'fmt_time', 'line_echo', 'progress_line', 'quote', 'rel',
    'run_logged', 'subprocess_env', 'tail', 'train_command'
]

#: Fields of an mmengine training log line worth echoing (and metrics).
_ECHO_KEYS = ('lr', 'eta', 'time', 'loss')
_SEG_METRICS = ('aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore')
_LOG_FIELD = re.compile(r'([\w/.-]+): (\S+)')
_HEAD = re.compile(r'((?:Iter|Epoch)\((?:train|val|test)\)\s*(?:\[[^]]*\])+)')


def fmt_time(seconds: float) -> str:
    """``75`` -> ``'1m15s'``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def rel(path: str) -> str:
    """``path`` relative to the working directory when below it."""
    relative = osp.relpath(path)
    return path if relative.startswith('..') else relative


def quote(cmd: Sequence[str]) -> str:
    return ' '.join(shlex.quote(c) for c in cmd)


def tail(path: str, n: int = 12) -> List[str]:
    """The last ``n`` non-empty lines of a log (none if unreadable)."""
    try:
        with open(path, errors='replace') as f:
            lines = [x.rstrip() for x in f if x.strip()]
    except OSError:
        return []
    return lines[-n:]


def progress_line(line: str) -> Optional[str]:
    """A compact form of an mmengine iteration / validation log line.

    ``Iter(train) [ 50/200]  lr: ...  eta: ...  time: ...  loss: ...`` and
    the metrics of ``Iter(val)`` lines (keys with a ``/``, ``mIoU``,
    ``aAcc``...); ``None`` for every other line, and for validation lines
    without metrics.
    """
    if ' - INFO - ' not in line:
        return None
    msg = line.split(' - INFO - ', 1)[1].strip()
    head = _HEAD.match(msg)
    if head is None:
        return None
    found = _LOG_FIELD.findall(msg[head.end():])
    metrics = [f'{k}: {v}' for k, v in found if '/' in k or k in _SEG_METRICS]
    if '(train)' not in head.group(1):
        # validation progress without metrics is noise
        return ' '.join([head.group(1)] + metrics) if metrics else None
    fields = [f'{k}: {v}' for k, v in found if k in _ECHO_KEYS] + metrics
    return ' '.join([re.sub(r'\s+', ' ', head.group(1))] + fields)


def line_echo(log: Callable[[str], None],
              stream: str) -> Optional[Callable[[str], None]]:
    """What to echo of a subprocess: ``progress`` lines, ``all`` lines, or
    ``none`` (``None``); echoed lines are indented under the run."""
    if stream == 'none':
        return None

    def echo(line: str) -> None:
        msg = line.rstrip() if stream == 'all' else progress_line(line)
        if msg:
            log(f'      {msg}')

    return echo


def run_logged(cmd: List[str],
               log_path: str,
               env: dict,
               echo: Optional[Callable[[str], None]] = None,
               append: bool = False) -> int:
    """Run ``cmd``, copy its output to ``log_path`` (appended with ``append``)
    and pass every line to ``echo``; returns the exit code."""
    with open(log_path, 'a' if append else 'w') as log:
        log.write(f'$ {quote(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env)
        try:
            for line in proc.stdout:
                log.write(line)
                if echo is not None:
                    echo(line)
            return proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def subprocess_env(base: Optional[dict] = None) -> dict:
    """``base`` (default: this environment) with the imported dspnet_mm first
    on ``PYTHONPATH``: a subprocess runs the same package, installed or from a
    checkout."""
    env = dict(os.environ if base is None else base)
    root = osp.dirname(package_dir())
    env['PYTHONPATH'] = os.pathsep.join(
        [root] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    return env


@dataclass
class Launch:
    """How training runs are started.

    Args:
        launcher (str): ``'none'`` (``tools/train.py``) or ``'pytorch'``
            (``tools/dist_train.sh`` with ``gpus`` processes).
        gpus (int): processes per run with the pytorch launcher.
        python (str): the interpreter of the runs.
    """
    launcher: str = 'none'
    gpus: int = 1
    python: str = field(default_factory=lambda: sys.executable)


def train_command(config: str, work_dir: str, launch: Launch) -> tuple:
    """The command of one training run and how to show it.

    Returns:
        tuple: ``(cmd, env, shown, cluster)``: the argv and environment to
        run, the command as a user would type it, and its multi-process
        (cluster) form.
    """
    env = subprocess_env()
    dist = (f'bash tools/dist_train.sh {rel(config)} '
            f'{launch.gpus if launch.launcher != "none" else "GPUS"} '
            f'--work-dir {rel(work_dir)}')
    if launch.launcher == 'none':
        cmd = [
            launch.python,
            tool_path('train.py'), config, '--work-dir', work_dir
        ]
        shown = (f'python tools/train.py {rel(config)} --work-dir '
                 f'{rel(work_dir)}')
        return cmd, env, shown, dist
    cmd = [
        'bash',
        tool_path('dist_train.sh'), config,
        str(launch.gpus), '--work-dir', work_dir
    ]
    env['PYTHON'] = launch.python
    return cmd, env, dist, dist
