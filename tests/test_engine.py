"""Engines run through the installed execo-run and as scripts: hooks, -c, -L/-R/-M, manifests, errors."""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

EXECO_RUN = shutil.which("execo-run")

ENGINE = textwrap.dedent('''
    import logging, os, subprocess, sys
    from execo_engine import Engine, ParamSweeper, sweep

    class Base(Engine):
        def init(self):
            print("init Base")
        def run(self):
            print("run Base")

    class campaign(Base):
        def __init__(self):
            super().__init__()
            self.args_parser.add_argument("--max", type=int, default=100)
            self.args_parser.add_argument("--fail", action="store_true")
        def init(self):
            print("init campaign")
        def run(self):
            print("run campaign", logging.getLogger("execo").level)
            print("to stderr", file=sys.stderr)
            subprocess.run(["sh", "-c", "echo child out; echo child err >&2"])
            if self.args.fail:
                raise RuntimeError("the experiment broke")
            s = ParamSweeper(os.path.join(self.result_dir, "sweeps"), sweep({"n": list(range(6))}))
            for _ in range(self.args.max):
                c = s.get_next()
                if c is None:
                    break
                s.done(c)
            print("RESULT", self.result_dir, s)

    if __name__ == "__main__":
        campaign().start()
''')


def run(cmd, cwd, check=True):
    out = subprocess.run(cmd, cwd=str(cwd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture
def engine_file(tmp_path):
    path = tmp_path / "campaign.py"
    path.write_text(ENGINE)
    return path


def result_line(stdout):
    line = [l for l in stdout.splitlines() if l.startswith("RESULT")][0]
    _, result_dir, summary = line.split(" ", 2)
    return result_dir, summary


def manifests(result_dir):
    return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(result_dir, "manifest_*.json")))]


def test_execo_run_is_installed():
    assert EXECO_RUN, "pip install -e . did not install the execo-run console script"


def test_execo_run_new_then_continued_with_c(engine_file, tmp_path):
    out = run([EXECO_RUN, "campaign", "--max", "2"], tmp_path)
    assert out.stdout.splitlines()[:4] == ["init Base", "init campaign", "run Base", "run campaign 20"]  # ancestors first
    result_dir, summary = result_line(out.stdout)
    assert os.path.dirname(result_dir) == str(tmp_path)
    assert os.path.basename(result_dir).startswith("campaign_")
    assert summary == "sweeps <6 total, 2 done, 0 skipped, 0 in progress, 4 remaining>"
    assert "run in directory %s" % result_dir in out.stderr  # execo logs to stderr

    out = run([EXECO_RUN, str(engine_file), "-c", result_dir, "--max", "3"], tmp_path)
    assert result_line(out.stdout) == (result_dir, "sweeps <6 total, 5 done, 0 skipped, 0 in progress, 1 remaining>")
    out = run([sys.executable, str(engine_file), "-c", result_dir], tmp_path)  # as a script
    assert result_line(out.stdout)[1] == "sweeps <6 total, 6 done, 0 skipped, 0 in progress, 0 remaining>"

    first, second, third = manifests(result_dir)
    assert [m["continued"] for m in (first, second, third)] == [False, True, True]
    assert all(m["status"] == "ok" and m["end_unixts"] >= m["start_unixts"] for m in (first, second, third))
    assert first["argv"][1:] == ["campaign", "--max", "2"]
    assert third["argv"][-2:] == ["-c", result_dir]
    assert first["engine_file"] == str(engine_file)
    assert first["engine_file_sha256"] == hashlib.sha256(engine_file.read_bytes()).hexdigest()
    assert first["engine_args"]["max"] == 2 and first["python"]["version"] == sys.version.split()[0]
    assert first["packages"]["msgpack"] and first["git"] is None


def test_manifest_records_the_git_commit(engine_file, tmp_path):
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    run(git + ["init", "-q"], tmp_path)
    run(git + ["add", "campaign.py"], tmp_path)
    run(git + ["commit", "-qm", "engine"], tmp_path)
    head = run(["git", "rev-parse", "HEAD"], tmp_path).stdout.strip()
    out = run([EXECO_RUN, "campaign.py:campaign"], tmp_path)
    (manifest,) = manifests(result_line(out.stdout)[0])
    assert manifest["git"]["commit"] == head and manifest["git"]["dirty"] is False


def test_copy_outputs_L_and_merged_M(engine_file, tmp_path):
    out = run([EXECO_RUN, "campaign", "-L"], tmp_path)
    result_dir = result_line(out.stdout)[0]
    stdout = open(os.path.join(result_dir, "stdout")).read()
    stderr = open(os.path.join(result_dir, "stderr")).read()
    assert "run campaign" in stdout and "child out" in stdout and "RESULT" in stdout
    assert "to stderr" in stderr and "child err" in stderr and "child out" not in stderr
    assert "child out" in out.stdout and "child err" in out.stderr  # still copied to the terminal

    out = run([EXECO_RUN, "campaign", "-L", "-M"], tmp_path)
    merged = open(os.path.join(result_line(out.stdout)[0], "stdout+stderr")).read()
    for text in ("run campaign", "to stderr", "child out", "child err"):
        assert text in merged


def test_redirect_outputs_R(engine_file, tmp_path):
    out = run([sys.executable, str(engine_file), "-R", "-M"], tmp_path)
    assert "RESULT" not in out.stdout and "child err" not in out.stderr
    (result_dir,) = glob.glob(str(tmp_path / "campaign_*"))
    merged = open(os.path.join(result_dir, "stdout+stderr")).read()
    for text in ("run campaign", "to stderr", "child out", "child err", "RESULT"):
        assert text in merged
    assert not os.path.exists(os.path.join(result_dir, "stdout"))


def test_log_level_option(engine_file, tmp_path):
    out = run([EXECO_RUN, "campaign", "-l", "debug"], tmp_path)
    assert "run campaign 10" in out.stdout
    out = run([EXECO_RUN, "campaign", "-l", "40"], tmp_path)
    assert "run campaign 40" in out.stdout and "run in directory" not in out.stderr
    bad = run([EXECO_RUN, "campaign", "-l", "LOUD"], tmp_path, check=False)
    assert bad.returncode == 2 and "-l: unknown log level 'LOUD'" in bad.stderr


def test_runs_in_the_same_second_get_their_own_result_dirs(tmp_path):
    (tmp_path / "fixed.py").write_text(textwrap.dedent('''
        from execo_engine import Engine
        class fixed(Engine):
            def setup_run_name(self):
                self.run_name = "same"
            def run(self):
                print("RESULT", self.result_dir, self.run_name)
    '''))
    dirs = [result_line(run([EXECO_RUN, "fixed"], tmp_path).stdout) for _ in range(3)]
    assert dirs == [(str(tmp_path / "same"), "same"), (str(tmp_path / "same_2"), "same_2"),
                    (str(tmp_path / "same_3"), "same_3")]
    procs = [subprocess.Popen([EXECO_RUN, str(tmp_path / "fixed.py")], cwd=str(tmp_path),
                              stdout=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert len({result_line(o)[0] for o in outs}) == 4


def test_failing_engine_exits_non_zero_and_its_manifest_says_why(engine_file, tmp_path):
    out = run([EXECO_RUN, "campaign", "--fail"], tmp_path, check=False)
    assert out.returncode == 1 and "RuntimeError: the experiment broke" in out.stderr
    (result_dir,) = glob.glob(str(tmp_path / "campaign_*"))
    (manifest,) = manifests(result_dir)
    assert manifest["status"] == "failed" and manifest["error"] == "RuntimeError: the experiment broke"


def test_execo_run_errors_name_the_culprit(tmp_path):
    (tmp_path / "noengine.py").write_text("x = 1\n")
    (tmp_path / "two.py").write_text("from execo_engine import Engine\nclass A(Engine): pass\nclass B(Engine): pass\n")
    (tmp_path / "afile").write_text("")
    cases = [
        (["noengine.py"], "%s does not define an Engine" % (tmp_path / "noengine.py")),
        (["missing.py"], "engine file missing.py does not exist"),
        (["nomodule"], "engine nomodule: no file nomodule.py here and no module of that name"),
        (["two"], "defines several engines (A, B): choose one with two:<Class>"),
        (["two:C"], "defines no class C"),
        (["noengine:x"], "x is not a subclass of execo_engine.Engine"),
    ]
    for args, message in cases:
        out = run([EXECO_RUN] + args, tmp_path, check=False)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    out = run([EXECO_RUN, "two:B", "-c", "afile"], tmp_path, check=False)
    assert out.returncode == 2 and "-c: %s is not a directory" % (tmp_path / "afile") in out.stderr
    assert run([EXECO_RUN, "two:A"], tmp_path).returncode == 0
    usage = run([EXECO_RUN], tmp_path, check=False)
    assert usage.returncode == 2 and "ENGINE_FILE_OR_MODULE[:Class]" in usage.stdout
