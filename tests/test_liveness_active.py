"""Active challenge on real head-movement videos (LivePortrait driving clips, 5 frames/s).

What the clips do was read off with idmatch's own pose estimator (docs/liveness.md lists the
yaw traces): d12 turns to the subject's left (~1.6 s), right (~3.4 s) and left again (~6.7 s);
d3 turns right (~0.8 s), then left (~5.2 s). Neither nods beyond ~8°.
"""
from __future__ import annotations

import time

import numpy as np
import pytest

from idmatch.liveness import (Challenge, ChallengeError, analyze_frames, challenge_entropy_bits, check_challenge,
                              count_sequences, identity_threshold, judge)
from idmatch.liveness.video import sample_frames

FPS = 5.0


@pytest.fixture(scope="module")
def clips(shared_data):
    base = shared_data / "video" / "liveportrait"
    return {name: sample_frames(base / f"{name}.mp4", FPS)[0] for name in ("d12", "d3")}


@pytest.fixture(scope="module")
def analyzed(engine, clips):
    return {name: analyze_frames(engine, frames) for name, frames in clips.items()}


@pytest.fixture(scope="module")
def id_thr(engine):
    return identity_threshold(engine, __import__("idmatch.liveness", fromlist=["ChallengeConfig"]).ChallengeConfig())


def challenge(steps, ttl_s=60.0, now=None):
    now = time.time() if now is None else now
    return Challenge(nonce="test", steps=list(steps), issued_at=now, expires_at=now + ttl_s)


def yaw_trace(a):
    return [(r.index / FPS, r.pose.yaw) for r in a.reports if r.pose is not None]


def test_pose_estimator_reads_the_clip_movements(analyzed):
    trace = yaw_trace(analyzed["d12"])
    assert len(trace) == len(analyzed["d12"].reports)  # one face in every frame
    left = [t for t, y in trace if y >= 15]
    right = [t for t, y in trace if y <= -15]
    assert left and right
    assert min(left) < min(right) < max(left)  # left, then right, then left again
    d3 = yaw_trace(analyzed["d3"])
    assert min(t for t, y in d3 if y <= -15) < min(t for t, y in d3 if y >= 15)  # right, then left


@pytest.mark.parametrize("clip,steps", [("d12", ["turn_left", "turn_right", "turn_left"]),
                                        ("d12", ["turn_left", "turn_right"]),
                                        ("d3", ["turn_right", "turn_left"])])
def test_challenge_the_clip_follows_passes(analyzed, id_thr, clip, steps):
    res = judge(challenge(steps), analyzed[clip], id_thr)
    assert res.passed, res.to_dict(per_frame=False)
    assert res.reasons == []
    done = res.step_frames
    assert all(i is not None for i in done) and done == sorted(done)
    best = analyzed[clip].reports[res.best_frame_index]
    assert abs(best.pose.yaw) <= 10  # the capture to match is frontal
    assert res.best_frame is analyzed[clip].image(res.best_frame_index)


@pytest.mark.parametrize("clip,steps", [("d12", ["turn_right", "turn_left"]),   # wrong order
                                        ("d12", ["look_up", "turn_left"]),
                                        ("d12", ["turn_left", "look_down"]),
                                        ("d12", ["move_closer"]),
                                        ("d3", ["turn_left", "turn_right"])])
def test_challenge_the_clip_does_not_follow_fails(analyzed, id_thr, clip, steps):
    res = judge(challenge(steps), analyzed[clip], id_thr)
    assert not res.passed
    assert res.reasons == ["challenge_not_followed"], res.to_dict(per_frame=False)


def test_still_frame_repeated_is_static(engine, clips):
    frames = [clips["d12"][0]] * 12
    res = check_challenge(engine, challenge(["turn_left", "turn_right"]), frames)
    assert not res.passed
    assert "static_sequence" in res.reasons and "challenge_not_followed" in res.reasons


def test_face_swap_mid_sequence_changes_identity(engine, clips, id_thr):
    # the first person starts the challenge, another person (d3) finishes it
    frames = clips["d12"][:8] + clips["d3"][:30]
    a = analyze_frames(engine, frames, use_passive=False)
    res = judge(challenge(["turn_right", "turn_left"]), a, id_thr)
    assert not res.passed
    assert "identity_changed" in res.reasons
    ref_is_first = a.reference < 8
    low = [a.reports[i].similarity for i in a.embedded if (i >= 8) == ref_is_first]
    assert low and max(low) < id_thr  # every embedded frame of the other person is below the identity threshold


def test_expired_challenge_fails_before_any_work(engine):
    ch = challenge(["turn_left"], ttl_s=30, now=1000.0)
    res = check_challenge(engine, ch, [b"not an image"] * 3, now=1031.0)
    assert not res.passed and res.reasons == ["challenge_expired"]


def test_frames_captured_after_deadline_expire(analyzed, id_thr):
    ch = challenge(["turn_left", "turn_right"], ttl_s=10, now=1000.0)
    stamps = [1000.0 + i / FPS for i in range(len(analyzed["d12"].reports))]  # 7.4 s of video: in time
    assert judge(ch, analyzed["d12"], id_thr, now=1009.0, timestamps=stamps).passed
    late = [t + 5.0 for t in stamps]
    assert judge(ch, analyzed["d12"], id_thr, now=1009.0, timestamps=late).reasons == ["challenge_expired"]


def test_two_faces_in_a_frame(engine, clips):
    both = np.hstack([clips["d12"][0], clips["d3"][0][: clips["d12"][0].shape[0], :]])
    frames = clips["d12"][:5] + [both] + clips["d12"][5:12]
    res = check_challenge(engine, challenge(["turn_left"]), frames, use_passive=False)
    assert "multiple_faces" in res.reasons and not res.passed


def test_issue_is_seedable_uniform_and_round_trips():
    a, b = Challenge.issue(rng=7, now=0.0), Challenge.issue(rng=7, now=0.0)
    assert a.steps == b.steps and a.nonce == b.nonce and a.expires_at == 60.0
    assert Challenge.issue().nonce != Challenge.issue().nonce  # production: CSPRNG nonces
    # 76 sequences of 5 moves (no repeat, move_closer once), less the 10 without a turn
    import itertools
    brute = [s for s in itertools.product(("turn_left", "turn_right", "look_up", "look_down", "move_closer"), repeat=3)
             if all(x != y for x, y in zip(s, s[1:])) and s.count("move_closer") <= 1 and {"turn_left", "turn_right"} & set(s)]
    assert len(brute) == 66
    assert count_sequences(3) == 66 and abs(challenge_entropy_bits(3) - np.log2(66)) < 1e-9
    issued = [Challenge.issue(rng=i) for i in range(3000)]
    seen = {tuple(c.steps) for c in issued}
    assert len(seen) == 66  # every sequence reachable
    for s in seen:
        assert all(x != y for x, y in zip(s, s[1:])) and s.count("move_closer") <= 1
        assert "turn_left" in s or "turn_right" in s   # every challenge has a step with 3-D evidence
    # the prompt schedule is the server's: random first prompt, random gaps long enough for a move
    firsts = [c.prompt_at[0] for c in issued]
    gaps = [b - a for c in issued for a, b in zip(c.prompt_at, c.prompt_at[1:])]
    assert 1.0 <= min(firsts) < 1.1 and 1.9 < max(firsts) <= 2.0 and len({round(f, 2) for f in firsts}) > 50
    assert 2.2 - 1e-9 <= min(gaps) and max(gaps) <= 3.2 + 1e-9
    assert all(c.capture_s > c.prompt_at[-1] + 2 for c in issued)
    with pytest.raises(ChallengeError):
        Challenge.issue(ttl_s=600)   # a challenge is valid a minute at most
    c = Challenge.issue(rng=1, length=4, ttl_s=30, now=5.0)
    assert Challenge.from_dict(c.to_dict()) == c
    with pytest.raises(ChallengeError):
        Challenge.from_dict({"nonce": "x", "steps": ["jump"], "expires_at": 1})
    with pytest.raises(ChallengeError):
        Challenge.issue(length=0)


# ---- server-owned capture: 10 frames/s, timestamps, a prompt schedule -----------------------------
# d12 at 10 frames/s (pose read off with idmatch's estimator): the head turns to the subject's left
# and reaches +18° at 1.5 s, right (-22°) at 3.1 s, left again (+23°) at 6.6 s; the clip ends at 7.2 s.
D12_STEPS = ["turn_left", "turn_right", "turn_left"]
D12_PROMPTS = [0.9, 2.6, 6.0]


@pytest.fixture(scope="module")
def d12_10fps(shared_data):
    return sample_frames(shared_data / "video" / "liveportrait" / "d12.mp4", 10.0)


@pytest.fixture(scope="module")
def d12_timed(engine, d12_10fps):
    frames, times = d12_10fps
    return analyze_frames(engine, frames, use_passive=False, frame_times=times)


def scheduled(steps, prompts, capture_s=7.2):
    now = time.time()
    return Challenge(nonce="t", steps=list(steps), issued_at=now, expires_at=now + 60, prompt_at=list(prompts),
                     capture_s=capture_s)


def test_real_head_following_the_schedule_passes_with_depth(d12_timed, id_thr):
    res = judge(scheduled(D12_STEPS, D12_PROMPTS), d12_timed, id_thr)
    assert res.passed, res.to_dict(per_frame=False)
    # every turn of a real head shows parallax well above the flat/folded-sheet range (< 0.035)
    assert all(p is not None and p > 0.06 for p in res.parallax), res.parallax
    assert len(res.match_frames) == 3
    for i in res.match_frames:   # the turned frames handed to the match really are turned
        assert abs(d12_timed.reports[i].pose.yaw) >= 12


def test_movement_before_its_prompt_is_not_a_reaction(d12_timed, id_thr):
    res = judge(scheduled(D12_STEPS, [1.45, 2.6, 6.0]), d12_timed, id_thr)   # left is reached 0.05 s after its prompt
    assert not res.passed and "reaction_timing" in res.reasons
    res = judge(scheduled(D12_STEPS, [0.9, 2.6, 1.0 + 6.6]), d12_timed, id_thr)  # the last prompt after the clip's turn
    assert not res.passed and {"reaction_timing", "challenge_not_followed"} & set(res.reasons)


def test_a_slow_or_gappy_capture_fails_frame_timing(engine, d12_10fps, id_thr):
    frames, times = d12_10fps
    slow = analyze_frames(engine, frames[::4], use_passive=False, frame_times=times[::4])   # 2.5 frames/s
    res = judge(scheduled(D12_STEPS, D12_PROMPTS), slow, id_thr)
    assert not res.passed and "frame_timing" in res.reasons
    res = judge(scheduled(D12_STEPS, D12_PROMPTS), slow, id_thr, frame_times=[0.0] * len(slow.reports))
    assert "frame_timing" in res.reasons   # timestamps that do not advance


def test_repeated_frames_are_frozen(engine, d12_10fps, id_thr):
    frames, times = d12_10fps
    doubled = [f for f in frames for _ in range(2)][:150]
    dtimes = [t + k * 0.05 for t in times for k in range(2)][:150]
    a = analyze_frames(engine, doubled, use_passive=False, frame_times=dtimes)
    res = judge(scheduled(D12_STEPS, D12_PROMPTS), a, id_thr)
    assert not res.passed and "frozen_frames" in res.reasons


def _poses(track):
    from idmatch.pose import HeadPose

    return [HeadPose(yaw=y, pitch=p, roll=0.0, size=100.0) for y, p in track]


def test_pitch_read_into_a_real_turn_is_no_conflict_but_a_nod_is():
    """The 5-point pose reads a real 20° turn as ~11° of pitch as well (measured on the bona fide clips):
    while a turn is pending, a frame counts as another direction only where that direction dominates."""
    from idmatch.liveness import ChallengeConfig, follow_steps

    cfg = ChallengeConfig()
    times = [i / 10 for i in range(60)]
    prompts = [1.0, 2.5]
    rest, right, left = [(0, 0)] * 14, [(-8, 4), (-20, 11), (-20, 11), (-8, 4)], [(9, 3), (19, 10), (19, 11), (8, 2)]
    turning = rest + right + [(0, 0)] * 12 + left + [(0, 0)] * 30
    ok, done, timing = follow_steps(["turn_right", "turn_left"], _poses(turning[:60]), cfg, times, prompts)
    assert ok and timing and done == [15, 31]
    nod = rest + right + [(0, 0)] * 5 + [(2, -14)] * 3 + [(0, 0)] * 4 + left + [(0, 0)] * 30
    ok, _, _ = follow_steps(["turn_right", "turn_left"], _poses(nod[:60]), cfg, times, prompts)
    assert not ok     # a clear nod while the left turn is pending: not this challenge



def test_embedded_subset_keeps_turn_peaks_and_last_frame():
    """The shipped config embeds every 16th frame of a long capture (issue 12: SFace is the largest
    cost after detection), and still every turn's peak (the turned-face match) and the last frame;
    it is a subset of what every 8th frame embedded, so no comparison is added."""
    from idmatch.liveness import ChallengeConfig
    from idmatch.liveness.frames import FrameReport, _embedded_subset
    from idmatch.pose import HeadPose

    yaw = [0.0] * 90
    for peak, sign in ((30, 1), (60, -1)):           # two turns of 25°, 0.7 s each at 10 frames/s
        for i in range(peak - 4, peak + 4):
            yaw[i] = sign * (25.0 - 5.0 * abs(i - peak))
    reports = [FrameReport(index=i, faces=1, pose=HeadPose(yaw=y, pitch=0.0, roll=0.0, size=60.0)) for i, y in enumerate(yaw)]
    valid = list(range(90))
    emb = _embedded_subset(valid, reports, ChallengeConfig().embed_every)
    assert ChallengeConfig().embed_every == 16
    assert set(range(0, 90, 16)) | {30, 60, 89} == set(emb)
    assert set(emb) <= set(_embedded_subset(valid, reports, 8))
    assert _embedded_subset(valid[:16], reports, 16) == valid[:16]     # a short capture: every frame


def test_pad_frames_are_those_of_every_8th_frame_embedding():
    """PAD keeps its frames of before the identity sampling went to every 16th frame (scoring only
    the embedded frames let one more flipbook through the attack benchmark)."""
    from idmatch.liveness import ChallengeConfig
    from idmatch.liveness.frames import FrameReport, _embedded_subset, _pad_subset
    from idmatch.pose import HeadPose

    for n in (40, 90, 150):
        reports = [FrameReport(index=i, faces=1, pose=HeadPose(yaw=25.0 if i == n // 2 else 0.0, pitch=0.0, roll=0.0,
                                                               size=60.0)) for i in range(n)]
        valid = list(range(n))
        cfg = ChallengeConfig()
        old = _embedded_subset(valid, reports, 8)
        old = old[::2] if len(old) > 16 else old                   # embed_every=8, pad_every=16
        assert _pad_subset(valid, reports, _embedded_subset(valid, reports, cfg.embed_every), cfg) == old
    every_frame = ChallengeConfig(embed_every=1, pad_every=1)     # benchmarks/liveness_cost.py's "before"
    assert _pad_subset(valid, reports, valid, every_frame) == valid
