"""The evidence table's report: statistics over seeds, the cost ratio, the
markdown tables and the plot (:mod:`.evidence` evaluates the networks)."""
import json
import os
import os.path as osp
import statistics
from typing import List, Optional, Sequence, Tuple

from ..utils.atomic import atomic_write

__all__ = [
    'KINDS', 'LABELS', 'METRICS', 'aggregate', 'format_evidence',
    'plot_evidence', 'write_evidence'
]

#: Row kinds, in table order.
KINDS = ('random', 'byol', 'dspnet')
LABELS = dict(random='random init', byol='one by one (BYOL)', dspnet='DSPNet')
METRICS = ('knn20', 'knn200', 'linear')


def _stats(values: List[float]) -> dict:
    values = [v for v in values if v is not None]
    if not values:
        return dict(n=0)
    return dict(
        n=len(values),
        mean=statistics.fmean(values),
        min=min(values),
        max=max(values),
        std=statistics.stdev(values) if len(values) > 1 else 0.0)


#: Run-time field -> the key of its DSPNet / one-by-one ratio in ``cost``.
COST_RATIOS = dict(wall_s='ratio', cpu_s='cpu_ratio')


def _cost(runs: Sequence[dict]) -> Optional[dict]:
    """Mean DSPNet time over the sum, over its widths, of the mean one-by-one
    time; per field of :data:`COST_RATIOS` that every run has."""
    dsp_widths = sorted(
        {w
         for r in runs if r['kind'] == 'dspnet' for w in r['widths']})
    cost = {}
    for key, ratio in COST_RATIOS.items():
        dsp = [r[key] for r in runs if r['kind'] == 'dspnet']
        byol = {
            w: [
                r[key] for r in runs
                if r['kind'] == 'byol' and r['widths'] == [w]
            ]
            for w in dsp_widths
        }
        every = dsp + [t for ts in byol.values() for t in ts]
        if not dsp or not all(byol.values()) or None in every:
            continue
        mean = statistics.fmean(dsp)
        total = sum(statistics.fmean(ts) for ts in byol.values())
        cost.update({
            f'dspnet_{key}': mean,
            f'byol_sum_{key}': total,
            ratio: mean / total
        })
    return cost or None


def aggregate(records: Sequence[dict]) -> dict:
    """Mean / min / max / std over seeds per (kind, width), plus cost.

    Returns:
        dict: ``rows`` (one per width: params, FLOPs and per kind and metric
        the statistics), ``runs`` (pretraining wall time of each
        checkpoint), ``cost`` (mean DSPNet wall time / sum over widths of
        the mean one-by-one wall time, when both are known).
    """
    widths = sorted({r['width'] for r in records}, reverse=True)
    rows = []
    for w in widths:
        mine = [r for r in records if r['width'] == w]
        row = dict(width=w, params=mine[0]['params'], flops=mine[0]['flops'])
        for kind in KINDS:
            rs = [r for r in mine if r['kind'] == kind]
            if rs:
                row[kind] = {m: _stats([r[m] for r in rs]) for m in METRICS}
                row[kind]['seeds'] = sorted(
                    (r['seed'] for r in rs if r['seed'] is not None))
        rows.append(row)
    runs = {}
    for r in records:
        if r['kind'] == 'random' or r.get('wall_s') is None:
            continue
        key = (r['kind'], r['source'])
        runs.setdefault(
            key,
            dict(
                kind=r['kind'],
                source=r['source'],
                seed=r['seed'],
                wall_s=r['wall_s'],
                cpu_s=r.get('cpu_s'),
                threads=r.get('threads'),
                processor=r.get('processor'),
                widths=[]))['widths'].append(r['width'])
    runs = list(runs.values())
    return dict(rows=rows, runs=runs, cost=_cost(runs))


def _cell(row: dict, kind: str, metric: str) -> str:
    s = row.get(kind, {}).get(metric, {})
    if not s.get('n'):
        return '–'
    if s['n'] == 1:
        return f'{s["mean"]:.1f}'
    return f'{s["mean"]:.1f} ({s["min"]:.1f}–{s["max"]:.1f})'


def _delta(row: dict, a: str, b: str, metric: str) -> str:
    sa = row.get(a, {}).get(metric, {})
    sb = row.get(b, {}).get(metric, {})
    if not (sa.get('n') and sb.get('n')):
        return '–'
    return f'{sa["mean"] - sb["mean"]:+.1f}'


def format_evidence(summary: dict, command: Optional[str] = None) -> str:
    """The markdown tables: kNN-20, linear probe, kNN-200, and run times."""
    rows = summary['rows']
    lines = []
    if command:
        lines += [f'`{command}`', '']

    def seeds(kind):
        ns = {row.get(kind, {}).get('knn20', {}).get('n', 0) for row in rows}
        ns.discard(0)
        return '/'.join(map(str, sorted(ns))) or '0'

    # the one-by-one columns only when there are one-by-one networks (the
    # demo compares with random init alone)
    byol = any(row.get('byol') for row in rows)
    counts = [f'random {seeds("random")}']
    if byol:
        counts.append(f'one by one {seeds("byol")}')
    counts.append(f'DSPNet {seeds("dspnet")}')
    lines.append('Top-1 (%) on val, mean (min–max) over seeds; seeds per '
                 f'cell: {", ".join(counts)}.')
    lines.append('')
    for metric, title in (('knn20', 'kNN k=20'), ('linear', 'linear probe'),
                          ('knn200', 'kNN k=200')):
        head = ['width', 'params', 'FLOPs', f'{title}: random init']
        if byol:
            head += ['one by one (BYOL)', 'DSPNet', 'DSPNet − BYOL']
        else:
            head += ['DSPNet']
        head.append('DSPNet − random')
        lines.append('| ' + ' | '.join(head) + ' |')
        lines.append('|' + '---|' * len(head))
        for row in rows:
            cells = [
                str(row['width']), f'{row["params"] / 1e6:.2f}M',
                f'{row["flops"] / 1e9:.3f}G',
                _cell(row, 'random', metric)
            ]
            if byol:
                cells += [
                    _cell(row, 'byol', metric),
                    _cell(row, 'dspnet', metric),
                    _delta(row, 'dspnet', 'byol', metric)
                ]
            else:
                cells.append(_cell(row, 'dspnet', metric))
            cells.append(_delta(row, 'dspnet', 'random', metric))
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    runs = summary['runs']
    if runs:
        lines.append('| pretraining run | seed | widths | wall time | '
                     'CPU time | threads |')
        lines.append('|---|---|---|---|---|---|')
        order = [(r['kind'] != 'dspnet', -max(r['widths']), r['seed'] or 0, i)
                 for i, r in enumerate(runs)]
        for *_, i in sorted(order):
            r = runs[i]
            ws = '/'.join(str(w) for w in sorted(r['widths'], reverse=True))
            cpu = '–' if r['cpu_s'] is None else f'{r["cpu_s"] / 60:.1f} min'
            lines.append(f'| {LABELS[r["kind"]]} | {r["seed"]} | {ws} | '
                         f'{r["wall_s"] / 60:.1f} min | {cpu} | '
                         f'{r["threads"]} |')
        lines.append('')
        cost = summary['cost'] or {}
        for key, what in (('wall_s', 'wall'), ('cpu_s', 'CPU')):
            if f'dspnet_{key}' not in cost:
                continue
            ratio = cost[COST_RATIOS[key]]
            lines.append(
                f'DSPNet {what} time / sum of the one-by-one {what} times '
                f'over its widths (means over seeds): '
                f'{cost[f"dspnet_{key}"] / 60:.1f} / '
                f'{cost[f"byol_sum_{key}"] / 60:.1f} min = {ratio:.2f}.')
            lines.append('')
    return '\n'.join(lines)


def plot_evidence(summary: dict, path: str) -> str:
    """KNN-20 and linear top-1 against parameters, one line per kind."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = sorted(summary['rows'], key=lambda r: r['params'])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric, title in zip(axes, ('knn20', 'linear'),
                                 ('kNN top-1 (k=20)', 'linear probe top-1')):
        for kind, style in zip(KINDS, (':o', '--s', '-^')):
            pts = [(r['params'] / 1e6, r[kind][metric]) for r in rows
                   if r.get(kind, {}).get(metric, {}).get('n')]
            if not pts:
                continue
            x = [p for p, _ in pts]
            y = [s['mean'] for _, s in pts]
            err = [[s['mean'] - s['min'] for _, s in pts],
                   [s['max'] - s['mean'] for _, s in pts]]
            ax.errorbar(
                x, y, yerr=err, fmt=style, capsize=3, label=LABELS[kind])
        ax.set_xscale('log')
        ax.set_xlabel('backbone parameters (M)')
        ax.set_ylabel('top-1 (%)')
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    tmp = f'{path}.tmp.png'
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def write_evidence(records: Sequence[dict],
                   out_dir: str,
                   command: Optional[str] = None) -> Tuple[dict, str]:
    """Aggregate ``records`` and write ``evidence.md`` (the tables, headed by
    ``command``), ``evidence.json`` (records and statistics) and
    ``evidence.png`` into ``out_dir``; returns ``(summary, markdown)``."""
    summary = aggregate(records)
    text = format_evidence(summary, command)
    os.makedirs(out_dir, exist_ok=True)
    atomic_write(text, osp.join(out_dir, 'evidence.md'))
    atomic_write(
        json.dumps(
            dict(command=command, records=list(records), **summary), indent=1),
        osp.join(out_dir, 'evidence.json'))
    plot_evidence(summary, osp.join(out_dir, 'evidence.png'))
    return summary, text
