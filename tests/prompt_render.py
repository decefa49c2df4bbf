"""`render_prompt`: a JobSpec written back as prompt text, for round-trip tests of the parser."""

from __future__ import annotations

from imaginebot.core.domain import JobSpec

_QUALITY_TEXT = {0.25: ".25", 0.5: ".5", 1.0: "1"}


def render_prompt(spec: JobSpec) -> str:
    """The spec's text with every parameter written out, so that it parses back to the same spec.

    Meant for specs parse_prompt made (their text has no braces); `--repeat` is not written.
    """
    words = [_escape(spec.prompt)]
    if spec.negative_prompt:
        words.append(f"--no {_escape(spec.negative_prompt)}")
    words.append(f"--ar {spec.aspect_ratio}")
    if spec.seed is not None:
        words.append(f"--seed {spec.seed}")
    words.append(f"--chaos {spec.chaos}")
    words.append(f"--stylize {spec.stylize}")
    words.append(f"--quality {_QUALITY_TEXT.get(spec.quality, repr(spec.quality))}")
    words.append(f"--stop {spec.stop}")
    if spec.tile:
        words.append("--tile")
    return " ".join(words)


def _escape(text: str) -> str:
    """Keep a backslash before a comma through the `\\,` escape when the text is parsed again."""
    return text.replace("\\,", "\\\\,")
