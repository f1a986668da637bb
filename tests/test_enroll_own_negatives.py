"""Own-voice negatives: pieces of your takes, mixed take-free, trained on with their take only."""
from __future__ import annotations

import numpy as np
import pytest

from model.audio.features import SAMPLE_RATE_HZ
from model.enroll.negatives import own_negative_clips, take_fragments, with_negatives
from model.enroll.personal import ClipSet, PersonalDataConfig, write_split
from model.enroll.standin import standin_takes
from model.enroll.takes import check_take
from model.data.dataset import load_dataset


@pytest.fixture(scope="module")
def takes():
    """Two trimmed stand-in takes of "activate"."""
    return [check_take(t, f"take {i}")[1] for i, t in enumerate(standin_takes("activate", 2, seed=3))]


def test_fragments_are_the_take_reversed_cut_and_swapped():
    take = np.sin(np.linspace(0, 300, SAMPLE_RATE_HZ // 2)).astype(np.float32) + 1.5  # no zeros
    rev, head, tail, swapped = take_fragments(take, np.random.default_rng(0))
    assert np.array_equal(rev, take[::-1])
    n = take.size
    assert 0.30 * n - 1 <= head.size <= 0.55 * n + 1 and 0.30 * n - 1 <= tail.size <= 0.55 * n + 1
    # head is the start of the take, tail its end, each faded to silence at the cut edges
    assert np.allclose(head[head.size // 2], take[head.size // 2])
    assert np.allclose(tail[-tail.size // 2], take[-tail.size // 2])
    assert head[0] == 0 and head[-1] == 0 and tail[0] == 0 and tail[-1] == 0
    assert np.array_equal(swapped, np.concatenate([tail, head]))
    again = take_fragments(take, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(again, (rev, head, tail, swapped)))


def test_own_negative_clips_are_take_free_tagged_and_training_only(takes, tmp_path):
    from model.data.makedata import DEFAULT_CACHE_DIR
    cfg = PersonalDataConfig(own_negatives_total=2)
    assert cfg.own_negatives_per_take(2) == 1
    assert PersonalDataConfig(own_negatives_total=0).own_negatives_per_take(2) == 0
    assert PersonalDataConfig().own_negatives_per_take(5) == 20  # 96 shared, rounded up
    own = own_negative_clips(takes, "activate", cfg, DEFAULT_CACHE_DIR)
    assert own.x.shape == (2, 116, 96) and not np.asarray(own.y).any()
    assert own.take.tolist() == [0, 1] and own.only_for_training().all()
    assert np.isfinite(np.asarray(own.x, np.float32)).all()
    # the pieces are heard: the two takes' clips differ
    assert not np.array_equal(own.x[0], own.x[1])
    none = own_negative_clips(takes, "activate", PersonalDataConfig(own_negatives_total=0),
                              DEFAULT_CACHE_DIR)
    assert none.x.shape == (0, 116, 96) and none.only_for_training().shape == (0,)

    # appended to a take's clips: trained on with take 0, gone with it when take 0 is held out
    y = np.zeros((2, 116, 1), np.float16)
    y[:, 40:45] = 1
    plain = ClipSet(np.zeros((2, 116, 96), np.float16), y, np.array([0, 1]))
    both = with_negatives(plain, own)
    assert both.judged([0]).tolist() == [True, False, False, False]
    assert both.trained([0]).tolist() == [False, True, False, True]
    dev = ClipSet(own.x[:1], np.zeros((1, 116, 1), np.float16), np.full(1, -1))
    write_split(tmp_path / "ds", both, dev, [0], "activate", cfg, {})
    data = load_dataset(tmp_path / "ds")
    assert (data.n_train, data.n_dev) == (2, 2)


def test_own_voice_clips_count_as_false_accepts_only_when_asked(monkeypatch):
    from model.enroll import pipeline
    calls = []

    def fake_predict(path, x):
        calls.append(len(x))
        return np.zeros((len(x), 116), np.float32)
    monkeypatch.setattr(pipeline, "predict", fake_predict)
    y = np.zeros((6, 116, 1), np.float16)
    y[[0, 1, 3], 40:45] = 1  # plain clips of takes 0 and 1, and a wider-recipe clip with the word
    take = np.array([0, 1, 0, 0, 0, 1])
    only = np.array([False, False, True, True, True, True])  # 2: take-free piece clip of take 0
    clips = ClipSet(np.zeros((6, 116, 96), np.float16), y, take, [], only)
    dev = ClipSet(np.zeros((2, 116, 96), np.float16), np.zeros((2, 116, 1), np.float16), np.full(2, -1))
    base = type("B", (), {"path": "base"})()
    plain, mine = pipeline._Scores(), pipeline._Scores()
    pipeline._score_fold(plain, clips, dev, [0], base, "m", last=False)
    pipeline._score_fold(mine, clips, dev, [0], base, "m", last=False, own_voice=True)
    assert len(plain.take_rows[0][2]) == 1  # the plain clip of take 0 only
    # plus take 0's take-free training-only clips (rows 2 and 4), not its clip with the word
    # (row 3) nor take 1's
    assert len(mine.take_rows[0][2]) == 3 and not np.asarray(mine.take_rows[0][2])[1:].any()


def test_spliced_sound_alikes_end_in_the_take_and_never_begin_like_the_word():
    from model.enroll.negatives import sound_alike_heads, splice_heads
    take = np.linspace(0.1, 1.0, 10_000, dtype=np.float32)
    head = np.full(4_000, -0.5, np.float32)
    (spliced,) = splice_heads(take, [head], np.random.default_rng(0))
    n_head = spliced.size - int(np.sum(spliced > 0))  # the head is negative, the take positive
    assert 0.30 * head.size - 1 <= n_head <= 0.45 * head.size + 1
    tail = spliced[n_head:]
    assert 0.50 * take.size - 1 <= tail.size <= 0.65 * take.size + 1
    assert np.allclose(tail[tail.size // 2], take[-tail.size + tail.size // 2])

    class Bank:  # the two WordBank members sound_alike_heads reads, and clip()
        words = ["captivate", "activity", "accurate", "motivate", "the", "activate"]

        def indices(self, trigger):
            return np.arange(5) if not trigger else np.asarray([5])

        def clip(self, i):
            return np.full(10, float(i), np.float32)
    heads = sound_alike_heads(Bank(), "activate", 8, np.random.default_rng(0))
    # near-misses only, and none that begins with the trigger's first letter
    assert sorted(int(h[0]) for h in heads) == [0, 3]
    assert sound_alike_heads(Bank(), "activate", 0, np.random.default_rng(0)) == []


def test_render_takes_seeds_each_clip_by_take_and_index(takes):
    from model.data.makedata import DEFAULT_CACHE_DIR, sources_with_pool
    from model.enroll.personal import _banks, render_takes
    from dataclasses import replace

    cfg = PersonalDataConfig()
    banks, _, _ = _banks("activate", cfg, DEFAULT_CACHE_DIR, None)
    base = sources_with_pool(cfg.synth_config("activate"), banks["train"], None, "train")
    srcs = [replace(base, triggers=[t]) for t in takes]
    recipe = cfg.synth_config("activate", takes=True)
    two = render_takes(srcs, 2, 7, 0, recipe, str, None, None, keep_audio=1)
    one = render_takes(srcs, 1, 7, 0, recipe, str, None, None)
    assert two.take.tolist() == [0, 0, 1, 1] and len(two.audio) == 2 and not one.audio
    # clip i of take j is the same whatever the count: a larger set only adds clips
    assert np.array_equal(one.x, two.x[[0, 2]]) and np.array_equal(one.y, two.y[[0, 2]])
    assert not np.array_equal(two.x[0], two.x[1])  # and each clip has its own draw
    other = render_takes(srcs, 1, 8, 0, recipe, str, None, None)  # another salt, other clips
    assert not np.array_equal(other.x, one.x)
    none = render_takes(srcs, 0, 7, 0, recipe, str, None, None)
    assert none.x.shape == (0, 116, 96) and none.take.shape == (0,)
