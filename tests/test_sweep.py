"""`cnnsim sweep`: grids, determinism across backends (in process, process pool, Dask
LocalCluster in-process and with 2 processes), resume after a kill, worker death, failing
tasks, the CLI's list/range parsing; and `cnnsim gradflow --init/--batchnorm`."""

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from cases import child_env
from click.testing import CliRunner

from cnnsim.cli.main import cli
from cnnsim.experiments import sweep as S
from cnnsim.experiments.executors import Dask, Pool, Serial, run_sweep
from cnnsim.experiments.results import append_row, load_rows

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# 16 tiny towers: 2 depths x 2 activations x plain/residual x 2 seeds
SMALL = {
    "depth": [3, 4],
    "activation": ["sigmoid", "relu"],
    "init": ["he"],
    "batchnorm": [False],
    "residual": [False, True],
    "width": [2],
    "batch": [3],
    "seed": [0, 1],
}


def _results(path):
    rows = [json.loads(line) for line in open(path)]
    return rows, {r["key"]: r["result"] for r in rows}


def _distributed():
    return pytest.importorskip(
        "distributed",
        reason="dask.distributed is not installed "
        "(pip install 'cnnsim[dask]'); the Dask backend is not tested",
    )


# ---------------------------------------------------------------------------- grids
def test_grid_is_the_full_product_with_seed_slowest():
    tasks = S.grid({"depth": [5, 10], "activation": ["relu", "tanh", "sigmoid"], "seed": [0, 1]})
    assert len(tasks) == 12
    assert len({S.task_key(t) for t in tasks}) == 12
    assert [t["seed"] for t in tasks] == [0] * 6 + [1] * 6  # every setting once first
    assert list(tasks[0]) == ["depth", "activation", "seed"]
    assert S.task_key({"a": 1, "b": 2}) == S.task_key({"b": 2, "a": 1})


def test_gradflow_task_spread_is_log10_max_over_min_of_the_conv_gradients():
    row = S.run_task(
        "gradflow",
        {
            "depth": 4,
            "activation": "sigmoid",
            "init": "glorot",
            "batchnorm": False,
            "residual": False,
            "width": 2,
            "batch": 3,
            "seed": 0,
        },
    )
    assert row["error"] is None and row["seed"] == 0 and row["version"]
    r = row["result"]
    g = np.array(r["grad_norm"][:4])  # conv1..conv4 (then out)
    assert r["layers"][:4] == ["conv1", "conv2", "conv3", "conv4"]
    assert r["spread"] == pytest.approx(np.log10(g.max() / g.min()))
    assert r["first_last_ratio"] == pytest.approx(g[0] / g[3])
    assert r["conv1_grad_log10"] == pytest.approx(np.log10(g[0]))


def test_summary_mean_std_over_seeds_and_underflow_is_infinite():
    rows = []
    for seed, spread in ((0, 2.0), (1, 4.0)):
        rows.append(
            {
                "kind": "gradflow",
                "key": str(seed),
                "params": {"depth": 5},
                "seed": seed,
                "error": None,
                "result": {
                    "spread": spread,
                    "first_last_ratio_log10": -1.0,
                    "conv1_grad_log10": -3.0,
                    "loss": 2.3,
                    "zero_layers": 0,
                },
            }
        )
    rows.append(
        {
            "kind": "gradflow",
            "key": "x",
            "params": {"depth": 5},
            "seed": 2,
            "error": "ValueError: boom",
            "result": None,
        }
    )
    rows.append(
        {
            "kind": "gradflow",
            "key": "y",
            "params": {"depth": 40},
            "seed": 0,
            "error": None,
            "result": {
                "spread": None,
                "zero_layers": 3,
                "loss": 2.3,
                "first_last_ratio_log10": None,
                "conv1_grad_log10": None,
            },
        }
    )
    s5, s40 = S.summarize("gradflow", rows)
    assert (s5["seeds"], s5["failed"]) == (2, 1)
    assert s5["spread_mean"] == 3.0 and s5["spread_std"] == pytest.approx(np.sqrt(2))
    assert s40["spread_mean"] == float("inf") and s40["underflow_seeds"] == 1


# ------------------------------------------------------------------ determinism
def test_same_numbers_in_process_pool_and_dask(tmp_path):
    distributed = _distributed()
    tasks = S.grid(SMALL)
    backends = {
        "serial": Serial(),
        "pool": Pool(2),
        "dask_threads": Dask(2, processes=False),
        "dask_processes": Dask(2, processes=True),
    }
    got = {}
    for name, b in backends.items():
        rep = run_sweep("gradflow", tasks, str(tmp_path / name), b)
        assert (rep["ran"], rep["failed"], rep["total"]) == (16, 0, 16), name
        rows, got[name] = _results(tmp_path / name / "results.jsonl")
        assert len(rows) == 16 == len(got[name])
    for name in backends:
        assert got[name] == got["serial"], f"{name} gave other numbers than in-process"
    assert distributed is not None


# ------------------------------------------------------------------------ resume
def test_resume_after_a_kill_has_no_duplicates_and_no_gaps(tmp_path):
    out = tmp_path / "sweep"
    args = [
        *(
            "gradflow --depth 3,4,5 --activation sigmoid,relu --init he "
            "--residual both --seed 0-2 --width 2 --batch 3 --dtype "
            "float32 --workers 1 --quiet --out"
        ).split(),
        str(out),
    ]  # 36 tasks
    env = child_env()
    p = subprocess.Popen(
        [sys.executable, "-m", "cnnsim.cli.main", "sweep", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    res = out / "results.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and p.poll() is None:
        if res.exists() and sum(1 for _ in open(res)) >= 5:
            break
        time.sleep(0.05)
    assert p.poll() is None, f"the sweep ended before it could be killed: {p.stderr.read()}"
    p.send_signal(signal.SIGKILL)
    p.wait()
    before = open(res).read().splitlines()
    assert 5 <= len(before) < 36
    with open(res, "a") as f:  # as if killed in the middle of a write
        f.write('{"kind": "gradflow", "key": "{\\"activ')
    r = CliRunner().invoke(cli, ["sweep", *args])
    assert r.exit_code == 0, r.output
    assert "dropped an unfinished last line" in r.stderr
    rows, results = _results(res)
    keys = [row["key"] for row in rows]
    assert len(keys) == 36 == len(set(keys))  # no duplicates
    assert set(keys) == {
        S.task_key(t)
        for t in S.grid({**SMALL, "depth": [3, 4, 5], "dtype": ["float32"], "seed": [0, 1, 2]})
    }  # no gaps
    assert open(res).read().splitlines()[: len(before)] == before  # kept, not rerun
    assert f"{36 - len(before)} tasks ran" in r.output
    again = CliRunner().invoke(cli, ["sweep", *args])  # all done: nothing runs
    assert again.exit_code == 0 and "0 tasks ran" in again.output
    assert len(open(res).read().splitlines()) == 36
    assert (out / "summary.csv").exists() and (out / "gradflow_sweep.png").exists()


def test_load_rows_drops_only_an_unfinished_last_line(tmp_path):
    path = str(tmp_path / "results.jsonl")
    append_row(path, {"key": "a"})
    append_row(path, {"key": "b"})
    rows, note = load_rows(path)
    assert [r["key"] for r in rows] == ["a", "b"] and note == ""
    with open(path, "a") as f:
        f.write('{"key": "c", "resu')
    rows, note = load_rows(path)
    assert [r["key"] for r in rows] == ["a", "b"] and "unfinished" in note
    assert open(path).read() == '{"key":"a"}\n{"key":"b"}\n'
    with open(path, "w") as f:
        f.write('{"key": "a"}\nnot json\n{"key": "b"}\n')
    with pytest.raises(ValueError, match="line 2 is not a JSON row"):
        load_rows(path)


# ------------------------------------------------------------------------ faults
def _grid_slow():
    # tasks of a few tenths of a second, so that a worker is killed while running one
    return S.grid(dict(SMALL, depth=[12], width=[4], batch=[8], seed=[0, 1, 2]))


@contextlib.contextmanager
def _two_worker_cluster(distributed):
    """A real LocalCluster of two one-thread worker processes and a Client watching it
    (the test's own; the sweep connects by address, as ``--scheduler`` does)."""
    import logging

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield cluster, client


def _dask_sweep_killing(tmp_path, tasks, victim):
    """Run the gradflow sweep on a two-worker cluster, connecting by address as
    ``--scheduler`` does, while this test's own Client watches (as a notebook's would).
    After a row comes back, ``victim(client)`` names a worker to SIGKILL (None: ask again
    at the next row); one worker is killed at most. Returns the report and the victim."""
    distributed = _distributed()
    killed = []
    with _two_worker_cluster(distributed) as (cluster, client):
        pids = client.run(os.getpid)

        def on_row(row, done, total):
            if not killed:
                w = victim(client)
                if w is not None:
                    killed.append(w)
                    os.kill(pids[w], signal.SIGKILL)

        rep = run_sweep(
            "gradflow", tasks, str(tmp_path), Dask(address=cluster.scheduler_address), on_row=on_row
        )
    return rep, killed


def _every_row_once(tmp_path, tasks, rep, check=None):
    """No row lost or doubled; the rows of ``check`` (default: all) equal a serial run's."""
    assert rep["failed"] == 0 and rep["ran"] == len(tasks)
    rows, results = _results(tmp_path / "results.jsonl")
    assert len(rows) == len(tasks) == len({r["key"] for r in rows})
    ref = run_sweep("gradflow", check or tasks, str(tmp_path / "ref"), Serial())
    for r in ref["rows"]:
        assert results[r["key"]] == r["result"]


def test_dask_worker_killed_mid_task_reruns_elsewhere(tmp_path):
    tasks = _grid_slow()

    def busy_worker(client):  # a worker holding a task right now
        busy = [w for w, keys in client.processing().items() if keys]
        return busy[0] if busy else None

    rep, killed = _dask_sweep_killing(tmp_path, tasks, busy_worker)
    assert killed, "no worker was busy when a row came back"
    _every_row_once(tmp_path, tasks, rep, check=tasks[-2:])


def test_dask_result_lost_after_it_finished_is_recomputed_under_a_users_client(tmp_path):
    """A worker dies holding results that are finished but not yet fetched, while the
    caller has a Client of its own open (as in a notebook). Fetching them must recompute
    them on the sweep's own client, not fail with "bound to a different event loop"."""
    tasks = S.grid(dict(SMALL, seed=[0, 1, 2]))  # 24 quick tasks
    held = {}  # worker -> finished results it holds, not yet fetched

    def holder_of_most_results(client):
        deadline = time.monotonic() + 60
        while any(client.processing().values()):
            assert time.monotonic() < deadline, "the tasks never finished"
            time.sleep(0.05)
        for workers in client.who_has().values():
            for w in workers:
                held[w] = held.get(w, 0) + 1
        return max(held, key=held.get)

    rep, killed = _dask_sweep_killing(tmp_path, tasks, holder_of_most_results)
    assert killed and held[killed[0]] > 0, "no finished result was waiting on a worker"
    _every_row_once(tmp_path, tasks, rep)


def test_pool_worker_killed_mid_task_reruns_in_a_new_pool(tmp_path):
    tasks = _grid_slow()
    killed = []

    def on_row(row, done, total):
        if not killed:
            kids = multiprocessing.active_children()
            if kids:
                killed.append(kids[0].pid)
                os.kill(kids[0].pid, signal.SIGKILL)

    rep = run_sweep("gradflow", tasks, str(tmp_path), Pool(2), on_row=on_row)
    assert killed
    assert rep["failed"] == 0 and rep["ran"] == len(tasks)
    rows, _ = _results(tmp_path / "results.jsonl")
    assert len(rows) == len(tasks) == len({r["key"] for r in rows})


def test_a_failing_task_records_its_error_and_the_exit_code_says_so(tmp_path, monkeypatch):
    real = S.TASKS["gradflow"]

    def flaky(task):
        if task["depth"] == 3 and task["seed"] == 1:
            raise ValueError("tower: simulated failure\nsecond line")
        return real(task)

    monkeypatch.setitem(S.TASKS, "gradflow", flaky)
    out = tmp_path / "sweep"
    args = [
        *(
            "sweep gradflow --depth 3,4 --activation relu --init he "
            "--residual plain --seed 0-1 --width 2 --batch 3 --dtype "
            "float32 --workers 1 --quiet --out"
        ).split(),
        str(out),
    ]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 1
    assert "1 of 4 tasks failed" in r.stderr and "simulated failure" in r.stderr
    rows, _ = _results(out / "results.jsonl")
    assert len(rows) == 4
    bad = [row for row in rows if row["error"]]
    assert len(bad) == 1 and bad[0]["error"] == "ValueError: tower: simulated failure"
    assert bad[0]["result"] is None and bad[0]["params"]["depth"] == 3
    assert (out / "summary.csv").exists()
    monkeypatch.setitem(S.TASKS, "gradflow", real)
    r = CliRunner().invoke(cli, args)  # without the flag: nothing reruns
    assert r.exit_code == 1 and "0 tasks ran" in r.output
    r = CliRunner().invoke(cli, args + ["--retry-failed"])
    assert r.exit_code == 0 and "1 tasks ran" in r.output
    rows, _ = _results(out / "results.jsonl")
    assert len(rows) == 4 and not any(row["error"] for row in rows)


def test_train_task_error_becomes_a_row(tmp_path):
    task = dict(S.grid({k: v for k, v in S.TRAIN_AXES.items()})[0], depth=4)  # lenet5 has none
    row = S.run_task("train", task)
    assert row["result"] is None and row["error"].startswith("ValueError: lenet5: has no depth")


def test_train_sweep_tiny(tmp_path):
    r = CliRunner().invoke(
        cli,
        [
            *(
                "sweep train tower --depth 2,3 --width 2 --lr 0.05 --epochs 1 "
                "--seed 0-1 --batch 16 --limit 32 --test-limit 16 --workers 1 "
                "--quiet --out"
            ).split(),
            str(tmp_path),
        ],
    )
    assert r.exit_code == 0, r.output
    rows, results = _results(tmp_path / "results.jsonl")
    assert len(rows) == 4
    for v in results.values():
        assert 0 <= v["train_error"] <= 1 and 0 <= v["test_error"] <= 1 and v["lr"] == 0.05
    head = open(tmp_path / "summary.csv").readline()
    assert "test_error_mean" in head and "test_error_std" in head
    assert (tmp_path / "train_sweep.png").exists()


# --------------------------------------------------------------------------- CLI
@pytest.mark.parametrize(
    "args, expect",
    [
        (["--depth", "0"], "Invalid value for '--depth': 0 is too small"),
        (["--seed", "5-2"], "Invalid value for '--seed': range 5-2 is empty"),
        (["--init", "glorot,xavier"], "Invalid value for '--init': unknown initializer 'xavier'"),
        (["--init", "normal:0"], "normal:STD needs a standard deviation > 0"),
        (["--activation", "relu,elu"], "unknown value 'elu'"),
        (["--depth", "5,,6"], "has an empty item"),
        (["--seed", "a-3"], "is not an integer range"),
        (["--dask", "local", "--scheduler", "tcp://h:8786"], "exclude each other"),
        (["--scheduler", "h:8786"], "expected an address like tcp://HOST:8786"),
    ],
)
def test_cli_list_errors_are_one_line_usage_errors(args, expect, tmp_path):
    r = CliRunner().invoke(cli, ["sweep", "gradflow", *args, "--out", str(tmp_path)])
    assert r.exit_code == 2, r.output
    errors = [line for line in r.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and expect in errors[0], r.stderr
    assert "Traceback" not in r.output and not (tmp_path / "results.jsonl").exists()


def test_cli_lists_and_ranges_parse():
    from cnnsim.cli.sweep_cmd import FLOATS, INTS

    assert INTS(0).convert("0-4", None, None) == [0, 1, 2, 3, 4]
    assert INTS(1).convert("5-40:5", None, None) == [5, 10, 15, 20, 25, 30, 35, 40]
    assert INTS(1).convert("5, 10,20,5", None, None) == [5, 10, 20]
    assert FLOATS.convert("0.01,0.05", None, None) == [0.01, 0.05]


def test_train_sweep_bad_model_options_are_usage_errors(tmp_path):
    for args, expect in (
        (["resnet_cifar", "--depth", "9"], "depth must be 6n+2"),
        (["lenet5", "--depth", "8"], "lenet5: has no depth option"),
        (["nosuchnet"], "unknown model 'nosuchnet'"),
    ):
        r = CliRunner().invoke(cli, ["sweep", "train", *args, "--out", str(tmp_path)])
        assert r.exit_code == 2 and expect in r.stderr, r.output


def test_without_dask_the_dask_options_say_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    for opt in (["--dask", "local"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        r = CliRunner().invoke(cli, ["sweep", "gradflow", *opt, "--out", str(tmp_path)])
        assert r.exit_code == 1
        assert "pip install 'cnnsim[dask]'" in r.stderr and "Traceback" not in r.output


def test_numba_threads_per_worker_share_the_cores():
    distributed = _distributed()
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        table = Dask.threads_table(client)
    from cnnsim.experiments.executors import cpu_count

    assert len(table) == 2 and all(t == max(1, cpu_count() // 2) for t in table.values())


# --------------------------------------------------------------- gradflow --init
def test_gradflow_init_and_batchnorm_recorded_in_json():
    r = CliRunner().invoke(
        cli,
        ("gradflow --depth 3 --width 2 --batch 2 --init normal:1e-2 --batchnorm --json").split(),
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["config"]["init"] == "normal:0.01" and data["config"]["batchnorm"] is True
    assert "plain/bn1" in data["plain"]["layers"] or "bn1" in data["plain"]["layers"]
    r = CliRunner().invoke(
        cli, ["gradflow", "--depth", "3", "--width", "2", "--batch", "2", "--json"]
    )
    assert json.loads(r.output)["config"]["init"] == "glorot"  # sigmoid's default
    r = CliRunner().invoke(cli, ["gradflow", "--init", "zeros"])
    assert r.exit_code == 2 and "zeros makes every unit identical" in r.stderr


def test_normal_std_initializer_draws_the_asked_spread():
    from cnnsim.layers.initializers import init_weights, parse_init

    w = init_weights("normal:0.01", (64, 32, 3, 3), 288, 576, np.random.default_rng(0), np.float64)
    assert abs(w.std() - 0.01) < 0.0005 and abs(w.mean()) < 0.0005
    with pytest.raises(ValueError, match="Conv2D 'c': init: unknown initializer 'xavier'"):
        from cnnsim import layers as L

        L.Conv2D(2, 3, init="xavier", name="c")
    assert parse_init("HE") == "he"


def test_cli_scheduler_address_runs_on_that_cluster(tmp_path):
    distributed = _distributed()
    args = (
        "sweep gradflow --depth 3 --activation sigmoid,relu --init he "
        "--residual both --seed 0-1 --width 2 --batch 3 --quiet"
    ).split()
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        r = CliRunner().invoke(
            cli, [*args, "--scheduler", cluster.scheduler_address, "--out", str(tmp_path / "dask")]
        )
    assert r.exit_code == 0, r.output
    assert f"on the Dask cluster at {cluster.scheduler_address}" in r.stderr
    r = CliRunner().invoke(cli, [*args, "--workers", "1", "--out", str(tmp_path / "here")])
    assert r.exit_code == 0, r.output
    assert (
        _results(tmp_path / "dask" / "results.jsonl")[1]
        == _results(tmp_path / "here" / "results.jsonl")[1]
    )


def test_float64_tasks_start_from_the_same_weights_as_float32():
    task = {
        "depth": 4,
        "activation": "tanh",
        "init": "glorot",
        "batchnorm": False,
        "residual": True,
        "width": 2,
        "batch": 3,
        "seed": 0,
    }
    r32 = S.run_task("gradflow", dict(task, dtype="float32"))["result"]
    r64 = S.run_task("gradflow", dict(task, dtype="float64"))["result"]
    np.testing.assert_allclose(r64["grad_norm"], r32["grad_norm"], rtol=1e-4)
    assert r64["grad_norm"] != r32["grad_norm"]  # but computed in another precision


def test_progress_line_shows_done_total_and_time_left(capsys):
    from cnnsim.cli.sweep_cmd import Progress

    p = Progress(total=20, already=5)
    for done in range(6, 21):
        p({"error": None if done != 9 else "ValueError: x"}, done, 20)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[") and "6/20 done, 5 already there" in err[0]
    assert any("left" in line and "1 failed" in line for line in err[1:-1])
    assert "20/20 done" in err[-1] and "left" not in err[-1]
