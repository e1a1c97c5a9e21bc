"""The card watcher: a new latest.html of a step is reported once, with its flow and step."""

from __future__ import annotations

import queue

from flowspin.cards import files
from flowspin.cards.watch import CardWatcher


def test_watcher_reports_each_new_latest_card(tmp_path):
    events: queue.Queue = queue.Queue()
    watcher = CardWatcher(tmp_path, lambda flow, step, path: events.put((flow, step, path)))
    watcher.start()
    try:
        # the first spin of a step creates its folder, as a spin child does
        folder = files.step_dir(tmp_path, "MyFlow", "train")
        files.write_html(folder / "report.html", "<p>one</p>")  # not watched: not latest
        files.write_index(folder, "spin-1", [])
        files.write_html(folder / files.LATEST, "<p>one</p>")
        assert events.get(timeout=10) == ("MyFlow", "train", str(folder / files.LATEST))
        files.write_html(folder / files.LATEST, "<p>two</p>")
        assert events.get(timeout=10)[:2] == ("MyFlow", "train")
        assert events.empty()
    finally:
        watcher.stop()
