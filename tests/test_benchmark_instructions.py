"""The instruction-count benchmark's arithmetic, on callgrind_annotate's real output format."""

from __future__ import annotations

from benchmarks.instructions import SQL_ENTRY, inclusive_counts, per_call, render

BUILD = "/tmp/python-build.20260509073455.222/Python-3.11.7"
LIB = "[/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0]"


def annotated(total: int, sql: int, header_sql: int = 1_870) -> str:
    return f"""--------------------------------------------------------------------------------
Profile data file 'full.100.out' (creator: callgrind-3.19.0)
Thresholds:       100
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
{total:,} (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                       file:function
--------------------------------------------------------------------------------
37,453,715,820 (1417.2%)  ???:0x0000000004936718'2 [???]
37,453,588,664 (1417.2%)  {BUILD}/Python/ceval.c:_PyEval_EvalFrameDefault'2 {LIB}
    {sql:,} ( 2.28%)  {BUILD}/Modules/_sqlite/cursor.c:_pysqlite_query_execute [/x/_sqlite3.so]
         {header_sql:,} ( 0.00%)  {BUILD}/./Include/cpython/tupleobject.h:_pysqlite_query_execute
"""


def test_inclusive_counts_reads_totals_and_strips_the_build_path():
    counts = inclusive_counts(annotated(2_642_759_714, 60_173_807))
    assert counts["PROGRAM TOTALS"] == 2_642_759_714
    assert counts[SQL_ENTRY] == 60_173_807
    assert counts["Python/ceval.c:_PyEval_EvalFrameDefault'2"] == 37_453_588_664
    # An inlined header's line under the same function is a different entry, not added to the SQL.
    assert counts["./Include/cpython/tupleobject.h:_pysqlite_query_execute"] == 1_870


def test_per_call_is_the_difference_over_the_extra_calls():
    small = inclusive_counts(annotated(2_642_759_714, 60_173_807))
    large = inclusive_counts(annotated(2_942_130_318, 125_652_207))
    assert per_call(small, large, 200) == {"instructions": 1_496_853, "sql_instructions": 327_392}


def test_render_compares_each_path_with_its_own_floor():
    rows = {
        "floor": {"instructions": 500_000, "sql_instructions": 0},
        "full": {"instructions": 1_500_000, "sql_instructions": 300_000},
        "floor_fallback": {"instructions": 1_000_000, "sql_instructions": 0},
        "fallback": {"instructions": 2_500_000, "sql_instructions": 400_000, "pairs": [2_500_000, 2_100_000]},
    }
    table = render(rows)
    assert "| full | 1,500,000 | 300,000 | 1,000,000 | 2.00 |  |" in table
    assert "| fallback | 2,500,000 | 400,000 | 1,500,000 | 1.50 | 2,500,000, 2,100,000 |" in table
    assert "| floor | 500,000 | 0 |  |  |  |" in table
