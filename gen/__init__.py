"""Image generation: torch and diffusers live here and nowhere else (the bot host never imports this).

- `gen.loader.load_pipeline` — load "tiny", a diffusers folder, a single-file checkpoint or a Hub id.
- `gen.engine.DiffusersEngine` — the `Engine` protocol: batched txt2img, variations, upscales.
- `gen.runner.ThreadedEngine` / `load_engine` — the `AsyncEngine` protocol on a dedicated thread.
- `gen.tiny.make_tiny_model` — the small offline model used by default and in the tests.

Importing this package before torch makes torch's OpenMP threads sleep rather than spin while they
wait (`OMP_WAIT_POLICY=PASSIVE`, unless set already). Generation shares its cores with the event loop
(and, on a shared machine, with other processes); spinning threads then steal each other's time slices
and a CPU generation measured here ran 2–10× slower. Quiet, the two policies are equally fast.
"""

import os as _os
import sys as _sys

if "torch" not in _sys.modules:  # the OpenMP runtime reads it once, when torch loads
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
