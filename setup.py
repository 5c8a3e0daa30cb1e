from setuptools import find_packages, setup


def readme():
    with open('README.md', encoding='utf-8') as f:
        return f.read()


setup(
    name='dspnet_mm',
    version='0.1.0',
    description='Slimmable self-supervised pretraining (DSPNet) for the '
    'OpenMMLab stack',
    long_description=readme(),
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests')),
    python_requires='>=3.9',
    # The stack is pinned in requirements/runtime.txt and installed by
    # scripts/setup_env.sh (mmcv needs compiled ops, which pip alone cannot
    # guarantee); here we only name what the package imports.
    install_requires=['mmengine', 'mmpretrain'],
    zip_safe=False)
