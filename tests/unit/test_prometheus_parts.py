"""Pure parts of the metrics: the lock namespace both sides agree on, route templates."""

from __future__ import annotations

from helpstream.api.app import create_app
from helpstream.api.http_metrics import UNMATCHED, _RouteTable
from helpstream.api.routes import prometheus
from helpstream.settings import Settings
from helpstream.workers import runner


def test_metrics_read_the_lock_namespace_the_workers_take_partitions_under() -> None:
    assert prometheus.PARTITION_LOCK_CLASS == runner.PARTITION_LOCK_CLASS


def test_requests_are_labelled_by_route_template_never_by_raw_path() -> None:
    app = create_app(Settings(database_url="postgresql://unused", redis_url="redis://unused"))
    table = _RouteTable(app)
    assert table.template("/v1/clicks") == "/v1/clicks"
    assert table.template("/v1/pages/42") == "/v1/pages/{page_id}"
    assert table.template("/v1/admin/keys/7") == "/v1/admin/keys/{key_id}"
    assert table.template("/wp-login.php") == UNMATCHED
    assert table.template("/v1/pages/../../etc") == UNMATCHED
