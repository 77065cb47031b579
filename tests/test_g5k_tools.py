"""The Grid'5000 command-line tools against the API stand-in (and sshd test hosts as frontends)."""

import os
import shutil
import subprocess
import sys

import pytest

from execo import SshProcess
from execo_bin import funk, g5k_clean_oar_stdout_stderr_files, g5k_show_all_jobs, g5k_show_structure
from execo_g5k.config import default_frontend_connection_params
from execo_g5k.oar_dates import format_oar_date

T0 = 2_000_000_000  # a planning window far away: nothing but the test's jobs
M = 121
LILLE = (["chetemi-%d.lille.grid5000.fr" % i for i in range(1, 16)] + ["chiclet-%d.lille.grid5000.fr" % i for i in
         range(1, 9)] + ["chifflet-%d.lille.grid5000.fr" % i for i in range(1, 9)])  # 31 of lille's 39 nodes


def run(main, argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def job(uid, nodes, start, walltime, **more):
    doc = {"uid": uid, "user": "alice", "state": "running", "queue": "default", "walltime": walltime,
           "started_at": start, "assigned_nodes": list(nodes)}
    doc.update(more)
    return doc


# -- g5k-show-structure ---------------------------------------------------------------------------
def test_show_structure(g5k_api, capsys):
    code, out, _ = run(g5k_show_structure.main, [], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "grenoble: dahu troll yeti" and len(lines) == 8
    assert "nancy: graphite grimoire grisou gros" in lines
    code, out, _ = run(g5k_show_structure.main, ["-n", "-s", "rennes,lyon", "-Q", "all"], capsys)
    assert out.splitlines() == ["rennes (141 nodes): paranoia(8) parapide(17) parapluie(16) parasilo(28) paravance(72)",
                                "lyon (72 nodes): gemini(2) hercule(4) nova(23) orion(4) pyxis(4) sagittaire(21) "
                                "taurus(14)"]


def test_show_structure_errors(g5k_api, capsys):
    code, out, err = run(g5k_show_structure.main, ["-s", "atlantis"], capsys)
    assert code == 2 and "'atlantis'" in err and out == ""
    g5k_api.state.add_fault(r"^/3.0/$", "status", status=401, body="Bad credentials", times=None)
    from execo_g5k import api_cache
    api_cache.reset()
    code, out, err = run(g5k_show_structure.main, [], capsys)
    assert code == 3 and "401" in err and "g5k-show-structure: the Grid'5000 API cannot be used" in err


# -- g5k-show-all-jobs ----------------------------------------------------------------------------
def test_show_all_jobs(g5k_api, capsys):
    g5k_api.state.jobs["lille"] = [job(12, LILLE[:3], T0, 3600, name="xp"),
                                   job(11, LILLE[3:4], T0, 60, user="bob", state="waiting")]
    g5k_api.state.jobs["nantes"] = [job(7, ["econome-1.nantes.grid5000.fr"], T0 + 60, 7200)]
    code, out, _ = run(g5k_show_all_jobs.main, [], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["site", "job", "user", "state", "queue", "start", "walltime", "name",
                                              "nodes"]
    assert [l.split()[:4] for l in lines[1:]] == [["lille", "11", "bob", "waiting"], ["lille", "12", "alice", "running"],
                                                  ["nantes", "7", "alice", "running"]]
    assert lines[2].split()[-3:] == ["1h0m0s", "xp", "3"]
    code, out, _ = run(g5k_show_all_jobs.main, ["-u", "bob", "-s", "lille"], capsys)
    assert [l.split()[1] for l in out.splitlines()[1:]] == ["11"]
    code, out, _ = run(g5k_show_all_jobs.main, ["-u", "carol"], capsys)
    assert code == 1 and out == "no job\n"


# -- funk -----------------------------------------------------------------------------------------
@pytest.fixture
def busy_lille(g5k_api):
    """31 of lille's 39 nodes taken from T0 for 2 hours."""
    g5k_api.state.jobs["lille"] = [job(1, LILLE, T0 - 60, 7200)]
    return g5k_api


def window(hours=10):
    from execo.time_utils import format_date
    return ["-s", str(T0), "-e", str(T0 + hours * 3600)]


def test_funk_free_slot(busy_lille, capsys):
    code, out, _ = run(funk.main, ["-m", "free_slot", "-r", "lille:10,lyon:10", "-w", "2:00:00"] + window(), capsys)
    lines = out.splitlines()
    start = T0 - 60 + 7200 + M  # lille has 8 free nodes until the job ends
    assert code == 0
    assert lines[1] == "resources: lille:10 lyon:10"
    assert lines[2] == 'lille: oarsub -l "nodes=10,walltime=2:0:0" -t "origin=execo" -r "%s" -n "FUNK" ' \
                       '"sleep 31536000"' % format_oar_date(start)
    assert lines[3].startswith('lyon: oarsub -l "nodes=10,walltime=2:0:0"')


def test_funk_find_slots_lists_the_slots(busy_lille, capsys):
    code, out, _ = run(funk.main, ["-m", "find_slots", "-r", "lille:10,chiclet:1", "-w", "1:00:00"] + window(4), capsys)
    lines = out.splitlines()
    # slots start at T0 (8 free: chifflot) and when the job ends; the window ends at T0+4h
    assert lines[0].startswith("  ") and lines[0].endswith("lille:8 chiclet:0")
    assert lines[1].startswith("* ") and lines[1].endswith("lille:39 chiclet:8")
    assert lines[2].startswith("slot: ") and "resources: chiclet:1 lille:10" in out
    assert "{cluster='chiclet'}/nodes=1+nodes=10" in out


def test_funk_max_nodes(busy_lille, capsys):
    code, out, _ = run(funk.main, ["-m", "max_nodes", "-r", "lyon:0,lille:0", "-w", "10:00:00"] + window(24), capsys)
    assert code == 0
    assert "resources: lyon:68 lille:39" in out  # after the lille job, everything is free for 10 h


def test_funk_date_mode_and_no_slot(busy_lille, capsys):
    code, out, _ = run(funk.main, ["-m", "date", "-r", "lille:8", "-s", str(T0)], capsys)
    assert code == 0 and "resources: lille:8" in out
    code, out, _ = run(funk.main, ["-m", "date", "-r", "lille:9", "-s", str(T0)], capsys)
    assert code == 1 and out.startswith("no slot where lille:9 fits")


def test_funk_bad_input(g5k_api, capsys):
    code, _, err = run(funk.main, ["-r", "atlantis:3"], capsys)
    assert code == 2 and "unknown element 'atlantis'" in err
    code, _, err = run(funk.main, ["-r", "lille:x"], capsys)
    assert code == 2 and "'lille:x' is not element:count" in err
    with pytest.raises(SystemExit) as info:
        funk.main(["-m", "nope", "-r", "lille:1"])
    assert info.value.code == 2


def test_funk_draws_the_gantt(busy_lille, capsys, tmp_path):
    pytest.importorskip("matplotlib")
    gantt, slots = str(tmp_path / "g.png"), str(tmp_path / "s.png")
    code, out, _ = run(funk.main, ["-r", "lille:1", "--gantt", gantt, "--slots-picture", slots] + window(), capsys)
    assert code == 0 and "gantt: %s" % gantt in out
    for path in (gantt, slots):
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_console_scripts_exist_and_answer_help():
    for script in ("funk", "g5k-show-structure", "g5k-show-all-jobs", "g5k-clean-all-jobs",
                   "g5k-clean-oar-stdout-stderr-files"):
        path = shutil.which(script) or os.path.join(os.path.dirname(sys.executable), script)
        result = subprocess.run([path, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=60)
        assert result.returncode == 0 and result.stdout.startswith("usage: %s" % script), result.stderr


def test_funk_as_a_program_against_the_standin(busy_lille):
    result = subprocess.run([sys.executable, "-m", "execo_bin.funk", "--api-uri", busy_lille.base_uri, "-r",
                             "lille:10", "-w", "1:00:00"] + window(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120,
                            env=dict(os.environ, HOME=os.environ.get("HOME", "/")))
    assert result.returncode == 0, result.stderr
    assert 'lille: oarsub -l "nodes=10,walltime=1:0:0"' in result.stdout


# -- g5k-clean-oar-stdout-stderr-files ------------------------------------------------------------
def test_clean_oar_files_on_frontends(g5k_api, sshd_hosts, ssh_connection_params, monkeypatch, capsys):
    hosts = sshd_hosts(2)
    frontends = {"rennes": hosts[0].address, "lyon": hosts[1].address}
    for key, value in dict(ssh_connection_params, host_rewrite_func=frontends.get).items():
        monkeypatch.setitem(default_frontend_connection_params, key, value)
    home = SshProcess("pwd", "rennes", connection_params=default_frontend_connection_params).run(30)
    assert home.ok, home.dump()
    home = home.stdout.strip()
    files = ["OAR.1.stdout", "OAR.1.stderr", "OAR.xp.2.stdout"]
    for name in files + ["keep.txt", "OAR.3.log"]:
        open(os.path.join(home, name), "w").close()
    try:
        code, out, _ = run(g5k_clean_oar_stdout_stderr_files.main, ["-s", "rennes", "--dry-run"], capsys)
        assert code == 0 and out == "rennes: 3 files found\n"
        code, out, _ = run(g5k_clean_oar_stdout_stderr_files.main, ["-s", "rennes,lyon"], capsys)
        lines = out.splitlines()
        assert code == 0 and [l.split(":")[0] for l in lines] == ["rennes", "lyon"]
        # every test host is this machine: when lyon's home is rennes's, both may remove a file at once
        assert 3 <= sum(int(l.split()[1]) for l in lines) <= 6
        assert sorted(os.listdir(home)) == sorted(set(os.listdir(home)) - set(files))
        assert os.path.exists(os.path.join(home, "keep.txt")) and os.path.exists(os.path.join(home, "OAR.3.log"))
    finally:
        for name in files + ["keep.txt", "OAR.3.log"]:
            if os.path.exists(os.path.join(home, name)):
                os.unlink(os.path.join(home, name))
    monkeypatch.setitem(default_frontend_connection_params, "host_rewrite_func", lambda h: "127.0.0.1")
    monkeypatch.setitem(default_frontend_connection_params, "port", 1)  # nothing listens there
    code, out, _ = run(g5k_clean_oar_stdout_stderr_files.main, ["-s", "rennes"], capsys)
    assert code == 3 and out.startswith("rennes: failed (")
