from .export import (SOURCE_PREFIXES, ExportError, complexity,
                     downstream_overrides, export_widths, inspect_backbone,
                     slice_width, width_tag)

__all__ = [
    'ExportError', 'SOURCE_PREFIXES', 'complexity', 'downstream_overrides',
    'export_widths', 'inspect_backbone', 'slice_width', 'width_tag'
]
