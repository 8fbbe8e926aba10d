"""The chat page in real headless Chromium (Playwright): reasoning and answer stream in; DeepThink off; stop.
Then a real demo-architecture model served by `r1kit serve` answers sums on the page.

Needs Debian's chromium (/usr/bin/chromium, or $R1KIT_CHROMIUM) and the playwright package; skipped
otherwise. A screenshot of the page goes to the test's tmp dir (path printed) and /tmp/r1kit-chat-page.png.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.serve.fake_batcher import DEFAULT_SCRIPT

CHROMIUM = os.environ.get("R1KIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REASONING = "Let me think: 2 + 3 = 5. Héllo 世界 😀."


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        # --no-sandbox: Chromium's sandbox cannot start as root, as in CI containers
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def ask(page, question: str) -> object:
    page.fill("#input", question)
    page.click("#send")
    bubble = page.locator(".message.assistant").last
    bubble.locator("xpath=self::*[@data-done]").wait_for(timeout=15_000)
    return bubble


def test_chat_page(served, browser, tmp_path):
    served.fake.script = DEFAULT_SCRIPT
    served.fake.step_s = 0.03  # slow enough to watch the stream (and to press stop in time)
    page = browser.new_page(viewport={"width": 1000, "height": 720})
    try:
        page.goto(served.url + "/")
        page.locator("#model").filter(has_text="r1kit-fake").wait_for(timeout=10_000)

        # DeepThink on: a reasoning block above the answer, both streamed in
        page.fill("#input", "What is 2 + 3?")
        page.click("#send")
        page.locator(".message.assistant .reasoning-text").first.wait_for(timeout=10_000)
        assert page.is_enabled("#stop") and not page.is_enabled("#send")  # mid-stream
        bubble = page.locator(".message.assistant").last
        bubble.locator("xpath=self::*[@data-done]").wait_for(timeout=15_000)
        assert bubble.locator(".reasoning-text").inner_text() == REASONING
        assert bubble.locator(".answer").inner_text() == "The answer is 5."
        assert bubble.locator("details.reasoning").get_attribute("open") is not None
        assert "Thought for" in bubble.locator("summary").inner_text()
        # DeepThink off: thinking disabled in the request, no reasoning block
        served.fake.script = ["Five, directly."]
        page.uncheck("#deepthink")
        bubble = ask(page, "And without thinking?")
        assert bubble.locator(".reasoning").count() == 0
        assert bubble.locator(".answer").inner_text() == "Five, directly."
        request = served.fake.requests[-1]
        assert not served.fake.tokenizer.decode(request.prompt_ids).endswith("<think>\n")
        # the second turn carried the first answer, without its reasoning
        assert "The answer is 5." in served.fake.tokenizer.decode(request.prompt_ids)
        assert REASONING not in served.fake.tokenizer.decode(request.prompt_ids)
        shot = tmp_path / "r1kit-chat-page.png"
        page.screenshot(path=str(shot), full_page=True)
        shutil.copy(shot, "/tmp/r1kit-chat-page.png")
        print(f"\nchat page screenshot: {shot} (copy: /tmp/r1kit-chat-page.png)")

        # Stop aborts the fetch; the server cancels the stream
        served.fake.script = ["word " * 500]
        page.fill("#input", "Talk a lot")
        page.click("#send")
        page.locator(".message.assistant .answer").last.filter(has_text="word").wait_for(timeout=10_000)
        page.click("#stop")
        page.locator(".message.assistant .note").last.wait_for(timeout=5_000)
        assert served.wait_idle()["active"] == 0
        assert served.fake.streams[-1].finish_reason == "cancelled"
    finally:
        served.fake.step_s = 0.001
        page.close()


def test_page_with_an_api_key(tokenizer, browser):
    from tests.serve.conftest import start_served, stop_served

    served = start_served(tokenizer, api_key="sekret", script=["Hmm.", "</think>", "Five, keyed."])
    page = browser.new_page()
    try:
        page.goto(served.url + "/")
        page.locator("#model").filter(has_text="API key").wait_for(timeout=10_000)  # 401 shown, not hidden
        page.fill("#apikey", "sekret")
        page.dispatch_event("#apikey", "change")
        page.locator("#model").filter(has_text="r1kit-fake").wait_for(timeout=10_000)
        bubble = ask(page, "Hi")
        assert bubble.locator(".answer").inner_text() == "Five, keyed."
    finally:
        page.close()
        stop_served(served)


# ---- a real model through `r1kit serve` (issue 9: the demo model answered "cccc…02012</answer>") ----

@pytest.fixture(scope="module")
def demo_model(tmp_path_factory, one_thread):
    """The demo's base model (GPT-2 tiny, r1kit tokenizer, SFT behind the R1-Zero prompt), cut down to
    8 two-digit sums learnt with worked steps: 100 steps, ~10 s. It answers those sums right at the
    page's temperature 0.6 (32/32 measured) in the prompt form it was trained on, and 0/32 when given
    the tokenizer's default chat form instead, so a right answer here shows the template agreed."""
    from r1kit.data.tasks import get_task
    from r1kit.pipeline.base_model import BaseModelConfig, build_base_model

    cfg = BaseModelConfig(digits=2, n_examples=8, learn_steps=100, learn_share=1.0, pretrain_steps=0, batch_size=8)
    path = build_base_model(cfg, tmp_path_factory.mktemp("demo") / "base", log=lambda *_: None)
    return path, get_task("arithmetic", digits=cfg.digits, seed=cfg.seed).examples("train", cfg.n_examples)


def start_r1kit_serve(model: Path) -> tuple[subprocess.Popen, str, Path]:
    """`r1kit serve MODEL` on a free local port, as a user starts it (no template flag); waits for /health."""
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = model.parent / "serve.log"
    cmd = [sys.executable, "-c", "from r1kit.cli import main; raise SystemExit(main())", "serve", "--model", str(model),
           "--port", str(port), "--threads", "1", "--served-name", "demo"]
    with log.open("w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"r1kit serve did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def test_demo_model_served_answers_sums_with_reasoning(demo_model, browser):
    path, examples = demo_model
    proc, url, log = start_r1kit_serve(path)
    page = browser.new_page()
    try:
        page.goto(url + "/")
        page.locator("#model").filter(has_text="demo").wait_for(timeout=10_000)
        for ex in examples[:3]:
            page.click("#clear")  # one question per conversation, as the model was trained
            bubble = ask(page, ex.problem)  # "What is 27 + 59?"
            reasoning, shown = bubble.locator(".reasoning-text"), bubble.inner_text()
            assert reasoning.count() == 1 and reasoning.inner_text().startswith("column by column:"), shown
            assert bubble.locator(".answer").inner_text() == f"<answer>{ex.answer}</answer>", shown
        assert "chat prompts: the r1_zero prompt it was trained on" in log.read_text()  # the start-up line
    finally:
        page.close()
        proc.terminate()
        proc.wait(10)
