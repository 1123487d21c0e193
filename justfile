# Tasks for working on the workspace. Nothing here is required: each recipe
# is a plain cargo command you can run yourself.

# Run the Kinto-compatible server on 127.0.0.1:8888 (memory storage).
serve:
    cargo run -p kinto -- serve --bind 127.0.0.1:8888

# Run the whole test suite (set CLIQUET_TEST_POSTGRES_URL and
# CLIQUET_TEST_REDIS_URL to include the PostgreSQL and Redis tests).
test:
    cargo test --workspace --all-features

# Formatting and lints, as CI checks them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Build the API docs and the cookbook.
docs:
    cargo doc --workspace --all-features --no-deps
    mdbook build cookbook

# Run the criterion benchmarks.
bench:
    cargo bench --workspace

# Everything CI runs, services included.
ci:
    bash .ci/run

# Run Kinto's client and functional test suites against the Kinto recipe,
# on memory and PostgreSQL (needs the suites in ../shared/conformance or
# CONFORMANCE_DIR, python3 and PyPI).
conformance *backends:
    bash recipes/kinto/scripts/conformance.sh {{backends}}
