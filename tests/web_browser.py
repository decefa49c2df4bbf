"""A real headless browser for the web gallery's tests: Debian's `chromium` driven through its
`chromium-driver` by Selenium (no downloads: both come from apt, installed by scripts/setup).

Selenium is synchronous and the gallery runs on the test's event loop, so a test calls the browser
through `await asyncio.to_thread(...)`; every wait has a deadline (WebDriverWait), none is a sleep.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PIL import Image

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WIDTH, HEIGHT = 1280, 1000

__all__ = ["Browser", "browser_fixture", "ensure_chromium"]


def ensure_chromium() -> None:
    """Chromium and its driver, installed with apt-get (as scripts/setup does) when missing and root."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=False, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "chromium-driver"],
            env=env, capture_output=True, check=False, timeout=900,
        )  # fmt: skip
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("the browser tests need Debian's chromium and chromium-driver: run ./scripts/setup")


@dataclass
class Browser:
    driver: Any  # selenium.webdriver.Chrome

    def get(self, url: str) -> None:
        self.driver.get(url)

    def sign_out_everywhere(self) -> None:
        """Forget every cookie (each test's gallery has its own key; cookies ignore ports)."""
        self.driver.delete_all_cookies()

    def click(self, css: str) -> None:
        self.driver.find_element("css selector", css).click()

    def displayed(self, css: str) -> bool:
        return bool(self.driver.find_element("css selector", css).is_displayed())

    def value(self, css: str) -> str:
        return str(self.driver.find_element("css selector", css).get_attribute("value"))

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    @property
    def text(self) -> str:
        return str(self.driver.find_element("tag name", "body").text)

    def wait_images_loaded(self, selector: str, *, at_least: int, timeout: float = 20.0) -> list[Any]:
        """The `img` elements matching `selector` once at least `at_least` have finished loading."""
        from selenium.webdriver.support.ui import WebDriverWait

        def loaded(driver: Any) -> list[Any] | bool:
            images = driver.find_elements("css selector", selector)
            done = [i for i in images if driver.execute_script("return arguments[0].complete", i)]
            return images if len(images) >= at_least and len(done) == len(images) else False

        result: list[Any] = WebDriverWait(self.driver, timeout).until(loaded)
        return result

    def natural_width(self, element: Any) -> int:
        return int(self.driver.execute_script("return arguments[0].naturalWidth", element))

    def screenshot(self) -> Image.Image:
        """The viewport as an RGB image, one pixel per CSS pixel (device scale factor 1)."""
        png = self.driver.get_screenshot_as_png()
        with Image.open(io.BytesIO(png)) as img:
            return img.convert("RGB")

    @staticmethod
    def box(element: Any) -> tuple[int, int, int, int]:
        rect = element.rect
        x, y = int(rect["x"]), int(rect["y"])
        return x, y, x + int(rect["width"]), y + int(rect["height"])


def _driver(javascript: bool) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        f"--window-size={WIDTH},{HEIGHT}", "--force-device-scale-factor=1", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", "--disable-background-networking",
    ):  # fmt: skip
        options.add_argument(arg)
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture(name="browser", scope="module")
def browser_fixture() -> Iterator[Browser]:
    """One headless chromium for the module (a fresh profile; each test signs in itself)."""
    ensure_chromium()
    os.environ.setdefault("SE_AVOID_STATS", "true")
    driver = _driver(javascript=True)
    try:
        yield Browser(driver)
    finally:
        driver.quit()


@pytest.fixture(name="browser_without_js")
def browser_without_js_fixture() -> Iterator[Browser]:
    ensure_chromium()
    driver = _driver(javascript=False)
    try:
        yield Browser(driver)
    finally:
        driver.quit()
