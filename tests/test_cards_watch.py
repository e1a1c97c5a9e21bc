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


def test_run_card_watcher_waits_for_the_card_folder_then_reports_cards_and_data(tmp_path):
    """Before the first run there is no `.metaflow`: the watcher starts on the flow's folder
    and follows the folders down as Metaflow creates them; its temporary files are not cards."""
    from flowspin.cards.watch import RunCardWatcher

    root = files.run_cards_root(tmp_path / "flow.py")
    assert root == tmp_path / ".metaflow" / "mf.cards"
    events: queue.Queue = queue.Queue()
    watcher = RunCardWatcher(root, events.put)
    watcher.start()
    try:
        assert watcher.watching == tmp_path
        task = files.run_task_dir(root, "LiveFlow", "17", "train", "2")
        (task / "cards").mkdir(parents=True)
        (task / "cards" / "tmpab12").write_text("half a card")  # Metaflow's temp file
        html = task / "cards" / "blank-live-0123abcd.html"
        files.write_html(html, "<p>runtime render</p>")
        got = events.get(timeout=10)
        where = (got.flow, got.run_id, got.step, got.task_id, got.kind)
        assert where == ("LiveFlow", "17", "train", "2", "html")
        assert got.path == str(html) and watcher.watching == root
        data = files.data_file_for(html)
        data.parent.mkdir()
        files.write_html(data, '{"reload_token": "runtime-1", "data": {}}')
        got = events.get(timeout=10)
        assert (got.kind, got.path) == ("data", str(data))
        assert files.card_html_for(data) == html
    finally:
        watcher.stop()
