from dataclasses import replace

import pytest

from quorum_workforce.core.jobs import JobSpec, validate_job_spec
from quorum_workforce.errors import InvalidArgument

SPEC = JobSpec(
    job_id="j1",
    owner_id="o1",
    team_id="t1",
    name="pets",
    task_type="image-classification",
    categories=("cat", "dog"),
    workers_per_object=3,
    task_time_limit_s=60,
)


def test_valid_spec_passes() -> None:
    validate_job_spec(SPEC)
    validate_job_spec(replace(SPEC, workers_per_object=1))
    validate_job_spec(replace(SPEC, workers_per_object=10))
    validate_job_spec(replace(SPEC, task_type="bounding-box", categories=()))


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"job_id": ""}, "job_id"),
        ({"owner_id": ""}, "owner_id"),
        ({"team_id": ""}, "team_id"),
        ({"task_type": ""}, "task_type"),
        ({"workers_per_object": 0}, "workers_per_object"),
        ({"workers_per_object": 11}, "workers_per_object"),
        ({"task_time_limit_s": 0}, "task_time_limit_s"),
        ({"task_time_limit_s": -5}, "task_time_limit_s"),
        ({"categories": ()}, "categories"),
        ({"categories": ("cat", "cat")}, "distinct"),
        ({"categories": ("cat", "")}, "empty"),
        ({"price_per_task_usd": -1.0}, "price"),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, object], needle: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        validate_job_spec(replace(SPEC, **change))  # type: ignore[arg-type]
    assert err.value.reason == "job_spec_invalid"
    assert needle in err.value.message
