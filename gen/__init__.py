"""Image generation: torch and diffusers live here and nowhere else (the bot host never imports this).

- `gen.loader.load_pipeline` — load "tiny", a diffusers folder, a single-file checkpoint or a Hub id.
- `gen.engine.DiffusersEngine` — the `Engine` protocol: batched txt2img, variations, upscales.
- `gen.runner.ThreadedEngine` / `load_engine` — the `AsyncEngine` protocol on a dedicated thread.
- `gen.grid` — torch-free PNG/grid/upload-size helpers.
- `gen.tiny.make_tiny_model` — the small offline model used by default and in the tests.
"""
