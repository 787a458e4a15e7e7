"""The harness of the tests and benches: never part of the product or the image."""
