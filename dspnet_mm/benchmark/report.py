"""Table and plot of a width benchmark (:func:`benchmark_widths`'s results).

A results dict holds ``widths`` (one row per exported width of the DSPNet
checkpoint) and ``baselines`` (one row per network pretrained one by one),
each row with exactly :data:`RESULT_KEYS`; a metric that was not run or
failed is ``None``. Accuracies, AP and mIoU are in percent.
"""
import json
import os
import os.path as osp
from typing import List, Optional, Sequence

__all__ = [
    'COLUMNS', 'RESULT_KEYS', 'format_table', 'plot_results', 'write_report'
]

#: (row key, table header, scale, decimals) of the markdown table.
COLUMNS = (
    ('width', 'width', None, None),
    ('params', 'params (M)', 1e-6, 2),
    ('flops', 'FLOPs (G)', 1e-9, 2),
    ('linear_top1', 'linear top-1', 1, 2),
    ('knn_top1', 'kNN top-1', 1, 2),
    ('semi1_top1', '1% top-1', 1, 2),
    ('semi10_top1', '10% top-1', 1, 2),
    ('box_ap', 'box AP', 1, 2),
    ('mask_ap', 'mask AP', 1, 2),
    ('miou', 'mIoU', 1, 2),
)
#: The keys of every row of ``results['widths']`` / ``['baselines']``.
RESULT_KEYS = ('width', 'depth', 'params', 'flops', 'linear_top1', 'knn_top1',
               'semi1_top1', 'semi10_top1', 'box_ap', 'mask_ap', 'miou')
#: What a missing number looks like in the table.
MISSING = '–'


def _cell(row: dict, key: str, scale, decimals) -> str:
    value = row.get(key)
    if value is None:
        return MISSING
    if key == 'width':
        return str(float(value))
    return f'{value * scale:.{decimals}f}'


def format_table(rows: Sequence[dict]) -> str:
    """A markdown table, one line per row, in the order given.

    Args:
        rows (Sequence[dict]): rows with :data:`RESULT_KEYS`.

    Returns:
        str: header, separator and one line per row (no trailing newline).
    """
    lines = [
        '| ' + ' | '.join(c[1] for c in COLUMNS) + ' |',
        '|' + '|'.join(' --- ' for _ in COLUMNS) + '|',
    ]
    for row in rows:
        cells = [_cell(row, key, scale, dec) for key, _, scale, dec in COLUMNS]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _markdown(results: dict) -> str:
    rows = results.get('widths') or []
    depth = next((r['depth'] for r in rows if r.get('depth')), None)
    title = f'ResNet-{depth}' if depth else 'ResNet'
    parts = [
        f'# DSPNet widths of {title}', '',
        f'checkpoint: `{results.get("checkpoint")}`  ',
        f'scale: {results.get("scale")}; FLOPs: multiply-adds at 224x224; '
        'accuracies, AP and mIoU in percent', '',
        format_table(rows)
    ]
    baselines = results.get('baselines') or []
    if baselines:
        parts += [
            '', '## Baselines pretrained one by one', '',
            format_table(baselines)
        ]
    errors = results.get('errors') or []
    if errors:
        parts += ['', '## Failed runs', '']
        for err in errors:
            what = 'baseline ' if err.get('baseline') else ''
            log = f' (log: `{err["log"]}`)' if err.get('log') else ''
            first = str(err.get('error', '')).strip().splitlines()
            parts.append(f'- {what}{err.get("protocol")} '
                         f'w{err.get("width")}: '
                         f'{first[-1] if first else "failed"}{log}')
    return '\n'.join(parts) + '\n'


def _series(rows: Sequence[dict], key: str):
    pts = [(r['flops'] / 1e9, r[key], r['width']) for r in rows
           if r.get(key) is not None and r.get('flops')]
    return sorted(pts)


def plot_results(results: dict, path: str) -> str:
    """Linear and kNN top-1 versus FLOPs, one labelled point per width.

    DSPNet widths are joined by lines (circles: linear, squares: kNN);
    baselines are drawn as unconnected stars (linear) and triangles (kNN).
    Uses matplotlib's Agg backend (no display needed).

    Args:
        results (dict): with ``widths`` and optionally ``baselines``.
        path (str): the PNG to write.

    Returns:
        str: ``path``.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6), dpi=110)
    rows = results.get('widths') or []
    baselines = results.get('baselines') or []
    drawn = 0
    styles = (('linear_top1', 'linear', 'o', '-', 'tab:blue'),
              ('knn_top1', 'kNN', 's', '--', 'tab:orange'))
    for key, name, marker, line, color in styles:
        pts = _series(rows, key)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts],
                    marker=marker,
                    linestyle=line,
                    color=color,
                    label=f'DSPNet {name}')
            for x, y, w in pts:
                ax.annotate(
                    f'w{float(w)}', (x, y),
                    textcoords='offset '
                    'points',
                    xytext=(4, 4),
                    fontsize=8)
            drawn += len(pts)
    base_styles = (('linear_top1', 'linear', '*', 'tab:green'),
                   ('knn_top1', 'kNN', '^', 'tab:red'))
    for key, name, marker, color in base_styles:
        pts = _series(baselines, key)
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts],
                       marker=marker,
                       s=110,
                       color=color,
                       zorder=3,
                       label=f'one-by-one {name}')
            for x, y, w in pts:
                ax.annotate(
                    f'w{float(w)}', (x, y),
                    textcoords='offset '
                    'points',
                    xytext=(4, -10),
                    fontsize=8,
                    color=color)
            drawn += len(pts)
    xs = [
        r['flops'] / 1e9 for r in list(rows) + list(baselines)
        if r.get('flops')
    ]
    if xs and max(xs) / min(xs) > 4:
        from matplotlib.ticker import NullFormatter
        ax.set_xscale('log')
        # ticks at the networks' own FLOPs, not at powers of ten
        ticks = sorted(set(round(x, 3) for x in xs))
        ax.set_xticks(ticks)
        ax.set_xticklabels([f'{x:.2f}' for x in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    if not drawn:
        ax.text(
            0.5,
            0.5,
            'no linear or kNN accuracy to show',
            ha='center',
            va='center',
            transform=ax.transAxes)
    else:
        ax.legend(loc='best', fontsize=8)
    ax.set_xlabel('FLOPs (G, 224x224)')
    ax.set_ylabel('top-1 accuracy (%)')
    ax.set_title(f'Accuracy vs FLOPs per width ({results.get("scale")})')
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    fig.savefig(path, format='png')
    plt.close(fig)
    return path


def write_report(results: dict,
                 work_dir: str,
                 plot: bool = True) -> List[Optional[str]]:
    """Write ``results.json``, ``results.md`` and ``results.png``.

    Args:
        results (dict): the benchmark results.
        work_dir (str): where the three files go.
        plot (bool): also draw the PNG.

    Returns:
        list: the paths of the json, markdown and PNG files (PNG ``None``
        when not drawn).
    """
    os.makedirs(work_dir, exist_ok=True)
    paths = [
        osp.join(work_dir, f'results.{ext}') for ext in ('json', 'md', 'png')
    ]
    with open(paths[0], 'w') as f:
        json.dump(results, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(_markdown(results))
    if plot:
        plot_results(results, paths[2])
    else:
        paths[2] = None
    return paths
