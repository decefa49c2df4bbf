"""gen.runner: the engine runs on its own thread; the event loop stays responsive; progress comes home."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fixtures_model import gen_request

from gen.runner import ThreadedEngine, load_engine
from imaginebot.core.domain import GenerationCancelled, GenProgress


async def test_event_loop_stays_responsive_while_generating(tiny_engine: Any) -> None:
    engine = ThreadedEngine(tiny_engine)
    loop_thread = threading.get_ident()
    seen: list[tuple[int, int]] = []
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - start - 0.01)

    tick = asyncio.create_task(ticker())
    try:
        await asyncio.sleep(0.05)
        results = await engine.generate(
            [gen_request(size=(256, 256), steps=12)],
            progress=lambda p: seen.append((p.step, threading.get_ident())),
        )
    finally:
        done.set()
        await tick
        await engine.aclose()
    assert len(results[0].images) == 4
    assert len(lags) > 20, "the loop did not get to run during generation"
    print(f"max lag {max(lags) * 1000:.1f} ms over {len(lags)} ticks")
    assert max(lags) < 0.05, f"event loop lag up to {max(lags) * 1000:.0f} ms"
    assert seen and all(ident == loop_thread for _, ident in seen)  # callbacks run on the loop
    await asyncio.sleep(0)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)


async def test_calls_are_serialised_on_one_thread(tiny_engine: Any) -> None:
    engine = ThreadedEngine(tiny_engine)
    try:
        a, b = await asyncio.gather(
            engine.generate([gen_request(job_id="a", seed=1, steps=3)]),
            engine.generate([gen_request(job_id="b", seed=1, steps=3)]),
        )
    finally:
        engine.close()
    assert a[0].images == b[0].images  # no interference between concurrent calls


async def test_cancelling_the_awaiting_task_stops_the_generation(tiny_engine: Any) -> None:
    engine = ThreadedEngine(tiny_engine)
    steps: list[int] = []
    first_step = asyncio.Event()

    def on_progress(p: GenProgress) -> None:
        steps.append(p.step)
        first_step.set()

    task = asyncio.create_task(engine.generate([gen_request(steps=200)], progress=on_progress))
    await asyncio.wait_for(first_step.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The thread notices at its next step; the next call runs normally afterwards.
    [res] = await engine.generate([gen_request(steps=2)])
    assert len(res.images) == 4 and max(steps) < 200
    with pytest.raises(GenerationCancelled):
        await engine.generate([gen_request()], is_cancelled=lambda job_id: True)
    await engine.aclose()


async def test_load_engine_from_settings(tiny_model_dir: Path, tmp_path: Path) -> None:
    from imaginebot.core.config import GenSettings

    settings = GenSettings(device="cpu", preview_interval=0.5)
    engine = await asyncio.to_thread(load_engine, settings, tmp_path, model_override=str(tiny_model_dir))
    try:
        assert engine.model_id == str(tiny_model_dir)
        assert engine.native_resolution == 512
        assert engine.threads >= 1
        [res] = await engine.generate([gen_request(steps=2, size=(64, 64))])
        assert (res.width, res.height) == (64, 64)
    finally:
        await engine.aclose()


def _wait_policy_after(code: str, **env: str) -> str:
    """OMP_WAIT_POLICY as a fresh interpreter sees it after running `code` (which loads torch)."""
    import os
    import subprocess
    import sys

    clean = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport os, torch; print(os.environ.get('OMP_WAIT_POLICY', '-'))"],
        capture_output=True, text=True, env={**clean, **env}, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def test_openmp_threads_sleep_in_shared_processes_but_the_foreground_cli_keeps_the_default() -> None:
    # The bot and the worker (which import gen) share their cores with an event loop: passive waits.
    assert _wait_policy_after("import gen") == "PASSIVE"
    # An operator's own choice wins.
    assert _wait_policy_after("import gen", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    # `imaginebot imagine` picks libgomp's default spin-then-sleep before gen loads torch.
    code = (
        "import argparse, os\n"
        "import imaginebot.app.imagine as local\n"
        "local.load_settings = lambda _config: (_ for _ in ()).throw(SystemExit(0))\n"
        "try:\n"
        "    local.run_imagine(argparse.Namespace(config=None, model=None, prompt='x', out='o', user=0))\n"
        "except SystemExit:\n"
        "    pass\n"
        "import gen\n"
        "assert os.environ['GOMP_SPINCOUNT'] == local.FOREGROUND_SPINCOUNT"
    )
    assert _wait_policy_after(code) == "-"
