"""Actions composed from real local processes."""

import time

import pytest

from execo import (Action, ActionLifecycleHandler, Local, ParallelActions, Process, Report,
                   SequentialActions, wait_all_actions, wait_any_actions)


def test_local_runs_one_shell_process():
    action = Local("echo $((6*7))").run(10)
    assert action.ended and action.ok and action.finished_ok
    assert [p.stdout for p in action.processes] == ["42\n"]
    assert action.name == "echo $((6*7))"


def test_local_substitutes_expressions_from_the_callers_frame():
    words = ["alpha", "beta"]
    assert Local("echo {{words}}").run(10).processes[0].stdout == "alpha\n"


def test_invalid_expression_raises_at_construction_naming_it():
    with pytest.raises(ValueError, match="undefined_name_xyz"):
        Local("echo {{undefined_name_xyz}}")


def test_parallel_actions_run_at_once():
    started = time.monotonic()
    action = ParallelActions([Local("sleep 0.5"), Local("sleep 0.5"), Local("sleep 0.5")]).run(10)
    assert action.ok and time.monotonic() - started < 1.4
    assert len(action.processes) == 3
    assert action.name == "ParallelActions 3 actions"


def test_sequential_actions_run_in_order_even_after_a_failure():
    first = Local("sleep 0.2; exit 1", process_args={"nolog_exit_code": True})
    second = Local("date +%s.%N")
    action = SequentialActions([first, second]).run(10)
    assert action.ended and not action.ok
    assert first.processes[0].end_date <= second.processes[0].start_date
    assert second.processes[0].ok


def test_nested_workflow_and_report():
    workflow = SequentialActions([
        ParallelActions([Local("echo a"), Local("echo b")]),
        Local("echo c"),
    ]).run(10)
    assert workflow.ok
    assert [p.stdout for p in workflow.processes] == ["a\n", "b\n", "c\n"]
    text = Report([workflow]).to_string()
    assert "SequentialActions 2 actions" in text and "ParallelActions 2 actions" in text
    stats = workflow.stats()
    assert stats["num_processes"] == 3 and stats["num_finished_ok"] == 3
    assert len(stats["sub_stats"]) == 2 and len(stats["sub_stats"][0]["sub_stats"]) == 2


def test_empty_action_ends_at_once():
    action = ParallelActions([]).run(5)
    assert action.ended and action.ok


def test_start_twice_is_an_error_and_reset_allows_a_rerun():
    action = Local("echo once").run(10)
    with pytest.raises(ValueError):
        action.start()
    action.reset()
    assert not action.started and not action.processes[0].started
    action.run(10)
    assert action.ended and action.processes[0].stdout == "once\n"


def test_kill_ends_every_process_and_they_stay_ok():
    action = ParallelActions([Local("sleep 30"), Local("sleep 30")]).start()
    for p in action.processes:
        p.started_event.wait(5)
    action.kill()
    action.wait(10)
    assert action.ended and all(p.killed for p in action.processes) and action.ok


def test_kill_of_a_sequence_does_not_start_the_rest():
    last = Local("echo should-not-run")
    action = SequentialActions([Local("sleep 30"), last]).start()
    action.processes[0].started_event.wait(5)
    action.kill().wait(10)
    assert action.ended and not last.started


def test_wait_any_and_wait_all():
    fast, slow = Local("sleep 0.1"), Local("sleep 1")
    fast.start(), slow.start()
    ended = wait_any_actions([fast, slow], timeout=10)
    assert ended == [fast]
    assert wait_all_actions([fast, slow], timeout=10) == [fast, slow]
    never = Local("sleep 30").start()
    assert wait_all_actions([fast, never], timeout=0.3) == [fast]
    never.kill().wait()


class Recorder(ActionLifecycleHandler):
    def __init__(self):
        self.events = []

    def start(self, action):
        self.events.append("start")

    def end(self, action):
        self.events.append(("end", action.processes[0].stdout))


def test_action_lifecycle_handlers_run_before_wait_returns():
    recorder = Recorder()
    Local("echo x", lifecycle_handlers=[recorder]).run(10)
    assert recorder.events == ["start", ("end", "x\n")]


def test_action_expect_shares_one_timeout_across_processes():
    action = ParallelActions([Local("echo ready-1; sleep 30"), Local("sleep 0.3; echo ready-2; sleep 30"),
                              Local("sleep 30")]).start()
    started = time.monotonic()
    results = action.expect(r"ready-(\d)", timeout=1.5)
    assert time.monotonic() - started < 3
    assert [(r[1], r[2] and r[2].group(1)) for r in results] == [(0, "1"), (0, "2"), (None, None)]
    assert [r[0] for r in results] == action.processes
    action.kill().wait(10)


def test_processes_of_an_action_started_by_hand():
    p = Process("echo early")
    p.run(10)

    class Single(Action):
        def __init__(self, process):
            super().__init__()
            self._processes = [process]

    action = Single(p).run(5)
    assert action.ended and action.ok
