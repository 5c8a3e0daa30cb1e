"""The result store: what a finished run leaves behind, and when it counts.

Each run keeps ``<run_dir>/result.json``: its metrics and a key, the sha256
of everything the result depends on (the concrete config or kNN settings,
the source checkpoint's sha256, the data). A rerun reuses a result only
when the stored key equals the new one, so a changed config, checkpoint or
regenerated data runs again; a torn or foreign file is never a result.
Files are written atomically.
"""
import hashlib
import json
import os
import os.path as osp
import re
from typing import Dict, Optional

__all__ = [
    'data_signature', 'load_result', 'metrics_from_scalars', 'read_scalars',
    'run_key', 'save_result'
]

_TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')
RESULT_FILE = 'result.json'


def run_key(*parts) -> str:
    """Sha256 over the string forms of ``parts``."""
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
        h.update(b'\0')
    return h.hexdigest()


def data_signature(data_root: str) -> str:
    """What identifies the data: the demo manifest's content hash, if any
    (regenerated demo data invalidates finished runs), else the path."""
    try:
        with open(osp.join(data_root, 'manifest.json')) as f:
            return json.load(f).get('content_hash') or data_root
    except (OSError, ValueError, AttributeError):
        return data_root


def load_result(run_dir: str, key: str) -> Optional[dict]:
    """The stored result of ``run_dir`` if it was made with ``key``.

    ``None`` for a missing, unreadable or torn file, another key, or a
    record without a metrics dict.
    """
    try:
        with open(osp.join(run_dir, RESULT_FILE)) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(rec, dict) or rec.get('key') != key:
        return None
    if not isinstance(rec.get('metrics'), dict):
        return None
    return rec


def save_result(run_dir: str, rec: dict) -> None:
    """Write ``rec`` as ``<run_dir>/result.json`` (temporary name, rename)."""
    path = osp.join(run_dir, RESULT_FILE)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w') as f:
        json.dump(rec, f, indent=2)
    os.replace(tmp, path)


def read_scalars(work_dir: str) -> dict:
    """Last logged value of every scalar of the newest run in ``work_dir``.

    mmengine writes ``<work_dir>/<timestamp>/vis_data/scalars.json``, one json
    record per logging step, validation metrics included.
    """
    runs = sorted(
        d for d in os.listdir(work_dir) if _TIMESTAMP.match(d)
        and osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        return {}
    out = {}
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        for line in f:
            line = line.strip()
            if line:
                out.update(json.loads(line))
    return out


def metrics_from_scalars(scalars: dict, wanted: Dict[str, tuple],
                         where: str) -> Dict[str, Optional[float]]:
    """Pick the result metrics out of logged scalars.

    Args:
        scalars (dict): :func:`read_scalars`.
        wanted (dict): result key -> ``(logged key, factor)``; the first is
            required, the others may be missing (``None``).
        where (str): named in the error.

    Raises:
        RuntimeError: the required metric was not logged.
    """
    metrics = {}
    for i, (key_out, (key_in, factor)) in enumerate(wanted.items()):
        if key_in in scalars:
            metrics[key_out] = float(scalars[key_in]) * factor
        elif i == 0:
            raise RuntimeError(f'the run finished but logged no {key_in} '
                               f'(scalars.json under {where})')
        else:
            metrics[key_out] = None
    return metrics
