"""How much of a search's wall time is orchestration (Ray, data hand-off, checkpoints) rather than
training, and how much memory the whole run takes, driver and Ray workers together.

    python benchmarks/search_overhead.py                      # the full grid (tens of minutes on 2 cores)
    python benchmarks/search_overhead.py --subset 5000 --space small

Runs ``python -m tune_mnist.search`` as a child process, samples the proportional set size (PSS,
so shared pages are not counted twice) of it and all its descendants once a second, then reads the
trials' result.json rows. Orchestration share = 1 - (sum of training time / concurrency) / wall."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tune_mnist.core.layout import RESULT_FILE, pack_trial_of


def descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def pss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            pass
    return total


def shm_bytes() -> int:
    """Ray's object store lives in /dev/shm; count what it holds too."""
    try:
        st = os.statvfs("/dev/shm")
        return (st.f_blocks - st.f_bfree) * st.f_frsize
    except OSError:
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="grid")
    parser.add_argument("--subset", type=int, help="training images per trial (default: all)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--cpus-per-trial", type=float, default=1)
    parser.add_argument("--storage-path", help="default: a temporary directory, removed afterwards")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        storage = Path(args.storage_path or tmp).resolve()
        name = f"overhead-{time.strftime('%Y%m%d-%H%M%S')}"
        command = [
            sys.executable,
            "-m",
            "tune_mnist.search",
            "--space",
            args.space,
            "--storage-path",
            str(storage),
            "--name",
            name,
            "--cpus-per-trial",
            str(args.cpus_per_trial),
        ]
        command += ["--subset", str(args.subset)] if args.subset else []
        command += ["--epochs", str(args.epochs)] if args.epochs else []
        shm_before = shm_bytes()
        peak, stop = [0, 0], threading.Event()
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def sample() -> None:
            while not stop.is_set():
                procs, shm = pss_bytes(descendants(child.pid)), max(0, shm_bytes() - shm_before)
                peak[0], peak[1] = max(peak[0], procs + shm), max(peak[1], procs)
                stop.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, err = child.communicate()
        wall = time.perf_counter() - start
        stop.set()
        sampler.join()
        if child.returncode != 0:
            sys.exit(f"the search failed (exit {child.returncode}):\n{err[-3000:]}")

        rows = []
        for result in sorted((storage / name).glob(f"*/{RESULT_FILE}")):
            lines = result.read_text().splitlines()
            rows.append(json.loads(lines[-1]))
    cpus = os.cpu_count() or 1
    concurrency = max(1, min(len(rows), int(cpus // args.cpus_per_trial)))
    # A pack's own row has no train_time_s (its members' rows share it out); its members' rows carry the
    # pack's clock, so Ray's time_total_s counts once per Ray trial: the pack's or a solo trial's.
    train = sum(r["train_time_s"] for r in rows if "train_time_s" in r)
    trial_total = sum(r["time_total_s"] for r in rows if pack_trial_of(str(r.get("trial_id", ""))) == r.get("trial_id"))
    rows = [r for r in rows if "train_time_s" in r]  # one per config
    print(
        f"{args.space}: {len(rows)} trials on {cpus} CPUs, {args.cpus_per_trial:g} per trial "
        f"(concurrency {concurrency}), subset {args.subset or 'the space default'}"
    )
    print(f"  wall time of the whole run (Ray start to exit)   {wall:9.1f} s")
    print(f"  sum of training time / concurrency               {train / concurrency:9.1f} s")
    print(f"  sum of trial time (incl. eval, latency, ckpt) / c {trial_total / concurrency:9.1f} s")
    print(f"  orchestration share of wall time                 {1 - train / concurrency / wall:9.1%}  (goal < 25%)")
    print(f"  peak memory, driver + Ray processes (PSS)        {peak[1] / 2**30:9.2f} GiB")
    print(f"  peak memory incl. object store in /dev/shm       {peak[0] / 2**30:9.2f} GiB  (goal < 4 GiB)")


if __name__ == "__main__":
    main()
