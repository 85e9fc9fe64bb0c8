"""Error responses come back as the server's domain class, carrying the response."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from alchemiscale_like import errors
from alchemiscale_like.client import APIClient
from alchemiscale_like.client.errors import DOMAIN_ERRORS, ResponseError
from tests.client.testapp import AppState

pytestmark = pytest.mark.timeout(120)

MakeClient = Callable[..., APIClient]


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (404, "NotFound", errors.NotFound),
        (409, "InvalidTransition", errors.InvalidTransition),
        (409, "ClaimLost", errors.ClaimLost),
        (409, "AlreadyExists", errors.AlreadyExists),
        (400, "UnknownClass", errors.UnknownClass),
        (400, "KeyMismatch", errors.KeyMismatch),
        (400, "InvalidScope", errors.InvalidScope),
        (400, "UnsafeFileName", errors.UnsafeFileName),
        (400, "DAGError", errors.DAGError),
        (413, "PayloadTooLarge", errors.PayloadTooLarge),
        (415, "UnsupportedMediaType", errors.UnsupportedMediaType),
        (422, "IntegrityError", errors.IntegrityError),
        (422, "ValidationError", errors.ValidationError),
        (403, "Forbidden", errors.Forbidden),
        # Unknown names fall back on the status code...
        (409, "SomethingNew", errors.Conflict),
        (404, "AlchemiscaleLikeError", errors.NotFound),  # the base class is not in the table
        (418, "__class__", errors.ValidationError),
        (500, "InternalError", errors.APIError),
        (507, "ExecutionError", errors.APIError),  # a client-side class is never mapped
    ],
)
def test_error_body_maps_to_the_domain_class(
    make_client: MakeClient,
    app_state: AppState,
    status: int,
    name: str,
    expected: type[Exception],
) -> None:
    client = make_client()
    with pytest.raises(expected) as caught:
        client._get_json(f"/error/{status}/{name}")
    exc = caught.value
    assert isinstance(exc, ResponseError)
    assert isinstance(exc, errors.AlchemiscaleLikeError)
    assert exc.status_code == status
    assert exc.error == name
    assert exc.detail == f"a {name} on purpose"
    assert exc.response.status_code == status
    assert f"a {name} on purpose" in str(exc)
    assert app_state.hits["error"] == 1


def test_a_mapped_class_is_also_its_parents(make_client: MakeClient) -> None:
    with pytest.raises(errors.InvalidTransition) as caught:
        make_client()._get_json("/error/409/InvalidTransition")
    assert isinstance(caught.value, errors.Conflict)
    assert type(caught.value).__name__ == "InvalidTransition"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, errors.NotFound),
        (401, errors.AuthenticationFailed),
        (400, errors.ValidationError),
        (415, errors.UnsupportedMediaType),
        (500, errors.APIError),
        (502, errors.APIUnavailable),
        (503, errors.StoreUnavailable),
    ],
)
def test_a_body_that_is_not_ours_falls_back_on_the_status(
    make_client: MakeClient, status: int, expected: type[Exception]
) -> None:
    client = make_client(max_retries=0)
    with pytest.raises(expected) as caught:
        client._get_json(f"/not-json/{status}")
    assert isinstance(caught.value, ResponseError)
    assert caught.value.error == ""
    assert "bad gateway" in caught.value.detail


def test_the_table_holds_every_error_the_server_maps_and_nothing_else() -> None:
    server_side = {
        cls.__name__
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.AlchemiscaleLikeError)
    } - {
        "AlchemiscaleLikeError",
        "ExecutionError",
        "UnitInterrupted",  # raised by units inside a compute service, never sent over HTTP
        "APIError",
        "APIUnavailable",
    }
    assert set(DOMAIN_ERRORS) == server_side
    assert all(DOMAIN_ERRORS[name].__name__ == name for name in DOMAIN_ERRORS)
