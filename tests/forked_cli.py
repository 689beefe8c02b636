"""Many ``orchestra`` command lines, each in a process of its own, importing orchestra once.

Starting ``python -m orchestra.cli`` costs about two seconds of imports before the command
does anything (four without bytecode caches); a test of many command lines pays that once
per line. Here one server process imports the CLI once and forks a child per command line.
The child is the command line as a user runs it: its own process with the line's
environment (``os.environ`` replaced whole), working folder and ``sys.path[0]`` (as ``-m``
sets them), stdin on /dev/null (as under pytest), stdout and stderr on files, and
``orchestra.cli`` run as ``__main__`` the way ``python -m`` runs it. Its exit is the
interpreter's own (exit code; traceback and exit 1 on an uncaught exception; atexit
handlers), so :meth:`ForkedCli.run_many` gives what :func:`tests.conftest.run_cli` gives,
line for line (compared on every row of tests/cli/test_errors.py: the same exit codes,
stdout and stderr).

Not for a command whose meaning depends on something read at import time (such as
``LANGGRAPH_DEFAULT_RECURSION_LIMIT``, read when LangGraph is imported): the server
imported it already. Use :func:`tests.conftest.run_cli` there.

The server reads one JSON line per batch on stdin and answers one JSON line of exit codes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _child(case: dict[str, Any]) -> None:
    """In the forked child: become ``python -m orchestra.cli ARGS``; never returns."""
    import runpy
    import signal

    signal.alarm(int(case["timeout"]))  # a hung command dies (exit -14) instead of the server
    os.environ.clear()
    os.environ.update(case["env"])
    os.chdir(case["cwd"])
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    out = Path(case["output"])
    null = os.open(os.devnull, os.O_RDONLY)
    stdout = os.open(out / "stdout.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    stderr = os.open(out / "stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for fd, target in ((null, 0), (stdout, 1), (stderr, 2)):
        os.dup2(fd, target)
        os.close(fd)
    sys.argv = ["orchestra", *case["args"]]  # run_module puts the module's path first
    runpy.run_module("orchestra.cli", run_name="__main__", alter_sys=True)
    sys.exit(0)  # SystemExit (or any exception) unwinds to the interpreter: a normal exit


def _serve(parallel: int) -> None:
    sys.path[0] = os.getcwd()  # the repository root, as for `python -m` from it
    import orchestra.cli.main  # noqa: F401  (the imports every child shares)

    for line in sys.stdin:
        cases = json.loads(line)
        codes: list[int | None] = [None] * len(cases)
        running: dict[int, int] = {}
        pending = list(enumerate(cases))
        while pending or running:
            while pending and len(running) < parallel:
                index, case = pending.pop(0)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    _child(case)
                running[pid] = index
            pid, status = os.wait()
            codes[running.pop(pid)] = os.waitstatus_to_exitcode(status)
        sys.stdout.write(json.dumps(codes) + "\n")
        sys.stdout.flush()


class ForkedCli:
    """A server forking ``orchestra`` command lines; use as a context manager."""

    def __init__(self, folder: Path, *, parallel: int = 3) -> None:
        self._folder = folder
        self._batches = 0
        folder.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"}
        with (folder / "server-stderr.txt").open("w") as log:
            self._proc = subprocess.Popen(
                [sys.executable, __file__, str(parallel)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                cwd=ROOT,
                env=env,
            )

    def __enter__(self) -> ForkedCli:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def run_many(
        self,
        calls: list[tuple[tuple[str, ...], dict[str, str]]],
        *,
        timeout: float = 600,
        cwd: Path = ROOT,
    ) -> list[subprocess.CompletedProcess[str]]:
        """``orchestra ARGS`` with ``ENV_EXTRA`` for each ``(ARGS, ENV_EXTRA)``, as run_cli runs it.

        As in :func:`tests.conftest.run_cli`, ``ORCHESTRA_MODEL`` is removed from the
        environment and ``ENV_EXTRA`` goes on top of it.
        """
        base = {k: v for k, v in os.environ.items() if k != "ORCHESTRA_MODEL"}
        self._batches += 1
        cases = []
        for n, (args, env_extra) in enumerate(calls):
            output = self._folder / f"batch-{self._batches}" / f"call-{n}"
            output.mkdir(parents=True)
            cases.append(
                {
                    "args": list(args),
                    "env": base | env_extra,
                    "cwd": str(cwd),
                    "output": str(output),
                    "timeout": timeout,
                }
            )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(cases) + "\n")
        self._proc.stdin.flush()
        answer = self._proc.stdout.readline()
        if not answer:
            log = (self._folder / "server-stderr.txt").read_text()
            raise AssertionError(f"the CLI fork server stopped:\n{log[-3000:]}")
        return [
            subprocess.CompletedProcess(
                [sys.executable, "-m", "orchestra.cli", *case["args"]],
                code,
                Path(case["output"], "stdout.txt").read_text(),
                Path(case["output"], "stderr.txt").read_text(),
            )
            for case, code in zip(cases, json.loads(answer), strict=True)
        ]

    def run(
        self, *args: str, env_extra: dict[str, str] | None = None, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """One ``orchestra ARGS``, as :func:`tests.conftest.run_cli` runs it."""
        [done] = self.run_many([(args, env_extra or {})], timeout=timeout)
        return done


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
