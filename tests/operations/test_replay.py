import json

from streamflow.core import ContractConfig
from streamflow.operations import replay
from tests.factories import payload

CONTRACT = ContractConfig()
GOOD_1 = json.dumps(payload(transaction_id="r1"))
GOOD_2 = json.dumps(payload(transaction_id="r2"))


def test_landing_name_is_the_content_hash() -> None:
    assert replay.landing_name("a\n") == replay.landing_name("a\n")
    assert replay.landing_name("a\n") != replay.landing_name("b\n")
    assert replay.landing_name("a\n").startswith("replay-")
    assert len(replay.landing_name("a\n")) == len("replay-") + replay.HASH_CHARS


def test_lines_still_failing_the_contract_are_rejected_with_their_code() -> None:
    lines, rejected = replay.accepted_lines("fix", f'{GOOD_1}\n{{"amount": \n', CONTRACT)
    assert lines == [GOOD_1]
    assert rejected == [
        {"file": "fix", "line_number": 2, "error_code": "invalid_json", "message": rejected[0]["message"]}
    ]


def test_blank_and_repeated_lines_are_landed_once() -> None:
    lines, rejected = replay.accepted_lines("fix", f"{GOOD_1}\n\n  {GOOD_1}  \n{GOOD_2}\n", CONTRACT)
    assert lines == [GOOD_1, GOOD_2]
    assert rejected == []


def test_the_same_fixes_plan_the_same_files() -> None:
    fixes = {"b": f"{GOOD_2}\n", "a": f"{GOOD_1}\r\n"}
    first, second = replay.plan_replay(fixes, CONTRACT), replay.plan_replay(dict(reversed(fixes.items())), CONTRACT)
    assert first.landing_files == second.landing_files
    assert sorted(first.landing_files.values()) == [f"{GOOD_1}\n", f"{GOOD_2}\n"]


def test_a_file_with_nothing_valid_lands_nothing_but_is_reported() -> None:
    plan = replay.plan_replay({"junk": "not json\n"}, CONTRACT)
    report = replay.replay_report(plan)
    assert plan.landing_files == {}
    assert report["fixed_files"] == 1
    assert report["accepted_lines"] == 0
    assert report["rejected_lines"] == 1
