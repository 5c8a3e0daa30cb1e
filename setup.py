import os.path as osp
import re
import shutil
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: Shipped as package data under dspnet_mm/.mim, as OpenMMLab packages do
#: (dspnet_mm.utils.paths finds them there, or in a source checkout).
MIM_FILES = ('configs', 'tools', 'model-index.yml')


class build_py_with_mim(build_py):
    """build_py, plus configs/, tools/ and model-index.yml copied into
    ``dspnet_mm/.mim`` of the build (never into the source tree)."""

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return  # an editable install reads them from the checkout
        mim = osp.join(self.build_lib, 'dspnet_mm', '.mim')
        for name in MIM_FILES:
            src, dst = osp.join(HERE, name), osp.join(mim, name)
            if osp.isdir(src):
                shutil.copytree(
                    src,
                    dst,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            else:
                shutil.copy2(src, dst)


def readme():
    with open(osp.join(HERE, 'README.md'), encoding='utf-8') as f:
        return f.read()


def version():
    with open(osp.join(HERE, 'dspnet_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='dspnet_mm',
    version=version(),
    description='Slimmable self-supervised pretraining (DSPNet) for the '
    'OpenMMLab stack',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'tests.*')),
    python_requires='>=3.9',
    # The stack is pinned in requirements/runtime.txt and installed by
    # scripts/setup_env.sh: mmcv needs compiled ops, which pip alone cannot
    # guarantee, so (as mmpretrain does) it is not an install requirement.
    # mmdet and mmseg are optional: SlimmableResNet registers into them
    # when they are installed (transfer benchmarks need them).
    install_requires=['mmengine', 'mmpretrain', 'matplotlib'],
    extras_require={
        'det': ['mmdet'],
        'seg': ['mmsegmentation', 'ftfy', 'regex'],
    },
    entry_points={'console_scripts': ['dspnet-mm = dspnet_mm.cli:main']},
    cmdclass={'build_py': build_py_with_mim},
    zip_safe=False)
