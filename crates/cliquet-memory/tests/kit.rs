//! The backend test kit of `cliquet-storage`, against the memory backends.

cliquet_storage::backend_test_kit!(async { cliquet_memory::backends() });
