"""The Python module against the command line, on the same channels; arrays in place and
copied; bad input. Run by ctest (PYTHONPATH = build/python, JCAS_CLI = the jcas binary)."""

import json
import os
import subprocess
import sys
import threading

import h5py
import numpy as np
import pytest

import jcas

CLI = os.environ.get("JCAS_CLI", "jcas")


def cli(*args, cwd):
    return subprocess.run([CLI, *map(str, args)], cwd=cwd, check=True, capture_output=True, text=True).stdout


def cli_error(*args, cwd):
    r = subprocess.run([CLI, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert r.returncode != 0
    return r.stderr.strip().splitlines()[-1].removeprefix("jcas: error: ")


def file_channels(path):
    """A channel file's H (B, Nt, K) and G (B, J, Nr, Nt), as h5py reads them (C order)."""
    with h5py.File(path) as f:
        h, g = f["H"][()], f["G"][()]
        j = int(f.attrs["targets"]) + int(f.attrs["clutter"])
    b, rows, nt = g.shape
    return h, g.reshape(b, j, rows // j, nt)


@pytest.fixture(scope="module")
def channels(tmp_path_factory):
    d = tmp_path_factory.mktemp("ch")
    cli("generate", "--count", 6, "--seed", 5, "--out", "c.h5", cwd=d)
    return d


def test_generate_equals_the_cli_file(channels):
    h, g = jcas.generate(6, seed=5)
    fh, fg = file_channels(channels / "c.h5")
    np.testing.assert_array_equal(h, fh)
    np.testing.assert_array_equal(g, fg)
    # The solver's layout: each matrix column-major, realizations contiguous.
    assert h.strides == (16 * 16 * 4, 16, 16 * 16)
    assert not h.flags.c_contiguous and h.transpose(0, 2, 1).flags.c_contiguous


@pytest.mark.parametrize("algo", ["unfolded", "ao-monotone"])
def test_solve_equals_the_cli(channels, algo):
    cli("solve", "--data", "c.h5", "--algo", algo, "--out", f"r-{algo}.h5", cwd=channels)
    h, g = file_channels(channels / "c.h5")
    r = jcas.solve(h, g, algo=algo)
    with h5py.File(channels / f"r-{algo}.h5") as f:
        for key in ("W", "F", "curve", "objective", "min_sinr", "min_scnr", "outer", "inner"):
            np.testing.assert_array_equal(r[key], f[key][()], err_msg=key)
    assert r["algo"] == algo


def test_the_shipped_model_is_the_default_and_untrained_is_a_word(channels):
    h, g = file_channels(channels / "c.h5")
    for delta, name in ((1.0, "unfolded_d1.h5"), (10.0, "unfolded_d10.h5")):
        m = jcas.shipped_model(delta)
        assert m.provenance.startswith(f"shipped models/{name}: trained: ") and m.w0 == "zf"
        assert m.layer_repeat == "users" and "layer_repeat=users" in m.provenance
        default = jcas.solve(h, g, delta=delta)
        np.testing.assert_array_equal(default["objective"], jcas.solve(h, g, model=m, delta=delta)["objective"])
    untrained = jcas.solve(h, g, model="untrained")
    np.testing.assert_array_equal(untrained["objective"], jcas.solve(h, g, outer=150, inner=3)["objective"])
    assert np.mean(jcas.solve(h, g)["objective"]) > np.mean(untrained["objective"])
    with pytest.raises(ValueError, match="^delta = nan: must be >= 0 and finite$"):
        jcas.shipped_model(float("nan"))


def test_numpy_in_place_and_results_without_copy():
    h, g = jcas.generate(4, seed=2)
    r = jcas.solve(h, g, outer=5)
    assert r["inputs"]["H"] == {"pointer": h.ctypes.data, "copied": False, "why": ""}
    assert r["inputs"]["G"]["pointer"] == g.ctypes.data and not r["inputs"]["G"]["copied"]
    w = r["W"]
    assert w.shape == (4, 16, 4) and w.dtype == np.complex128
    assert w.base is not None and not w.flags.owndata  # the solver's own buffer, handed over


def test_other_layouts_and_complex64_are_copied_with_the_same_result():
    h, g = jcas.generate(5, seed=3)
    ref = jcas.solve(h, g, outer=8)
    c_order = jcas.solve(np.ascontiguousarray(h), np.ascontiguousarray(g), outer=8)
    assert c_order["inputs"]["H"]["copied"] and "strides" in c_order["inputs"]["H"]["why"]
    np.testing.assert_array_equal(c_order["W"], ref["W"])
    big_h = np.zeros((10, 16, 4), complex)
    big_h[::2] = h  # a strided slice: every other realization
    sliced = jcas.solve(big_h[::2], g, outer=8)
    assert sliced["inputs"]["H"]["copied"]
    np.testing.assert_array_equal(sliced["W"], ref["W"])
    r64 = jcas.solve(h.astype(np.complex64), g, outer=8)
    assert "complex64" in r64["inputs"]["H"]["why"]
    exact = jcas.solve(h.astype(np.complex64).astype(np.complex128), g, outer=8)
    np.testing.assert_array_equal(r64["W"], exact["W"])


def test_rank_one_factors_in_place_of_g(channels, tmp_path):
    """generate(rank_one=True) gives G as its line-of-sight factors (U, V), G_j = u_j v_j^H;
    solve and train take the pair in G's place, read in place, with the results of the
    command line on the same draw written by generate --rank-one, bit for bit."""
    h, g = jcas.generate(6, seed=5)
    h1, (u, v) = jcas.generate(6, seed=5, rank_one=True)
    assert u.shape == (6, 4, 16) and v.shape == (6, 4, 16) and u.flags.c_contiguous and v.flags.c_contiguous
    np.testing.assert_allclose(h1, h, rtol=0, atol=1e-15 * np.abs(h).max())  # the same draw
    dense = np.einsum("bjr,bjt->bjrt", u, v.conj())
    np.testing.assert_allclose(dense, g, rtol=0, atol=1e-15 * np.abs(g).max())
    r = jcas.solve(h1, (u, v), outer=20)
    assert r["inputs"]["U"] == {"pointer": u.ctypes.data, "copied": False, "why": ""}
    assert r["inputs"]["V"] == {"pointer": v.ctypes.data, "copied": False, "why": ""} and "G" not in r["inputs"]
    # Dense G solves the same channels up to the rounding of another factorisation.
    np.testing.assert_allclose(r["objective"], jcas.solve(h1, dense, outer=20)["objective"], rtol=1e-7)
    cli("generate", "--count", 6, "--seed", 5, "--rank-one", "--out", tmp_path / "r1.h5", cwd=channels)
    cli("solve", "--data", tmp_path / "r1.h5", "--outer", 20, "--out", tmp_path / "s1.h5", cwd=channels)
    with h5py.File(tmp_path / "s1.h5") as f:
        for key in ("W", "F", "objective"):
            np.testing.assert_array_equal(r[key], f[key][()], err_msg=key)
    settings = ["--epochs", 2, "--batch", 3, "--outer", 4, "--seed", 7]
    cli("train", "--data", tmp_path / "r1.h5", "--out", tmp_path / "m1.h5", "--no-plot", *settings, cwd=channels)
    m = jcas.train(h1, [u, v], epochs=2, batch=3, outer=4, seed=7)
    np.testing.assert_array_equal(m.beta, jcas.load_model(str(tmp_path / "m1.h5")).beta)
    with pytest.raises(ValueError, match=r"^V: J = 3 \(its second axis\); U has J = 4$"):
        jcas.solve(h1, (u, v[:, :3]))
    with pytest.raises(ValueError, match=r"^V: Nt = 8 \(its last axis\); H has Nt = 16 \(its second axis\)$"):
        jcas.solve(h1, (u, v[:, :, :8]))
    with pytest.raises(ValueError, match=r"^U: 5 realizations; H has 6$"):
        jcas.solve(h1, (u[:5], v))
    with pytest.raises(TypeError, match=r"^G: expected an array \(count, J, Nr, Nt\) or a pair \(U, V\)"):
        jcas.solve(h1, (u, v, v))


def test_bad_input_raises_with_the_cli_message(channels):
    h, g = jcas.generate(3, seed=1)
    with pytest.raises(TypeError, match="H: dtype float64"):
        jcas.solve(h.real, g)
    with pytest.raises(TypeError, match="G: dtype int64"):
        jcas.solve(h, np.zeros(g.shape, dtype=np.int64))
    with pytest.raises(ValueError, match="H: 2 dimensions"):
        jcas.solve(h[0], g)
    with pytest.raises(ValueError, match="G: 2 realizations; H has 3"):
        jcas.solve(h, g[:2])
    with pytest.raises(ValueError, match=r"targets = 5: must be in 1 .. J = 4"):
        jcas.solve(h, g, targets=5)
    bad = h.copy()
    bad[1, 2, 3] = np.nan
    with pytest.raises(ValueError, match="H of realization 1"):
        jcas.solve(bad, g)
    for py_kw, cli_args in [
        (dict(algo="ao-fixed", step=-1), ["--algo", "ao-fixed", "--step", "-1"]),
        (dict(algo="nope"), ["--algo", "nope"]),
        (dict(outer_tol=float("nan"), algo="ao-monotone"), ["--algo", "ao-monotone", "--outer-tol", "nan"]),
        (dict(snr_db=400), ["--snr-db", "400"]),
    ]:
        expected = cli_error("solve", "--data", "c.h5", *cli_args, cwd=channels)
        with pytest.raises(ValueError) as e:
            jcas.solve(*file_channels(channels / "c.h5"), **py_kw)
        assert str(e.value) == expected
    with pytest.raises(ValueError, match="device = gpu"):
        jcas.solve(h, g, device="gpu")
    with pytest.raises(ValueError, match="user-dist = -1"):
        jcas.generate(2, user_dist=-1)
    with pytest.raises(TypeError, match="unknown scenario option 'antennas'"):
        jcas.generate(2, antennas=4)
    with pytest.raises(TypeError, match="model: expected None, a path or a jcas.Model"):
        jcas.solve(h, g, model=3)
    with pytest.raises(ValueError, match="^layer-repeat = 0: must be users or a whole number >= 1$"):
        jcas.solve(h, g, layer_repeat=0)
    with pytest.raises(TypeError, match="^layer_repeat: expected 'users' or a whole number, not float$"):
        jcas.solve(h, g, layer_repeat=2.0)
    with pytest.raises(ValueError, match=r"^team lanes = 12: must be 8, 16, 32 or 0 \(the model's choice\)$"):
        jcas.solve(h, g, team_lanes=12)


def test_layer_repeat_runs_each_layer_again(channels):
    h, g = file_channels(channels / "c.h5")  # K = 4: the shipped models run each layer once
    once, twice = jcas.solve(h, g), jcas.solve(h, g, layer_repeat=2)
    assert once["curve"].shape[1] == 151 and twice["curve"].shape[1] == 301
    np.testing.assert_array_equal(once["objective"], jcas.solve(h, g, layer_repeat=1)["objective"])
    out = json.loads(cli("solve", "--data", "c.h5", "--layer-repeat", "2", "--json", cwd=channels))
    assert out["mean_objective"] == twice["mean_objective"] and out["mean_iterations"] == 300
    assert np.mean(twice["objective"]) > np.mean(once["objective"])


def test_train_equals_the_cli_and_the_model_round_trips(channels, tmp_path):
    settings = ["--epochs", 2, "--batch", 4, "--outer", 4, "--seed", 7]
    cli("train", "--data", "c.h5", "--out", tmp_path / "m.h5", "--no-plot", *settings, cwd=channels)
    from_cli = jcas.load_model(str(tmp_path / "m.h5"))
    m = jcas.train(*file_channels(channels / "c.h5"), epochs=2, batch=4, outer=4, seed=7)
    assert (m.l_out, m.l_in) == (4, 3)
    np.testing.assert_array_equal(m.beta, from_cli.beta)
    assert (m.mu_c, m.mu_s) == (from_cli.mu_c, from_cli.mu_s)
    m.save(str(tmp_path / "py.h5"))
    back = jcas.load_model(str(tmp_path / "py.h5"))
    np.testing.assert_array_equal(back.beta, m.beta)
    assert "data=arrays" in back.provenance
    h, g = file_channels(channels / "c.h5")
    by_path = jcas.solve(h, g, model=str(tmp_path / "m.h5"))
    by_object = jcas.solve(h, g, model=from_cli)
    np.testing.assert_array_equal(by_path["W"], by_object["W"])
    with pytest.raises(ValueError, match="outer/inner: the parameter file fixes L_out = 4"):
        jcas.solve(h, g, model=from_cli, outer=6)
    # Mixed K in the same process after a training at K = 4 (its scratch reused at K = 2):
    # still the CLI's model, from its own process.
    cli("train", "--data", "c.h5", "--out", tmp_path / "mix.h5", "--no-plot", "--users-mix", "2,4", *settings,
        cwd=channels)
    mixed = jcas.train(h, g, users_mix=[2, 4], epochs=2, batch=4, outer=4, seed=7)
    np.testing.assert_array_equal(mixed.beta, jcas.load_model(str(tmp_path / "mix.h5")).beta)
    assert not np.array_equal(mixed.beta, m.beta) and "users_mix=2,4" in mixed.provenance
    with pytest.raises(ValueError, match="^users-mix: K = 5, but the training data have 4 users$"):
        jcas.train(h, g, users_mix=[2, 5], epochs=1)


def test_train_checkpoint_resumes_to_the_uninterrupted_model(channels, tmp_path):
    h, g = file_channels(channels / "c.h5")
    settings = dict(batch=4, outer=4, seed=7)
    whole = jcas.train(h, g, epochs=4, **settings)
    ckpt = str(tmp_path / "t.ckpt.h5")
    jcas.train(h, g, epochs=2, checkpoint=ckpt, **settings)  # "interrupted" after two epochs
    resumed = jcas.train(h, g, epochs=4, checkpoint=ckpt, resume=True, **settings)
    np.testing.assert_array_equal(resumed.beta, whole.beta)
    assert (resumed.mu_c, resumed.mu_s) == (whole.mu_c, whole.mu_s)
    with pytest.raises(ValueError, match="lr"):
        jcas.train(h, g, epochs=6, checkpoint=ckpt, resume=True, lr=1e-2, **settings)
    with pytest.raises(ValueError, match="checkpoint is L_out 4"):
        jcas.train(h, g, epochs=6, checkpoint=ckpt, resume=True, batch=4, outer=5, seed=7)
    with pytest.raises(ValueError, match="resume = True: give checkpoint"):
        jcas.train(h, g, epochs=6, resume=True, **settings)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    jcas.device_count() == 0, reason="no CUDA device"))])
def test_models_trained_in_python_threads_at_once_are_the_ones_trained_alone(channels, device, tmp_path):
    # As jcas train with several --out files: each thread's run its own (a stream each on
    # a GPU), the same models as trained one after another; their checkpoints written
    # from the threads at once (jcas's files take turns in HDF5, which is not thread-safe).
    h, g = file_channels(channels / "c.h5")
    jobs = [dict(delta=1.0, iw=2), dict(delta=10.0, iw=4), dict(delta=1.0, iw=4)]
    settings = dict(epochs=2, batch=4, outer=4, seed=7, threads=1, device=device)
    alone = [jcas.train(h, g, **job, **settings) for job in jobs]
    together = [None] * len(jobs)

    def one(i):
        together[i] = jcas.train(h, g, **jobs[i], **settings, checkpoint=str(tmp_path / f"t{i}.ckpt.h5"))

    team = [threading.Thread(target=one, args=(i,)) for i in range(len(jobs))]
    for t in team:
        t.start()
    for t in team:
        t.join()
    for i, (a, b) in enumerate(zip(alone, together)):
        np.testing.assert_array_equal(b.beta, a.beta)
        assert (b.mu_c, b.mu_s) == (a.mu_c, a.mu_s)
        np.testing.assert_array_equal(jcas.load_model(str(tmp_path / f"t{i}.ckpt.h5")).beta, a.beta)
    assert not np.array_equal(alone[0].beta, alone[1].beta)


def test_montecarlo_equals_the_cli(tmp_path):
    out = json.loads(
        cli("montecarlo", "--count", 64, "--algos", "unfolded,ao-monotone", "--json", "--no-plot", "--out", "mc",
            cwd=tmp_path))
    r = jcas.montecarlo(64, ["unfolded", "ao-monotone"])
    for row in out["results"]:
        mine = r[row["algo"]]
        for key in ("realizations", "mean_objective", "ci95_objective", "min_sinr_db", "min_scnr_db", "q05", "q50",
                    "q95"):
            assert mine[key] == row[key], (row["algo"], key)


def test_the_gil_is_released_while_solving():
    h, g = jcas.generate(64, seed=4)
    done = threading.Event()
    ticks = 0

    def work():
        jcas.solve(h, g, threads=1)
        done.set()

    t = threading.Thread(target=work)
    t.start()
    while not done.is_set():
        ticks += 1
    t.join()
    assert ticks > 1000  # the main thread ran Python while the solve did


_CTRL_C = """
import os, signal, sys, threading, time
import jcas
h, g = jcas.generate(400, seed=3)
calls = {  # each would run for 25 s or more on one core
    "solve": lambda: jcas.solve(h, g, algo="ascent", threads=1),
    "montecarlo": lambda: jcas.montecarlo(400, ["ascent"], threads=1),
    "train": lambda: jcas.train(h[:8], g[:8], epochs=1000, batch=4, threads=1),
}
threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
t0 = time.monotonic()
try:
    calls[sys.argv[1]]()
except KeyboardInterrupt:
    print(f"{time.monotonic() - t0:.3f}")
    sys.exit(0)
sys.exit(f"finished after {time.monotonic() - t0:.1f} s without KeyboardInterrupt")
"""


@pytest.mark.parametrize("call", ["solve", "montecarlo", "train"])
def test_ctrl_c_ends_a_long_call_at_once(call):
    # SIGINT arrives 1 s in; without the stop poll the call would finish first (25 s or
    # more) and only then raise.
    r = subprocess.run([sys.executable, "-c", _CTRL_C, call], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert 1.0 <= float(r.stdout) < 4.0


def _torch():
    return pytest.importorskip("torch")


def test_torch_cpu_tensors_through_dlpack_without_copy():
    torch = _torch()
    h, g = jcas.generate(4, seed=6)
    th, tg = torch.from_numpy(h), torch.from_numpy(g)  # same memory, same strides
    assert not hasattr(th, "__array_interface__")  # it goes through __dlpack__, not NumPy
    r = jcas.solve(th, tg, outer=6)
    assert r["inputs"]["H"]["pointer"] == th.data_ptr() and not r["inputs"]["H"]["copied"]
    assert r["inputs"]["G"]["pointer"] == tg.data_ptr() and not r["inputs"]["G"]["copied"]
    np.testing.assert_array_equal(r["W"], jcas.solve(h, g, outer=6)["W"])
    # A tensor in PyTorch's own (row-major) layout is copied, with the same result.
    rc = jcas.solve(th.contiguous(), tg.contiguous(), outer=6)
    assert rc["inputs"]["H"]["copied"]
    np.testing.assert_array_equal(rc["W"], r["W"])
    with pytest.raises(TypeError, match="H: dtype float64"):
        jcas.solve(th.real.contiguous(), tg)
    with pytest.raises(TypeError, match="H: dtype float32"):
        jcas.solve(torch.zeros(4, 16, 4), tg)


class _CudaProducer:
    """A DLPack producer that says its memory is on a GPU and notes the stream it is asked to
    order its work before, then refuses to export (no device is needed to check that)."""
    asked = []

    def __dlpack_device__(self):
        return (2, 0)  # kDLCUDA, device 0

    def __dlpack__(self, stream=None):
        self.asked.append(stream)
        raise RuntimeError("not exported")


def test_a_gpu_producer_orders_its_work_before_the_stream_jcas_reads_on():
    h, g = jcas.generate(2)
    for kw, expect in ((dict(), 1), (dict(stream=7), 7), (dict(stream=type("S", (), {"cuda_stream": 9})()), 9)):
        _CudaProducer.asked.clear()
        with pytest.raises(RuntimeError, match="not exported"):
            jcas.solve(_CudaProducer(), g, device="cuda", **kw)
        assert _CudaProducer.asked == [expect]  # 1: the legacy default stream (DLPack), else the caller's
    with pytest.raises(ValueError, match="^stream = 7: a stream orders work on a CUDA device, but device = cpu$"):
        jcas.solve(h, g, stream=7)
    with pytest.raises(TypeError, match="^stream: expected None, an int"):
        jcas.solve(h, g, device="cuda", stream="s")
    with pytest.raises(ValueError, match="^stream = -1: a cudaStream_t is not negative$"):
        jcas.train(h, g, device="cuda", stream=-1)


gpu = pytest.mark.skipif(jcas.device_count() == 0, reason="no CUDA device")


@gpu
def test_cuda_solve_equals_cpu():
    h, g = jcas.generate(32, seed=8)
    cpu = jcas.solve(h, g)
    dev = jcas.solve(h, g, device="cuda")
    np.testing.assert_allclose(dev["objective"], cpu["objective"], rtol=1e-9)


@gpu
def test_cuda_solve_waits_for_the_callers_stream():
    torch = _torch()
    h, g = jcas.generate(16, seed=10)
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):  # H and G written by kernels queued on a side stream
        th, tg = torch.from_numpy(h).cuda() * 1, torch.from_numpy(g).cuda() * 1
        r = jcas.solve(th, tg, device="cuda", stream=side)
    np.testing.assert_allclose(r["objective"].numpy(), jcas.solve(h, g)["objective"], rtol=1e-9)


@gpu
def test_cuda_tensors_give_results_on_the_device():
    torch = _torch()
    h, g = jcas.generate(32, seed=9)
    th, tg = torch.from_numpy(h).cuda(), torch.from_numpy(g).cuda()
    r = jcas.solve(th, tg, device="cuda")
    assert r["inputs"]["H"]["copied"]  # the backend reads host memory (stated)
    w = torch.from_dlpack(r["W"])
    assert w.is_cuda and tuple(w.shape) == (32, 16, 4)
    np.testing.assert_allclose(w.cpu().numpy(), jcas.solve(h, g)["W"], rtol=1e-7, atol=1e-9)
    np.testing.assert_array_equal(r["objective"].numpy(), torch.from_dlpack(r["objective"]).cpu().numpy())
