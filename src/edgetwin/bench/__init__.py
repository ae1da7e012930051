"""``edgetwin bench``: the project's benchmark. Every figure is reported next to the raw limit
measured in the same run on the same machine."""

from edgetwin.bench.runner import run_bench

__all__ = ["run_bench"]
