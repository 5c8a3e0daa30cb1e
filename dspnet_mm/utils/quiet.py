"""Known upstream warnings that our tools filter, and nothing else.

Every training log of the pinned stack opened with the same lines, repeated
per run, none of them actionable for a user of dspnet_mm:

* setuptools' ``pkg_resources is deprecated as an API`` (mmengine imports
  ``pkg_resources`` to find installed packages);
* mmcv's ``Only use 'alpha' for pillow backend`` (mmcv 2.1.0's
  ``adjust_contrast``, called by every ColorJitter of the BYOL pipeline);
* deprecation notices that numpy and torch raise in code of the OpenMMLab
  packages (``DeprecationWarning``, ``PendingDeprecationWarning``,
  ``FutureWarning`` attributed to a module of mmengine, mmcv, mmpretrain,
  mmdet or mmseg).

The tools call :func:`filter_upstream_warnings` first thing; importing
dspnet_mm changes no warning filter. Warnings attributed to dspnet_mm, to
user code or to any other package still show.
"""
import warnings

__all__ = ['UPSTREAM_MODULES', 'filter_upstream_warnings']

#: The packages whose deprecation notices are not ours to act on.
UPSTREAM_MODULES = r'(mmengine|mmcv|mmpretrain|mmdet|mmseg)(\.|$)'

#: (message regex, category, module regex) of the individual notices; the
#: pkg_resources one is attributed to whichever module imports it.
_NOTICES = (
    (r'pkg_resources is deprecated as an API', UserWarning, ''),
    (r"Only use 'alpha' for pillow backend", UserWarning, r'mmcv(\.|$)'),
)
_DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def filter_upstream_warnings() -> None:
    """Ignore the known upstream warnings (see the module docstring)."""
    for message, category, module in _NOTICES:
        warnings.filterwarnings(
            'ignore', message=message, category=category, module=module)
    for category in _DEPRECATIONS:
        warnings.filterwarnings(
            'ignore', category=category, module=UPSTREAM_MODULES)
