"""The rules that turn an edit of an image into a job (shared by the buttons and `imaginebot edit`)."""

from __future__ import annotations

import pytest

from imaginebot.core.domain import JobKind, JobSpec, PromptPart
from imaginebot.core.edit_jobs import edit_job, reprompt
from imaginebot.core.edits import EditAction, EditError
from imaginebot.core.prompt import ParserLimits, PromptError

SPEC = JobSpec(
    "a red fox", negative_prompt="blur", weights=(PromptPart("a red fox"),), width=512, height=512,
    seed=42, steps=20, guidance_scale=5.0, stylize=250,
)  # fmt: skip
UPSCALED = (1024, 1024)


def job(action: EditAction, **kw):
    return edit_job(action, SPEC, source_pixels=kw.pop("pixels", UPSCALED), base_resolution=512, **kw)


def test_upscale_keeps_the_seed_and_every_other_edit_draws_a_new_one() -> None:
    assert job(EditAction.UPSCALE).spec == SPEC
    for action in EditAction:
        if action in (EditAction.UPSCALE, EditAction.MAKE_SQUARE):  # (a square source cannot be squared)
            continue
        kw = {"regions": [(0, 0, 0.5, 0.5)]} if action is EditAction.VARY_REGION else {}
        made = job(action, **kw)
        assert made.spec.seed is None, action
        assert (made.spec.steps, made.spec.guidance_scale, made.spec.negative_prompt) == (20, 5.0, "blur")
    assert job(EditAction.PAN_UP, seed=7).spec.seed == 7


def test_kinds_strengths_and_sizes() -> None:
    varies = (EditAction.VARY_SUBTLE, EditAction.VARY_STRONG, EditAction.VARIATIONS)
    assert [job(a).strength for a in varies] == [
        0.4, 0.8, 0.8,
    ]  # fmt: skip
    pan = job(EditAction.PAN_RIGHT)
    assert pan.kind is JobKind.PAN and (pan.spec.width, pan.spec.height) == pan.edit.size == (624, 416)
    assert pan.spec.aspect_ratio == "3:2"
    zoom = job(EditAction.ZOOM_OUT, zoom=1.5)
    assert zoom.kind is JobKind.ZOOM_OUT and zoom.edit.size == (512, 512) and zoom.edit.zoom == 1.5
    up = job(EditAction.UPSCALE_CREATIVE)
    assert up.kind is JobKind.UPSCALE_CREATIVE and up.edit.size == (2048, 2048) and up.spec.width == 512
    assert job(EditAction.VARY_STRONG).edit is None


def test_only_custom_zoom_takes_an_aspect_ratio() -> None:
    wide = job(EditAction.ZOOM_OUT, zoom=1.0, ar="16:9")
    assert wide.edit.width > wide.edit.height and wide.spec.aspect_ratio == wide.edit.aspect_ratio
    with pytest.raises(EditError) as err:
        job(EditAction.PAN_LEFT, ar="3:2")
    assert err.value.argument == "--ar"


def test_upscales_stop_at_4096_px_a_side() -> None:
    assert job(EditAction.UPSCALE, pixels=(2048, 1024)).kind is JobKind.UPSCALE
    with pytest.raises(EditError, match="4096"):
        job(EditAction.UPSCALE, pixels=(2056, 1024))
    with pytest.raises(EditError, match="4096"):
        job(EditAction.UPSCALE_SUBTLE, pixels=(4096, 4096))


def test_reprompt_changes_the_words_only_and_reports_an_ar() -> None:
    spec, ar = reprompt(SPEC, "a wolf --no fog --chaos 50 --seed 5", ParserLimits())
    assert (spec.prompt, spec.negative_prompt, spec.weights) == ("a wolf", "fog", (PromptPart("a wolf"),))
    assert (spec.seed, spec.chaos, spec.width) == (42, 0, 512) and ar is None
    assert reprompt(SPEC, "a wolf --ar 2:1", ParserLimits())[1] == "2:1"
    with pytest.raises(PromptError):
        reprompt(SPEC, "{a, b} wolf", ParserLimits())
    with pytest.raises(PromptError):
        reprompt(SPEC, "a wolf --ar 9:1", ParserLimits())
