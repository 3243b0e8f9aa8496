"""gunicorn settings for `bench.load --profile DIR`: production's gunicorn.conf.py, and cProfile
around every request a worker handles (pre_request to post_request, so that the idle loop is left
out), written to DIR/worker-PID.prof when the worker stops. It counts CPU time (process_time), not
wall time: on a shared machine a worker waits for a core, and wall time would blame whatever it
was doing when it lost the core.

Profiling roughly doubles a request's CPU: the run's figures are for finding where the time goes,
not for the JSON line's targets.
"""
import cProfile
import os
import time
from pathlib import Path

_production = {}
exec(compile((Path(__file__).resolve().parent.parent / "gunicorn.conf.py").read_text(), "gunicorn.conf.py", "exec"),
     _production)
globals().update({name: value for name, value in _production.items() if not name.startswith("__")})
PROFILE_DIR = Path(os.environ["BENCH_PROFILE_DIR"])


def post_worker_init(worker):
    _production["post_worker_init"](worker)
    worker.bench_profile = cProfile.Profile(time.process_time)


def pre_request(worker, req):
    worker.bench_profile.enable()


def post_request(worker, req, environ, resp):
    worker.bench_profile.disable()


def worker_exit(server, worker):
    worker.bench_profile.dump_stats(PROFILE_DIR / f"worker-{worker.pid}.prof")
