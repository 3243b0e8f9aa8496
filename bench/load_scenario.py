"""The deadline-day scenario of bench.load, as Locust users (headless, FastHttpUser).

    python -m bench.load_scenario CONFIG.json     # run by bench.load, which writes CONFIG.json

Five kinds of people, each pausing a think time between steps (uniform, 0.5 to 1.5 times
--think; none with --think 0):
- a budget unit's filer: home, the overview, step 1 with the live calculation as figures are
  typed, steps 2 and 3, submit, the form's page and its sheet poll; then the next unit's filer;
- a department head (主管预算单位): its confirmation queue, a form beside last year's, confirm;
  once the department is complete, the batch to finance;
- finance staff: the queue of forms sent by heads, a form, 财政部门确认;
- a city office's reviewer, who takes one category of the city's queue: the queue, a record's
  panel, approve;
- the province office: the totals, the dashboard, home.
Every write answered with success is remembered (acks) for bench.load to look up afterwards. A
409 (someone acted first, said on the page) is the portal's right answer: counted as a conflict,
not an error. Sessions come logged in from bench.load; the cookie is kept here (it is Secure,
and this is plain HTTP on loopback, which a cookie jar would not send it over).
"""
import json
import random
import re
import sys
import time
from collections import deque

import gevent
from gevent.event import Event
from locust import FastHttpUser, constant, events, task
from locust.env import Environment

VERSION = re.compile(r'name="version"[^>]*value="(\d*)"')
FORM_ID = re.compile(r"/reservations/view/(\d+)")
TO_CONFIRM = re.compile(r'href="/reservations/view/(\d+)">确认</a>')
PANEL = re.compile(r'hx-get="/reviews/(\d+)/panel"')
BATCH_READY = re.compile(r'id="submit-batch"\s*>')
COOKIE = re.compile(r"portal_session=([^;]+)")
CSRF = re.compile(r'"X-CSRFToken": "([^"]+)"')

CONFIG = {}
POOLS = {}
ACKS, SAMPLES, CONFLICTS = [], [], []
TIMED = {"on": False}


class Person(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def on_start(self):
        self.rng = random.Random()
        gevent.sleep(self.rng.uniform(0, CONFIG["think"]))  # people do not all click at the same instant

    def become(self, phone):
        self.phone = phone
        self.cookie, self.token = CONFIG["sessions"][phone], None

    def pause(self):
        think = CONFIG["think"]
        if think:
            gevent.sleep(self.rng.uniform(0.5 * think, 1.5 * think))

    def call(self, method, path, name, *, data=None, htmx=False, expect=200):
        """One request as the browser sends it; the answer's text, or None when it was not `expect`
        (a 409 is a conflict, not an error)."""
        headers = {"Cookie": f"portal_session={self.cookie}"}
        if htmx:
            headers["HX-Request"] = "true"
        if method == "POST":
            headers["X-CSRFToken"] = self.token
        with self.client.request(method, path, name=name, data=data, headers=headers, allow_redirects=False,
                                 catch_response=True) as answer:
            fresh = COOKIE.search((answer.headers or {}).get("set-cookie") or "")  # no headers: no answer
            if fresh:
                self.cookie = fresh.group(1)
            if answer.status_code == expect:
                answer.success()
                if not htmx and method == "GET":  # a whole page carries the session's CSRF token
                    token = CSRF.search(answer.text)
                    self.token = token.group(1) if token else self.token
                return answer
            if answer.status_code == 409:
                answer.success()
                CONFLICTS.append(name)
                return None
            answer.failure(f"{answer.status_code} (expected {expect})")
            return None

    def follow(self, answer, name):
        """A form posted by a boosted page answers 302; the browser then asks for the new page."""
        self.location = answer.headers["location"]
        return self.call("GET", self.location, name)


class BudgetUnit(Person):
    @task
    def file_form(self):
        queue = POOLS["drafts"]
        if not queue:
            return self.browse()
        self.become(queue.popleft())
        year = CONFIG["year"]
        self.call("GET", "/", "home")
        self.pause()
        self.call("GET", "/reservations/", "reservation overview")
        self.pause()
        page = self.call("GET", f"/reservations/{year}/step/1", "step 1 form")
        if page is None:
            return
        total = self.rng.randrange(300_000, 3_000_000)
        ratio = self.rng.choice(["30", "32", "35", "40"])
        figures = {"canteen_type": "own", "canteen_total": str(total), "ratio": ratio, "union_need": "1",
                   "union_total": str(total // 10), "union_ratio": "20", "remark": "", "union_remark": ""}
        for typed in ({"canteen_total": str(total)}, {"canteen_total": str(total), "ratio": ratio}):
            self.pause()
            self.call("POST", f"/reservations/{year}/compute", "live calculation", htmx=True,
                      data={**typed, "union_need": "1"})
        self.pause()
        saved = self.step(page, f"/reservations/{year}/step/1", figures, "save step 1", "step 2 form")
        if saved is None:
            return
        ACKS.append(["figures", self.phone, str(total)])
        self.pause()
        landline = f"020-8{self.rng.randrange(1_000_000, 9_999_999)}"
        contacts = {"contact_name": "李明", "contact_mobile": "13912345678", "contact_landline": landline,
                    "union_contact_name": "陈芳", "union_contact_mobile": "13987654321",
                    "union_contact_landline": ""}
        saved = self.step(saved, f"/reservations/{year}/step/2", contacts, "save step 2", "step 3 confirm")
        if saved is None:
            return
        ACKS.append(["contacts", self.phone, landline])
        self.pause()
        detail = self.step(saved, f"/reservations/{year}/step/3", {"attested": "y"}, "submit", "form detail")
        if detail is None:
            return
        ACKS.append(["submit", self.phone])
        self.pause()
        self.call("GET", f"/reservations/view/{FORM_ID.search(self.location).group(1)}/sheets", "sheet poll",
                  htmx=True)

    def step(self, page, path, data, name, next_name):
        version = VERSION.search(page.text)
        posted = self.call("POST", path, name, expect=302, data={
            **data, "csrf_token": self.token, "version": version.group(1) if version else ""})
        return None if posted is None else self.follow(posted, next_name)

    def browse(self):
        """Every draft filed: the last filer looks at its form and home page."""
        self.call("GET", "/", "home")
        self.pause()


class Decider(Person):
    abstract = True

    def decide(self, form_id, decision, page_name, name):
        page = self.call("GET", f"/reservations/view/{form_id}", page_name)
        if page is None:
            return
        version = VERSION.search(page.text)
        self.pause()
        if version and self.call("POST", f"/reservations/view/{form_id}/decide", name, htmx=True,
                                 data={"decision": decision, "version": version.group(1),
                                       "csrf_token": self.token}) is not None:
            ACKS.append([decision, self.phone, int(form_id)])


class Superior(Decider):
    def on_start(self):
        super().on_start()
        self.become(POOLS["superiors"].popleft())

    @task
    def confirm(self):
        page = self.call("GET", "/reservations/confirmations", "superior queue")
        if page is None:
            return
        waiting = TO_CONFIRM.findall(page.text)
        self.pause()
        if waiting:  # the oldest first
            self.decide(waiting[0], "confirm", "form to confirm", "superior confirm")
        elif BATCH_READY.search(page.text):
            sent = self.call("POST", "/reservations/batch", "batch to finance", expect=302,
                             data={"csrf_token": self.token})
            if sent is not None:
                ACKS.append(["batch", self.phone])
                self.follow(sent, "superior queue")
        else:
            self.call("GET", "/", "home")
        self.pause()


class Finance(Decider):
    def on_start(self):
        super().on_start()
        self.become(POOLS["finance"].popleft())

    @task
    def confirm(self):
        page = self.call("GET", "/reservations/finance", "finance queue")
        if page is None:
            return
        waiting = TO_CONFIRM.findall(page.text)
        self.pause()
        if waiting:
            self.decide(self.rng.choice(waiting), "finalize", "form to finalize", "finance confirm")
        else:
            self.call("GET", "/", "home")
        self.pause()


class Reviewer(Person):
    def on_start(self):
        super().on_start()
        phone, self.category = POOLS["reviewers"].popleft()
        self.become(phone)

    @task
    def review(self):
        page = self.call("GET", f"/reviews/?category_id={self.category}", "review queue")
        if page is None:
            return
        pending = PANEL.findall(page.text)
        self.pause()
        if not pending:
            return
        record_id = self.rng.choice(pending)
        panel = self.call("GET", f"/reviews/{record_id}/panel", "review panel", htmx=True)
        version = panel is not None and VERSION.search(panel.text)
        self.pause()
        if version and self.call("POST", f"/reviews/{record_id}/act", "approve", htmx=True, data={
                "decision": "approve", "version": version.group(1), "view": "panel",
                "csrf_token": self.token}) is not None:
            ACKS.append(["approve", self.phone, int(record_id)])
        self.pause()


class Province(Person):
    def on_start(self):
        super().on_start()
        self.become(POOLS["readers"].popleft())

    @task
    def read(self):
        for path, name in (("/reports/", "province totals"), ("/dashboard", "dashboard"), ("/", "home")):
            self.call("GET", path, name)
            self.pause()


ROLES = {"budget": BudgetUnit, "superior": Superior, "finance": Finance, "reviewer": Reviewer, "province": Province}


@events.request.add_listener
def _sample(request_type, name, response_time, response, exception, start_time=None, **_):
    if TIMED["on"]:
        SAMPLES.append([round(start_time or time.time(), 3), name, getattr(response, "status_code", 0) or 0,
                        round(response_time, 2), _failure(exception)])


def _failure(exception):
    """'' for a success; else what went wrong, short (a connection's error has no status to tell it)."""
    return "" if exception is None else f"{type(exception).__name__}: {exception}"[:120]


def run(config):
    """Spawn, say TIMED START, run `duration` seconds, say TIMED END, stop; write the results."""
    CONFIG.update(config)
    POOLS.update(drafts=deque(config["drafts"]), superiors=deque(config["superiors"]),
                 finance=deque(config["finance"]), reviewers=deque(config["reviewers"]),
                 readers=deque(config["readers"]))
    for role, count in config["people"].items():
        ROLES[role].fixed_count = count
    classes = [ROLES[role] for role, count in config["people"].items() if count]
    env = Environment(user_classes=classes, events=events, host=config["host"], stop_timeout=None)
    runner = env.create_local_runner()
    spawned = Event()
    events.spawning_complete.add_listener(lambda user_count: spawned.set())
    runner.start(sum(config["people"].values()), spawn_rate=config["spawn_rate"])
    spawned.wait()
    gevent.sleep(config["warmup"])
    TIMED["on"] = True
    print("TIMED START", time.time(), flush=True)
    gevent.sleep(config["duration"])
    TIMED["on"] = False
    print("TIMED END", time.time(), flush=True)
    runner.quit()
    with open(config["result"], "w", encoding="utf-8") as out:
        json.dump({"samples": SAMPLES, "acks": ACKS, "conflicts": len(CONFLICTS),
                   "drafts_left": len(POOLS["drafts"])}, out)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as source:
        run(json.load(source))
