"""Assertions on application/problem+json answers."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx


def problem_body(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem document of `response`, checked to be one with `status`."""
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body
