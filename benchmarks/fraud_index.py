"""Duplicate-face gallery at operator scale: latency, recall@10 vs exact, build time and memory per backend.

Gallery = the real LFW SFace templates (3,811 images, folds 1-5; 500 held out as queries) plus
synthetic templates drawn from a two-level Gaussian fitted to them (identity centres ~ N(mu, Σ_between),
captures ~ N(centre, Σ_within), L2-normalised; 1 + Poisson(0.25) registrations per synthetic identity,
at most 5 — see benchmarks/fraud_synth.py; the script prints real vs synthetic score statistics).
Queries = 500 held-out LFW images + 500 fresh captures of gallery identities; one query at a time,
one thread per query (how the service calls it); index builds use ``--threads``.

    nice python benchmarks/fraud_index.py --size 1000000 --pg-size 1000000 --threads 2

Writes reports/fraud_index.json. CPU time on a shared machine is noisy: compare the backends within
one run, and read absolute milliseconds as upper bounds.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

# one BLAS thread: a search is one request's work, and spinning BLAS threads on a shared CPU
# inflate tail latency (index builds use --threads explicitly)
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402
from common import REPORTS, cached_templates, identities  # noqa: E402
from fraud_synth import fit, score_stats  # noqa: E402
from tqdm import tqdm  # noqa: E402

from idmatch.fraud import ExactIndex, HnswParams, USearchIndex  # noqa: E402

log = logging.getLogger("fraud_index")
K = 10


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def lfw_templates() -> tuple[np.ndarray, np.ndarray]:
    from idmatch.pipeline import FaceEngine

    engine = FaceEngine()
    ids = identities("lfw")
    tpl, _ = cached_templates(f"{engine.model_id}-lfw", list(ids), lambda p: engine.analyze(p).template, desc="lfw")
    paths = sorted(tpl)
    return np.stack([tpl[p] for p in paths]).astype(np.float32), np.array([ids[p] for p in paths])


def build_gallery(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x, lab = lfw_templates()
    model = fit(x, lab)
    # hold out one image of 500 LFW identities that have >= 2 images: real "same face, new photo" queries
    uniq, inv, cnt = np.unique(lab, return_inverse=True, return_counts=True)
    multi = np.flatnonzero(cnt[inv] >= 2)
    held, seen = [], set()
    for i in rng.permutation(multi):
        if lab[i] not in seen:
            held.append(i)
            seen.add(lab[i])
        if len(held) == 500:
            break
    keep = np.setdiff1d(np.arange(len(x)), held)
    n_syn = size - len(keep)
    per = np.minimum(1 + rng.poisson(0.25, size=n_syn), 5)
    per = per[: np.searchsorted(np.cumsum(per), n_syn) + 1]
    centres = model.identities(rng, len(per))
    owner = np.repeat(np.arange(len(per)), per)[:n_syn]
    syn = np.empty((n_syn, x.shape[1]), np.float32)
    for s in range(0, n_syn, 200_000):
        syn[s:s + 200_000] = model.captures(rng, centres[owner[s:s + 200_000]])
    gallery = np.concatenate([x[keep], syn])
    keys = np.concatenate([lab[keep], np.char.add("syn", owner.astype(str))])
    q_syn_owner = rng.choice(owner, 500, replace=False)
    queries = np.concatenate([x[held], model.captures(rng, centres[q_syn_owner])])
    stats = {"lfw": score_stats(x, lab), "synthetic": score_stats(syn[:200_000], owner[:200_000])}
    return gallery, keys, queries, stats, {"lfw_in_gallery": int(len(keep)), "synthetic": int(n_syn),
                                           "synthetic_identities": int(len(per)), "queries_lfw": len(held),
                                           "queries_synthetic": 500}


def exact_topk(gallery: np.ndarray, queries: np.ndarray, k: int = K, block: int = 100_000,
               scores: bool = False):
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for s in tqdm(range(0, len(gallery), block), desc="ground truth", unit="block"):
        sc = queries @ gallery[s:s + block].T
        part = np.argpartition(-sc, k - 1, axis=1)[:, :k]
        cs = np.concatenate([best_s, np.take_along_axis(sc, part, 1)], 1)
        ci = np.concatenate([best_i, part + s], 1)
        o = np.argsort(-cs, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(cs, o, 1), np.take_along_axis(ci, o, 1)
    return (best_i, best_s[:, 0]) if scores else best_i


def latency(fn, queries: np.ndarray, desc: str, server_pid: int | None = None) -> dict:
    """Wall-clock and CPU time per query. On a shared CPU the wall time includes waiting for a core;
    the calling thread's CPU time (``cpu_*``) is what one query costs on a core of its own. For
    pgvector the work happens in the server backend: its CPU time is sampled over the whole run."""
    import psutil

    ts, cs = [], []
    backend = psutil.Process(server_pid) if server_pid else None
    b0 = sum(backend.cpu_times()[:2]) if backend else 0.0
    for q in tqdm(queries, desc=desc, unit="q", mininterval=2.0):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn(q)
        ts.append((time.perf_counter() - t0) * 1e3)
        cs.append((time.thread_time() - c0) * 1e3)
    ts, cs = np.array(ts), np.array(cs)
    r = {"p50_ms": round(float(np.percentile(ts, 50)), 3), "p99_ms": round(float(np.percentile(ts, 99)), 3),
         "mean_ms": round(float(ts.mean()), 3), "cpu_p50_ms": round(float(np.percentile(cs, 50)), 3),
         "cpu_p99_ms": round(float(np.percentile(cs, 99)), 3), "cpu_mean_ms": round(float(cs.mean()), 3), "n": len(ts)}
    if backend:
        r["server_cpu_mean_ms"] = round((sum(backend.cpu_times()[:2]) - b0) / len(ts) * 1e3, 3)
    return r


MATE = 0.5   # an exact top-1 this similar is a candidate duplicate: the ANN must not miss it


def recall(found: list[set], truth: np.ndarray) -> float:
    return float(np.mean([len(f & set(t.tolist())) / len(t) for f, t in zip(found, truth)]))


def mate_recall(found: list[set], truth: np.ndarray, top1: np.ndarray) -> dict:
    sel = np.flatnonzero(top1 >= MATE)
    return {"queries": int(len(sel)), "found": float(np.mean([truth[i, 0] in found[i] for i in sel])) if len(sel) else None}


def bench_exact(gallery, keys, queries, truth, n_lat: int, threads: int) -> dict:
    t0 = time.perf_counter()
    idx = ExactIndex(capacity=len(gallery))
    refs = [str(i) for i in range(len(gallery))]
    idx.add_matrix(refs, keys.tolist(), gallery)
    build = time.perf_counter() - t0
    found = [{int(h.ref_id) for h in idx.search(q, K)} for q in queries[:100]]
    res = {"build_s": round(build, 2), "memory_mb": round(idx.matrix().nbytes / 2**20, 1),
           "recall_at_10": recall(found, truth[:100]),
           "latency": latency(lambda q: idx.search(q, K), queries[:n_lat], "exact search")}
    if threads > 1:   # the same matrix split into row blocks searched on `threads` cores (wall time is what counts)
        idx.threads = threads
        found = [{int(h.ref_id) for h in idx.search(q, K)} for q in queries[:100]]
        res[f"threads_{threads}"] = {"recall_at_10": recall(found, truth[:100]),
                                     "latency": latency(lambda q: idx.search(q, K), queries[:n_lat],
                                                        f"exact search, {threads} threads")}
    del idx
    gc.collect()
    return res


def bench_int8(gallery, keys, queries, truth, top1, threads: int) -> dict:
    """Int8 candidate scan (onnxruntime, pre-packed snapshot) + float32 re-scoring, 1 and ``threads`` threads."""
    from idmatch.fraud.int8_index import Int8ExactIndex

    res: dict = {}
    for th in sorted({1, threads}):
        idx = Int8ExactIndex(capacity=len(gallery), threads=th)
        idx.add_matrix([str(i) for i in range(len(gallery))], keys.tolist(), gallery)
        rss0 = rss_mb()
        t0, c0 = time.perf_counter(), time.process_time()
        idx.freeze()
        freeze_s, freeze_cpu = time.perf_counter() - t0, time.process_time() - c0
        found = [{int(h.ref_id) for h in idx.search(q, K)} for q in queries]
        res[f"threads_{th}"] = {
            "snapshot_s": round(freeze_s, 2), "snapshot_cpu_s": round(freeze_cpu, 2),
            "memory_mb": round(idx.memory_bytes() / 2**20, 1), "snapshot_rss_delta_mb": round(rss_mb() - rss0, 1),
            "recall_at_10": round(recall(found, truth), 4), "mate_recall": mate_recall(found, truth, top1),
            "latency": latency(lambda q: idx.search(q, K, exclude_identity="none"), queries, f"exact-int8 {th} thr")}
        log.info("exact-int8 %d threads %s", th, res[f"threads_{th}"])
        del idx
        gc.collect()
    return res


def bench_usearch(gallery, keys, queries, truth, top1, threads: int, efs: list[int], params: HnswParams) -> dict:
    rss0 = rss_mb()
    idx = USearchIndex(params=params, threads=threads)
    t0, c0 = time.perf_counter(), time.process_time()
    idx.add_matrix([str(i) for i in range(len(gallery))], keys.tolist(), gallery, progress=True)
    build, build_cpu = time.perf_counter() - t0, time.process_time() - c0
    res = {"params": params.__dict__, "build_s": round(build, 1), "build_cpu_s": round(build_cpu, 1),
           "build_threads": threads,
           "memory_mb": round(idx.memory_bytes() / 2**20, 1), "rss_delta_mb": round(rss_mb() - rss0, 1), "ef": {}}
    for ef in efs:
        idx._index.expansion_search = ef
        found = [{int(h.ref_id) for h in idx.search(q, K)} for q in queries]
        res["ef"][ef] = {"recall_at_10": round(recall(found, truth), 4), "mate_recall": mate_recall(found, truth, top1),
                         "latency": latency(lambda q: idx.search(q, K, exclude_identity="none"), queries, f"usearch ef={ef}")}
        log.info("usearch ef=%d %s", ef, res["ef"][ef])
    keep = os.environ.get("FRAUD_INDEX_KEEP")   # a folder to keep the built index in (re-measure later)
    with tempfile.TemporaryDirectory(dir=REPORTS) as d:
        d = keep or d
        t0 = time.perf_counter()
        idx.save(Path(d) / "g")
        res["save_s"] = round(time.perf_counter() - t0, 1)
        res["file_mb"] = round(sum(f.stat().st_size for f in (Path(d) / "g").iterdir()) / 2**20, 1)
        del idx
        gc.collect()
        t0 = time.perf_counter()
        USearchIndex.load(Path(d) / "g")
        res["load_s"] = round(time.perf_counter() - t0, 1)
    return res


def _pg_cpu(postmaster_pid: int) -> float:
    """CPU seconds used so far by this server: the postmaster, its live children, and (through the
    postmaster's reaped-children times) parallel build workers that have already exited."""
    import psutil

    pm = psutil.Process(postmaster_pid)
    ct = pm.cpu_times()
    tot = ct.user + ct.system + ct.children_user + ct.children_system
    for c in pm.children(recursive=True):
        try:
            t = c.cpu_times()
            tot += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return tot


def bench_pgvector(gallery, keys, queries, truth, size: int, efs: list[int], threads: int,
                   shared_buffers: str = "2GB", m: int = 16, efc: int = 64) -> dict:
    import pgserver
    import sqlalchemy as sa

    from idmatch.fraud.pgvector_index import PgHnswParams, PgVectorIndex

    g, kk = gallery[:size], keys[:size]
    truth_pg, top1_pg = exact_topk(g, queries, scores=True)
    with tempfile.TemporaryDirectory(dir="/tmp") as pgdata:
        srv = pgserver.get_server(pgdata, cleanup_mode="stop")
        # shared_buffers large enough for the HNSW graph (needs a restart), parallel build workers
        srv.psql(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'; "
                 f"ALTER SYSTEM SET max_parallel_maintenance_workers = {max(threads - 1, 0)};")
        srv.cleanup()
        srv = pgserver.get_server(pgdata, cleanup_mode="stop")
        eng = sa.create_engine("postgresql+psycopg://" + srv.get_uri().split("://", 1)[1])
        params = PgHnswParams(m=m, ef_construction=efc, maintenance_work_mem="3GB")
        idx = PgVectorIndex(eng, params=params)
        idx.drop_hnsw()
        t0 = time.perf_counter()
        idx.copy_in([str(i) for i in range(size)], kk.tolist(), g, progress=True)
        copy_s = time.perf_counter() - t0
        cpu0 = _pg_cpu(srv.get_pid())
        t0 = time.perf_counter()
        idx.create_hnsw()
        hnsw_s = time.perf_counter() - t0
        hnsw_cpu = _pg_cpu(srv.get_pid()) - cpu0
        sizes = idx.size_bytes()
        res = {"size": size, "params": params.__dict__, "copy_s": round(copy_s, 1), "hnsw_build_s": round(hnsw_s, 1),
               "hnsw_build_cpu_s": round(hnsw_cpu, 1),
               "parallel_workers": max(threads - 1, 0), "table_mb": round(sizes["table"] / 2**20, 1),
               "hnsw_mb": round(sizes["hnsw"] / 2**20, 1), "ef": {}}
        log.info("pgvector build %s", res)
        for q in queries[:200]:    # warm the graph into shared buffers (pg_prewarm is not in the wheel)
            idx.search(q, K, ef_search=max(efs))
        eng.dispose()
        eng = sa.create_engine(eng.url, pool_size=1, max_overflow=0)   # one backend, so its CPU time is ours
        idx.engine = eng
        with eng.connect() as c:
            pid = int(c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        for ef in efs:
            found = [{int(h.ref_id) for h in idx.search(q, K, ef_search=ef)} for q in queries]
            res["ef"][ef] = {"recall_at_10": round(recall(found, truth_pg), 4),
                             "mate_recall": mate_recall(found, truth_pg, top1_pg),
                             "latency": latency(lambda q: idx.search(q, K, ef_search=ef), queries, f"pgvector ef={ef}", pid)}
            log.info("pgvector ef=%d %s", ef, res["ef"][ef])
        eng.dispose()
        srv.cleanup()
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--pg-sizes", default="250000,1000000",
                    help="gallery sizes for pgvector, each built from scratch (the HNSW build is the slow part)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--backends", default="exact,usearch,pgvector")
    ap.add_argument("--usearch-ef", default="64,128,256,512,1024")
    ap.add_argument("--m", type=int, default=32, help="usearch HNSW connectivity")
    ap.add_argument("--efc", type=int, default=200, help="usearch HNSW expansion_add (ef_construction)")
    ap.add_argument("--pg-ef", default="40,100,200,400")
    ap.add_argument("--pg-m", type=int, default=16, help="pgvector HNSW m")
    ap.add_argument("--pg-efc", type=int, default=64, help="pgvector HNSW ef_construction")
    ap.add_argument("--exact-queries", type=int, default=200)
    ap.add_argument("--out", default=str(REPORTS / "fraud_index.json"))
    ap.add_argument("--note", default="", help="how loaded the machine was (stored in the report)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    REPORTS.mkdir(exist_ok=True)
    backends = args.backends.split(",")
    out: dict = {"size": args.size, "threads": args.threads, "k": K, "cpu_count": os.cpu_count(),
                 "load_avg_start": os.getloadavg(), "note": args.note}
    t0 = time.perf_counter()
    gallery, keys, queries, stats, comp = build_gallery(args.size)
    out.update(gallery_composition=comp, score_stats=stats, generate_s=round(time.perf_counter() - t0, 1))
    print(json.dumps(stats, indent=1))
    t0 = time.perf_counter()
    truth, top1 = exact_topk(gallery, queries, scores=True)
    out["ground_truth_s"] = round(time.perf_counter() - t0, 1)

    def save():
        Path(args.out).write_text(json.dumps(out, indent=1))

    if "exact" in backends:
        out["exact"] = bench_exact(gallery, keys, queries, truth, args.exact_queries, args.threads)
        log.info("exact %s", out["exact"])
        save()
    if "exact-int8" in backends:
        out["exact_int8"] = bench_int8(gallery, keys, queries, truth, top1, args.threads)
        save()
    if "usearch" in backends:
        hp = HnswParams(connectivity=args.m, expansion_add=args.efc)
        out["usearch"] = bench_usearch(gallery, keys, queries, truth, top1, args.threads,
                                       [int(e) for e in args.usearch_ef.split(",")], hp)
        save()
    if "pgvector" in backends:
        out["pgvector"] = {}
        for n in sorted({min(int(s), args.size) for s in args.pg_sizes.split(",") if s}):
            out["pgvector"][n] = bench_pgvector(gallery, keys, queries, truth, n,
                                                [int(e) for e in args.pg_ef.split(",")], args.threads,
                                                m=args.pg_m, efc=args.pg_efc)
            save()
    out["load_avg_end"] = os.getloadavg()
    save()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
