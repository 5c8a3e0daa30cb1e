"""The tools' warning filter hides the known upstream notices only."""
import warnings

import pytest

from dspnet_mm.utils.quiet import filter_upstream_warnings

PKG_RESOURCES = ('pkg_resources is deprecated as an API. See '
                 'https://setuptools.pypa.io/en/latest/pkg_resources.html.')
ALPHA = "Only use 'alpha' for pillow backend."


def _shown(message, category, module):
    """Whether a warning attributed to ``module`` is shown after the filter
    (everything else set to 'always')."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        filter_upstream_warnings()
        warnings.warn_explicit(
            message,
            category,
            f'{module.replace(".", "/")}.py',
            1,
            module=module)
    return [str(w.message) for w in caught] == [message]


@pytest.mark.parametrize('message,category,module', [
    (PKG_RESOURCES, UserWarning, 'mmengine.utils.package_utils'),
    (PKG_RESOURCES, UserWarning, 'importlib'),
    (ALPHA, UserWarning, 'mmcv.image.photometric'),
    ('np.bool8 is a deprecated alias', DeprecationWarning, 'mmdet.models'),
    ('`torch.cuda.amp.autocast(args...)` is deprecated', FutureWarning,
     'mmengine.runner.amp'),
    ('torch.meshgrid: in an upcoming release', PendingDeprecationWarning,
     'mmseg.models.decode_heads'),
])
def test_known_upstream_warnings_are_hidden(message, category, module):
    assert not _shown(message, category, module)


@pytest.mark.parametrize(
    'message,category,module',
    [
        # ours, whatever the category
        ('a deprecation of ours', DeprecationWarning, 'dspnet_mm.slim.export'),
        ('a notice of ours', UserWarning, 'dspnet_mm.benchmark.runner'),
        (ALPHA, UserWarning, 'dspnet_mm.utils.compat'),
        # upstream, but not one of the known notices
        ('something new in mmcv', UserWarning, 'mmcv.cnn'),
        ('RuntimeWarning from mmdet', RuntimeWarning, 'mmdet.models'),
        # other packages' and user code's deprecations
        ('a torch deprecation', DeprecationWarning, 'torch.nn.modules'),
        ('user code', FutureWarning, '__main__'),
        # a module merely named like an upstream one
        ('lookalike', DeprecationWarning, 'mmdetection_tools'),
    ])
def test_other_warnings_still_show(message, category, module):
    assert _shown(message, category, module)
