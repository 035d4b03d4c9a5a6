"""Helpers shared by the experiments and the commands that run them: result tables, output
folders, JSON that accepts NumPy values, progress bars, thread settings, timing.

Nothing here trains a model; nothing here writes outside the folder it is given.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, TextIO, Tuple, Union

import numpy as np

from ..training import ProgressBar

Log = Callable[[str], None]


def quiet(_: str) -> None:
    """A log function that drops everything (the library default)."""


def stderr_log(message: str) -> None:
    """A log function for commands: progress and notes go to stderr, results to stdout."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- threads


def available_cores() -> int:
    """Cores this process may run on (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cpu_jiffies(path: str = "/proc/stat") -> Dict[int, Tuple[int, int]]:
    """Per CPU number: (busy, total) clock ticks since boot, from Linux's /proc/stat.
    Busy is everything but idle and iowait; it includes steal, the time a hypervisor gave
    this virtual CPU's core to another guest."""
    out: Dict[int, Tuple[int, int]] = {}
    with open(path, encoding="ascii") as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if len(name) > 3 and name.startswith("cpu") and name[3:].isdigit():
                v = [int(x) for x in rest.split()[:8]]
                if len(v) < 4:  # not the user nice system idle ... this reads
                    continue
                total = sum(v)
                out[int(name[3:])] = (total - v[3] - (v[4] if len(v) > 4 else 0), total)
    return out


def busy_cores(window: float = 0.3) -> Optional[float]:
    """How many of the cores this process may use were kept busy by other work during the
    next ``window`` seconds (this process sleeps meanwhile), or None where the OS does
    not say (no /proc/stat, or none of this process's CPUs in it, as where a container's
    /proc renumbers them). This process's own threads count too, if any are running: call
    it before the engine's first parallel region, as the commands do.

    Measured now, unlike the load average, which trails by a minute or more: right after
    ``pip install`` compiles the engine, the 1-minute load average still reads ~1 on an
    idle 2-core machine.
    """
    try:
        before = _cpu_jiffies()
        time.sleep(window)
        after = _cpu_jiffies()
    except (OSError, ValueError):
        return None
    try:
        mine = os.sched_getaffinity(0)
    except (AttributeError, OSError):
        mine = set(after)
    seen = [cpu for cpu in mine if cpu in before and cpu in after]
    if not seen:
        return None
    busy = 0.0
    for cpu in seen:
        db = after[cpu][0] - before[cpu][0]
        dt = after[cpu][1] - before[cpu][1]
        busy += min(1.0, db / dt) if dt > 0 else 0.0
    return busy


def auto_threads() -> Tuple[int, Optional[str]]:
    """All cores, minus the ones other processes keep busy (at least 1), and a note saying
    so when that is fewer than all. Busy is ``busy_cores()``, a short sample of what the
    cores do now; the 1-minute load average where that is not available.

    Why: every time step of a recurrent kernel ends in a barrier, so one thread that
    shares its core with another process stalls all of them. Measured on a shared 2-core
    box at load ~4: the demo's 256-unit LSTM trained at 7k characters/s on 2 threads and
    31k on 1 (validation 2.52 vs 1.86 bits/char after the same 140 s); on the idle box 2
    threads were 1.7x faster than 1.
    """
    cores = available_cores()
    busy = busy_cores()
    if busy is not None:
        what = f"other work keeps {busy:.1f} of them busy"
    else:
        try:
            busy = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores, None
        what = f"load average {busy:.1f}"
    n = max(1, min(cores, int(cores - busy + 0.5)))
    if n < cores:
        return n, (f"using {n} of {cores} cores: the machine is busy ({what}), and threads "
                   f"that share a core with other work slow every time step; pass "
                   f"--threads {cores} to use them all anyway")
    return n, None


def apply_threads(threads: Optional[int], log: Optional[Log] = None) -> int:
    """Set the engine's thread count and return it. None: ``auto_threads()`` (all free
    cores), whose note, if any, goes to ``log``."""
    import pyrnn
    note = None
    if threads is None:
        n, note = auto_threads()
    else:
        n = threads
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads: expected an int >= 1, got {threads!r}")
    pyrnn.set_num_threads(n)
    if note and log is not None:
        log(note)
    return n


# ---------------------------------------------------------------------- output folders


def timestamp() -> str:
    """Local time as YYYYmmdd-HHMMSS, for folder names."""
    return _dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def make_output_dir(out: Optional[Union[str, os.PathLike]], default_prefix: str,
                    root: Union[str, os.PathLike] = "pyrnn_runs") -> Path:
    """The folder to write artifacts to, created, as an absolute path (for messages):
    ``out`` if given, else ``<root>/<default_prefix>-<timestamp>`` (made unique with a
    suffix if it exists)."""
    if out is not None:
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ValueError(f"out: expected a folder, got an existing file {path}")
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()
    base = Path(root) / f"{default_prefix}-{timestamp()}"
    path, k = base, 1
    while path.exists():
        k += 1
        path = Path(f"{base}-{k}")
    path.mkdir(parents=True)
    return path.resolve()


def to_jsonable(obj: Any) -> Any:
    """NumPy scalars/arrays, Paths, tuples and dataclass-free containers -> plain JSON data.
    Non-finite floats become None (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_,)):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_json(path: Union[str, os.PathLike], obj: Any) -> Path:
    """Write ``obj`` as indented JSON (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ tables


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        v = float(v)
        if not math.isfinite(v):
            return "-"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3g}"
        return f"{v:.4g}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def format_table(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 title: Optional[str] = None) -> str:
    """A plain-text table (also valid Markdown): a header row, a rule, one line per row."""
    body = [[_cell(v) for v in row] for row in rows]
    head = [str(c) for c in columns]
    widths = [max([len(head[i])] + [len(r[i]) for r in body]) for i in range(len(head))]
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [] if title is None else [title, ""]
    out.append(line(head))
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out.extend(line(r) for r in body)
    return "\n".join(out)


def table(title: str, columns: Sequence[str], rows: List[Sequence[Any]]) -> Dict[str, Any]:
    """A result table as data (what result dicts carry under "tables")."""
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows]}


def format_tables(tables: Iterable[Dict[str, Any]]) -> str:
    return "\n\n".join(format_table(t["columns"], t["rows"], t["title"]) for t in tables)


# ----------------------------------------------------------------------------- progress


def progress_bar(total: Optional[int], prefix: str, unit: str = "step",
                 enabled: Union[bool, str] = "auto", stream: Optional[TextIO] = None
                 ) -> ProgressBar:
    """pyrnn.training's progress bar on stderr (drawn only on a terminal unless forced)."""
    return ProgressBar(total, prefix=prefix, unit=unit,
                       stream=stream if stream is not None else sys.stderr, enabled=enabled)


class Stopwatch:
    """Seconds since creation (``elapsed``), and whether a budget is spent (``over``)."""

    def __init__(self, budget: Optional[float] = None) -> None:
        self.start = time.perf_counter()
        self.budget = budget

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self) -> bool:
        return self.budget is not None and self.elapsed >= self.budget


def check_positive(name: str, value: Any, kind: type = int, allow_zero: bool = False) -> Any:
    """``value`` if it is a positive ``kind`` (int or float), else ValueError naming it."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else int)
    if ok:
        ok = value >= 0 if allow_zero else value > 0
    if not ok or (kind is float and not math.isfinite(float(value))):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected {'a number' if kind is float else 'an int'} {bound}, "
                         f"got {value!r}")
    return value


def stderr_is_tty() -> bool:
    """Progress bars only where a person watches (not in logs, CI or captured output)."""
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())
