from .export import (SOURCE_PREFIXES, ExportError, complexity,
                     downstream_overrides, export_widths, inspect_backbone,
                     slice_width, width_tag)
from .transfer import (TRANSFER_TASKS, TransferError, apply_width,
                       read_export_meta, verify_backbone_loaded)

__all__ = [
    'ExportError', 'SOURCE_PREFIXES', 'complexity', 'downstream_overrides',
    'export_widths', 'inspect_backbone', 'slice_width', 'width_tag',
    'TRANSFER_TASKS', 'TransferError', 'apply_width', 'read_export_meta',
    'verify_backbone_loaded'
]
