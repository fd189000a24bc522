from textkit.slug import slugify


def test_slugify_words():
    assert slugify("Hello World") == "hello-world"


def test_slugify_digits():
    assert slugify("Top 10 tips") == "top-10-tips"
