"""Backend selection and thread settings."""

import threading

import pytest

from vectro import kernels


# ----- issue #14, defect 7: a bad VECTRO_THREADS is a user error ------------------------------------
def test_bad_thread_setting_is_a_clear_error(monkeypatch):
    from vectro.backend import thread_count
    from vectro.errors import VectroError

    for value in ("abc", "0", "-2", "1.5"):
        monkeypatch.setenv("VECTRO_THREADS", value)
        with pytest.raises(VectroError, match=f"VECTRO_THREADS must be a positive integer, got '{value}'"):
            thread_count()
    monkeypatch.setenv("VECTRO_THREADS", " 3 ")
    assert thread_count() == 3


def test_cli_with_bad_thread_setting_exits_2_with_one_line(files_with_sample, tmp_path):
    """Before: a ValueError traceback."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VECTRO_THREADS": "abc", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "vectro", "compress", "--in", str(files_with_sample / "base.npy"),
                           "--out", str(tmp_path / "x.vectro")], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == ["error: VECTRO_THREADS must be a positive integer, got 'abc'"]
    assert not (tmp_path / "x.vectro").exists()


def test_backend_choice_is_per_thread_and_patches_nothing():
    seen = {}
    module_function = kernels.available
    with kernels.backend("numpy"):
        assert not kernels.available()
        worker = threading.Thread(target=lambda: seen.update(other=kernels.available()))
        worker.start()
        worker.join()
    assert kernels.available is module_function  # nothing monkeypatched
    assert seen["other"] == kernels.available()  # another thread kept the configured backend
    with pytest.raises(Exception, match="unknown backend"):
        with kernels.backend("cuda"):
            pass
