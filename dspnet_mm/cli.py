"""``dspnet-mm <command> [args]`` (also ``python -m dspnet_mm``): the tools of
``tools/`` from an installed package, from any directory.

Each command runs the shipped tool (:mod:`dspnet_mm.utils.paths`) exactly
as ``python tools/<tool>.py [args]`` would, with the known upstream warnings
filtered (:mod:`dspnet_mm.utils.quiet`). A ``configs/...`` argument that is
not a file in the working directory names a shipped config, so the README's
commands work outside the checkout, e.g.::

    dspnet-mm data --root data/demo
    dspnet-mm train configs/dspnet/<cfg>.py --work-dir work_dirs/demo
    dspnet-mm slim work_dirs/demo/iter_600.pth --widths all --out-dir slim
"""
import importlib.util
import os
import subprocess
import sys
from typing import List, Optional

from .utils.paths import resolve_config, tool_path
from .utils.quiet import filter_upstream_warnings

__all__ = ['COMMANDS', 'main', 'run_tool']

#: command -> (tool under ``tools/``, what it does).
COMMANDS = {
    'train': ('train.py', 'train a config (mmengine Runner)'),
    'dist-train': ('dist_train.sh', 'train with torchrun: CONFIG GPUS ...'),
    'test': ('test.py', 'test a checkpoint with a config'),
    'data': ('generate_demo_data.py', 'generate the embedded demo data'),
    'slim': ('slim_checkpoint.py', 'export widths to plain ResNets'),
    'transfer-config':
    ('transfer_config.py', 'point a stock config at an exported width'),
    'knn': ('knn_eval.py', 'kNN accuracy of exported widths'),
    'benchmark':
    ('benchmark_widths.py', 'every protocol for every width of a checkpoint'),
    'demo': ('demo.py', 'data -> pretraining -> every width'),
    'speed': ('analysis/benchmark_speed.py',
              'speed, FLOPs and memory against static ResNets'),
    'evidence': ('analysis/evidence_table.py',
                 'widths vs random init vs one-by-one, seeds and cost'),
    'spectrum': ('analysis/feature_spectrum.py',
                 'top principal components and kNN without them, per width'),
    'prepare':
    ('prepare_dataset.py', 'class-folder photos -> ImageNet-style root'),
}


def _usage() -> str:
    lines = [
        'usage: dspnet-mm <command> [args]  (or python -m dspnet_mm)', '',
        'commands (the tools of tools/, args as there):'
    ]
    lines += [f'  {name:<16} {what}' for name, (_, what) in COMMANDS.items()]
    return '\n'.join(lines)


def _load(path: str):
    name = 'dspnet_mm_tools.' + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(command: str, argv: List[str]) -> int:
    """Run one command with ``argv``; returns its exit code."""
    tool = tool_path(COMMANDS[command][0])
    argv = [resolve_config(a) if a.startswith('configs/') else a for a in argv]
    if tool.endswith('.sh'):
        # the tool starts this interpreter, never a `python` without torch
        env = dict(os.environ, PYTHON=os.environ.get('PYTHON', sys.executable))
        return subprocess.call(['bash', tool] + argv, env=env)
    try:
        code = _load(tool).main(argv)
    except SystemExit as e:
        code = e.code
    if code is None or not isinstance(code, (int, str)):
        return 0  # train / test return their runner's result
    if isinstance(code, str):
        print(code, file=sys.stderr)
        return 1
    return code


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(
            f'error: unknown command {argv[0]!r}\n\n{_usage()}',
            file=sys.stderr)
        return 2
    filter_upstream_warnings()
    return run_tool(argv[0], argv[1:])
