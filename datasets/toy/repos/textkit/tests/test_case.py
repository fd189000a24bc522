from textkit.case import snake_to_camel


def test_snake_to_camel():
    assert snake_to_camel("parse_http_response") == "parseHttpResponse"


def test_single_word():
    assert snake_to_camel("name") == "name"
