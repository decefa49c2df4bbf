"""imaginebot: a self-hosted, Midjourney-style image bot for Discord.

`imaginebot.core` is the shared vocabulary (no torch, no discord); `imaginebot.app` is the command line
that wires db/, gen/, worker/ and bot/ together. See README.md "Architecture".
"""
