"""Image generation: torch and diffusers live here and nowhere else (the bot host never imports this).

- `gen.loader.load_pipeline` — load "tiny", a diffusers folder, a single-file checkpoint or a Hub id.
- `gen.engine.DiffusersEngine` — the `Engine` protocol: batched txt2img, variations, upscales and the
  edits (inpainting: gen.inpaint), on text-to-image and dedicated inpainting models.
- `gen.runner.ThreadedEngine` / `load_engine` — the `AsyncEngine` protocol on a dedicated thread.
- `gen.tiny.make_tiny_model` — the small offline model used by default and in the tests.

Importing this package before torch makes torch's OpenMP threads sleep rather than spin while they
wait (`OMP_WAIT_POLICY=PASSIVE`), unless the process chose a policy already (`OMP_WAIT_POLICY` or
`GOMP_SPINCOUNT` set). In the bot and the worker, generation shares its cores with the event loop (and,
on a shared machine, with other processes); spinning threads then steal each other's time slices: a CPU
generation measured here ran 1.6× slower with one core taken by another process, and up to 10× slower
under a concurrent test run. The price is ~15 % on a quiet CPU (threads woken from sleep between
operators), which is why `imaginebot imagine` — one foreground job that has the machine to itself —
keeps OpenMP's own spin-then-sleep default (see imaginebot/app/imagine.py). On a GPU neither matters.
"""

import os as _os
import sys as _sys

_CHOSEN = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
if "torch" not in _sys.modules and not any(k in _os.environ for k in _CHOSEN):
    _os.environ["OMP_WAIT_POLICY"] = "PASSIVE"  # the OpenMP runtime reads it once, when torch loads
