from .dspnet_distill_hook import DSPNetDistillHook

__all__ = ['DSPNetDistillHook']
