"""The live web page of ``orchestra serve``, in Debian's chromium (Playwright)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from fastapi import FastAPI

from tests.cli.test_runs_cli import BROWSER_ARGS, CHROMIUM
from tests.conftest import background_server, free_port

PREFIX = "/agents/demo"


def mounted() -> FastAPI:
    """An app of one's own with the served team's app mounted under ``PREFIX``."""
    from examples.approval_demo import team
    from orchestra.serve import create_app

    app = FastAPI()
    app.mount(PREFIX, create_app(team))
    return app


def _approve_through_the_page(sync_api: Any, url: str) -> set[str]:
    """Open the page at ``url``, run a goal, approve what it asks; the hosts requested."""
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(url)
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
    return {urlparse(u).netloc for u in requests}


def _playwright() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"chromium is not installed at {CHROMIUM} (make test installs it)")
    return pytest.importorskip("playwright.sync_api")


def test_the_page_starts_a_run_shows_its_tree_and_approves_from_the_browser():
    sync_api = _playwright()
    port = free_port()
    command = [sys.executable, "-m", "orchestra.cli", "serve", "examples/approval_demo.py:team"]
    with background_server([*command, "--port", str(port)], r"Uvicorn running on"):
        hosts = _approve_through_the_page(sync_api, f"http://127.0.0.1:{port}/")
    assert hosts == {f"127.0.0.1:{port}"}  # offline


@pytest.mark.parametrize("page", [f"{PREFIX}/", PREFIX])
def test_the_page_works_where_the_app_is_mounted(page: str):
    sync_api = _playwright()
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.test_serve_page:mounted", "--factory"]
    with background_server([*command, "--port", str(port)], r"Uvicorn running on"):
        hosts = _approve_through_the_page(sync_api, f"http://127.0.0.1:{port}{page}")
    assert hosts == {f"127.0.0.1:{port}"}
