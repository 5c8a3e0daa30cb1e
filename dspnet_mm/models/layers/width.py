"""The one width API of dspnet_mm: :func:`set_width` and :func:`width_context`.

Every slimmable op derives from :class:`SlimmableMixin` and only remembers
the active width; nothing threads a ``width=`` argument through ``forward``.
A width ``w`` means ``round(c * w)`` channels for a layer of ``c`` channels
at full width, and every width of a ResNet must put its base (64 channels)
on the integer grid, so that the sub-network at ``w`` is exactly a standard
ResNet with ``base_channels = stem_channels = 64 * w``.
"""
import math
from contextlib import contextmanager
from typing import Dict, Iterator

import torch.nn as nn

#: Channels of a ResNet's stem and first stage at width 1.0. Every width
#: must make ``GRID * w`` an integer.
GRID = 64


def check_width(width: float, grid: int = GRID) -> float:
    """Validate that ``width`` is in (0, 1] and on the ``grid`` channel grid.

    Args:
        width (float): the width multiplier.
        grid (int): channels at width 1.0 of the narrowest layer.

    Returns:
        float: ``width`` as a float.
    """
    try:
        width = float(width)
    except (TypeError, ValueError):
        raise ValueError(f'width must be a number, got {width!r}') from None
    if not math.isfinite(width) or not 0 < width <= 1:
        raise ValueError(f'width must be in (0, 1], got {width}')
    channels = grid * width
    if abs(channels - round(channels)) > 1e-6:
        lower = math.floor(channels) / grid
        upper = math.ceil(channels) / grid
        raise ValueError(
            f'width {width} is off the channel grid: {grid} * {width} = '
            f'{channels:g} channels is not an integer (nearest widths on the '
            f'grid: {lower:g}, {upper:g})')
    return width


_check_grid = check_width


def width_tag(width: float) -> str:
    """``0.5`` -> ``'0.5'``, ``1`` -> ``'1.0'``: in loss keys and file
    names."""
    return str(float(width))


def channels_at(channels: int, width: float) -> int:
    """Channels of a layer with ``channels`` at full width, at ``width``."""
    return int(round(channels * width))


class SlimmableMixin:
    """Marks a module whose active channels follow :func:`set_width`.

    Subclasses read ``self.width``; they may override :meth:`check_width`
    to refuse widths they have no state for (e.g. switchable BN).
    """

    width: float = 1.0

    def check_width(self, width: float) -> None:
        """Raise ``ValueError`` if this module cannot run at ``width``."""

    def set_width(self, width: float) -> None:
        """Switch this module alone (validated like :func:`set_width`)."""
        width = _check_grid(width)
        self.check_width(width)
        self.width = width


class WidthConstraint:
    """Marks a module that limits the widths of its whole subtree, e.g. a
    universal-mode backbone's range, which no single layer knows.

    :func:`set_width` (and so :func:`width_context`, BN recalibration and
    DSPNet's training) asks it, together with every slimmable op, before
    anything switches.
    """

    def check_width(self, width: float) -> None:
        """Raise ``ValueError`` if the subtree cannot run at ``width``."""


def slimmable_modules(module: nn.Module) -> Iterator[SlimmableMixin]:
    """All slimmable submodules of ``module`` (itself included)."""
    return (m for m in module.modules() if isinstance(m, SlimmableMixin))


def set_width(module: nn.Module, width: float) -> nn.Module:
    """Switch every slimmable submodule of ``module`` to ``width``.

    The width is validated against every width constraint and slimmable
    submodule before any of them is switched, so a refused width leaves the
    module as it was.

    Args:
        module (nn.Module): a backbone, neck, head or a whole model.
        width (float): the width multiplier, e.g. 0.25.

    Returns:
        nn.Module: ``module``, for chaining.
    """
    width = check_width(width)
    for m in module.modules():
        if isinstance(m, (SlimmableMixin, WidthConstraint)):
            m.check_width(width)
    for m in slimmable_modules(module):
        m.set_width(width)
    return module


def get_width(module: nn.Module) -> float:
    """The width ``module``'s slimmable submodules run at.

    Raises ``ValueError`` if it has none, or if they disagree.
    """
    widths = {m.width for m in slimmable_modules(module)}
    if len(widths) != 1:
        raise ValueError(
            'module has no slimmable submodules' if not widths else
            f'slimmable submodules run at different widths {sorted(widths)}')
    return widths.pop()


@contextmanager
def width_context(module: nn.Module, width: float):
    """Run ``module`` at ``width`` inside the block, then restore.

    Example:
        >>> with width_context(backbone, 0.5):
        ...     feats = backbone(img)
    """
    saved: Dict[SlimmableMixin, float] = {
        m: m.width
        for m in slimmable_modules(module)
    }
    set_width(module, width)
    try:
        yield module
    finally:
        for m, w in saved.items():
            m.width = w  # restores, switches nothing new
