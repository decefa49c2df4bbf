"""The composition root: the `imaginebot` command line (one module per command) and process start-up.

The only place that may import every other package: it opens the queue once, loads the engine (gen) and
hands each part the role it needs — the worker the queue's lifecycle, the bot its queue.
"""
