"""Import attune before torch so its OpenMP wait policy applies (see attune/__init__.py)."""

import attune  # noqa: F401
