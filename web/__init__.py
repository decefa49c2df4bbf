"""The web gallery: sign in with Discord, your jobs as a grid of thumbnails, a page per job with its images,
prompt, parameters and lineage, and signed share links that expire.

Server-rendered HTML (aiohttp + Jinja2) that works without JavaScript. Imports core and db only: never
gen, torch or discord. Start it with `web.app.start_server` (what `imaginebot web` and `imaginebot run`
do).
"""
