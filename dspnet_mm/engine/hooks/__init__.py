from .dspnet_distill_hook import DSPNetDistillHook
from .train_time_hook import TrainTimeHook

__all__ = ['DSPNetDistillHook', 'TrainTimeHook']
