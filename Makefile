# Aliases for tools/run, for those who have make. README's commands do not need it.
.PHONY: book test test-slow bench weights clean
book: ; bash tools/run book
test: ; bash tools/run test
test-slow: ; bash tools/run test-slow
bench: ; bash tools/run bench
weights: ; bash tools/run weights
clean: ; rm -rf _build .pytest_cache
