"""Export of any trained width to a plain ResNet, and transfer configs.

:mod:`.export` slices a SlimmableResNet checkpoint, :mod:`.plain` re-saves a
ResNet pretrained one by one, both in the file format of
:mod:`.file_format`; :mod:`.transfer` points stock configs at such a file.
"""
from .export import (SOURCE_PREFIXES, ExportError, complexity, export_widths,
                     inspect_backbone, slice_width, width_tag)
from .file_format import FLOPS_INPUT, export_meta, file_sha256, infer_depth
from .plain import export_plain_resnet
from .transfer import (TRANSFER_TASKS, TransferError, apply_width,
                       downstream_overrides, read_export_meta,
                       verify_backbone_loaded)

__all__ = [
    'ExportError', 'FLOPS_INPUT', 'SOURCE_PREFIXES', 'complexity',
    'downstream_overrides', 'export_meta', 'export_plain_resnet',
    'export_widths', 'file_sha256', 'infer_depth', 'inspect_backbone',
    'slice_width', 'width_tag', 'TRANSFER_TASKS', 'TransferError',
    'apply_width', 'read_export_meta', 'verify_backbone_loaded'
]
