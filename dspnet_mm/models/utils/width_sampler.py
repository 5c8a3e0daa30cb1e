import random
from typing import List, Sequence

from ..layers import GRID, check_width


class WidthSampler:
    """The sandwich rule of slimmable training (Yu & Huang, `US-Nets
    <https://arxiv.org/abs/1903.05134>`_).

    Every step trains the largest and the smallest width, plus
    ``num_sampled`` more: drawn from the fixed list ``widths``, or, in
    universal mode, from the ``1/64`` channel grid between them. Draws
    depend only on ``(seed, step)``, so every DDP rank samples the same
    widths and a resumed run samples what the uninterrupted one did.

    Args:
        widths (Sequence[float]): the trained widths (the range ends in
            universal mode).
        num_sampled (int): widths drawn besides the largest and smallest.
        universal (bool): sample from the grid instead of the list.
        seed (int): seed of the draws.
    """

    def __init__(self,
                 widths: Sequence[float],
                 num_sampled: int = 2,
                 universal: bool = False,
                 seed: int = 0):
        self.widths = sorted({check_width(w) for w in widths})
        if num_sampled < 0:
            raise ValueError(f'num_sampled must be >= 0, got {num_sampled}')
        self.num_sampled = num_sampled
        self.universal = universal
        self.seed = seed
        lo, hi = self.widths[0], self.widths[-1]
        if universal:
            self.pool = [
                c / GRID
                for c in range(round(lo * GRID) + 1, round(hi * GRID))
            ]
        else:
            self.pool = self.widths[1:-1]

    @property
    def max_width(self) -> float:
        return self.widths[-1]

    @property
    def min_width(self) -> float:
        return self.widths[0]

    def sample(self, step: int) -> List[float]:
        """Widths for ``step``, largest first, smallest last."""
        rng = random.Random(self.seed * 1_000_003 + int(step))
        k = min(self.num_sampled, len(self.pool))
        middle = rng.sample(self.pool, k) if k else []
        widths = {self.max_width, self.min_width, *middle}
        return sorted(widths, reverse=True)
