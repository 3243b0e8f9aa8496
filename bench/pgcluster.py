"""A PostgreSQL cluster of the bench's own in a temporary folder, for `bench.load --fault
db-restart`: it may be stopped and started under load without touching the machine's cluster.

PostgreSQL refuses to run as root, so every server command runs as the `postgres` system user
(runuser); the folder is made for it. The server keeps fsync and synchronous commits on, as a
production server does, so that "no acknowledged write lost" means something.
"""
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from bench.load_server import free_port

POSTGRES_USER = "postgres"


def _bin_dir():
    """The newest server version installed (Debian: /usr/lib/postgresql/N/bin)."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)")
    return versions[-1].parent


class TempCluster:
    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="bench-load-pg-"))
        shutil.chown(self.folder, POSTGRES_USER, POSTGRES_USER)
        self.data, self.log = self.folder / "data", self.folder / "server.log"
        self.port = free_port()
        self.bin = _bin_dir()
        self._run("initdb", "-D", str(self.data), "-U", POSTGRES_USER, "-A", "trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        with open(self.data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.folder}'\nmax_connections = 200\n")
        self.start()

    def _run(self, tool, *args):
        subprocess.run(["runuser", "-u", POSTGRES_USER, "--", str(self.bin / tool), *args], check=True,
                       stdout=subprocess.DEVNULL, cwd=self.folder)

    def start(self):
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "start")

    def stop(self, mode="fast"):
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self):
        """Stop (fast: sessions cut, committed work kept) and start again; (stopped at, back at)."""
        stopped = time.time()
        self.stop()
        self.start()
        return stopped, time.time()

    def url(self, database):
        return f"postgresql+psycopg://{POSTGRES_USER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        with psycopg.connect(host="127.0.0.1", port=self.port, user=POSTGRES_USER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

    def close(self):
        try:
            self.stop("immediate")
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.folder, ignore_errors=True)
