from .slimmable_nonlinear_neck import SlimmableNonLinearNeck

__all__ = ['SlimmableNonLinearNeck']
