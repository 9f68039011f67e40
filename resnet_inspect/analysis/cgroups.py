"""The room left under the cgroup memory limits on this process (v2 or v1), from /proc and /sys. No TensorFlow."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_ROOT = Path("/sys/fs/cgroup")
# (folder under the root, limit file, usage file): cgroup v2 (the "0::" line), then v1's memory controller.
CGROUP_V2 = ("", "memory.max", "memory.current")
CGROUP_V1 = ("memory", "memory.limit_in_bytes", "memory.usage_in_bytes")
NO_LIMIT = 1 << 60  # v1 writes "no limit" as a huge number, v2 as "max"


def _cgroup_folders() -> list[tuple[Path, str, str]]:
    """(folder, limit file, usage file) of this process's memory cgroups and their ancestors: a limit
    set on a parent (a container's) binds its children too."""
    try:
        lines = PROC_CGROUP.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "" and path:
            sub, limit, usage = CGROUP_V2
        elif "memory" in controllers.split(","):
            sub, limit, usage = CGROUP_V1
        else:
            continue
        parts = PurePosixPath(path).parts[1:]
        found += [((CGROUP_ROOT / sub).joinpath(*parts[:n]), limit, usage) for n in range(len(parts), -1, -1)]
    return found


def _room(folder: Path, limit_file: str, usage_file: str) -> int | None:
    try:
        limit_text = (folder / limit_file).read_text().strip()
        usage = int((folder / usage_file).read_text().strip())
        limit = int(limit_text) if limit_text != "max" else None
    except (OSError, ValueError):
        return None
    if limit is None or limit >= NO_LIMIT:
        return None
    return max(0, limit - usage + _inactive_file(folder))


def _inactive_file(folder: Path) -> int:
    """Page cache the kernel reclaims before it kills anything (``inactive_file`` of ``memory.stat``; v1
    names the hierarchical figure ``total_inactive_file``): the usage less it is the working set."""
    try:
        lines = (folder / "memory.stat").read_text().splitlines()
    except OSError:
        return 0
    stats = dict(line.split(" ", 1) for line in lines if " " in line)
    try:
        return int(stats.get("total_inactive_file", stats.get("inactive_file", "0")))
    except ValueError:
        return 0


def free_bytes() -> int | None:
    """Room left under the tightest cgroup memory limit on this process (v2 or v1), None without one."""
    rooms = [room for folder in _cgroup_folders() if (room := _room(*folder)) is not None]
    return min(rooms) if rooms else None
