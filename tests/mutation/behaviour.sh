#!/usr/bin/env bash
# The behaviour mutations of issue 14, one at a time: apply it to the product code, run the
# test meant to kill it, revert (always). Usage: tests/mutation/behaviour.sh a|b1|...|l [tests]
# Needs a clean worktree (it edits and restores product files). See README.md for the table.
set -uo pipefail
cd "$(dirname "$0")/../.."
run() {  # name file python-replace-old python-replace-new tests...
  name=$1; file=$2; old=$3; new=$4; shift 4
  backup=$(mktemp); cp "$file" "$backup"; trap 'cp "$backup" "$file"' EXIT
  python - "$file" "$old" "$new" <<'PY'
import sys
f, old, new = sys.argv[1:]
s = open(f).read()
assert s.count(old) == 1, (f, old, s.count(old))
open(f, "w").write(s.replace(old, new))
PY
  if timeout 900 pytest "$@" -q -p no:cacheprovider > "${TMPDIR:-/tmp}/mutation-$name.log" 2>&1; then v=SURVIVED; else v=killed; fi
  cp "$backup" "$file"; trap - EXIT
  echo "$name: $v ($(grep -E '^FAILED' "${TMPDIR:-/tmp}/mutation-$name.log" | sed 's/ - .*//' | tr '\n' ' '))"
}
P=tests/integration/test_pinned_behaviour.py
W=tests/integration/test_click_pipeline.py
R=tests/integration/test_worker_properties.py
Q=tests/integration/test_pinned_behaviour.py::test_a_path_closed_by_stream_time_reopens_for_a_click_at_exactly_the_timeout
case "$1" in
a) run a workers/path_store.py "while self._heap and self._heap[0] < bound:" "while self._heap and self._heap[0] <= bound:" ${2:-tests/integration/test_open_paths.py::test_a_path_ending_exactly_at_the_bound_closes_in_the_batch_after_it} ;;
b1) run b1 db/queries/page_metrics.sql "generate_series(2, p.path_length - 1)" "generate_series(2, p.path_length - 2)" $W::test_windows_are_exact_to_the_second ;;
b2) run b2 db/queries/page_metrics.sql "generate_series(2, p.path_length - 1)" "generate_series(3, p.path_length - 1)" $W::test_windows_are_exact_to_the_second ;;
b3) run b3 db/queries/page_metrics.sql "AND (end_ts BETWEEN \$4 AND \$5 OR end_ts BETWEEN \$6 AND \$7)" "AND (end_ts > \$4 AND end_ts <= \$5 OR end_ts BETWEEN \$6 AND \$7)" $W::test_windows_are_exact_to_the_second ;;
c) run c api/routes/clicks.py "key = str(click.event_id) if click.event_id is not None else content_key(click)" "key = content_key(click)" $P::test_distinct_event_ids_with_equal_content_are_two_clicks ;;
c2) run c2 api/plain_clicks.py "    if event_id is None:
        key = content_key_of(" "    if True:
        key = content_key_of(" $P::test_distinct_event_ids_with_equal_content_are_two_clicks ;;
d) run d api/ratelimit.py "if window.known + window.pending >= limit:" "if window.known + window.pending > limit:" tests/unit/test_ratelimit.py ;;
d2) run d2 api/ratelimit.py "if window.known + window.pending >= limit:" "if window.known + window.pending > limit:" $P::test_read_limit_is_exact_within_one_second $P::test_click_ingest_allows_exactly_the_limit_through_the_fast_path ;;
e) run e api/fast_ingest.py 'retry_after = guard.limiter.hit(key.id, "ingest")' 'retry_after = None' $P::test_click_ingest_allows_exactly_the_limit_through_the_fast_path ;;
f) run f api/routes/paths.py 'AND ($2::text IS NULL OR status = $2)
      AND ($3::text IS NULL OR variant = $3)
"""
_FIRST_PAGE' 'AND ($2::text IS NULL OR true)
      AND ($3::text IS NULL OR variant = $3)
"""
_FIRST_PAGE' $P::test_paths_status_filter ;;
g) run g workers/consumer.py "            pipe.xtrim(key, minid=self.offsets[kind][0], approximate=False)
" "" $P::test_applied_entries_are_trimmed_from_the_stream ;;
h) run h db/queries/report_resolution_time_by_month.sql "to_timestamp(first_message_at) AT TIME ZONE 'UTC'" "to_timestamp(first_message_at)" $P::test_months_are_utc_whatever_the_database_time_zone ;;
i) run i workers/sessionizer.py "        current.pages.append(click.source)
" "        pass
" ${2:-$W $R} ;;
j) run j workers/sessionizer.py "and click.timestamp - current.end_ts > timeout" "and click.timestamp - current.end_ts >= timeout" ${2:-$W $R} ;;
k) run k workers/clicks.py "tail.status == \"abandoned\" and earliest - tail.end_ts > timeout" "tail.status == \"abandoned\" and earliest - tail.end_ts >= timeout" ${2:-$Q} ;;
l) run l workers/clicks.py "WHERE NOT c.late AND c.ts >= n.cut" "WHERE NOT c.late AND c.ts > n.cut" ${2:-$R} ;;
*) echo "usage: $0 a|b1|b2|b3|c|c2|d|d2|e|f|g|h|i|j|k|l [tests]"; exit 2 ;;
esac
