"""Make a run from an exported width fail, not warn, on a wrong width."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS
from ..slim.transfer import verify_backbone_loaded

__all__ = ['VerifyBackboneHook']


def _pretrained_checkpoint(backbone):
    init_cfg = getattr(backbone, 'init_cfg', None)
    cfgs = init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]
    for cfg in cfgs:
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            return cfg.get('checkpoint')
    return None


@HOOKS.register_module()
class VerifyBackboneHook(Hook):
    """Stop training unless ``model.backbone`` is exactly its exported width.

    mmengine's ``Pretrained`` init only *warns* about missing, unexpected or
    mis-shaped keys, so a config built for one width and given the file of
    another would train from a partly random backbone. Before the first
    iteration (after weight init) this hook checks with
    :func:`dspnet_mm.slim.transfer.verify_backbone_loaded` that the backbone
    has the key set and shapes of the file its ``Pretrained`` ``init_cfg``
    names and holds exactly its tensors, and raises otherwise.

    A run that resumes or starts from ``load_from`` holds other weights by
    design; it was checked when it started from the exported width, and is
    not checked again.
    """

    priority = 'VERY_HIGH'

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        backbone = getattr(model, 'backbone', None)
        checkpoint = _pretrained_checkpoint(backbone)
        if not checkpoint:
            raise ValueError(
                'VerifyBackboneHook: model.backbone has no Pretrained '
                'init_cfg with a checkpoint. Point it at an exported width '
                '(tools/slim_checkpoint.py), e.g. --cfg-options '
                'model.backbone.init_cfg.checkpoint=resnet50_w0.5.pth plus '
                'that width\'s channels (dspnet_mm.slim.apply_width).')
        # private flag, but the only record of resume / load_from
        if getattr(runner, '_has_loaded', False):
            runner.logger.info(
                'VerifyBackboneHook: weights come from a resumed or loaded '
                'checkpoint; the exported width is not re-checked')
            return
        num = verify_backbone_loaded(model, checkpoint)
        runner.logger.info(f'VerifyBackboneHook: the backbone holds all {num} '
                           f'tensors of {checkpoint}')
