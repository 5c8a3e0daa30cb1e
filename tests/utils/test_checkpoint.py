"""Safe loading: scoped allow-list, plain message hub, refused payloads."""
import collections
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from dspnet_mm.utils.checkpoint import (HUB_FORMAT, CheckpointError,
                                        TornCheckpointError,
                                        load_checkpoint_safely,
                                        message_hub_state, plain_message_hub)


class _Payload:

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


@pytest.fixture
def method_table():
    """Snapshot of HistoryBuffer's class-level table, restored after."""
    saved = dict(HistoryBuffer._statistics_methods)
    yield saved
    HistoryBuffer._statistics_methods.clear()
    HistoryBuffer._statistics_methods.update(saved)


def _hub(name):
    hub = MessageHub.get_instance(name)
    for v in (4.0, 3.5, 3.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    hub.update_info('eta', np.float64(1.5))
    return hub


def _legacy_state(extra=None):
    """How older dspnet_mm versions pickled a buffer: its numpy arrays."""
    state = dict(
        _log_history=np.array([4.0, 3.5]),
        _count_history=np.array([1, 1]),
        max_length=1000000)
    state.update(extra or {})
    return state


def _save_legacy(path, monkeypatch, extra=None):
    monkeypatch.setattr(HistoryBuffer, '__getstate__',
                        lambda self: _legacy_state(extra))
    hub = dict(
        log_scalars={'train/loss': HistoryBuffer()},
        runtime_info={'iter': 2},
        resumed_keys={
            'train/loss': True,
            'iter': True
        })
    torch.save(dict(meta=dict(iter=2), state_dict={}, message_hub=hub), path)
    monkeypatch.undo()


def _unsafe_names(path):
    return set(torch.serialization.get_unsafe_globals_in_checkpoint(path))


def test_allow_list_is_scoped_to_our_loads(tmp_path, monkeypatch):
    legacy = str(tmp_path / 'legacy.pth')
    _save_legacy(legacy, monkeypatch)
    assert 'mmengine.logging.history_buffer.HistoryBuffer' in _unsafe_names(
        legacy)
    before = set(torch.serialization.get_safe_globals())
    names = {getattr(g, '__name__', str(g)) for g in before}
    assert not names & {'HistoryBuffer', 'ndarray', '_reconstruct'}
    # torch's own loader: no process-wide allow-list lets the buffer in
    with pytest.raises(Exception, match='HistoryBuffer'):
        torch.load(legacy)
    ckpt = load_checkpoint_safely(legacy)
    hub = ckpt['message_hub']
    assert hub['format'] == HUB_FORMAT
    assert hub['log_scalars']['train/loss'] == dict(
        log_history=[4.0, 3.5], count_history=[1, 1], max_length=1000000)
    assert set(torch.serialization.get_safe_globals()) == before


def test_history_buffer_state_cannot_write_class_state(tmp_path, monkeypatch,
                                                       method_table):
    poisoned = str(tmp_path / 'poisoned.pth')
    _save_legacy(
        poisoned, monkeypatch,
        dict(
            statistics_methods=dict(
                mean=collections.OrderedDict, current=collections.Counter)))
    ckpt = load_checkpoint_safely(poisoned)
    assert HistoryBuffer._statistics_methods == method_table
    state = message_hub_state(ckpt['message_hub'])
    buf = state['log_scalars']['train/loss']
    assert type(buf) is HistoryBuffer
    assert buf.statistics('mean') == 3.75 and buf.current() == 3.5


@pytest.mark.parametrize('where', ['meta', 'message_hub', 'state_dict'])
def test_nested_payload_is_refused(tmp_path, where):
    marker = str(tmp_path / 'MARKER')
    ckpt = dict(
        meta=dict(iter=1),
        state_dict=dict(w=torch.zeros(2)),
        message_hub=plain_message_hub(_hub('nested').state_dict()))
    payload = [dict(deep=(1, _Payload(marker)))]
    if where == 'meta':
        ckpt['meta']['dataset_meta'] = dict(classes=payload)
    elif where == 'message_hub':
        ckpt['message_hub']['runtime_info']['x'] = payload
    else:
        ckpt['state_dict']['x'] = payload
    path = str(tmp_path / 'evil.pth')
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match='posix.system') as info:
        load_checkpoint_safely(path)
    assert not isinstance(info.value, TornCheckpointError)
    assert path in str(info.value)
    assert not osp.exists(marker)


def test_message_hub_round_trip_as_plain_data(tmp_path):
    hub = _hub('round-trip')
    plain = plain_message_hub(hub.state_dict())
    assert plain['runtime_info']['eta'] == 1.5
    assert type(plain['runtime_info']['eta']) is float
    path = str(tmp_path / 'plain.pth')
    torch.save(
        dict(
            meta=dict(iter=3, config='x = 1'),
            state_dict={},
            message_hub=plain), path)
    # plain data: torch's stock loader needs no allow-list
    assert _unsafe_names(path) == set()
    ckpt = load_checkpoint_safely(path)
    assert 'config' not in ckpt['meta']  # dropped unread
    restored = MessageHub.get_instance('restored')
    restored.load_state_dict(message_hub_state(ckpt['message_hub']))
    loss = restored.get_scalar('train/loss')
    assert loss.data[0].tolist() == [4.0, 3.5, 3.0]
    assert loss.mean(2) == 3.25
    assert restored.get_info('iter') == 3


@pytest.mark.parametrize('bad', [
    dict(log_history=['1'], count_history=[1], max_length=5),
    dict(log_history=[1.0], count_history=[1, 1], max_length=5),
    dict(log_history=[1.0], count_history=[1], max_length=0),
    'not a buffer',
])
def test_malformed_message_hub_is_refused(tmp_path, bad):
    path = str(tmp_path / 'bad.pth')
    torch.save(
        dict(
            meta=dict(iter=1),
            state_dict={},
            message_hub=dict(
                format=HUB_FORMAT,
                log_scalars={'train/loss': bad},
                runtime_info={},
                resumed_keys={})), path)
    with pytest.raises(CheckpointError, match='train/loss'):
        message_hub_state(load_checkpoint_safely(path)['message_hub'])


def test_torn_and_foreign_files(tmp_path):
    good = str(tmp_path / 'good.pth')
    torch.save(dict(meta=dict(iter=1), state_dict=dict(w=torch.ones(3))), good)
    with open(good, 'rb') as f:
        data = f.read()
    for name, content in (('half', data[:len(data) // 2]), ('empty', b''),
                          ('text', b'hello world' * 20)):
        path = str(tmp_path / f'{name}.pth')
        with open(path, 'wb') as f:
            f.write(content)
        with pytest.raises(TornCheckpointError, match='not a complete'):
            load_checkpoint_safely(path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint_safely(str(tmp_path / 'missing.pth'))
    with pytest.raises(CheckpointError, match='only local'):
        load_checkpoint_safely('https://example.com/x.pth')
