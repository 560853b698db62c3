"""One router per resource: events, users, items, and the operational endpoints.

Ids in paths use the `id` convertor: any characters, "/" and line breaks included (sent
percent-encoded), so every id an event may carry can also be addressed, and erased.
"""

from starlette.convertors import StringConvertor, register_url_convertor


class _AnyId(StringConvertor):
    regex = r"[\s\S]*"


register_url_convertor("id", _AnyId())
