from .safe_runner import SafeRunner, checkpoint_candidates

__all__ = ['SafeRunner', 'checkpoint_candidates']
