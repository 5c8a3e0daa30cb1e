"""``compile=True`` (mmengine) with dspnet_mm models: what works, what not.

* SlimmableResNet compiles: under ``torch.compile`` every slimmable conv
  takes the plain weight view (the evaluation slice cache steps aside,
  :meth:`~dspnet_mm.models.layers.SlimmableConv2d._sliced_weight`), and a
  compiled classifier trains at a sub-width with the eager losses
  (``tests/engine/test_compile.py``).
* DSPNet does not: with torch 2.14.1 its compiled ``train_step`` fails
  inside torch on CPU (inductor: ``TypeError: expected Tensor() for op:
  input`` in the compiled backward; ``backend='aot_eager'``: dynamo fails
  in mmpretrain's LARS step). A DSPNet config that sets ``compile`` is
  refused before the Runner is built, with this reason, rather than
  failing after minutes of compilation.
"""

__all__ = ['CompileError', 'check_compile']

#: Model types whose compiled train_step is known to fail.
REFUSED = {
    'DSPNet': ('its compiled train_step fails inside torch 2.14.1 (inductor: '
               "'expected Tensor() for op: input' in the compiled backward; "
               "backend='aot_eager': dynamo in the LARS optimizer step)"),
}


class CompileError(ValueError):
    """A config whose ``compile`` setting cannot work."""


def check_compile(cfg) -> None:
    """Refuse ``compile`` for models in :data:`REFUSED`, naming the fix."""
    if not cfg.get('compile'):
        return
    model = cfg.get('model') or {}
    kind = model.get('type') if isinstance(model, dict) else None
    kind = kind.split('.')[-1] if isinstance(kind, str) else kind
    if kind in REFUSED:
        raise CompileError(
            f'compile is not supported for {kind}: {REFUSED[kind]}. Train '
            'without it (remove `compile` from the config or pass '
            '--cfg-options compile=None)')
