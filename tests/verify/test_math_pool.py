"""VerifierPool on its own: parallel checks, deadlines, dead workers, close."""

import subprocess
import sys
import threading
import time

from r1kit.verify.math_pool import FREE_TEXT, VerifierPool, math_check


def test_math_check_in_process():
    assert math_check("\\frac12", "0.5") == 1.0
    assert math_check("3", "4") == 0.0
    assert math_check("", "") is None  # an unparsable gold
    assert math_check("", "5") == 0.0


def test_pool_lifecycle_deadline_and_dead_worker():
    with VerifierPool(workers=2, timeout=0.5) as pool:
        pairs = [("\\frac{1}{2}", "0.5"), ("2^{2^{2^{2^{2^{2}}}}}", "1"), ("3", "3"), ("x+1", "1+x")]
        start = time.perf_counter()
        assert pool.check_batch(pairs) == [1.0, 0.0, 1.0, 1.0]
        assert time.perf_counter() - start < 30  # includes worker start-up (spawn + import)
        assert pool.stats.timeouts == 1 and pool.stats.restarts == 1

        pool._workers[0].proc.kill()  # a worker dies between batches
        pool._workers[0].proc.wait()
        assert pool.check_batch([("2", "2"), ("5", "4")]) == [1.0, 0.0]
        assert pool.stats.errors >= 1 and len(pool._workers) == 2
    assert pool.closed and all(w.proc.poll() is not None for w in pool._workers)
    assert pool.check_batch([("1", "1")]) == [0.0]  # closed: scores 0, never raises


def test_works_from_an_unguarded_script(tmp_path):
    # multiprocessing "spawn" would re-run this script in each worker and every check would fail.
    script = tmp_path / "train.py"
    script.write_text("from r1kit.verify import verify_math\nprint(verify_math('\\\\frac12', '0.5'))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "1.0", out.stderr[-2000:]


def test_works_off_the_main_thread(verifier_pool):
    # Math-Verify's own SIGALRM timeout fails outside the main thread; ours does not use signals.
    from r1kit.verify.math import verify_math

    results = []
    thread = threading.Thread(target=lambda: results.append(verify_math("\\frac{3}{6}", "0.5")))
    thread.start()
    thread.join(timeout=30)
    assert results == [1.0]


def test_free_text_is_read_by_math_verify_extraction():
    # The marked tail goes to Math-Verify's own extraction (the last expression), not into math mode.
    assert math_check(FREE_TEXT + "Thus $x = 5+6 = 11$ is it.", "11") == 1.0
    assert math_check(FREE_TEXT + "That is 28 percent of them", "28\\%") == 1.0
    assert math_check(FREE_TEXT + "nothing here", "5") == 0.0
    assert math_check("3", FREE_TEXT + "so it is $3$") == 1.0  # a marked tail may stand as the gold too


def test_magnitude_guard_against_rounding():
    # Math-Verify alone calls each of these pairs equal (it rounds to 6 decimal places).
    assert math_check("10^{-30}", "2\\cdot 10^{-30}") == 0.0
    assert math_check("(0.0000001, 1)", "(0.0000002, 1)") == 0.0  # inside a tuple too
    assert math_check("\\frac13", "0.3333333") == 1.0  # a close decimal still counts
    assert math_check("x^2/16 + y^2/12 = 1/4", "x^2/4 + y^2/3 = 1") == 1.0  # equations: not walked
