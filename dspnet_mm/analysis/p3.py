"""P3: the GPU path (AMP + channels_last, batch >= 64).

Images/s and ``torch.cuda.max_memory_allocated`` of a DSPNet-R50 step
(all widths) against BYOL-R50 steps per width; skipped without CUDA. With
``p3_device='cpu'`` the same code path runs as a smoke test (bf16).
"""
import time

import torch

from .options import PROJECTOR_IMAGENET, R50_CFG, WIDTHS, SpeedOptions
from .p2 import build_model, p2_configs, synthetic_batch

__all__ = ['part_p3']


def part_p3(args: SpeedOptions) -> None:
    device = torch.device(args.p3_device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print('\n## P3  P3 skipped: no CUDA device (torch.cuda.is_available()'
              ' is False; this task was lent no GPU)')
        return
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    b, px = args.p3_batch, args.p3_px
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    print(f'\n## P3  {device.type.upper()} step, AMP ({dtype}) + '
          f'channels_last, batch {b} @ {px} px, two views: DSPNet-R50 (all '
          'widths) vs BYOL-R50 per width (ImageNet projector)')
    if device.type == 'cuda':
        print(f'device: {torch.cuda.get_device_name(device)}')
    cfgs = p2_configs(R50_CFG, PROJECTOR_IMAGENET)
    data = synthetic_batch(b, px, device)
    results = {}
    names = ['dspnet'] + list(WIDTHS)
    for name in names:
        torch.manual_seed(0)
        model, wrapper = build_model(cfgs[name], device)
        model = model.to(memory_format=torch.channels_last)
        opt = wrapper.optimizer
        scaler = (
            torch.amp.GradScaler('cuda') if device.type == 'cuda' else None)

        def step(model=model, opt=opt, scaler=scaler):
            batch = model.data_preprocessor(data, True)
            batch['inputs'] = [
                v.contiguous(memory_format=torch.channels_last)
                for v in batch['inputs']
            ]
            with torch.autocast(device.type, dtype=dtype):
                losses = model(**batch, mode='loss')
                loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()

        for _ in range(args.p3_warmup):
            step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        t = time.perf_counter()
        for _ in range(args.p3_steps):
            step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        sec = (time.perf_counter() - t) / args.p3_steps
        mem = (
            torch.cuda.max_memory_allocated(device) /
            2**20 if device.type == 'cuda' else float('nan'))
        results[name] = (sec, mem)
        label = 'DSPNet-R50' if name == 'dspnet' else f'BYOL-R50 w{name}'
        print(f'{label:<16} {sec * 1e3:9.1f} ms/step  {b / sec:8.1f} img/s  '
              f'max allocated {mem:8.0f} MiB')
        del model, wrapper, opt
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    byol = sum(results[w][0] for w in WIDTHS)
    print(f'step time DSPNet / sum BYOL: {results["dspnet"][0] / byol:.3f}; '
          f'peak memory DSPNet / BYOL w1.0: '
          f'{results["dspnet"][1] / results[1.0][1]:.2f}')
