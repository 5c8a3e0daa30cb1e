from .dspnet import DSPNet

__all__ = ['DSPNet']
