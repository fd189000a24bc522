"""Identifier case conversions."""


def snake_to_camel(name):
    """"parse_http_response" -> "parseHttpResponse"."""
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)
