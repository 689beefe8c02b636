"""The live web page of ``orchestra serve``, in Debian's chromium (Playwright)."""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.cli.test_runs_cli import BROWSER_ARGS, CHROMIUM
from tests.conftest import background_server, free_port


def test_the_page_starts_a_run_shows_its_tree_and_approves_from_the_browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium is not installed at {CHROMIUM} (make test installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "orchestra.cli", "serve", "examples/approval_demo.py:team"]
    with background_server([*command, "--port", str(port)], r"Uvicorn running on"):
        requests: list[str] = []
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.goto(base + "/")
            page.fill("input[name=goal]", "Send the quarterly report to Ann")
            page.click("button[type=submit]")
            approvals = 0
            for _ in range(6):  # the plan, then each email, waits for a yes
                page.wait_for_function(
                    "document.querySelector('#status').textContent === 'succeeded'"
                    " || document.querySelector('#pending .request') !== null",
                    timeout=30_000,
                )
                if page.text_content("#status") == "succeeded":
                    break
                assert page.locator("#pending .request .summary").inner_text()
                page.click("#pending .request button.approve")
                approvals += 1
                page.wait_for_function(
                    "document.querySelector('#pending .request') === null", timeout=30_000
                )
            assert page.text_content("#status") == "succeeded"
            assert approvals >= 2  # the plan and at least one email, approved in the page
            tasks = page.locator("#tree li.task")
            assert tasks.count() >= 2
            statuses = {tasks.nth(i).get_attribute("data-status") for i in range(tasks.count())}
            assert statuses == {"done"}
            assert page.locator("#answer").inner_text().strip()
            assert "pass by critic" in page.locator("#tree").inner_text()
            browser.close()
        assert {urlparse(u).netloc for u in requests} == {f"127.0.0.1:{port}"}  # offline
