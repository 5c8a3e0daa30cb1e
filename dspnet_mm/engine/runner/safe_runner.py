import os
import os.path as osp
import pickle
import re
from typing import List, Optional, Tuple

from mmengine.dist import is_main_process, master_only
from mmengine.fileio.io import _parse_uri_prefix
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from mmpretrain.registry import RUNNERS

from ...utils.atomic import ATOMIC_BACKEND, TEMP_PATTERN
from ...utils.checkpoint import (CheckpointError, TornCheckpointError,
                                 check_safe_loading_env,
                                 load_checkpoint_safely, message_hub_state,
                                 plain_message_hub, safe_globals)

__all__ = ['SafeRunner', 'checkpoint_candidates']

#: File names of the checkpoints ``CheckpointHook`` writes by default.
_CKPT_NAME = re.compile(r'^(iter|epoch)_(\d+)\.pth$')


def checkpoint_candidates(work_dir: str) -> List[str]:
    """Checkpoints of ``work_dir`` to resume from, newest first.

    ``iter_N.pth`` / ``epoch_N.pth`` of the work dir (and of the directory
    that its ``last_checkpoint`` file names, if another) by ``N``; those of
    the kind ``last_checkpoint`` names come first, a file it names under
    another name before all. The ``last_checkpoint`` pointer alone is not
    trusted: mmengine writes it after the checkpoint, so a kill between the
    two leaves it one behind.
    """
    pointer_file = osp.join(work_dir, 'last_checkpoint')
    pointed = None
    if osp.isfile(pointer_file):
        with open(pointer_file) as f:
            pointed = f.read().strip() or None
    dirs = [work_dir]
    if pointed and osp.dirname(pointed) and osp.isdir(osp.dirname(pointed)):
        dirs.append(osp.dirname(pointed))
    kind = None
    if pointed:
        match = _CKPT_NAME.match(osp.basename(pointed))
        kind = match.group(1) if match else None
    found = {}
    for d in dirs:
        for name in os.listdir(d):
            match = _CKPT_NAME.match(name)
            path = osp.join(d, name)
            if match and osp.isfile(path):
                found[osp.realpath(path)] = (match.group(1) == kind,
                                             int(match.group(2)), path)
    ordered = [p for _, _, p in sorted(found.values(), reverse=True)]
    if (pointed and osp.isfile(pointed)
            and osp.realpath(pointed) not in found):
        ordered.insert(0, pointed)
    return ordered


@RUNNERS.register_module()
class SafeRunner(Runner):
    """Mmengine's ``Runner`` whose checkpoints hold data only, are written
    atomically and resume from the last complete one.

    What changes against ``Runner`` (everything else is inherited):

    * **loading** (``--resume``, ``load_from``, ``tools/test.py``):
      :func:`dspnet_mm.utils.checkpoint.load_checkpoint_safely`, i.e.
      ``weights_only=True`` with the allow-list scoped to the call,
      ``meta['config']`` dropped unread (``Runner.resume`` would execute
      it), the message hub rebuilt from checked numbers. Only local files.
    * **auto resume** (``resume=True`` without ``load_from``): the newest
      checkpoint of the work dir that loads
      (:func:`checkpoint_candidates`); a torn one (what a kill during a
      write of another writer leaves) is skipped with a warning, an unsafe
      one stops the run. Leftover temporary files of a killed save are
      removed.
    * **saving**: the message hub as plain data, and the file written to a
      temporary name, flushed and renamed
      (:class:`dspnet_mm.utils.atomic.AtomicLocalBackend`), so a kill at any
      moment leaves the previous checkpoint and never a torn one.
    * **weight init** (``init_cfg=Pretrained``): inside the scoped
      allow-list; a file that safe loading refuses is one
      :class:`~dspnet_mm.utils.checkpoint.CheckpointError`.

    Known limit: mmengine's ``CheckpointHook`` deletes the oldest kept
    checkpoint *before* it saves the next one, so with
    ``max_keep_ckpts=1`` a kill during that save leaves no checkpoint.
    """

    def __init__(self, *args, **kwargs):
        check_safe_loading_env()
        super().__init__(*args, **kwargs)
        self._preloaded: Optional[Tuple[str, dict]] = None

    # ---------------------------------------------------------- loading

    def load_checkpoint(self,
                        filename: str,
                        map_location='cpu',
                        strict: bool = False,
                        revise_keys: list = [(r'^module.', '')]):
        """``Runner.load_checkpoint`` through the safe loader."""
        if self._preloaded is not None and self._preloaded[0] == filename:
            checkpoint = self._preloaded[1]
        else:
            checkpoint = load_checkpoint_safely(filename, map_location)
        self._preloaded = None
        if not isinstance(checkpoint, dict):
            raise CheckpointError(f'{filename} holds no checkpoint dict')
        if 'message_hub' in checkpoint:
            checkpoint['message_hub'] = message_hub_state(
                checkpoint['message_hub'])
        self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        checkpoint = _load_checkpoint_to_model(
            model, checkpoint, strict, revise_keys=revise_keys)
        self._has_loaded = True
        self.logger.info(f'Load checkpoint from {filename}')
        return checkpoint

    def resume(self, filename: str, *args, **kwargs) -> None:
        checkpoint_keys = ('meta', 'state_dict', 'message_hub')
        if self._preloaded is None or self._preloaded[0] != filename:
            self._preloaded = (filename, load_checkpoint_safely(filename))
        missing = [k for k in checkpoint_keys if k not in self._preloaded[1]]
        if missing or 'iter' not in self._preloaded[1]['meta']:
            raise CheckpointError(
                f'cannot resume from {filename!r}: it is no training '
                f'checkpoint (no {", ".join(missing) or "meta.iter"})')
        super().resume(filename, *args, **kwargs)

    def load_or_resume(self) -> None:
        if self._has_loaded or not (self._resume and self._load_from is None):
            return super().load_or_resume()
        self._remove_stale_temp_files()
        for path in checkpoint_candidates(self.work_dir):
            try:
                self._preloaded = (path, load_checkpoint_safely(path))
            except TornCheckpointError as e:
                self.logger.warning(f'not resuming from a torn file: {e}')
                continue
            self.logger.info(
                f'Auto resumed from the latest complete checkpoint {path}.')
            self.resume(path)
            self._has_loaded = True
            return
        self.logger.info('No complete checkpoint to resume from in '
                         f'{self.work_dir}: training from the start.')

    def _remove_stale_temp_files(self) -> None:
        if not is_main_process() or not osp.isdir(self.work_dir):
            return
        for name in os.listdir(self.work_dir):
            match = TEMP_PATTERN.match(name)
            if match and int(match.group('pid')) != os.getpid():
                os.remove(osp.join(self.work_dir, name))
                self.logger.info(f'removed {name}, left by a killed save')

    def _init_model_weights(self) -> None:
        try:
            with safe_globals():
                super()._init_model_weights()
        except (pickle.UnpicklingError, EOFError) as e:
            self._refuse_pretrained(e)
        except RuntimeError as e:
            if 'PytorchStreamReader' not in str(e):
                raise
            self._refuse_pretrained(e)

    def _refuse_pretrained(self, error: Exception) -> None:
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        files = []
        for m in model.modules():
            cfgs = getattr(m, 'init_cfg', None)
            cfgs = cfgs if isinstance(cfgs, (list, tuple)) else [cfgs]
            files += [
                c['checkpoint'] for c in cfgs if isinstance(c, dict)
                and c.get('type') == 'Pretrained' and c.get('checkpoint')
            ]
        lines = str(error).splitlines() or [type(error).__name__]
        line = next((x for x in lines if 'GLOBAL' in x), lines[0])
        raise CheckpointError(
            'init_cfg=Pretrained: cannot load '
            f'{", ".join(sorted(set(files))) or "its checkpoint"} safely: '
            f'{line.strip()}') from None

    # ----------------------------------------------------------- saving

    @master_only
    def save_checkpoint(self, out_dir: str, filename: str, *args,
                        **kwargs) -> None:
        """``Runner.save_checkpoint``, written atomically when local."""
        file_client_args = kwargs.get('file_client_args',
                                      args[0] if args else None)
        if (kwargs.get('backend_args') is None and file_client_args is None
                and _parse_uri_prefix(out_dir) == ''):
            kwargs['backend_args'] = dict(backend=ATOMIC_BACKEND)
        super().save_checkpoint(out_dir, filename, *args, **kwargs)

    def call_hook(self, fn_name: str, **kwargs) -> None:
        super().call_hook(fn_name, **kwargs)
        if fn_name == 'before_save_checkpoint':
            # after every hook: what is written is plain data
            checkpoint = kwargs['checkpoint']
            checkpoint['message_hub'] = plain_message_hub(
                checkpoint['message_hub'])
