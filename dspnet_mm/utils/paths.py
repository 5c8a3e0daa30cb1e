"""Where the configs and tools that ship with dspnet_mm are.

As in OpenMMLab packages (mmpretrain, mmdet, ...), an installed dspnet_mm
carries ``configs/``, ``tools/`` and ``model-index.yml`` as package data
under ``dspnet_mm/.mim/`` (``setup.py`` copies them there when it builds a
wheel). In a source checkout (and an editable install of one) they are the
checkout's own folders next to the package. Nothing else finds them: every
path below comes from :func:`resource_root`.
"""
import os.path as osp

__all__ = [
    'ResourceError', 'config_path', 'package_dir', 'resolve_config',
    'resource_root', 'tool_path'
]


class ResourceError(FileNotFoundError):
    """A shipped config or tool that is not where it should be."""


def package_dir() -> str:
    """The directory of the imported ``dspnet_mm`` package."""
    return osp.dirname(osp.dirname(osp.abspath(__file__)))


def resource_root() -> str:
    """The folder holding ``configs/`` and ``tools/``.

    ``dspnet_mm/.mim`` of an installed package, else the source checkout
    around the package.

    Raises:
        ResourceError: neither is there (a package built without them).
    """
    pkg = package_dir()
    for root in (osp.join(pkg, '.mim'), osp.dirname(pkg)):
        if (osp.isdir(osp.join(root, 'configs'))
                and osp.isdir(osp.join(root, 'tools'))):
            return root
    raise ResourceError(
        f'dspnet_mm at {pkg} has no configs/ and tools/ (neither in '
        f'{osp.join(pkg, ".mim")} nor beside it): install it with '
        '`pip install .` from a checkout, which ships them')


def config_path(rel: str) -> str:
    """Absolute path of a shipped config, ``rel`` to ``configs/``."""
    path = osp.join(resource_root(), 'configs', rel)
    if not osp.isfile(path):
        raise ResourceError(f'no config {rel!r} in {osp.dirname(path)}')
    return path


def tool_path(rel: str) -> str:
    """Absolute path of a shipped tool, ``rel`` to ``tools/``."""
    path = osp.join(resource_root(), 'tools', rel)
    if not osp.isfile(path):
        raise ResourceError(f'no tool {rel!r} in {osp.dirname(path)}')
    return path


def resolve_config(arg: str) -> str:
    """A config argument as the user typed it, made a path.

    An existing file is taken as it is. Otherwise ``configs/<rel>`` (as the
    README writes it) or ``<rel>`` names a shipped config, so the README's
    commands also work from outside the checkout with an installed package.
    Anything else is returned unchanged (the tool reports it missing).
    """
    if osp.exists(arg) or osp.isabs(arg):
        return arg
    rel = arg[len('configs/'):] if arg.startswith('configs/') else arg
    try:
        return config_path(rel)
    except ResourceError:
        return arg
