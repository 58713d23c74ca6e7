"""The attack generators of benchmarks/attacks against the current library (issue 12).

These assert what the generators render and what the library reads on it today: a folded print
turned by hand reads as a head turn past the 15° step threshold (today's weakness, which the
defence must catch by other evidence), a still frame is refused (static or frozen), and judging cached
per-frame analyses gives the same verdict as ``check_challenge`` on the same frames.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.attacks.analysis import FramePool, analyze_pool, assemble, judge_challenge  # noqa: E402
from benchmarks.attacks.performance import CachedPerformance, generate  # noqa: E402
from benchmarks.attacks.schedule import Schedule, make_schedule, plan_moves  # noqa: E402


def test_schedule_is_server_like_and_moves_follow_prompts():
    for seed in range(50):
        rng = np.random.default_rng(seed)
        s = make_schedule(["turn_left", "look_up", "move_closer"], rng)
        assert 1.0 <= s.prompt_at[0] <= 1.8
        assert all(2.0 <= b - a <= 2.8 for a, b in zip(s.prompt_at, s.prompt_at[1:]))
        assert s.capture_s == pytest.approx(s.prompt_at[-1] + 2.5)
        moves = plan_moves(s, rng)
        for m, p in zip(moves, s.prompt_at):
            assert m.start >= p + 0.3 and 0.4 <= m.rise <= 1.0
        assert all(b.start > a.end for a, b in zip(moves, moves[1:]))


def test_cached_sequence_places_each_segment_after_its_prompt():
    pool = FramePool("fake", obs=[None] * 40)
    rest = [(pool, i) for i in range(10)]
    segs = {"turn_left": [[(pool, i) for i in range(10, 25)]], "turn_right": [[(pool, i) for i in range(25, 40)]]}
    perf = CachedPerformance("x", "y", rest=rest, segments=segs)
    sched = Schedule(("turn_left", "turn_right"), (1.2, 3.5), 6.0)
    seq = perf.sequence(sched, np.random.default_rng(0))
    idx = [i for _, i in seq]
    assert len(idx) == 60
    first_left, first_right = idx.index(10), idx.index(25)
    assert 12 + 3 <= first_left <= 12 + 9
    assert first_right >= max(35 + 3, first_left + 15)
    assert set(idx[:first_left]) <= set(range(10))


@pytest.fixture(scope="module")
def subject(shared_data, engine):
    from benchmarks.attacks.subjects import load_subjects

    return load_subjects(engine, shared_data, n_lfw=1, n_casia=0, max_photos=6)[0]


@pytest.fixture(scope="module")
def folded(subject, engine):
    """The folded-print attacker, after rehearsing his moves against the library's pose reading."""
    from benchmarks.attacks import print_folded

    return print_folded.build(subject, engine, np.random.default_rng(0))


def test_folded_print_reads_as_a_head_turn_past_the_threshold(folded, engine):
    """Today's weakness: the nose-offset yaw of a folded (20-40° per half), hand-turned print
    passes the ±15° step threshold (the attacker rehearsed for a 15-25 % margin)."""
    from benchmarks.attacks.sheet import probe_pose

    perf = folded
    for action in ("turn_left", "turn_right"):
        d = perf.targets[action].delta
        assert 20.0 <= d["bend"] + perf.rest.bend <= 40.0 and 20.0 <= abs(d["yaw"]) <= 35.0
    rest = probe_pose(engine, perf.frame(None, 0.0, None))
    assert rest is not None and abs(rest.yaw) < 8.0
    # the rehearsed move passed the 15° step as the library read it; the check completes a step on
    # any frame past the threshold, and among a few fresh frames of the held move (new sensor
    # noise, hand shake) one reads past it too
    assert perf.calibration["turn_left"]["yaw"] > 15.0 and perf.calibration["turn_right"]["yaw"] < -15.0
    lefts = [probe_pose(engine, perf.frame("turn_left", 1.0, 0.1 * k)) for k in range(5)]
    rights = [probe_pose(engine, perf.frame("turn_right", 1.0, 0.1 * k)) for k in range(5)]
    assert max(p.yaw for p in lefts if p is not None) > 15.0
    assert min(p.yaw for p in rights if p is not None) < -15.0


@pytest.fixture(scope="module")
def folded_capture(folded, engine):
    from idmatch.liveness import PassiveLiveness

    perf = folded
    sched = Schedule(("turn_left", "turn_right"), (1.2, 3.4), 5.9)
    frames, times = generate(perf, sched.steps, sched.prompt_at, sched.capture_s, sched.fps, np.random.default_rng(2))
    passive = PassiveLiveness(engine=engine)
    return sched, frames, times, passive, analyze_pool(engine, frames, passive)


def test_folded_sequence_follows_the_turn_prompts(folded_capture):
    sched, frames, times, _, pool = folded_capture
    assert len(frames) == 59 and times[1] == pytest.approx(0.1)
    assert all(f.shape == (480, 640, 3) for f in frames)
    yaw = {i: pool.pose(i).yaw for i in range(len(pool)) if pool.pose(i) is not None}
    assert len(yaw) >= 55
    t_left = min(i for i, y in yaw.items() if y >= 15.0) / sched.fps
    t_right = min(i for i, y in yaw.items() if y <= -15.0) / sched.fps
    assert sched.prompt_at[0] + 0.3 < t_left < sched.prompt_at[1]
    assert sched.prompt_at[1] + 0.3 < t_right < sched.capture_s
    assert max(abs(yaw[i]) for i in range(5)) < 10.0          # frontal before the first prompt


def test_folded_print_following_the_prompts_is_rejected(folded_capture, engine):
    """Issue 12's headline attack: the folded print performs both turns on time, and the check
    still refuses it -- the turns show no depth, or the passive model sees the print."""
    from idmatch.liveness import Challenge, ChallengeConfig, check_challenge

    sched, frames, times, passive, _ = folded_capture
    ch = Challenge(nonce="t", steps=list(sched.steps), issued_at=0.0, expires_at=60.0,
                   prompt_at=list(sched.prompt_at), capture_s=sched.capture_s)
    res = check_challenge(engine, ch, frames, now=1.0, passive=passive, frame_times=times)
    assert not res.passed
    assert {"no_depth", "spoof_suspected"} & set(res.reasons), res.to_dict(per_frame=False)
    # and the depth check alone (passive PAD off) refuses it too
    geo = check_challenge(engine, ch, frames, now=1.0, use_passive=False, frame_times=times, config=ChallengeConfig())
    assert not geo.passed, geo.to_dict(per_frame=False)


def test_still_frame_is_rejected(subject, engine):
    from idmatch.liveness import Challenge

    from benchmarks.attacks import still_frame
    from benchmarks.attacks.analysis import check_full

    frame = still_frame.frame(subject, np.random.default_rng(3))
    ch = Challenge(nonce="s", steps=["turn_left", "look_up"], issued_at=0.0, expires_at=60.0)
    res = check_full(engine, ch, [frame] * 12, [k / 10 for k in range(12)], None)
    assert not res.passed
    assert {"static_sequence", "frozen_frames"} & set(res.reasons)
